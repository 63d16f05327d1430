package metadatatest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/testutil"
)

// BenchmarkCommitFile measures CommitFile of flushes of one file each that
// holds, for every partition of topics topics of partitions partitions,
// batches idempotent batches of one record, adjacent in the file (one
// extent per partition), each flush following on the previous one's
// sequences. With transactional, the batches are transactional and part
// of one ongoing transaction holding every partition. s must be empty.
func BenchmarkCommitFile(b *testing.B, s metadata.Store, topics int, partitions int32, batches int, transactional bool) {
	ctx := context.Background()
	pid, err := s.AllocateProducerID(ctx)
	if err != nil {
		b.Fatal(err)
	}
	var (
		flush []metadata.BatchCommit
		txn   = metadata.Transaction{ID: "bench", ProducerID: pid, LastProducerID: -1, LastProducerEpoch: -1,
			TimeoutMs: 60000, State: metadata.TxnOngoing, StartedAt: time.Now()}
	)
	for t := 0; t < topics; t++ {
		name := fmt.Sprintf("t%d", t)
		topic, err := s.CreateTopic(ctx, name, partitions, nil)
		if err != nil {
			b.Fatal(err)
		}
		for p := int32(0); p < partitions; p++ {
			txn.Partitions = append(txn.Partitions, metadata.TxnPartition{Topic: name, TopicID: topic.ID, Partition: p})
			for range batches {
				flush = append(flush, metadata.BatchCommit{
					TopicID: topic.ID, Partition: p, ByteOffset: int64(len(flush)) * 1024, ByteLength: 1024,
					Records: 1, MaxTimestamp: 1, Transactional: transactional,
				})
			}
		}
	}
	if transactional {
		if _, err := s.SaveTransaction(ctx, txn); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	i := 0
	var took []time.Duration
	for b.Loop() {
		for j := range flush {
			flush[j].Producer = &metadata.ProducerBatch{ID: pid, FirstSequence: int32(i*batches + j%batches)}
		}
		start := time.Now()
		res, err := s.CommitFile(ctx, metadata.FileCommit{Key: fmt.Sprintf("f%d", i), Size: int64(len(flush)) * 1024, Batches: flush})
		took = append(took, time.Since(start))
		if err != nil {
			b.Fatal(err)
		}
		for j, r := range res {
			if r.Err != nil || r.Duplicate || r.BaseOffset != int64(i*batches+j%batches) {
				b.Fatalf("commit %d batch %d = %+v", i, j, r)
			}
		}
		i++
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/commit")
	// The commit target is a p99 (issue #24): quantiles of single
	// commits, nearest rank.
	testutil.ReportLatencyQuantiles(b, took)
}
