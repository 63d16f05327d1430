package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/sluicehq/sluice/internal/metadata"
)

// BenchmarkCommitFile1000Partitions commits a flush whose file holds one
// idempotent batch for each of 1,000 partitions (10 topics × 100).
func BenchmarkCommitFile1000Partitions(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(b.TempDir(), "meta.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	pid, err := s.AllocateProducerID(ctx)
	if err != nil {
		b.Fatal(err)
	}
	var batches []metadata.BatchCommit
	for t := 0; t < 10; t++ {
		topic, err := s.CreateTopic(ctx, fmt.Sprintf("t%d", t), 100, nil)
		if err != nil {
			b.Fatal(err)
		}
		for p := int32(0); p < 100; p++ {
			batches = append(batches, metadata.BatchCommit{
				TopicID: topic.ID, Partition: p, ByteOffset: int64(len(batches)) * 1024, ByteLength: 1024,
				Records: 1, MaxTimestamp: 1,
				Producer: &metadata.ProducerBatch{ID: pid, Epoch: 0},
			})
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		for j := range batches {
			batches[j].Producer = &metadata.ProducerBatch{ID: pid, Epoch: 0, FirstSequence: int32(i)}
		}
		res, err := s.CommitFile(ctx, metadata.FileCommit{Key: fmt.Sprintf("f%d", i), Size: 1 << 20, Batches: batches})
		if err != nil {
			b.Fatal(err)
		}
		if res[0].Err != nil {
			b.Fatal(res[0].Err)
		}
		i++
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/commit")
}
