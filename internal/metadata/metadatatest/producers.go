package metadatatest

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/sluicehq/sluice/internal/metadata"
)

func pb(id int64, epoch int16, first int32) *metadata.ProducerBatch {
	return &metadata.ProducerBatch{ID: id, Epoch: epoch, FirstSequence: first}
}

func testIdempotentProducers(t *testing.T, s metadata.Store) {
	ctx := context.Background()
	tp := mustCreate(t, s, "idem", 2)
	batch := func(part int32, p *metadata.ProducerBatch, records int64, at int64) metadata.BatchCommit {
		return metadata.BatchCommit{TopicID: tp.ID, Partition: part, ByteOffset: at, ByteLength: 10, Records: records, Producer: p}
	}
	// seq 0-2 and 3-4 in one file, then a plain batch.
	res := commit(t, s, "f1", batch(0, pb(7, 0, 0), 3, 8), batch(0, pb(7, 0, 3), 2, 18), batch(0, nil, 1, 28))
	if res[0].BaseOffset != 0 || res[1].BaseOffset != 3 || res[2].BaseOffset != 5 || res[0].Err != nil || res[1].Err != nil {
		t.Fatalf("first commit = %+v", res)
	}
	// Batches adjacent in the file and the log share one extent.
	ext, _ := s.Extents(ctx, tp.ID, 0, 0, 10)
	if len(ext) != 1 || ext[0].EndOffset != 6 || ext[0].ByteOffset != 8 || ext[0].ByteLength != 30 {
		t.Fatalf("extents = %+v, want one [0,6) at 8+30", ext)
	}

	// A retry of either recent batch is a duplicate with its original offsets,
	// even mixed with new data; a gap is out of order; the next batch is fine.
	res = commit(t, s, "f2", batch(0, pb(7, 0, 0), 3, 8), batch(0, pb(7, 0, 3), 2, 18), batch(0, pb(7, 0, 9), 1, 28), batch(0, pb(7, 0, 5), 4, 38))
	if !res[0].Duplicate || res[0].BaseOffset != 0 || !res[1].Duplicate || res[1].BaseOffset != 3 {
		t.Fatalf("retries = %+v %+v, want duplicates at 0 and 3", res[0], res[1])
	}
	if !errors.Is(res[2].Err, metadata.ErrOutOfOrderSequence) {
		t.Fatalf("gap = %+v, want ErrOutOfOrderSequence", res[2])
	}
	if res[3].Err != nil || res[3].Duplicate || res[3].BaseOffset != 6 {
		t.Fatalf("next batch = %+v, want base 6", res[3])
	}
	// The appended batch is not adjacent to the rejected ones before it:
	// its extent starts at its own bytes.
	ext, _ = s.Extents(ctx, tp.ID, 0, 6, 10)
	if len(ext) != 1 || ext[0].BaseOffset != 6 || ext[0].EndOffset != 10 || ext[0].ByteOffset != 38 || ext[0].FileKey != "f2" {
		t.Fatalf("extent of f2 = %+v", ext)
	}
	st, _ := s.PartitionState(ctx, tp.ID, 0)
	if st.HighWatermark != 10 {
		t.Fatalf("hwm = %d, want 10 (duplicates and rejects take no offsets)", st.HighWatermark)
	}

	// A file with nothing but duplicates commits nothing but still answers.
	res = commit(t, s, "f3", batch(0, pb(7, 0, 5), 4, 8))
	if !res[0].Duplicate || res[0].BaseOffset != 6 {
		t.Fatalf("duplicate-only file = %+v", res)
	}
	if st, _ := s.PartitionState(ctx, tp.ID, 0); st.HighWatermark != 10 {
		t.Fatalf("hwm moved to %d on a duplicate-only file", st.HighWatermark)
	}

	// Epochs: a newer epoch must restart at 0; then the old epoch is fenced.
	res = commit(t, s, "f4", batch(0, pb(7, 1, 4), 1, 8))
	if !errors.Is(res[0].Err, metadata.ErrOutOfOrderSequence) {
		t.Fatalf("new epoch at seq 4 = %+v", res[0])
	}
	res = commit(t, s, "f5", batch(0, pb(7, 1, 0), 1, 8), batch(0, pb(7, 0, 9), 1, 18))
	if res[0].Err != nil || res[0].BaseOffset != 10 || !errors.Is(res[1].Err, metadata.ErrInvalidProducerEpoch) {
		t.Fatalf("epoch bump = %+v", res)
	}

	// An unknown producer must start at 0; state is per partition.
	res = commit(t, s, "f6", batch(1, pb(8, 0, 5), 1, 8), batch(1, pb(7, 0, 0), 2, 18))
	if !errors.Is(res[0].Err, metadata.ErrUnknownProducerID) || res[1].Err != nil || res[1].BaseOffset != 0 {
		t.Fatalf("unknown producer / other partition = %+v", res)
	}

	// Only the last ProducerBatchesKept batches are remembered.
	first := int32(2)
	for i := 0; i < metadata.ProducerBatchesKept; i++ {
		commit(t, s, fmt.Sprint("g", i), batch(1, pb(7, 0, first), 1, 8))
		first++
	}
	res = commit(t, s, "h", batch(1, pb(7, 0, 0), 2, 8))
	if res[0].Duplicate || res[0].Err == nil {
		t.Fatalf("a retry older than the kept batches = %+v, want an error", res[0])
	}
}

func testAllocateProducerID(t *testing.T, s metadata.Store) {
	ctx := context.Background()
	seen := map[int64]bool{}
	prev := int64(-1)
	for i := 0; i < 20; i++ {
		id, err := s.AllocateProducerID(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if id < 0 || seen[id] || id <= prev {
			t.Fatalf("AllocateProducerID returned %d after %d (seen: %v)", id, prev, seen[id])
		}
		seen[id], prev = true, id
	}
}

// testDeleteTopicDropsProducers checks that a deleted topic takes its
// producers' state and its transaction index with it, as Kafka deletes a
// partition's producer snapshot with its log: nothing of it is reported
// under the old topic ID. (One backend once kept the producer rows.)
func testDeleteTopicDropsProducers(t *testing.T, s metadata.Store) {
	ctx := context.Background()
	gone := mustCreate(t, s, "gone", 1)
	kept := mustCreate(t, s, "kept", 1)
	const pid = 31
	txn, err := s.SaveTransaction(ctx, metadata.Transaction{ID: "tx", ProducerID: pid, State: metadata.TxnOngoing,
		Partitions: []metadata.TxnPartition{{Topic: "gone", TopicID: gone.ID}, {Topic: "kept", TopicID: kept.ID}}})
	if err != nil {
		t.Fatal(err)
	}
	move := func(state string) {
		t.Helper()
		txn.State = state
		if txn, err = s.SaveTransaction(ctx, txn); err != nil {
			t.Fatal(err)
		}
	}
	txnBatch := func(tp metadata.Topic, first int32) metadata.BatchCommit {
		return metadata.BatchCommit{TopicID: tp.ID, ByteLength: 10, Records: 2, Producer: pb(pid, 0, first), Transactional: true}
	}
	// An aborted transaction, then an open one, on both topics.
	for i, r := range commit(t, s, "t1", txnBatch(gone, 0), txnBatch(kept, 0)) {
		if r.Err != nil {
			t.Fatalf("batch %d: %v", i, r.Err)
		}
	}
	move(metadata.TxnPrepareAbort)
	commit(t, s, "m1", metadata.BatchCommit{TopicID: gone.ID, ByteLength: 10, Records: 1, Marker: &metadata.TxnMarker{ProducerID: pid}},
		metadata.BatchCommit{TopicID: kept.ID, ByteLength: 10, Records: 1, Marker: &metadata.TxnMarker{ProducerID: pid}})
	move(metadata.TxnOngoing)
	commit(t, s, "t2", txnBatch(gone, 2), txnBatch(kept, 2))
	if ps, err := s.PartitionProducers(ctx, gone.ID, 0); err != nil || len(ps) != 1 || ps[0].TxnStartOffset != 3 {
		t.Fatalf("producers before delete = %+v, %v", ps, err)
	}
	if _, err := s.DeleteTopic(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if ps, err := s.PartitionProducers(ctx, gone.ID, 0); err != nil || len(ps) != 0 {
		t.Fatalf("producers of a deleted topic = %+v, %v; want none", ps, err)
	}
	if _, err := s.StableState(ctx, gone.ID, 0, 0); !errors.Is(err, metadata.ErrUnknownPartition) {
		t.Fatalf("StableState of a deleted topic = %v, want ErrUnknownPartition", err)
	}
	// The other topic keeps everything.
	ps, err := s.PartitionProducers(ctx, kept.ID, 0)
	if err != nil || len(ps) != 1 || ps[0].ProducerID != pid || ps[0].LastSequence != 3 || ps[0].TxnStartOffset != 3 {
		t.Fatalf("producers of the kept topic = %+v, %v", ps, err)
	}
	st, err := s.StableState(ctx, kept.ID, 0, 0)
	if err != nil || st.LastStableOffset != 3 || len(st.Aborted) != 1 || st.Aborted[0] != (metadata.AbortedTxn{ProducerID: pid, FirstOffset: 0, LastOffset: 2}) {
		t.Fatalf("stable state of the kept topic = %+v, %v", st, err)
	}
}
