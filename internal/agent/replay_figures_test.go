package agent

import (
	"context"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/produce"
)

// TestReplayBesideTailFigures measures (it asserts only correctness) how a
// historical replay — a consumer reading a large topic from offset 0 —
// affects consumers at the tail of another topic on the same agent: tail
// end-to-end latency (produce call to receipt, which includes the fetch
// path) in windows without and with a replay running, alternated, with the
// replay's throughput. The cache is smaller than the replayed topic, so
// every replay reads the bucket. Set SLUICE_FIGURES=1 to run it:
//
//	SLUICE_FIGURES=1 go test -count=1 -run TestReplayBesideTailFigures -v ./internal/agent/
func TestReplayBesideTailFigures(t *testing.T) {
	if os.Getenv("SLUICE_FIGURES") == "" {
		t.Skip("figures: set SLUICE_FIGURES=1")
	}
	const (
		historyRounds = 64 // files of historyParts × recordBytes
		historyParts  = 4
		recordBytes   = 256 << 10
		rounds        = 3
		window        = 4 * time.Second
	)
	c := startCacheClusterWith(t, 1, CacheConfig{Size: 32 << 20, BlockSize: 4 << 20, PrefetchBytes: 4 << 20},
		produce.Config{BatchTimeout: 10 * time.Millisecond})
	a := c.agents[0]
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	produceFiles(t, ctx, a, "history", historyParts, historyRounds, recordBytes)
	historyBytes := int64(historyRounds * historyParts * recordBytes)

	// Tail: one record every 5 ms, consumed as it commits.
	admin, err := kgo.NewClient(kgo.SeedBrokers(a.KafkaAddr()))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := kadm.NewClient(admin).CreateTopic(ctx, 1, 1, nil, "tail"); err != nil {
		t.Fatal(err)
	}
	prod, err := kgo.NewClient(kgo.SeedBrokers(a.KafkaAddr()), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	cons, err := kgo.NewClient(kgo.SeedBrokers(a.KafkaAddr()), kgo.ConsumeTopics("tail"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()), kgo.FetchMaxWait(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()

	var (
		mu        sync.Mutex
		latencies []time.Duration
		received  int
	)
	tailCtx, stopTail := context.WithCancel(ctx)
	var tailWG sync.WaitGroup
	tailWG.Add(2)
	go func() {
		defer tailWG.Done()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-tailCtx.Done():
				return
			case <-tick.C:
				prod.Produce(tailCtx, &kgo.Record{Topic: "tail", Value: make([]byte, 1024), Timestamp: time.Now()}, nil)
			}
		}
	}()
	go func() {
		defer tailWG.Done()
		for tailCtx.Err() == nil {
			fs := cons.PollFetches(tailCtx)
			now := time.Now()
			mu.Lock()
			fs.EachRecord(func(r *kgo.Record) {
				latencies = append(latencies, now.Sub(r.Timestamp))
				received++
			})
			mu.Unlock()
		}
	}()
	take := func() []time.Duration {
		mu.Lock()
		defer mu.Unlock()
		out := latencies
		latencies = nil
		return out
	}
	replay := func() (time.Duration, error) {
		cl, err := kgo.NewClient(kgo.SeedBrokers(a.KafkaAddr()), kgo.ConsumeTopics("history"),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(32<<20), kgo.FetchMaxPartitionBytes(4<<20))
		if err != nil {
			return 0, err
		}
		defer cl.Close()
		start := time.Now()
		var n int
		for n < historyRounds*historyParts {
			fs := cl.PollFetches(ctx)
			if err := fs.Err0(); err != nil {
				return 0, err
			}
			n += fs.NumRecords()
		}
		return time.Since(start), nil
	}

	time.Sleep(time.Second) // the tail consumer settles
	take()
	var base50, base99, rep50, rep99, rates []float64
	for r := 0; r < rounds; r++ {
		time.Sleep(window)
		b := take()
		var reps []time.Duration
		var elapsed time.Duration
		deadline := time.Now().Add(window)
		for time.Now().Before(deadline) || len(reps) == 0 {
			d, err := replay()
			if err != nil {
				t.Fatal(err)
			}
			reps = append(reps, d)
			elapsed += d
		}
		w := take()
		p := func(ds []time.Duration, q float64) float64 {
			if len(ds) == 0 {
				return 0
			}
			slices.Sort(ds)
			return float64(ds[int(q*float64(len(ds)-1))].Microseconds()) / 1000
		}
		rate := float64(historyBytes) * float64(len(reps)) / elapsed.Seconds() / (1 << 20)
		t.Logf("round %d: tail without replay p50 %.1f ms p99 %.1f ms (%d records); with %d replays of %d MiB at %.0f MiB/s: p50 %.1f ms p99 %.1f ms (%d records)",
			r+1, p(b, .5), p(b, .99), len(b), len(reps), historyBytes>>20, rate, p(w, .5), p(w, .99), len(w))
		base50, base99 = append(base50, p(b, .5)), append(base99, p(b, .99))
		rep50, rep99 = append(rep50, p(w, .5)), append(rep99, p(w, .99))
		rates = append(rates, rate)
	}
	stopTail()
	tailWG.Wait()
	med := func(xs []float64) float64 { slices.Sort(xs); return xs[len(xs)/2] }
	t.Logf("medians of %d rounds: tail p50 %.1f ms → %.1f ms (%.2fx), p99 %.1f ms → %.1f ms (%.2fx) with a replay at %.0f MiB/s",
		rounds, med(base50), med(rep50), med(rep50)/med(base50), med(base99), med(rep99), med(rep99)/med(base99), med(rates))
	for _, name := range []string{"sluice_fetch_bucket_reads_total", "sluice_fetch_bucket_bytes_total", "sluice_cache_hits_total", "sluice_cache_misses_total", "sluice_cache_evictions_total", "sluice_fetch_prefetches_total"} {
		t.Logf("%s %v", name, metricValue(t, a, name))
	}
	mu.Lock()
	defer mu.Unlock()
	if received == 0 {
		t.Fatal("the tail consumer received nothing")
	}
}
