package fetch

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the read path's Prometheus collectors (bucket reads are
// counted by the cache, internal/cache).
type Metrics struct {
	prefetches      prometheus.Counter
	prefetchSkipped prometheus.Counter
}

// NewMetrics creates the collectors and registers them with reg (nil: not
// registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		prefetches:      prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_fetch_prefetches_total", Help: "Read-aheads started for sequentially consumed partitions."}),
		prefetchSkipped: prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_fetch_prefetches_skipped_total", Help: "Read-aheads skipped because the maximum were already running."}),
	}
	if reg != nil {
		reg.MustRegister(m.prefetches, m.prefetchSkipped)
	}
	return m
}
