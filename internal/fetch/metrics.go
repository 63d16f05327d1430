package fetch

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the read path's Prometheus collectors.
type Metrics struct {
	bucketReads prometheus.Counter
	bucketBytes prometheus.Counter
}

// NewMetrics creates the collectors and registers them with reg (nil: not
// registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		bucketReads: prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_fetch_bucket_reads_total", Help: "Range reads issued to object storage by fetches."}),
		bucketBytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_fetch_bucket_bytes_total", Help: "Bytes read from object storage by fetches."}),
	}
	if reg != nil {
		reg.MustRegister(m.bucketReads, m.bucketBytes)
	}
	return m
}
