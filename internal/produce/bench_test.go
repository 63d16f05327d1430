package produce

import (
	"context"
	"encoding/binary"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/metadata/sqlite"
	"github.com/sluicehq/sluice/internal/objstore"
	"github.com/sluicehq/sluice/internal/records"
)

// benchBatch is a v2 record batch header announcing n records, followed by
// payload bytes; the batcher only looks at its length and BatchInfo.
func benchBatch(n int32, payload int) []byte {
	b := make([]byte, records.HeaderSize+payload)
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
	b[16] = 2
	binary.BigEndian.PutUint32(b[23:], uint32(n-1))
	binary.BigEndian.PutUint32(b[57:], uint32(n))
	return b
}

// BenchmarkSubmit measures the write path from a validated produce request
// (8 partitions × 16 records of 1 KiB, 128 KiB) to its acknowledgement: file
// building, upload and SQLite commit, with 16 concurrent producers and
// flushes sealed every 2 MiB or 5ms. "dir" is a local-directory bucket
// (fsync per file), "mem" an in-memory one (no I/O).
func BenchmarkSubmit(b *testing.B) {
	for _, kind := range []string{"dir", "mem"} {
		b.Run(kind, func(b *testing.B) {
			ctx := context.Background()
			dir := b.TempDir()
			var bucket objstore.Bucket
			var err error
			if kind == "dir" {
				bucket, err = objstore.OpenDir(filepath.Join(dir, "bucket"))
			} else {
				bucket, err = objstore.Open(ctx, "mem://")
			}
			if err != nil {
				b.Fatal(err)
			}
			store, err := sqlite.Open(ctx, filepath.Join(dir, "meta.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer store.Close()
			topic, err := store.CreateTopic(ctx, "bench", 8, nil)
			if err != nil {
				b.Fatal(err)
			}
			bt := New(Config{BatchTimeout: 5 * time.Millisecond, BatchMaxBytes: 2 << 20, MaxInFlight: 4}, store, bucket, nil, nil, nil)
			defer bt.Close(ctx)
			data := benchBatch(16, 16*1024)
			req := make([]Batch, 8)
			for p := range req {
				req[p] = Batch{Topic: topic.ID, Partition: int32(p), Data: data,
					Info: records.BatchInfo{Records: 16, ProducerID: -1}}
			}
			b.SetBytes(int64(8 * len(data)))
			b.ReportAllocs()
			b.SetParallelism(8) // 16 producers on 2 cores
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					p, err := bt.Submit(ctx, req)
					if err != nil {
						b.Fatal(err)
					}
					res, err := p.Wait(ctx)
					if err != nil || res[0].Err != nil {
						b.Fatal(err, res)
					}
				}
			})
		})
	}
}

var _ metadata.Log = (*sqlite.Store)(nil)
