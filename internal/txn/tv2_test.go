package txn

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	promtest "github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicehq/sluice/internal/metadata"
)

// TestEndTxnBump walks KIP-890 part 2 (transaction version 2): partitions
// and groups added implicitly, every end bumping the epoch (markers
// included, so the old epoch is fenced on the partition), retries of an
// end answered with the new epoch, and an abort with nothing ongoing.
func TestEndTxnBump(t *testing.T) {
	e := newEnv(t)
	c := e.coordinator()
	ctx := context.Background()
	pid, epoch, err := c.InitProducerID(ctx, "a", time.Minute, -1, -1)
	if err != nil {
		t.Fatal(err)
	}
	// A produce v12 registers its partition itself; a second produce to
	// the same partition writes nothing.
	if err := c.AddImplicitly(ctx, "a", pid, epoch, e.parts(0), ""); err != nil {
		t.Fatal(err)
	}
	if err := c.AddImplicitly(ctx, "a", pid, epoch, e.parts(0), ""); err != nil {
		t.Fatal(err)
	}
	if err := c.AddImplicitly(ctx, "a", pid, epoch, nil, "g"); err != nil {
		t.Fatal(err)
	}
	if n := promtest.ToFloat64(c.metrics.implicitAdds); n != 2 {
		t.Errorf("sluice_txn_implicit_adds_total = %v, want 2 (the repeated partition writes nothing)", n)
	}
	tx, _ := e.store.Transaction(ctx, "a")
	if tx.State != metadata.TxnOngoing || !tx.HasPartition(e.topic.ID, 0) || len(tx.Groups) != 1 {
		t.Fatalf("after implicit adds: %+v", tx)
	}
	if err := c.AddImplicitly(ctx, "a", pid+1, epoch, e.parts(1), ""); !errors.Is(err, kerr.InvalidProducerIDMapping) {
		t.Fatalf("implicit add by another producer id = %v", err)
	}
	if err := c.AddImplicitly(ctx, "a", pid, epoch-1, e.parts(1), ""); !errors.Is(err, kerr.ProducerFenced) {
		t.Fatalf("implicit add with an old epoch = %v", err)
	}
	if r := e.write(t, pid, epoch, 0, 0); r.Err != nil {
		t.Fatal(r.Err)
	}

	p2, e2, err := c.EndTxnBump(ctx, "a", pid, epoch, true)
	if err != nil || p2 != pid || e2 != epoch+1 {
		t.Fatalf("EndTxn v5 commit = %d/%d, %v; want %d/%d", p2, e2, err, pid, epoch+1)
	}
	st, _ := e.store.StableState(ctx, e.topic.ID, 0, 0)
	if st.HighWatermark != 3 || st.LastStableOffset != 3 || len(st.Aborted) != 0 {
		t.Fatalf("after commit: %+v, want the data at 0-1 and the marker at 2", st)
	}
	// The marker carried the bumped epoch: a late write of the ended
	// transaction is fenced on the partition, not taken into the next one.
	if r := e.write(t, pid, epoch, 0, 2); !errors.Is(r.Err, metadata.ErrInvalidProducerEpoch) {
		t.Fatalf("late write with the old epoch = %+v, want INVALID_PRODUCER_EPOCH", r)
	}
	// A retry with the old epoch is answered again; the other outcome is not.
	if p, ep, err := c.EndTxnBump(ctx, "a", pid, epoch, true); err != nil || p != pid || ep != e2 {
		t.Fatalf("retried commit = %d/%d, %v", p, ep, err)
	}
	if _, _, err := c.EndTxnBump(ctx, "a", pid, epoch, false); !errors.Is(err, kerr.ProducerFenced) {
		t.Fatalf("abort with the old epoch after a commit = %v", err)
	}
	// Nothing ongoing: commit is refused, abort bumps.
	if _, _, err := c.EndTxnBump(ctx, "a", pid, e2, true); !errors.Is(err, kerr.InvalidTxnState) {
		t.Fatalf("commit with nothing ongoing = %v", err)
	}
	p3, e3, err := c.EndTxnBump(ctx, "a", pid, e2, false)
	if err != nil || p3 != pid || e3 != e2+1 {
		t.Fatalf("empty abort = %d/%d, %v; want %d/%d", p3, e3, err, pid, e2+1)
	}
	// The next transaction starts at sequence 0 under the new epoch.
	if err := c.AddImplicitly(ctx, "a", pid, e3, e.parts(0), ""); err != nil {
		t.Fatal(err)
	}
	if r := e.write(t, pid, e3, 0, 0); r.Err != nil {
		t.Fatalf("first write of the next transaction = %+v", r)
	}
	p4, e4, err := c.EndTxnBump(ctx, "a", pid, e3, false)
	if err != nil || p4 != pid || e4 != e3+1 {
		t.Fatalf("abort = %d/%d, %v", p4, e4, err)
	}
	st, _ = e.store.StableState(ctx, e.topic.ID, 0, 0)
	if len(st.Aborted) != 1 || st.Aborted[0].FirstOffset != 3 {
		t.Fatalf("after abort: %+v", st)
	}
	// v0-v4 EndTxn still keeps the epoch.
	if err := c.AddPartitions(ctx, "a", pid, e4, e.parts(1)); err != nil {
		t.Fatal(err)
	}
	if err := c.EndTxn(ctx, "a", pid, e4, true); err != nil {
		t.Fatal(err)
	}
	if tx, _ := e.store.Transaction(ctx, "a"); tx.ProducerEpoch != e4 {
		t.Fatalf("EndTxn v4 moved the epoch: %+v", tx)
	}
	if n := promtest.ToFloat64(c.metrics.bumps.WithLabelValues("end")); n != 2 {
		t.Errorf("bumps{end} = %v, want 2", n)
	}
	if n := promtest.ToFloat64(c.metrics.bumps.WithLabelValues("empty_abort")); n != 1 {
		t.Errorf("bumps{empty_abort} = %v, want 1", n)
	}
}

// TestEndTxnBumpOverflow ends a transaction at the last epoch: the markers
// carry math.MaxInt16 and the producer moves to a new producer ID at epoch
// 0, as KIP-890 prescribes; a retry with the exhausted ID and epoch gets
// the new ones, and the exhausted ID is fenced everywhere.
func TestEndTxnBumpOverflow(t *testing.T) {
	e := newEnv(t)
	c := e.coordinator()
	ctx := context.Background()
	pid, _, err := c.InitProducerID(ctx, "o", time.Minute, -1, -1)
	if err != nil {
		t.Fatal(err)
	}
	last := int16(math.MaxInt16 - 1)
	tx, _ := e.store.Transaction(ctx, "o")
	tx.ProducerEpoch = last
	if _, err := e.store.SaveTransaction(ctx, tx); err != nil {
		t.Fatal(err)
	}
	if err := c.AddImplicitly(ctx, "o", pid, last, e.parts(1), ""); err != nil {
		t.Fatal(err)
	}
	if r := e.write(t, pid, last, 1, 0); r.Err != nil {
		t.Fatal(r.Err)
	}
	np, ne, err := c.EndTxnBump(ctx, "o", pid, last, true)
	if err != nil || np == pid || np < 0 || ne != 0 {
		t.Fatalf("commit at the last epoch = %d/%d, %v; want a new producer id at epoch 0", np, ne, err)
	}
	st, _ := e.store.StableState(ctx, e.topic.ID, 1, 0)
	if st.HighWatermark != 3 || st.LastStableOffset != 3 {
		t.Fatalf("after commit: %+v", st)
	}
	producers, _ := e.store.PartitionProducers(ctx, e.topic.ID, 1)
	if len(producers) != 1 || producers[0].ProducerEpoch != math.MaxInt16 {
		t.Fatalf("partition producers %+v, want the old id marked at epoch %d", producers, math.MaxInt16)
	}
	if p, ep, err := c.EndTxnBump(ctx, "o", pid, last, true); err != nil || p != np || ep != 0 {
		t.Fatalf("retried commit = %d/%d, %v; want %d/0", p, ep, err, np)
	}
	if err := c.AddImplicitly(ctx, "o", pid, last, e.parts(1), ""); !errors.Is(err, kerr.InvalidProducerIDMapping) {
		t.Fatalf("old producer id = %v", err)
	}
	if r := e.write(t, pid, last, 1, 2); r.Err == nil {
		t.Fatalf("write with the exhausted producer id = %+v, want refused", r)
	}
	// The new producer ID works, and an empty abort at the last epoch
	// rotates as well.
	if err := c.AddImplicitly(ctx, "o", np, 0, e.parts(1), ""); err != nil {
		t.Fatal(err)
	}
	if r := e.write(t, np, 0, 1, 0); r.Err != nil {
		t.Fatal(r.Err)
	}
	if _, _, err := c.EndTxnBump(ctx, "o", np, 0, true); err != nil {
		t.Fatal(err)
	}
	tx, _ = e.store.Transaction(ctx, "o")
	tx.ProducerEpoch = last
	if _, err := e.store.SaveTransaction(ctx, tx); err != nil {
		t.Fatal(err)
	}
	p3, e3, err := c.EndTxnBump(ctx, "o", np, last, false)
	if err != nil || p3 == np || e3 != 0 {
		t.Fatalf("empty abort at the last epoch = %d/%d, %v", p3, e3, err)
	}
	if n := promtest.ToFloat64(c.metrics.bumps.WithLabelValues("overflow")); n != 2 {
		t.Errorf("bumps{overflow} = %v, want 2", n)
	}
}

// TestRotateAfterCrash plays a coordinator that died between completing a
// transaction at the exhausted epoch and moving to a new producer ID: the
// next coordinator to load the ID finishes the move, and the client's
// retry gets the new ID.
func TestRotateAfterCrash(t *testing.T) {
	e := newEnv(t)
	c := e.coordinator()
	ctx := context.Background()
	pid, _, err := c.InitProducerID(ctx, "r", time.Minute, -1, -1)
	if err != nil {
		t.Fatal(err)
	}
	tx, _ := e.store.Transaction(ctx, "r")
	tx.LastProducerID, tx.LastProducerEpoch = pid, math.MaxInt16-1
	tx.ProducerEpoch, tx.State = math.MaxInt16, metadata.TxnCompleteAbort
	if _, err := e.store.SaveTransaction(ctx, tx); err != nil {
		t.Fatal(err)
	}
	np, ne, err := e.coordinator().EndTxnBump(ctx, "r", pid, math.MaxInt16-1, false)
	if err != nil || np == pid || ne != 0 {
		t.Fatalf("retry after the crash = %d/%d, %v; want a new producer id at 0", np, ne, err)
	}
}

// TestLateCompletionLeavesNextTxnOpen replays what a chaos run caught: a
// coordinator finds a transaction in PrepareCommit and completes it, but
// its markers are written only after another coordinator completed the
// transaction and the producer began its next one (same epoch under
// transaction version 2) on the same partition. The late markers must not
// close that open transaction: its data stays above the last stable
// offset, and when it aborts its range is in the aborted list.
func TestLateCompletionLeavesNextTxnOpen(t *testing.T) {
	e := newEnv(t)
	c := e.coordinator()
	ctx := context.Background()
	pid, epoch, err := c.InitProducerID(ctx, "late", time.Minute, -1, -1)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AddImplicitly(ctx, "late", pid, epoch, e.parts(0), ""); err != nil {
		t.Fatal(err)
	}
	if r := e.write(t, pid, epoch, 0, 0); r.Err != nil || r.BaseOffset != 0 {
		t.Fatalf("first transaction's write = %+v", r)
	}
	// EndTxn v5 commit got as far as PrepareCommit (epoch bumped) when its
	// coordinator went away.
	tx, err := e.store.Transaction(ctx, "late")
	if err != nil {
		t.Fatal(err)
	}
	tx.State, tx.ProducerEpoch, tx.LastProducerID, tx.LastProducerEpoch = metadata.TxnPrepareCommit, epoch+1, pid, epoch
	prepared, err := e.store.SaveTransaction(ctx, tx)
	if err != nil {
		t.Fatal(err)
	}
	// One coordinator completes it; the producer's retry is answered.
	if p, ep, err := c.EndTxnBump(ctx, "late", pid, epoch, true); err != nil || p != pid || ep != epoch+1 {
		t.Fatalf("retried commit = %d/%d, %v", p, ep, err)
	}
	// The next transaction writes at the new epoch and stays open.
	if err := c.AddImplicitly(ctx, "late", pid, epoch+1, e.parts(0), ""); err != nil {
		t.Fatal(err)
	}
	r := e.write(t, pid, epoch+1, 0, 0)
	if r.Err != nil || r.BaseOffset != 3 {
		t.Fatalf("second transaction's write = %+v, want offset 3 (after the data and the marker)", r)
	}
	// The other coordinator, which had loaded PrepareCommit, completes it
	// now: its markers are refused and the transaction stays open.
	if _, err := c.finish(ctx, prepared); !errors.Is(err, kerr.ConcurrentTransactions) {
		t.Fatalf("late completion = %v, want CONCURRENT_TRANSACTIONS", err)
	}
	st, err := e.store.StableState(ctx, e.topic.ID, 0, 0)
	if err != nil || st.LastStableOffset != 3 {
		t.Fatalf("after the late completion: %+v, %v; want the last stable offset at the open transaction's 3", st, err)
	}
	// It aborts: read_committed consumers are told to drop 3-4.
	if _, _, err := c.EndTxnBump(ctx, "late", pid, epoch+1, false); err != nil {
		t.Fatal(err)
	}
	st, err = e.store.StableState(ctx, e.topic.ID, 0, 0)
	if err != nil || st.LastStableOffset != st.HighWatermark || len(st.Aborted) != 1 ||
		st.Aborted[0] != (metadata.AbortedTxn{ProducerID: pid, FirstOffset: 3, LastOffset: 5}) {
		t.Fatalf("after the abort: %+v, %v; want aborted [3,5]", st, err)
	}
}
