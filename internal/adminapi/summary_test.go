package adminapi

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestSummaryMinutes feeds real Prometheus metrics through a summary with
// a controlled clock: changes land in the minute they were sampled in,
// quiet minutes are zeros, and an hour later a minute's bucket is reused.
func TestSummaryMinutes(t *testing.T) {
	reg := prometheus.NewRegistry()
	bytesIn := prometheus.NewCounter(prometheus.CounterOpts{Name: metricProduceBytes})
	lat := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: metricRequestSeconds, Buckets: []float64{0.01, 0.1, 1}}, []string{"api"})
	reg.MustRegister(bytesIn, lat)
	now := time.Date(2026, 12, 6, 10, 0, 10, 0, time.UTC)
	s := NewSummary(reg)
	s.now = func() time.Time { return now }

	s.Sample() // the baseline
	bytesIn.Add(600)
	for i := 0; i < 99; i++ {
		lat.WithLabelValues("Produce").Observe(0.005)
	}
	lat.WithLabelValues("Produce").Observe(0.5)
	lat.WithLabelValues("Fetch").Observe(0.05)
	s.Sample()
	now = now.Add(2 * time.Minute)
	bytesIn.Add(120)
	s.Sample()

	r := s.Report()
	if len(r.Minutes) != SummaryMinutes {
		t.Fatalf("%d minutes", len(r.Minutes))
	}
	last, quiet, first := r.Minutes[59], r.Minutes[58], r.Minutes[57]
	if !last.Start.Equal(time.Date(2026, 12, 6, 10, 2, 0, 0, time.UTC)) || last.ProduceBytesPerSec != 2 || last.ProduceRequests != 0 {
		t.Fatalf("last minute %+v", last)
	}
	if quiet.ProduceBytesPerSec != 0 || quiet.ProduceRequests != 0 {
		t.Fatalf("quiet minute %+v", quiet)
	}
	if first.ProduceBytesPerSec != 10 || first.ProduceRequests != 100 || first.FetchRequests != 1 {
		t.Fatalf("first minute %+v", first)
	}
	// 99 of 100 requests took 5ms: the p99 is the 10ms bucket's bound.
	if first.ProduceLatencyP99Ms != 10 || first.ProduceLatencyAvgMs < 9.9 || first.ProduceLatencyAvgMs > 10 {
		t.Fatalf("latency %+v", first)
	}
	if r.ProduceBytes != 720 {
		t.Fatalf("hour total %v", r.ProduceBytes)
	}

	// An hour on, 10:00's bucket holds 11:00 alone.
	now = time.Date(2026, 12, 6, 11, 0, 30, 0, time.UTC)
	bytesIn.Add(60)
	s.Sample()
	r = s.Report()
	if m := r.Minutes[59]; !m.Start.Equal(time.Date(2026, 12, 6, 11, 0, 0, 0, time.UTC)) || m.ProduceBytesPerSec != 1 || m.ProduceRequests != 0 {
		t.Fatalf("reused minute %+v", m)
	}
	if r.ProduceBytes != 60+120 {
		t.Fatalf("hour total after an hour %v", r.ProduceBytes)
	}
}

// TestSummaryTopics keeps each topic's bytes and reports the last five
// minutes' average; merging adds another agent's.
func TestSummaryTopics(t *testing.T) {
	reg := prometheus.NewRegistry()
	in := prometheus.NewCounterVec(prometheus.CounterOpts{Name: metricTopicProduceBytes}, []string{"topic"})
	out := prometheus.NewCounterVec(prometheus.CounterOpts{Name: metricTopicFetchBytes}, []string{"topic"})
	reg.MustRegister(in, out)
	now := time.Date(2026, 12, 6, 10, 0, 10, 0, time.UTC)
	s := NewSummary(reg)
	s.now = func() time.Time { return now }
	in.WithLabelValues("old").Add(1) // before the baseline: not counted
	s.Sample()
	in.WithLabelValues("old").Add(3000)
	s.Sample()
	now = now.Add(10 * time.Minute) // "old" is now out of the window
	in.WithLabelValues("a").Add(600)
	out.WithLabelValues("a").Add(1200)
	in.WithLabelValues("b").Add(300)
	s.Sample()
	now = now.Add(time.Minute)
	in.WithLabelValues("a").Add(300)
	s.Sample()

	r := s.Report()
	if len(r.Topics) != 2 || r.Topics["a"] != (TopicRate{ProduceBytesPerSec: 3, FetchBytesPerSec: 4}) || r.Topics["b"].ProduceBytesPerSec != 1 {
		t.Fatalf("topics %+v", r.Topics)
	}
	r.merge(SummaryReport{Topics: map[string]TopicRate{"a": {ProduceBytesPerSec: 1}, "c": {FetchBytesPerSec: 2}}})
	if r.Topics["a"].ProduceBytesPerSec != 4 || r.Topics["c"].FetchBytesPerSec != 2 {
		t.Fatalf("merged topics %+v", r.Topics)
	}
}
