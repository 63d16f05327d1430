package metadatatest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/metadata"
)

// testCommitManyPartitions commits files whose batches cover many
// partitions of several topics (more than a backend may put in one
// statement), mixing in every per-batch outcome: unknown topics and
// partitions in the middle, duplicates, sequence errors, plain batches,
// and transactional batches of which some fail the transaction check.
// Each batch's result, every partition's high watermark and extents, and
// the transaction index must come out as if each batch were committed on
// its own, in file order.
func testCommitManyPartitions(t *testing.T, s metadata.Store) {
	ctx := context.Background()
	const parts = 150
	a := mustCreate(t, s, "many", parts)
	b := mustCreate(t, s, "few", 3)
	gone := mustCreate(t, s, "gone", 1)
	if _, err := s.DeleteTopic(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	const pid, tpid = 11, 12
	at := int64(0)
	next := func() int64 { at += 10; return at - 10 }
	idem := func(tp metadata.Topic, part int32, first int32, records int64) metadata.BatchCommit {
		return metadata.BatchCommit{TopicID: tp.ID, Partition: part, ByteOffset: next(), ByteLength: 10, Records: records,
			MaxTimestamp: int64(part), Producer: pb(pid, 0, first)}
	}
	plain := func(tp metadata.Topic, part int32, records int64) metadata.BatchCommit {
		return metadata.BatchCommit{TopicID: tp.ID, Partition: part, ByteOffset: next(), ByteLength: 10, Records: records}
	}

	// f1: two batches (seq 0-1 and 2) on every partition of "many", listed
	// partition by partition in descending order, with an unknown topic,
	// an unknown partition and a plain batch in the middle.
	var batches []metadata.BatchCommit
	for p := int32(parts - 1); p >= 0; p-- {
		batches = append(batches, idem(a, p, 0, 2), idem(a, p, 2, 1))
		if p == parts/2 {
			batches = append(batches, plain(gone, 0, 1), plain(b, 7, 1), plain(b, 0, 4))
		}
	}
	res := commit(t, s, "f1", batches...)
	for i, r := range res {
		bc := batches[i]
		switch {
		case bc.TopicID == gone.ID:
			if !errors.Is(r.Err, metadata.ErrUnknownTopic) {
				t.Fatalf("f1 batch %d (deleted topic) = %+v, want ErrUnknownTopic", i, r)
			}
		case bc.TopicID == b.ID && bc.Partition == 7:
			if !errors.Is(r.Err, metadata.ErrUnknownPartition) {
				t.Fatalf("f1 batch %d (unknown partition) = %+v, want ErrUnknownPartition", i, r)
			}
		case bc.TopicID == b.ID:
			if r.Err != nil || r.BaseOffset != 0 {
				t.Fatalf("f1 batch %d (plain) = %+v, want base 0", i, r)
			}
		default:
			want := int64(0)
			if bc.Producer.FirstSequence == 2 {
				want = 2
			}
			if r.Err != nil || r.Duplicate || r.BaseOffset != want {
				t.Fatalf("f1 batch %d (%d/seq %d) = %+v, want base %d", i, bc.Partition, bc.Producer.FirstSequence, r, want)
			}
		}
	}

	// f2: on even partitions a retry of seq 2 (duplicate at 2) and the
	// next batch; on odd partitions a gap (out of order), then the next
	// batch (which still follows on); unknown topic in the middle again.
	batches = batches[:0]
	for p := int32(0); p < parts; p++ {
		if p%2 == 0 {
			batches = append(batches, idem(a, p, 2, 1), idem(a, p, 3, 5))
		} else {
			batches = append(batches, idem(a, p, 9, 1), idem(a, p, 3, 1))
		}
		if p == 70 {
			batches = append(batches, plain(gone, 0, 1))
		}
	}
	res = commit(t, s, "f2", batches...)
	for i, r := range res {
		bc := batches[i]
		if bc.TopicID == gone.ID {
			if !errors.Is(r.Err, metadata.ErrUnknownTopic) {
				t.Fatalf("f2 batch %d (deleted topic) = %+v", i, r)
			}
			continue
		}
		switch first := bc.Producer.FirstSequence; {
		case first == 2:
			if !r.Duplicate || r.BaseOffset != 2 {
				t.Fatalf("f2 partition %d retry = %+v, want duplicate at 2", bc.Partition, r)
			}
		case first == 9:
			if !errors.Is(r.Err, metadata.ErrOutOfOrderSequence) {
				t.Fatalf("f2 partition %d gap = %+v, want ErrOutOfOrderSequence", bc.Partition, r)
			}
		default:
			if r.Err != nil || r.Duplicate || r.BaseOffset != 3 {
				t.Fatalf("f2 partition %d next = %+v, want base 3", bc.Partition, r)
			}
		}
	}
	for p := int32(0); p < parts; p++ {
		want := int64(4)
		if p%2 == 0 {
			want = 8
		}
		st, err := s.PartitionState(ctx, a.ID, p)
		if err != nil || st.HighWatermark != want {
			t.Fatalf("partition %d: state %+v, %v; want hwm %d", p, st, err, want)
		}
		ext, err := s.Extents(ctx, a.ID, p, 0, 10)
		if err != nil || len(ext) != 2 {
			t.Fatalf("partition %d: extents %+v, %v; want one per file", p, ext, err)
		}
		// f1's two batches of the partition are adjacent in the file: one
		// extent [0,3).
		if e := ext[0]; e.FileKey != "f1" || e.BaseOffset != 0 || e.EndOffset != 3 || e.ByteLength != 20 || e.MaxTimestamp != int64(p) {
			t.Fatalf("partition %d: f1 extent %+v", p, e)
		}
		if e := ext[1]; e.FileKey != "f2" || e.BaseOffset != 3 || e.EndOffset != want || e.ByteLength != 10 {
			t.Fatalf("partition %d: f2 extent %+v", p, e)
		}
		ps, err := s.PartitionProducers(ctx, a.ID, p)
		if err != nil || len(ps) != 1 || ps[0].ProducerID != pid || ps[0].LastSequence != map[bool]int32{true: 7, false: 3}[p%2 == 0] {
			t.Fatalf("partition %d: producers %+v, %v", p, ps, err)
		}
	}
	if st, err := s.PartitionState(ctx, b.ID, 0); err != nil || st.HighWatermark != 4 {
		t.Fatalf("few/0: %+v, %v; want hwm 4", st, err)
	}

	// f3: a transactional producer whose transaction holds few/0 and few/1
	// but not few/2, writing to all three and to a plain partition.
	txn := metadata.Transaction{ID: "many-tx", ProducerID: tpid, LastProducerID: -1, LastProducerEpoch: -1, TimeoutMs: 60000,
		State: metadata.TxnOngoing, StartedAt: time.Now(),
		Partitions: []metadata.TxnPartition{{Topic: "few", TopicID: b.ID, Partition: 0}, {Topic: "few", TopicID: b.ID, Partition: 1}}}
	if _, err := s.SaveTransaction(ctx, txn); err != nil {
		t.Fatal(err)
	}
	tbatch := func(part int32, records int64) metadata.BatchCommit {
		return metadata.BatchCommit{TopicID: b.ID, Partition: part, ByteOffset: next(), ByteLength: 10, Records: records,
			Producer: &metadata.ProducerBatch{ID: tpid, FirstSequence: 0}, Transactional: true}
	}
	res = commit(t, s, "f3", tbatch(2, 1), tbatch(0, 2), plain(a, 0, 1), tbatch(1, 3))
	if !errors.Is(res[0].Err, metadata.ErrInvalidTxnState) || res[1].Err != nil || res[1].BaseOffset != 4 ||
		res[2].Err != nil || res[2].BaseOffset != 8 || res[3].Err != nil || res[3].BaseOffset != 0 {
		t.Fatalf("f3 = %+v", res)
	}
	for _, c := range []struct {
		part          int32
		hwm, lso      int64
		txnStart      int64
		producerCount int
	}{{0, 6, 4, 4, 1}, {1, 3, 0, 0, 1}, {2, 0, 0, -1, 0}} {
		st, err := s.StableState(ctx, b.ID, c.part, 0)
		if err != nil || st.HighWatermark != c.hwm || st.LastStableOffset != c.lso {
			t.Fatalf("few/%d after f3: %+v, %v; want hwm %d lso %d", c.part, st, err, c.hwm, c.lso)
		}
		ps, err := s.PartitionProducers(ctx, b.ID, c.part)
		if err != nil || len(ps) != c.producerCount || (c.producerCount == 1 && ps[0].TxnStartOffset != c.txnStart) {
			t.Fatalf("few/%d producers after f3: %+v, %v", c.part, ps, err)
		}
	}

	// f4: an abort marker on few/0, a commit marker on few/1, and a marker
	// on few/2 where the producer has no open transaction.
	txn.Version = 1
	txn.State = metadata.TxnPrepareAbort
	if _, err := s.SaveTransaction(ctx, txn); err != nil {
		t.Fatal(err)
	}
	marker := func(part int32, commit bool) metadata.BatchCommit {
		return metadata.BatchCommit{TopicID: b.ID, Partition: part, ByteOffset: next(), ByteLength: 10, Records: 1,
			Marker: &metadata.TxnMarker{ProducerID: tpid, Commit: commit}}
	}
	res = commit(t, s, "f4", marker(0, false), plain(b, 0, 1), marker(1, true), marker(2, false))
	if res[0].Err != nil || res[0].BaseOffset != 6 || res[1].BaseOffset != 7 || res[2].Err != nil || res[2].BaseOffset != 3 ||
		res[3].Err != nil || res[3].BaseOffset != 0 {
		t.Fatalf("f4 = %+v", res)
	}
	st, err := s.StableState(ctx, b.ID, 0, 0)
	if err != nil || st.HighWatermark != 8 || st.LastStableOffset != 8 || len(st.Aborted) != 1 ||
		st.Aborted[0] != (metadata.AbortedTxn{ProducerID: tpid, FirstOffset: 4, LastOffset: 6}) {
		t.Fatalf("few/0 after abort: %+v, %v; want aborted [4,6]", st, err)
	}
	for part, hwm := range map[int32]int64{1: 4, 2: 1} {
		st, err := s.StableState(ctx, b.ID, part, 0)
		if err != nil || st.HighWatermark != hwm || st.LastStableOffset != hwm || len(st.Aborted) != 0 {
			t.Fatalf("few/%d after markers: %+v, %v; want hwm = lso = %d, nothing aborted", part, st, err, hwm)
		}
	}
}
