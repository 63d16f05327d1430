package agent

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/produce"
)

// BenchmarkReplayBesideTail measures how a historical replay (a consumer
// reading a large topic from offset 0) affects consumers at the tail of
// another topic on the same agent: tail end-to-end latency (produce call to
// receipt, which includes the fetch path) in a window without and then a
// window with back-to-back replays, and the replay's throughput. One
// iteration is one such pair of windows. The cache is smaller than the
// replayed topic, so every replay reads the bucket. It is a benchmark, not
// a test, because its figures are timings:
//
//	go test -run '^$' -bench BenchmarkReplayBesideTail -benchtime 3x ./internal/agent/
func BenchmarkReplayBesideTail(b *testing.B) {
	const (
		historyRounds = 64 // files of historyParts × recordBytes
		historyParts  = 4
		recordBytes   = 256 << 10
		window        = 4 * time.Second
	)
	c := startCacheClusterWith(b, 1, CacheConfig{Size: 32 << 20, BlockSize: 4 << 20, PrefetchBytes: 4 << 20},
		produce.Config{BatchTimeout: 10 * time.Millisecond})
	a := c.agents[0]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	produceFiles(b, ctx, a, "history", historyParts, historyRounds, recordBytes)
	historyBytes := int64(historyRounds * historyParts * recordBytes)

	// Tail: one record every 5 ms, consumed as it commits.
	admin, err := kgo.NewClient(kgo.SeedBrokers(a.KafkaAddr()))
	if err != nil {
		b.Fatal(err)
	}
	defer admin.Close()
	if _, err := kadm.NewClient(admin).CreateTopic(ctx, 1, 1, nil, "tail"); err != nil {
		b.Fatal(err)
	}
	prod, err := kgo.NewClient(kgo.SeedBrokers(a.KafkaAddr()), kgo.ProducerLinger(0))
	if err != nil {
		b.Fatal(err)
	}
	defer prod.Close()
	cons, err := kgo.NewClient(kgo.SeedBrokers(a.KafkaAddr()), kgo.ConsumeTopics("tail"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()), kgo.FetchMaxWait(500*time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	defer cons.Close()

	var (
		mu        sync.Mutex
		latencies []time.Duration
		received  int
		firstSeen = make(chan struct{})
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
				if received == 0 {
					close(firstSeen)
				}
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

	select { // the tail consumer is reading
	case <-firstSeen:
	case <-ctx.Done():
		b.Fatal("the tail consumer received nothing")
	}
	take()
	p := func(ds []time.Duration, q float64) float64 {
		if len(ds) == 0 {
			return 0
		}
		slices.Sort(ds)
		return float64(ds[int(q*float64(len(ds)-1))].Microseconds()) / 1000
	}
	var base50, base99, rep50, rep99, rates []float64
	b.ResetTimer()
	for b.Loop() {
		time.Sleep(window) // a window of tail traffic alone
		without := take()
		var reps int
		var elapsed time.Duration
		deadline := time.Now().Add(window)
		for time.Now().Before(deadline) || reps == 0 {
			d, err := replay()
			if err != nil {
				b.Fatal(err)
			}
			reps++
			elapsed += d
		}
		with := take()
		rate := float64(historyBytes) * float64(reps) / elapsed.Seconds() / (1 << 20)
		b.Logf("round %d: tail without replay p50 %.1f ms p99 %.1f ms (%d records); with %d replays of %d MiB at %.0f MiB/s: p50 %.1f ms p99 %.1f ms (%d records)",
			len(rates)+1, p(without, .5), p(without, .99), len(without), reps, historyBytes>>20, rate, p(with, .5), p(with, .99), len(with))
		base50, base99 = append(base50, p(without, .5)), append(base99, p(without, .99))
		rep50, rep99 = append(rep50, p(with, .5)), append(rep99, p(with, .99))
		rates = append(rates, rate)
	}
	b.StopTimer()
	stopTail()
	tailWG.Wait()
	med := func(xs []float64) float64 { slices.Sort(xs); return xs[len(xs)/2] }
	b.ReportMetric(med(base50), "tail-p50-ms")
	b.ReportMetric(med(base99), "tail-p99-ms")
	b.ReportMetric(med(rep50), "replay-tail-p50-ms")
	b.ReportMetric(med(rep99), "replay-tail-p99-ms")
	b.ReportMetric(med(rates), "replay-MiB/s")
	b.ReportMetric(0, "ns/op") // an iteration is two fixed windows; its time says nothing
	for _, name := range []string{"sluice_fetch_bucket_reads_total", "sluice_fetch_bucket_bytes_total", "sluice_cache_hits_total", "sluice_cache_misses_total", "sluice_cache_evictions_total", "sluice_fetch_prefetches_total"} {
		b.Logf("%s %v", name, metricValue(b, a, name))
	}
}
