package metadatatest

import (
	"context"
	"errors"
	"testing"

	"github.com/sluicehq/sluice/internal/metadata"
)

// testPartitionStates checks PartitionStates, the batched PartitionState
// of fetches: for more partitions than one statement carries (300 over two
// topics, in a shuffled order with repeats), every answer equals
// PartitionState's, an unknown partition or topic fails alone, and an empty
// call answers nothing.
func testPartitionStates(t *testing.T, s metadata.Store) {
	ctx := context.Background()
	a := mustCreate(t, s, "states-a", 200)
	b := mustCreate(t, s, "states-b", 100)
	var batches []metadata.BatchCommit
	for p := int32(0); p < 200; p++ {
		for range p % 4 { // partition p of a gets p%4 records
			batches = append(batches, metadata.BatchCommit{TopicID: a.ID, Partition: p, ByteLength: 10, Records: 1})
		}
	}
	batches = append(batches, metadata.BatchCommit{TopicID: b.ID, Partition: 7, ByteLength: 10, Records: 5})
	commit(t, s, "states", batches...)
	if _, err := s.AdvanceLogStart(ctx, b.ID, 7, 3); err != nil {
		t.Fatalf("AdvanceLogStart: %v", err)
	}

	var ps []metadata.TopicPartition
	for i := range 300 {
		p := int32(i*7) % 300 // every partition once, shuffled
		if p < 200 {
			ps = append(ps, metadata.TopicPartition{Topic: a.ID, Partition: p})
		} else {
			ps = append(ps, metadata.TopicPartition{Topic: b.ID, Partition: p - 200})
		}
	}
	unknown := []metadata.TopicPartition{{Topic: a.ID, Partition: 200}, {Topic: metadata.TopicID{0xff}, Partition: 0}}
	ps = append(ps, unknown[0], metadata.TopicPartition{Topic: b.ID, Partition: 7}, unknown[1], ps[5])
	got, err := s.PartitionStates(ctx, ps)
	if err != nil {
		t.Fatalf("PartitionStates: %v", err)
	}
	if len(got) != len(ps) {
		t.Fatalf("%d results for %d partitions", len(got), len(ps))
	}
	for i, p := range ps {
		want, werr := s.PartitionState(ctx, p.Topic, p.Partition)
		if werr != nil {
			if !errors.Is(got[i].Err, metadata.ErrUnknownPartition) {
				t.Errorf("%d: %v/%d: Err %v, want ErrUnknownPartition", i, p.Topic, p.Partition, got[i].Err)
			}
			continue
		}
		if got[i].Err != nil || got[i].PartitionState != want {
			t.Errorf("%d: %v/%d: %+v, %v; want %+v", i, p.Topic, p.Partition, got[i].PartitionState, got[i].Err, want)
		}
	}
	if st := got[len(got)-3]; st.LogStartOffset != 3 || st.HighWatermark != 5 {
		t.Errorf("states-b/7 = %+v, want [3, 5)", st.PartitionState)
	}
	if got, err := s.PartitionStates(ctx, nil); err != nil || len(got) != 0 {
		t.Errorf("PartitionStates(nil) = %v, %v", got, err)
	}
}
