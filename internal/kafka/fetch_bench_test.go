package kafka

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/cache"
	"github.com/sluicehq/sluice/internal/fetch"
	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/metadata/sqlite"
	"github.com/sluicehq/sluice/internal/objstore"
	"github.com/sluicehq/sluice/internal/records"
	"github.com/sluicehq/sluice/internal/segment"
	"github.com/sluicehq/sluice/internal/topics"
)

// BenchmarkFetch answers and encodes a Fetch of 8 partitions of one
// cached file, 8 batches of 16 records of 1 KiB each (1 MiB in all),
// reading uncommitted (records shared with the cache, offsets patched in
// the encoded response) and committed (copied, with the stable states of
// all partitions from the store).
func BenchmarkFetch(b *testing.B) {
	const parts = 8
	ctx := context.Background()
	dir := b.TempDir()
	bucket, err := objstore.Open(ctx, "mem://")
	if err != nil {
		b.Fatal(err)
	}
	store, err := sqlite.Open(ctx, filepath.Join(dir, "meta.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	topic, err := store.CreateTopic(ctx, "bench", parts, nil)
	if err != nil {
		b.Fatal(err)
	}
	var w segment.Writer
	batch := newBatch(16, 1024, nil)
	for p := int32(0); p < parts; p++ {
		for i := 0; i < 8; i++ {
			w.Add(topic.ID, p, batch, records.BatchInfo{Records: 16, ProducerID: -1})
		}
	}
	data, _, pos := w.FinishWithPositions()
	if err := bucket.Put(ctx, "f1", data); err != nil {
		b.Fatal(err)
	}
	commits := make([]metadata.BatchCommit, len(pos))
	for i, p := range pos {
		commits[i] = metadata.BatchCommit{TopicID: topic.ID, Partition: int32(i / 8), ByteOffset: int64(p), ByteLength: int64(len(batch)), Records: 16}
	}
	if _, err := store.CommitFile(ctx, metadata.FileCommit{Key: "f1", Size: int64(len(data)), Batches: commits}); err != nil {
		b.Fatal(err)
	}
	c := cache.New(bucket, cache.Config{Size: 64 << 20}, nil)
	defer c.Close()
	reader := fetch.NewCachedReader(store, c, nil, fetch.Config{})
	defer reader.Close()
	s := NewServer(Config{}, Deps{Topics: topics.NewCache(store, time.Minute), Log: store, Reader: reader,
		Transactions: store, Notifier: fetch.NewNotifier(), Logger: discardLogger()})

	for _, isolation := range []int8{0, 1} {
		b.Run([]string{"uncommitted", "committed"}[isolation], func(b *testing.B) {
			m := kmsg.NewPtrFetchRequest()
			m.Version = 12
			m.ReplicaID = -1
			m.MinBytes = 1
			m.MaxBytes = 64 << 20
			m.IsolationLevel = isolation
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic = "bench"
			for p := int32(0); p < parts; p++ {
				rp := kmsg.NewFetchRequestTopicPartition()
				rp.Partition = p
				rp.PartitionMaxBytes = 1 << 20
				rt.Partitions = append(rt.Partitions, rp)
			}
			m.Topics = append(m.Topics, rt)
			var buf []byte
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				req := &request{key: m.Key(), version: m.Version, msg: m}
				buf = encodeFetchForBench(b, s, buf[:0], req, s.fetch(ctx, req, m))
			}
			var got kmsg.FetchResponse
			got.SetVersion(m.Version)
			if err := got.ReadFrom(buf[8+1:]); err != nil {
				b.Fatal(err)
			}
			for _, p := range got.Topics[0].Partitions {
				if p.ErrorCode != 0 || len(p.RecordBatches) != 8*len(batch) {
					b.Fatalf("partition %d: error %d, %d bytes", p.Partition, p.ErrorCode, len(p.RecordBatches))
				}
			}
		})
	}
}

// encodeFetchForBench encodes a Fetch response as the connection writer
// does.
func encodeFetchForBench(b *testing.B, _ *Server, dst []byte, req *request, resp kmsg.Response) []byte {
	dst, err := appendResponse(dst, req, resp, nil)
	if err != nil {
		b.Fatal(err)
	}
	return dst
}
