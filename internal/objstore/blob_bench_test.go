package objstore

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testutil"
)

// BenchmarkLocalPut times Puts of 32 KiB into one directory of a local
// bucket (as into a lightning journal directory), one at a time and four
// at once (as an agent's concurrent flushes), and reports the p50 and p99
// of a Put besides the mean.
func BenchmarkLocalPut(b *testing.B) {
	for _, writers := range []int{1, 4} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) { benchmarkLocalPut(b, writers) })
	}
}

func benchmarkLocalPut(b *testing.B, writers int) {
	bucket, err := OpenDir(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer bucket.Close()
	data := make([]byte, 32<<10)
	var (
		n    atomic.Int64
		mu   sync.Mutex // guards took
		took []time.Duration
		wg   sync.WaitGroup
	)
	ctx := context.Background()
	b.ResetTimer()
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := n.Add(1)
				if i > int64(b.N) {
					return
				}
				start := time.Now()
				if err := bucket.Put(ctx, fmt.Sprintf("journal/node-1/0000000000000001/%016x-x.slc", i), data); err != nil {
					b.Error(err)
					return
				}
				d := time.Since(start)
				mu.Lock()
				took = append(took, d)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	testutil.ReportLatencyQuantiles(b, took)
}
