package produce

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the write path's Prometheus collectors.
type Metrics struct {
	flushes       prometheus.Counter
	flushErrors   prometheus.Counter
	earlySeals    prometheus.Counter
	flushBytes    prometheus.Histogram
	flushLatency  prometheus.Histogram
	uploadLatency prometheus.Histogram
	commitLatency prometheus.Histogram
	bufferedBytes prometheus.Gauge
	batchesIn     prometheus.Counter
	recordsIn     prometheus.Counter
	bytesIn       prometheus.Counter
	duplicates    prometheus.Counter
}

// NewMetrics creates the collectors and registers them with reg (nil: not
// registered, for tests).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	latency := prometheus.ExponentialBuckets(0.001, 2, 16)
	m := &Metrics{
		flushes:       prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_produce_flushes_total", Help: "Files flushed and committed."}),
		flushErrors:   prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_produce_flush_errors_total", Help: "Flushes that failed to upload or commit."}),
		earlySeals:    prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_produce_early_seals_total", Help: "Files sealed before --batch-timeout because no known producer could add to them (--batch-early-seal)."}),
		flushBytes:    prometheus.NewHistogram(prometheus.HistogramOpts{Name: "sluice_produce_flush_bytes", Help: "Size of flushed files.", Buckets: prometheus.ExponentialBuckets(1024, 4, 10)}),
		flushLatency:  prometheus.NewHistogram(prometheus.HistogramOpts{Name: "sluice_produce_flush_seconds", Help: "Time from a file's first batch to its commit.", Buckets: latency}),
		uploadLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "sluice_produce_upload_seconds", Help: "Object storage PUT latency of flushed files.", Buckets: latency}),
		commitLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "sluice_produce_commit_seconds", Help: "Metadata store commit latency of flushed files.", Buckets: latency}),
		bufferedBytes: prometheus.NewGauge(prometheus.GaugeOpts{Name: "sluice_produce_buffered_bytes", Help: "Batch bytes buffered or in flight."}),
		batchesIn:     prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_produce_batches_total", Help: "Record batches committed."}),
		recordsIn:     prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_produce_records_total", Help: "Records (offsets) committed."}),
		bytesIn:       prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_produce_bytes_total", Help: "Record batch bytes committed."}),
		duplicates:    prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_produce_duplicate_batches_total", Help: "Retried batches of idempotent producers answered with their original offsets."}),
	}
	if reg != nil {
		reg.MustRegister(m.flushes, m.flushErrors, m.earlySeals, m.flushBytes, m.flushLatency, m.uploadLatency, m.commitLatency, m.bufferedBytes, m.batchesIn, m.recordsIn, m.bytesIn, m.duplicates)
	}
	return m
}
