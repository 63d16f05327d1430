package produce_test

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/cache"
	"github.com/sluicehq/sluice/internal/objstore"
	"github.com/sluicehq/sluice/internal/produce"
)

// countingSource counts the reads the cache makes of the bucket.
type countingSource struct {
	objstore.Bucket
	gets atomic.Int64
}

func (s *countingSource) GetRange(ctx context.Context, key string, offset, length int64) ([]byte, error) {
	s.gets.Add(1)
	return s.Bucket.GetRange(ctx, key, offset, length)
}

// plainBucket hides the directory bucket's PutSplit, so files are encoded
// into the batcher's recycled buffers, as for an S3 bucket.
type plainBucket struct{ objstore.Bucket }

// TestWrittenFilesCached: with a cache registered through OnWritten,
// committed files of several blocks are read from the cache without a
// GET, and the cached bytes equal the bucket's after later files were
// written, whether the file was written as the requests' pieces
// (directory bucket: held is the file's size), encoded into a pooled
// buffer at least half full (held is its capacity), which the batcher
// must not recycle for later files once the cache kept it, or into a
// buffer mostly empty, copied (held is the file's size): the charge is
// never more than twice the file.
func TestWrittenFilesCached(t *testing.T) {
	plain := func(b objstore.Bucket) objstore.Bucket { return plainBucket{b} }
	for _, tc := range []struct {
		name string
		wrap func(objstore.Bucket) objstore.Bucket
		pad  int // bytes added to every record
	}{
		{"pieces", nil, 0},
		// Files of about 20 KB in 1 MiB encoding buffers: copied, so
		// the cache is charged the file, not the buffer.
		{"small-file-copied", plain, 0},
		// Files of about 700 KB: the buffer itself is kept.
		{"recycled-buffer", plain, 7000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, produce.Config{BatchTimeout: 50 * time.Millisecond, BatchMaxBytes: 1 << 20}, tc.wrap)
			src := &countingSource{Bucket: e.bucket}
			const blockSize = 4096
			// Room for every file: an encoding buffer holds 1 MiB at least.
			c := cache.New(src, cache.Config{Size: 16 << 20, BlockSize: blockSize}, nil)
			defer c.Close()
			var (
				mu    sync.Mutex
				sizes = map[string]int64{} // key: file size, of each file put
				helds int64
			)
			e.batcher.OnWritten(func(key string, pieces [][]byte, held int64) bool {
				var n int64
				for _, p := range pieces {
					n += int64(len(p))
				}
				if tc.wrap == nil && held != n || held < n || held > 2*n {
					t.Errorf("file %s of %d bytes handed over as %d held", key, n, held)
				}
				kept := c.Put(key, pieces, held)
				mu.Lock()
				sizes[key] = n
				if kept {
					helds += held
				}
				mu.Unlock()
				return kept
			})
			topic := e.topic("t", 2)
			long := strings.Repeat("x", 200)
			// Each submit is one file (BatchTimeout seals it): files in turn, so a
			// recycled buffer is reused by the next file.
			for i := range 4 {
				var vs []string
				for j, v := range values("r", 100) {
					vs = append(vs, v+long[:j%200]+strings.Repeat("y", tc.pad)+string(rune('a'+i)))
				}
				waitOK(t, e.submit(context.Background(),
					batchOf(topic, 0, vs[:50]...), batchOf(topic, 1, vs[50:]...)))
			}
			mu.Lock()
			defer mu.Unlock()
			if len(sizes) == 0 {
				t.Fatal("no file was handed to OnWritten")
			}
			multi := 0
			for key, size := range sizes {
				if size > blockSize {
					multi++
				}
				got, err := c.ReadRanges(context.Background(), key, size, []cache.Range{{Off: 0, Len: size}, {Off: blockSize - 10, Len: 20}})
				if err != nil {
					t.Fatal(err)
				}
				want, err := e.bucket.GetRange(context.Background(), key, 0, size)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got[0], want) {
					t.Fatalf("file %s (%d bytes): cached bytes differ from the bucket's", key, size)
				}
				if size > blockSize && !bytes.Equal(got[1], want[blockSize-10:blockSize+10]) {
					t.Fatalf("file %s: range across a block boundary differs from the bucket's", key)
				}
			}
			if multi == 0 {
				t.Fatalf("no file of several %d-byte blocks among %v", blockSize, sizes)
			}
			if n := src.gets.Load(); n != 0 {
				t.Fatalf("%d GETs reading files the cache was given, want 0", n)
			}
			if st := c.Stats(); st.Bytes != helds {
				t.Fatalf("cache charged %d bytes, want the %d held by the files put", st.Bytes, helds)
			}
		})
	}
}
