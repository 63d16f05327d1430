package metadatatest

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/metadata"
)

// testTransactions covers the transaction coordinator's state (versioned
// saves), the transactional write check and the per-partition index that
// CommitFile keeps (last stable offset, aborted ranges), and staged offsets.
func testTransactions(t *testing.T, s metadata.Store) {
	ctx := context.Background()
	tp := mustCreate(t, s, "txn", 2)
	const pid = 42

	// Create, read back, and refuse a stale version.
	txn := metadata.Transaction{ID: "tx-1", ProducerID: pid, ProducerEpoch: 3, LastProducerID: -1, LastProducerEpoch: -1,
		TimeoutMs: 60000, State: metadata.TxnEmpty}
	saved, err := s.SaveTransaction(ctx, txn)
	if err != nil || saved.Version != 1 {
		t.Fatalf("create = %+v, %v", saved, err)
	}
	if _, err := s.SaveTransaction(ctx, txn); !errors.Is(err, metadata.ErrTxnVersion) {
		t.Fatalf("second create = %v, want ErrTxnVersion", err)
	}
	if _, err := s.Transaction(ctx, "nope"); !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("unknown id = %v, want ErrNotFound", err)
	}

	batch := func(part int32, epoch int16, first int32, records int64) metadata.BatchCommit {
		return metadata.BatchCommit{TopicID: tp.ID, Partition: part, ByteOffset: 0, ByteLength: 10, Records: records,
			Producer: &metadata.ProducerBatch{ID: pid, Epoch: epoch, FirstSequence: first}, Transactional: true}
	}
	marker := func(part int32, epoch int16, commit bool) metadata.BatchCommit {
		return metadata.BatchCommit{TopicID: tp.ID, Partition: part, ByteOffset: 0, ByteLength: 10, Records: 1,
			Marker: &metadata.TxnMarker{ProducerID: pid, Epoch: epoch, Commit: commit}}
	}

	// Not Ongoing yet: a transactional write is refused and takes no offsets.
	if res := commit(t, s, "t0", batch(0, 3, 0, 2)); !errors.Is(res[0].Err, metadata.ErrInvalidTxnState) {
		t.Fatalf("write outside a transaction = %+v, want ErrInvalidTxnState", res[0])
	}
	// A plain batch first, so the transaction does not start at 0.
	commit(t, s, "p0", metadata.BatchCommit{TopicID: tp.ID, Partition: 0, ByteLength: 10, Records: 1})

	saved.State = metadata.TxnOngoing
	saved.StartedAt = time.Now()
	saved.Partitions = []metadata.TxnPartition{{Topic: "txn", TopicID: tp.ID, Partition: 0}}
	saved.Groups = []string{"g"}
	ongoing, err := s.SaveTransaction(ctx, saved)
	if err != nil || ongoing.Version != 2 {
		t.Fatalf("save ongoing = %+v, %v", ongoing, err)
	}
	if _, err := s.SaveTransaction(ctx, saved); !errors.Is(err, metadata.ErrTxnVersion) {
		t.Fatalf("stale save = %v, want ErrTxnVersion", err)
	}
	got, err := s.Transaction(ctx, "tx-1")
	if err != nil || got.State != metadata.TxnOngoing || len(got.Partitions) != 1 || got.Partitions[0].TopicID != tp.ID ||
		len(got.Groups) != 1 || got.StartedAt.IsZero() || got.TimeoutMs != 60000 || got.ProducerEpoch != 3 {
		t.Fatalf("read back = %+v, %v", got, err)
	}

	res := commit(t, s, "t1", batch(0, 3, 0, 2), batch(1, 3, 0, 1), batch(0, 2, 2, 1))
	if res[0].Err != nil || res[0].BaseOffset != 1 {
		t.Fatalf("write to an added partition = %+v", res[0])
	}
	if !errors.Is(res[1].Err, metadata.ErrInvalidTxnState) {
		t.Fatalf("write to a partition not added = %+v, want ErrInvalidTxnState", res[1])
	}
	if !errors.Is(res[2].Err, metadata.ErrInvalidProducerEpoch) {
		t.Fatalf("write with an old epoch = %+v, want ErrInvalidProducerEpoch", res[2])
	}
	// A retry is still a duplicate; the next batch joins the same transaction.
	res = commit(t, s, "t2", batch(0, 3, 0, 2), batch(0, 3, 2, 3))
	if !res[0].Duplicate || res[1].Err != nil || res[1].BaseOffset != 3 {
		t.Fatalf("retry and next = %+v", res)
	}
	st, err := s.StableState(ctx, tp.ID, 0, 0)
	if err != nil || st.HighWatermark != 6 || st.LastStableOffset != 1 || len(st.Aborted) != 0 {
		t.Fatalf("open transaction: stable state = %+v, %v; want hwm 6, lso 1", st, err)
	}
	ps, err := s.PartitionProducers(ctx, tp.ID, 0)
	if err != nil || len(ps) != 1 || ps[0].ProducerID != pid || ps[0].ProducerEpoch != 3 || ps[0].LastSequence != 4 || ps[0].TxnStartOffset != 1 {
		t.Fatalf("producers = %+v, %v", ps, err)
	}

	// Staged offsets: only for added groups, invisible until commit.
	offs := []metadata.OffsetCommit{{Topic: "txn", Partition: 0, Offset: 17, LeaderEpoch: -1, Metadata: "m"}}
	if err := s.StageTxnOffsets(ctx, "tx-1", pid, 3, "other", offs); !errors.Is(err, metadata.ErrInvalidTxnState) {
		t.Fatalf("stage for a group not added = %v", err)
	}
	if err := s.StageTxnOffsets(ctx, "tx-1", pid, 2, "g", offs); !errors.Is(err, metadata.ErrInvalidProducerEpoch) {
		t.Fatalf("stage with an old epoch = %v", err)
	}
	if err := s.StageTxnOffsets(ctx, "tx-1", pid, 3, "g", offs); err != nil {
		t.Fatalf("stage: %v", err)
	}
	if pend, err := s.PendingTxnOffsets(ctx, "g"); err != nil || len(pend) != 1 || pend[0].Offset != 17 {
		t.Fatalf("pending = %+v, %v", pend, err)
	}
	if o, _ := s.FetchOffsets(ctx, "g"); len(o) != 0 {
		t.Fatalf("staged offsets visible before commit: %+v", o)
	}

	// Commit marker: the transaction closes, the stable offset catches up.
	prepared := ongoing
	prepared.State = metadata.TxnPrepareCommit
	if prepared, err = s.SaveTransaction(ctx, prepared); err != nil {
		t.Fatal(err)
	}
	// A write after PrepareCommit is refused (no late data after the marker).
	if res := commit(t, s, "t3", batch(0, 3, 5, 1)); !errors.Is(res[0].Err, metadata.ErrInvalidTxnState) {
		t.Fatalf("write while preparing = %+v", res[0])
	}
	res = commit(t, s, "m1", marker(0, 3, true))
	if res[0].Err != nil || res[0].BaseOffset != 6 {
		t.Fatalf("commit marker = %+v", res[0])
	}
	st, _ = s.StableState(ctx, tp.ID, 0, 0)
	if st.HighWatermark != 7 || st.LastStableOffset != 7 || len(st.Aborted) != 0 {
		t.Fatalf("after commit: stable state = %+v; want lso = hwm = 7", st)
	}
	done, err := s.CompleteTransaction(ctx, prepared, true)
	if err != nil || done.State != metadata.TxnCompleteCommit || len(done.Partitions) != 0 {
		t.Fatalf("complete = %+v, %v", done, err)
	}
	if _, err := s.CompleteTransaction(ctx, prepared, true); !errors.Is(err, metadata.ErrTxnVersion) {
		t.Fatalf("second complete = %v, want ErrTxnVersion", err)
	}
	if o, _ := s.FetchOffsets(ctx, "g"); len(o) != 1 || o[0].Offset != 17 || o[0].Metadata != "m" {
		t.Fatalf("offsets after commit = %+v", o)
	}
	if pend, _ := s.PendingTxnOffsets(ctx, "g"); len(pend) != 0 {
		t.Fatalf("pending after commit = %+v", pend)
	}

	// Second transaction (same epoch, sequences go on) aborts: its range is
	// recorded and its staged offsets dropped.
	done.State, done.StartedAt = metadata.TxnOngoing, time.Now()
	done.Partitions = []metadata.TxnPartition{{Topic: "txn", TopicID: tp.ID, Partition: 0}, {Topic: "txn", TopicID: tp.ID, Partition: 1}}
	done.Groups = []string{"g"}
	if done, err = s.SaveTransaction(ctx, done); err != nil {
		t.Fatal(err)
	}
	res = commit(t, s, "t4", batch(0, 3, 5, 2), batch(1, 3, 0, 1))
	if res[0].Err != nil || res[0].BaseOffset != 7 || res[1].Err != nil || res[1].BaseOffset != 0 {
		t.Fatalf("second transaction writes = %+v", res)
	}
	if err := s.StageTxnOffsets(ctx, "tx-1", pid, 3, "g", []metadata.OffsetCommit{{Topic: "txn", Partition: 0, Offset: 99, LeaderEpoch: -1}}); err != nil {
		t.Fatal(err)
	}
	// A marker of an older epoch is fenced.
	if res := commit(t, s, "m-old", marker(0, 2, false)); !errors.Is(res[0].Err, metadata.ErrInvalidProducerEpoch) {
		t.Fatalf("old-epoch marker = %+v", res[0])
	}
	// The abort comes with an epoch bump (as on a timeout), in one file.
	done.State, done.ProducerEpoch = metadata.TxnPrepareAbort, 4
	if done, err = s.SaveTransaction(ctx, done); err != nil {
		t.Fatal(err)
	}
	res = commit(t, s, "m2", marker(0, 4, false), marker(1, 4, false))
	if res[0].Err != nil || res[0].BaseOffset != 9 || res[1].Err != nil || res[1].BaseOffset != 1 {
		t.Fatalf("abort markers = %+v", res)
	}
	st, _ = s.StableState(ctx, tp.ID, 0, 0)
	if st.LastStableOffset != 10 || len(st.Aborted) != 1 || st.Aborted[0] != (metadata.AbortedTxn{ProducerID: pid, FirstOffset: 7, LastOffset: 9}) {
		t.Fatalf("after abort: stable state = %+v", st)
	}
	// Fetches from after the aborted range do not get it.
	if st, _ = s.StableState(ctx, tp.ID, 0, 10); len(st.Aborted) != 0 {
		t.Fatalf("aborted list from 10 = %+v", st.Aborted)
	}
	if st, _ = s.StableState(ctx, tp.ID, 1, 0); st.LastStableOffset != 2 || len(st.Aborted) != 1 || st.Aborted[0].FirstOffset != 0 {
		t.Fatalf("partition 1 after abort = %+v", st)
	}
	// The producer's old epoch is now fenced on the partitions it touched,
	// and the new epoch starts over at sequence 0.
	if res := commit(t, s, "t5", metadata.BatchCommit{TopicID: tp.ID, Partition: 0, ByteLength: 10, Records: 1,
		Producer: &metadata.ProducerBatch{ID: pid, Epoch: 3, FirstSequence: 7}}); !errors.Is(res[0].Err, metadata.ErrInvalidProducerEpoch) {
		t.Fatalf("old epoch after bump = %+v", res[0])
	}
	if done, err = s.CompleteTransaction(ctx, done, false); err != nil || done.State != metadata.TxnCompleteAbort {
		t.Fatalf("complete abort = %+v, %v", done, err)
	}
	if o, _ := s.FetchOffsets(ctx, "g"); len(o) != 1 || o[0].Offset != 17 {
		t.Fatalf("offsets after abort = %+v, want the committed 17 only", o)
	}
	if pend, _ := s.PendingTxnOffsets(ctx, "g"); len(pend) != 0 {
		t.Fatalf("pending after abort = %+v", pend)
	}
	list, err := s.ListTransactions(ctx)
	if err != nil || len(list) != 1 || list[0].ID != "tx-1" || list[0].State != metadata.TxnCompleteAbort {
		t.Fatalf("list = %+v, %v", list, err)
	}
	// Only Ongoing and Prepare states are open.
	if open, err := s.OpenTransactions(ctx); err != nil || len(open) != 0 {
		t.Fatalf("open transactions after completion = %+v, %v", open, err)
	}
	for _, st := range []string{metadata.TxnOngoing, metadata.TxnPrepareCommit, metadata.TxnPrepareAbort, metadata.TxnEmpty} {
		if _, err := s.SaveTransaction(ctx, metadata.Transaction{ID: "open-" + st, ProducerID: 77, State: st}); err != nil {
			t.Fatal(err)
		}
	}
	open, err := s.OpenTransactions(ctx)
	if err != nil || len(open) != 3 || open[0].ID != "open-Ongoing" || open[1].ID != "open-PrepareAbort" || open[2].ID != "open-PrepareCommit" {
		t.Fatalf("open transactions = %+v, %v", open, err)
	}
}

// testTxnFailedWrites checks what SaveTransaction and CompleteTransaction
// return when they fail: the transaction exactly as the caller gave it (a
// coordinator may keep using it), and nothing of it stored. The backends
// once differed here: one returned the half-modified transaction (its
// lists normalised, or already completed).
func testTxnFailedWrites(t *testing.T, s metadata.Store) {
	ctx := context.Background()
	tp := mustCreate(t, s, "txn-fail", 1)
	created, err := s.SaveTransaction(ctx, metadata.Transaction{ID: "tx", ProducerID: 9, LastProducerID: -1, LastProducerEpoch: -1,
		TimeoutMs: 1000, State: metadata.TxnEmpty})
	if err != nil {
		t.Fatal(err)
	}
	ongoing := created
	ongoing.State, ongoing.StartedAt = metadata.TxnOngoing, time.Now().Truncate(time.Millisecond)
	ongoing.Partitions = []metadata.TxnPartition{{Topic: "txn-fail", TopicID: tp.ID}}
	ongoing.Groups = []string{"g"}
	if ongoing, err = s.SaveTransaction(ctx, ongoing); err != nil {
		t.Fatal(err)
	}
	if err := s.StageTxnOffsets(ctx, "tx", 9, 0, "g", []metadata.OffsetCommit{{Topic: "txn-fail", Offset: 5, LeaderEpoch: -1}}); err != nil {
		t.Fatal(err)
	}

	// A stale create and a stale replace, with nil lists (which a
	// successful save stores as empty).
	for _, stale := range []metadata.Transaction{
		{ID: "tx", ProducerID: 10, State: metadata.TxnEmpty},
		{ID: "tx", Version: created.Version, ProducerID: 10, State: metadata.TxnPrepareAbort},
	} {
		got, err := s.SaveTransaction(ctx, stale)
		if !errors.Is(err, metadata.ErrTxnVersion) {
			t.Fatalf("stale save of version %d = %v, want ErrTxnVersion", stale.Version, err)
		}
		if !reflect.DeepEqual(got, stale) {
			t.Fatalf("failed save returned %#v, want the transaction as given (nil lists too) %#v", got, stale)
		}
	}

	// A stale completion (commit and abort): as given, and nothing
	// applied or dropped.
	staleTxn := ongoing
	staleTxn.Version--
	for _, commit := range []bool{true, false} {
		got, err := s.CompleteTransaction(ctx, staleTxn, commit)
		if !errors.Is(err, metadata.ErrTxnVersion) {
			t.Fatalf("stale complete(%v) = %v, want ErrTxnVersion", commit, err)
		}
		if !reflect.DeepEqual(got, staleTxn) {
			t.Fatalf("failed complete(%v) returned %#v, want the transaction as given %#v", commit, got, staleTxn)
		}
	}
	if o, _ := s.FetchOffsets(ctx, "g"); len(o) != 0 {
		t.Fatalf("a failed completion applied staged offsets: %+v", o)
	}
	if pend, _ := s.PendingTxnOffsets(ctx, "g"); len(pend) != 1 {
		t.Fatalf("a failed completion dropped staged offsets: %+v", pend)
	}
	if got, err := s.Transaction(ctx, "tx"); err != nil || got.Version != ongoing.Version || got.State != metadata.TxnOngoing ||
		len(got.Partitions) != 1 || !got.StartedAt.Equal(ongoing.StartedAt) {
		t.Fatalf("stored after failed writes = %+v, %v; want %+v", got, err, ongoing)
	}

	// The successful completion returns the new state; the input is
	// untouched.
	before := ongoing
	before.Partitions = append([]metadata.TxnPartition(nil), ongoing.Partitions...)
	before.Groups = append([]string(nil), ongoing.Groups...)
	done, err := s.CompleteTransaction(ctx, ongoing, true)
	if err != nil || done.Version != ongoing.Version+1 || done.State != metadata.TxnCompleteCommit ||
		len(done.Partitions) != 0 || len(done.Groups) != 0 || !done.StartedAt.IsZero() || done.ProducerID != 9 {
		t.Fatalf("complete = %+v, %v", done, err)
	}
	if !reflect.DeepEqual(ongoing, before) {
		t.Fatalf("CompleteTransaction changed its argument: %+v, was %+v", ongoing, before)
	}
	if got, err := s.Transaction(ctx, "tx"); err != nil || got.Version != done.Version || got.State != done.State ||
		len(got.Partitions) != 0 || !got.StartedAt.IsZero() {
		t.Fatalf("stored after completion = %+v, %v; want %+v", got, err, done)
	}
}
