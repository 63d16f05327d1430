package fetch

import (
	"context"
	"encoding/binary"
	"path/filepath"
	"testing"

	"github.com/sluicehq/sluice/internal/cache"
	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/metadata/sqlite"
	"github.com/sluicehq/sluice/internal/objstore"
	"github.com/sluicehq/sluice/internal/records"
	"github.com/sluicehq/sluice/internal/segment"
)

func benchBatch(n int32, payload int) []byte {
	b := make([]byte, records.HeaderSize+payload)
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
	b[16] = 2
	binary.BigEndian.PutUint32(b[23:], uint32(n-1))
	binary.BigEndian.PutUint32(b[57:], uint32(n))
	return b
}

// BenchmarkRead assembles one partition's fetch response from a committed
// file: index lookup, range read and base-offset patching of 64 batches of
// 16 records of 1 KiB (1 MiB, the default max.partition.fetch.bytes), from
// a local directory and from memory without a cache, and from the cache;
// and as a Fetch reads it from the cache (ReadFetch: the batches come back
// Shared, their offsets are patched in the encoded response, not here).
func BenchmarkRead(b *testing.B) {
	for _, kind := range []string{"dir", "mem", "cached", "cached-fetch"} {
		b.Run(kind, func(b *testing.B) {
			ctx := context.Background()
			dir := b.TempDir()
			var bucket objstore.Bucket
			var err error
			if kind == "dir" {
				bucket, err = objstore.OpenDir(filepath.Join(dir, "bucket"))
			} else { // mem, cached
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
			topic, err := store.CreateTopic(ctx, "bench", 1, nil)
			if err != nil {
				b.Fatal(err)
			}
			var w segment.Writer
			batch := benchBatch(16, 16*1024)
			for i := 0; i < 64; i++ {
				w.Add(topic.ID, 0, batch, records.BatchInfo{Records: 16, ProducerID: -1})
			}
			data, _, pos := w.FinishWithPositions()
			if err := bucket.Put(ctx, "f1", data); err != nil {
				b.Fatal(err)
			}
			commits := make([]metadata.BatchCommit, len(pos))
			for i, p := range pos {
				commits[i] = metadata.BatchCommit{TopicID: topic.ID, ByteOffset: int64(p), ByteLength: int64(len(batch)), Records: 16}
			}
			if _, err := store.CommitFile(ctx, metadata.FileCommit{Key: "f1", Size: int64(len(data)), Batches: commits}); err != nil {
				b.Fatal(err)
			}
			r := NewReader(store, bucket, nil)
			if kind == "cached" || kind == "cached-fetch" {
				// Served from the block cache after the first read.
				r = NewCachedReader(store, cache.New(bucket, cache.Config{Size: 64 << 20}, nil), nil, Config{})
			}
			defer r.Close()
			b.SetBytes(int64(64 * len(batch)))
			b.ReportAllocs()
			for b.Loop() {
				if kind == "cached-fetch" {
					o := r.ReadFetch(ctx, []Request{{topic.ID, 0, 0, 64 * len(batch)}}, 1<<30)[0]
					if o.Err != nil || o.Offsets != 64*16 || !o.Shared {
						b.Fatalf("read %d offsets, shared %v: %v", o.Offsets, o.Shared, o.Err)
					}
					continue
				}
				res, err := r.Read(ctx, topic.ID, 0, 0, 64*len(batch), true)
				if err != nil {
					b.Fatal(err)
				}
				if res.Offsets != 64*16 {
					b.Fatalf("read %d offsets", res.Offsets)
				}
				ReleaseRecords(res.Records)
			}
		})
	}
}
