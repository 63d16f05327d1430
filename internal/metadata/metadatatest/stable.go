package metadatatest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/metadata"
)

// testStableStates checks StableStates, the batched StableState of
// read_committed fetches: for more partitions than one statement carries,
// with open and aborted transactions, repeated and unknown partitions,
// every answer equals StableState's, and an unknown partition fails alone.
func testStableStates(t *testing.T, s metadata.Store) {
	ctx := context.Background()
	const parts = 70
	tp := mustCreate(t, s, "stable", parts)
	plain := func(part int32) metadata.BatchCommit {
		return metadata.BatchCommit{TopicID: tp.ID, Partition: part, ByteLength: 10, Records: 1}
	}
	txnal := func(part int32, pid int64, first int32) metadata.BatchCommit {
		return metadata.BatchCommit{TopicID: tp.ID, Partition: part, ByteLength: 10, Records: 2,
			Producer: &metadata.ProducerBatch{ID: pid, Epoch: 0, FirstSequence: first}, Transactional: true}
	}
	abort := func(part int32, pid int64) metadata.BatchCommit {
		return metadata.BatchCommit{TopicID: tp.ID, Partition: part, ByteLength: 10, Records: 1,
			Marker: &metadata.TxnMarker{ProducerID: pid, Epoch: 0}}
	}
	begin := func(id string, pid int64, partitions ...int32) {
		t.Helper()
		txn := metadata.Transaction{ID: id, ProducerID: pid, LastProducerID: -1, LastProducerEpoch: -1, TimeoutMs: 60000,
			State: metadata.TxnOngoing, StartedAt: time.Now()}
		for _, p := range partitions {
			txn.Partitions = append(txn.Partitions, metadata.TxnPartition{Topic: "stable", TopicID: tp.ID, Partition: p})
		}
		if _, err := s.SaveTransaction(ctx, txn); err != nil {
			t.Fatalf("begin %s: %v", id, err)
		}
	}
	// p0: plain at 0, 42's aborted batch at 1-2 (marker 3), 43's open batch at 4-5.
	// p1: 42's aborted batch at 0-1 (marker 2), plain at 3.
	// p2 … p69: plain batches at 0 and 1 (p9 none).
	var plains []metadata.BatchCommit
	for p := int32(2); p < parts; p++ {
		if p != 9 {
			plains = append(plains, plain(p), plain(p))
		}
	}
	commit(t, s, "plain", append(plains, plain(0))...)
	begin("a", 42, 0, 1)
	for i, r := range commit(t, s, "a", txnal(0, 42, 0), txnal(1, 42, 0)) {
		if r.Err != nil {
			t.Fatalf("transactional batch %d: %v", i, r.Err)
		}
	}
	prepare := func(id string) {
		t.Helper()
		txn, err := s.Transaction(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		txn.State = metadata.TxnPrepareAbort
		if _, err := s.SaveTransaction(ctx, txn); err != nil {
			t.Fatalf("prepare %s: %v", id, err)
		}
	}
	prepare("a")
	for i, r := range commit(t, s, "a-abort", abort(0, 42), abort(1, 42), plain(1)) {
		if r.Err != nil {
			t.Fatalf("marker %d: %v", i, r.Err)
		}
	}
	begin("b", 43, 0)
	if r := commit(t, s, "b", txnal(0, 43, 0)); r[0].Err != nil {
		t.Fatalf("open transaction's batch: %v", r[0].Err)
	}

	var qs []metadata.StableQuery
	for p := int32(0); p < parts; p++ {
		qs = append(qs, metadata.StableQuery{Topic: tp.ID, Partition: p})
	}
	qs = append(qs,
		metadata.StableQuery{Topic: tp.ID, Partition: 0, From: 3}, // the aborted range ends at 3
		metadata.StableQuery{Topic: tp.ID, Partition: 0, From: 4}, // and not after it
		metadata.StableQuery{Topic: tp.ID, Partition: parts},      // unknown
		metadata.StableQuery{Topic: metadata.TopicID{1}, Partition: 0},
		metadata.StableQuery{Topic: tp.ID, Partition: 1, From: 1},
	)
	got, err := s.StableStates(ctx, qs)
	if err != nil {
		t.Fatalf("StableStates: %v", err)
	}
	if len(got) != len(qs) {
		t.Fatalf("StableStates returned %d results for %d queries", len(got), len(qs))
	}
	for i, q := range qs {
		want, werr := s.StableState(ctx, q.Topic, q.Partition, q.From)
		if werr != nil {
			if !errors.Is(got[i].Err, metadata.ErrUnknownPartition) || !errors.Is(werr, metadata.ErrUnknownPartition) {
				t.Fatalf("query %d (%+v): err %v, StableState's %v; want ErrUnknownPartition", i, q, got[i].Err, werr)
			}
			continue
		}
		if got[i].Err != nil || fmt.Sprint(got[i].StableState) != fmt.Sprint(want) {
			t.Fatalf("query %d (%+v) = %+v, %v; StableState = %+v", i, q, got[i].StableState, got[i].Err, want)
		}
	}
	// The cases that make the comparison worth something.
	for _, c := range []struct {
		i    int
		want string
	}{
		{0, "{{0 6} 4 [{42 1 3}]}"},
		{1, "{{0 4} 4 [{42 0 2}]}"},
		{2, "{{0 2} 2 []}"},
		{9, "{{0 0} 0 []}"},
		{parts, "{{0 6} 4 [{42 1 3}]}"},
		{parts + 1, "{{0 6} 4 []}"},
		{parts + 4, "{{0 4} 4 [{42 0 2}]}"},
	} {
		if s := fmt.Sprint(got[c.i].StableState); s != c.want {
			t.Fatalf("query %d (%+v) = %s, want %s", c.i, qs[c.i], s, c.want)
		}
	}
	if got, err := s.StableStates(ctx, nil); err != nil || len(got) != 0 {
		t.Fatalf("StableStates(nil) = %v, %v", got, err)
	}
}
