package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/sluicehq/sluice/internal/metadata"
)

// BenchmarkStableState is the store cost a read_committed fetch adds per
// partition, against PartitionState (what read_uncommitted needs), on a
// partition with 1,000 aborted transactions behind it and one open.
func BenchmarkStableState(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(b.TempDir(), "meta.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	tp, err := s.CreateTopic(ctx, "t", 1, nil)
	if err != nil {
		b.Fatal(err)
	}
	const pid = 5
	_, err = s.SaveTransaction(ctx, metadata.Transaction{ID: "x", ProducerID: pid, State: metadata.TxnOngoing,
		Partitions: []metadata.TxnPartition{{Topic: "t", TopicID: tp.ID}}})
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < 1001; i++ {
		batches := []metadata.BatchCommit{{TopicID: tp.ID, ByteLength: 10, Records: 1,
			Producer: &metadata.ProducerBatch{ID: pid, FirstSequence: int32(i)}, Transactional: true}}
		if i < 1000 {
			batches = append(batches, metadata.BatchCommit{TopicID: tp.ID, ByteOffset: 10, ByteLength: 10, Records: 1,
				Marker: &metadata.TxnMarker{ProducerID: pid}})
		}
		if _, err := s.CommitFile(ctx, metadata.FileCommit{Key: fmt.Sprint(i), Size: 20, Batches: batches}); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("PartitionState", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.PartitionState(ctx, tp.ID, 0); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("StableStateFromEnd", func(b *testing.B) {
		for b.Loop() {
			st, err := s.StableState(ctx, tp.ID, 0, 1999)
			if err != nil || st.LastStableOffset != 2000 {
				b.Fatal(st, err)
			}
		}
	})
	b.Run("StableStateFromStart", func(b *testing.B) {
		for b.Loop() {
			st, err := s.StableState(ctx, tp.ID, 0, 0)
			if err != nil || len(st.Aborted) != 1000 {
				b.Fatal(len(st.Aborted), err)
			}
		}
	})
}
