package metadatatest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/metadata"
)

// testLateMarker checks that a marker of a transaction that was already
// completed cannot close the producer's next transaction. Under
// transaction version 2 the markers of one transaction carry the epoch the
// next transaction writes with, so a coordinator that writes the markers
// of a completed transaction late (it found it in PrepareCommit and
// completed it again after another coordinator had: a chaos run caught
// it) would otherwise close the next, still open, transaction as
// committed: its records became readable by read_committed consumers and,
// when it aborted, its range was not in the aborted list.
func testLateMarker(t *testing.T, s metadata.Store) {
	ctx := context.Background()
	tp := mustCreate(t, s, "late", 1)
	const pid = 51
	save := func(txn metadata.Transaction) metadata.Transaction {
		t.Helper()
		saved, err := s.SaveTransaction(ctx, txn)
		if err != nil {
			t.Fatalf("save %s: %v", txn.State, err)
		}
		return saved
	}
	data := func(epoch int16, first int32) metadata.BatchCommit {
		return metadata.BatchCommit{TopicID: tp.ID, ByteLength: 10, Records: 1, Producer: pb(pid, epoch, first), Transactional: true}
	}
	marker := func(epoch int16, commit bool) metadata.BatchCommit {
		return metadata.BatchCommit{TopicID: tp.ID, ByteLength: 10, Records: 1,
			Marker: &metadata.TxnMarker{ProducerID: pid, Epoch: epoch, Commit: commit}}
	}
	parts := []metadata.TxnPartition{{Topic: "late", TopicID: tp.ID}}

	// First transaction at epoch 0, committed with markers at epoch 1.
	txn := save(metadata.Transaction{ID: "late-1", ProducerID: pid, LastProducerID: -1, LastProducerEpoch: -1,
		TimeoutMs: 60000, State: metadata.TxnOngoing, StartedAt: time.Now(), Partitions: parts})
	if r := commit(t, s, "d1", data(0, 0)); r[0].Err != nil || r[0].BaseOffset != 0 {
		t.Fatalf("first transaction's batch = %+v", r[0])
	}
	txn.State, txn.ProducerEpoch = metadata.TxnPrepareCommit, 1
	txn = save(txn)
	if r := commit(t, s, "m1", marker(1, true)); r[0].Err != nil || r[0].BaseOffset != 1 {
		t.Fatalf("commit marker = %+v", r[0])
	}
	txn, err := s.CompleteTransaction(ctx, txn, true)
	if err != nil {
		t.Fatal(err)
	}

	// Second transaction, at epoch 1, open.
	txn.State, txn.StartedAt, txn.Partitions = metadata.TxnOngoing, time.Now(), parts
	txn = save(txn)
	if r := commit(t, s, "d2", data(1, 0)); r[0].Err != nil || r[0].BaseOffset != 2 {
		t.Fatalf("second transaction's batch = %+v", r[0])
	}
	// The first transaction's commit marker, written again late, is refused
	// and closes nothing.
	if r := commit(t, s, "m1-late", marker(1, true)); !errors.Is(r[0].Err, metadata.ErrInvalidTxnState) {
		t.Fatalf("late commit marker = %+v, want ErrInvalidTxnState", r[0])
	}
	st, err := s.StableState(ctx, tp.ID, 0, 0)
	if err != nil || st.HighWatermark != 3 || st.LastStableOffset != 2 {
		t.Fatalf("after the late marker: %+v, %v; want hwm 3, lso 2 (the open transaction's first offset)", st, err)
	}
	sts, err := s.StableStates(ctx, []metadata.StableQuery{{Topic: tp.ID, Partition: 0, From: 0}})
	if err != nil || len(sts) != 1 || sts[0].Err != nil || sts[0].LastStableOffset != 2 {
		t.Fatalf("batched stable state after the late marker: %+v, %v; want lso 2", sts, err)
	}

	// The second transaction aborts: its range is in the aborted list.
	txn.State, txn.ProducerEpoch = metadata.TxnPrepareAbort, 2
	txn = save(txn)
	if r := commit(t, s, "m2", marker(2, false)); r[0].Err != nil || r[0].BaseOffset != 3 {
		t.Fatalf("abort marker = %+v", r[0])
	}
	st, err = s.StableState(ctx, tp.ID, 0, 0)
	if err != nil || st.LastStableOffset != 4 || len(st.Aborted) != 1 ||
		st.Aborted[0] != (metadata.AbortedTxn{ProducerID: pid, FirstOffset: 2, LastOffset: 3}) {
		t.Fatalf("after the abort: %+v, %v; want aborted [2,3]", st, err)
	}
	// A marker of the completed abort, late again, is refused too.
	if _, err := s.CompleteTransaction(ctx, txn, false); err != nil {
		t.Fatal(err)
	}
	if r := commit(t, s, "m2-late", marker(2, false)); !errors.Is(r[0].Err, metadata.ErrInvalidTxnState) {
		t.Fatalf("late abort marker = %+v, want ErrInvalidTxnState", r[0])
	}
}
