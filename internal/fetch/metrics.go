package fetch

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the read path's Prometheus collectors (bucket reads are
// counted by the cache, internal/cache).
type Metrics struct {
	prefetches      prometheus.Counter
	prefetchSkipped prometheus.Counter
	// extentHits and extentMisses count extent lookups answered from the
	// remembered runs and from the metadata store.
	extentHits, extentMisses prometheus.Counter
	// readsCut counts partitions answered short because their file bytes
	// did not arrive within the read budget.
	readsCut prometheus.Counter
}

// NewMetrics creates the collectors and registers them with reg (nil: not
// registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		prefetches:      prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_fetch_prefetches_total", Help: "Read-aheads started for sequentially consumed partitions."}),
		prefetchSkipped: prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_fetch_prefetches_skipped_total", Help: "Read-aheads skipped because the maximum were already running."}),
		readsCut:        prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_fetch_reads_cut_total", Help: "Fetched partitions answered with the batches read so far because the rest of their bytes did not arrive from the bucket within the read budget (the reads go on into the cache)."}),
	}
	lookups := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_fetch_extent_lookups_total", Help: "Extent lookups of the read path, by where they were answered: hit (the partition's remembered run) or miss (a metadata store query)."}, []string{"result"})
	m.extentHits = lookups.WithLabelValues("hit")
	m.extentMisses = lookups.WithLabelValues("miss")
	if reg != nil {
		reg.MustRegister(m.prefetches, m.prefetchSkipped, m.readsCut, lookups)
	}
	return m
}
