package produce_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/objstore"
	"github.com/sluicehq/sluice/internal/produce"
	"github.com/sluicehq/sluice/internal/segment"
)

// splitCounter passes a bucket's Puts and PutSplits through and records
// which one each file took and the pieces it came in.
type splitCounter struct {
	objstore.Bucket
	mu     sync.Mutex
	puts   int
	splits map[string]int // key -> pieces
}

func (s *splitCounter) Put(ctx context.Context, key string, data []byte) error {
	s.mu.Lock()
	s.puts++
	s.mu.Unlock()
	return s.Bucket.Put(ctx, key, data)
}

func (s *splitCounter) PutSplit(ctx context.Context, key string, pieces [][]byte) error {
	s.mu.Lock()
	s.splits[key] = len(pieces)
	s.mu.Unlock()
	return objstore.PutSplit(ctx, s.Bucket, key, pieces)
}

func (s *splitCounter) CanPutSplit() bool { return objstore.CanPutSplit(s.Bucket) }

// TestFilesWrittenInPieces checks that, on a bucket that takes pieces, a
// flush's file goes out as header + one piece per batch + trailer (no
// joined copy), that the file in the bucket is a valid segment holding
// the batches byte for byte, and that they are readable at their offsets.
func TestFilesWrittenInPieces(t *testing.T) {
	var sc *splitCounter
	e := newEnv(t, produce.Config{BatchTimeout: time.Hour, BatchMaxBytes: 1 << 20}, func(b objstore.Bucket) objstore.Bucket {
		sc = &splitCounter{Bucket: b, splits: map[string]int{}}
		return sc
	})
	topic := e.topic("t", 2)
	a, b, c := batchOf(topic, 0, "a1", "a2"), batchOf(topic, 1, "b1"), batchOf(topic, 0, "a3")
	p := e.submit(context.Background(), a, b, c)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.batcher.Close(ctx); err != nil {
		t.Fatal(err)
	}
	res := waitOK(t, p)
	if res[0].BaseOffset != 0 || res[1].BaseOffset != 0 || res[2].BaseOffset != 2 {
		t.Fatalf("offsets %+v", res)
	}
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.puts != 0 || len(sc.splits) != 1 {
		t.Fatalf("%d Puts and %d PutSplits, want the one file in pieces", sc.puts, len(sc.splits))
	}
	for key, n := range sc.splits {
		if n != 3+2 {
			t.Fatalf("file in %d pieces, want header + 3 batches + trailer", n)
		}
		data, err := e.bucket.GetRange(context.Background(), key, 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		f, err := segment.Parse(data)
		if err != nil {
			t.Fatal(err)
		}
		if len(f.Entries) != 2 || string(f.Chunk(0)) != string(a.Data)+string(c.Data) || string(f.Chunk(1)) != string(b.Data) {
			t.Fatalf("file chunks do not hold the batches: %+v", f.Entries)
		}
	}
}
