package bench

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/twmb/franz-go/pkg/kfake"
)

func TestParseExposition(t *testing.T) {
	in := `# HELP x y
x_bucket{a="1,2",le="0.5"} 3
x_bucket{a="q\"z",le="+Inf"} 4
plain 2.5
bad{a="1"} notanumber
`
	ss, err := parseExposition(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) != 3 {
		t.Fatalf("%d samples, want 3: %+v", len(ss), ss)
	}
	if v := ss.value("x_bucket", map[string]string{"a": "1,2", "le": "0.5"}); v != 3 {
		t.Errorf("x_bucket{a=1,2} = %v, want 3", v)
	}
	if v := ss.value("x_bucket", map[string]string{"a": `q"z`}); v != 4 {
		t.Errorf(`x_bucket{a=q"z} = %v, want 4`, v)
	}
	if v := ss.value("plain", nil); v != 2.5 {
		t.Errorf("plain = %v, want 2.5", v)
	}
}

func TestQuantile(t *testing.T) {
	// 10 observations in (0,1], 80 in (1,2], 10 in (2,4].
	bs := []bucket{{1, 10}, {2, 90}, {4, 100}, {posInf(), 100}}
	if q := quantile(bs, 0.5); q != 1.5 {
		t.Errorf("p50 = %v, want 1.5", q)
	}
	if q := quantile(bs, 0.99); q != 3.8 {
		t.Errorf("p99 = %v, want 3.8", q)
	}
	if q := quantile([]bucket{{1, 0}, {posInf(), 5}}, 0.5); q != 1 {
		t.Errorf("quantile in +Inf = %v, want the highest finite bound 1", q)
	}
}

func posInf() float64 { var z float64; return 1 / z }

// TestScaleAgainstKfake runs the scale benchmark end to end on a tiny
// workload, with a real Prometheus registry behind --metrics-url whose
// commit histogram gains observations during the load. It asserts what
// was measured and counted, never timings.
func TestScaleAgainstKfake(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	reg := prometheus.NewRegistry()
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "sluice_produce_commit_by_partitions_seconds", Buckets: []float64{0.01, 0.02, 0.04}}, []string{"partitions"})
	all := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "sluice_produce_commit_seconds", Buckets: []float64{0.01, 0.02, 0.04}})
	flushes := prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_produce_flushes_total"})
	batches := prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_produce_batches_total"})
	reg.MustRegister(h, all, flushes, batches)
	flushes.Add(5) // before the run: not counted
	batches.Add(100)
	h.WithLabelValues("1000+").Observe(0.015) // before the run: not counted
	// The second scrape (after the load) sees two more large commits and
	// one small one than the first.
	scrapes := 0
	serve := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scrapes++
		if scrapes == 2 {
			h.WithLabelValues("1000+").Observe(0.03)
			h.WithLabelValues("1000+").Observe(0.03)
			all.Observe(0.005)
			flushes.Add(3)
			batches.Add(3000)
		}
		serve.ServeHTTP(w, r)
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg := ScaleConfig{
		Brokers: c.ListenAddrs(), Prefix: "s", Topics: 7, PartitionsPerTopic: 3, RecordSize: 50,
		Rate: 2000, Duration: 300 * time.Millisecond, Linger: time.Millisecond,
		MetadataRounds: 2, FetchPartitions: 10, FetchRounds: 3, CreateBatch: 3,
		MetricsURL: srv.URL,
	}
	res, err := Scale(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK || res.Partitions != 21 || res.MetadataPartitions != 21 || res.MetadataAll.Count != 2 {
		t.Fatalf("%+v", res)
	}
	if res.Records < 100 || res.ProduceErrors != 0 || res.ProduceLatency == nil {
		t.Fatalf("produced %d records, %d errors", res.Records, res.ProduceErrors)
	}
	if res.FetchPartitions != 10 || res.FetchCaughtUp == nil || res.FetchCaughtUp.Count != 3 {
		t.Fatalf("fetch: %d partitions, %+v", res.FetchPartitions, res.FetchCaughtUp)
	}
	big := res.Commits["1000+"]
	if big == nil || big.Count != 2 || big.P50 <= 20 || big.P50 > 40 || big.Mean != 30 {
		t.Fatalf("commits 1000+: %+v", big)
	}
	if res.BatchesPerFlush != 1000 {
		t.Fatalf("batches per flush %v, want 1000", res.BatchesPerFlush)
	}
	if a := res.Commits["all"]; a == nil || a.Count != 1 {
		t.Fatalf("commits all: %+v", a)
	}
	// Creating again keeps the topics.
	cfg.Duration = 50 * time.Millisecond
	if res, err = Scale(ctx, cfg); err != nil || !res.OK {
		t.Fatalf("second run: %v %+v", err, res)
	}
}
