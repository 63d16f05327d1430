package produce

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the write path's Prometheus collectors.
type Metrics struct {
	flushes       prometheus.Counter
	flushErrors   prometheus.Counter
	earlySeals    prometheus.Counter
	idleSeals     prometheus.Counter
	flushBytes    prometheus.Histogram
	flushLatency  prometheus.Histogram
	uploadLatency prometheus.Histogram
	commitLatency prometheus.Histogram
	// commitBySize is commitLatency by the number of partitions the
	// flush touched (commitSizeClass), with finer buckets.
	commitBySize *prometheus.HistogramVec
	// ackLatency is a file's seal to its producers' acknowledgement, by
	// path: classic (after the commit) or journaled (after the file is
	// durable in the journal).
	ackLatency    *prometheus.HistogramVec
	bufferedBytes prometheus.Gauge
	batchesIn     prometheus.Counter
	recordsIn     prometheus.Counter
	bytesIn       prometheus.Counter
	duplicates    prometheus.Counter

	journalRefused prometheus.Counter
	journalRetries prometheus.Counter
	// journalCommitFiles is the number of files each store transaction
	// that sequences this agent's journal commits (Batcher.commitGroup).
	journalCommitFiles prometheus.Histogram
	// commitFiles is the number of classic files each store transaction
	// of the write path commits (commitClassicGroup).
	commitFiles        prometheus.Histogram
	ripcordFlushes     prometheus.Counter
	ripcordActivations prometheus.Counter
	recovered          *prometheus.CounterVec

	// mu guards the sources of the journal gauges.
	mu      sync.Mutex
	batcher *Batcher
	backlog map[string]JournalStats // found by recovery, by agent
}

// NewMetrics creates the collectors and registers them with reg (nil: not
// registered, for tests).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	latency := prometheus.ExponentialBuckets(0.001, 2, 16)
	m := &Metrics{
		flushes:       prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_produce_flushes_total", Help: "Files flushed and committed."}),
		flushErrors:   prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_produce_flush_errors_total", Help: "Flushes that failed to upload or commit."}),
		earlySeals:    prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_produce_early_seals_total", Help: "Files sealed before --batch-timeout because no known producer could add to them (--batch-early-seal)."}),
		idleSeals:     prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_produce_idle_seals_total", Help: "Files sealed before --batch-timeout because nothing was added to them for --batch-idle-seal."}),
		flushBytes:    prometheus.NewHistogram(prometheus.HistogramOpts{Name: "sluice_produce_flush_bytes", Help: "Size of flushed files.", Buckets: prometheus.ExponentialBuckets(1024, 4, 10)}),
		flushLatency:  prometheus.NewHistogram(prometheus.HistogramOpts{Name: "sluice_produce_flush_seconds", Help: "Time from a file's first batch to its commit.", Buckets: latency}),
		uploadLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "sluice_produce_upload_seconds", Help: "Object storage PUT latency of flushed files.", Buckets: latency}),
		commitLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "sluice_produce_commit_seconds", Help: "Metadata store commit latency of flushed files.", Buckets: latency}),
		commitBySize: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "sluice_produce_commit_by_partitions_seconds", Help: "Metadata store commit latency of flushed files, by the partitions the commit touches: 1-9, 10-99, 100-999, 1000+.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 1.25, 48)}, []string{"partitions"}),
		ackLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "sluice_produce_ack_seconds", Help: "Time from a file's seal to its producers' acknowledgement, by path: classic (file durable and committed) or journaled (file durable in the journal; lightning topics, ripcord).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 1.25, 40)}, []string{"path"}),
		bufferedBytes: prometheus.NewGauge(prometheus.GaugeOpts{Name: "sluice_produce_buffered_bytes", Help: "Batch bytes buffered or in flight."}),
		batchesIn:     prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_produce_batches_total", Help: "Record batches committed."}),
		recordsIn:     prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_produce_records_total", Help: "Records (offsets) committed."}),
		bytesIn:       prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_produce_bytes_total", Help: "Record batch bytes committed."}),
		commitFiles:   prometheus.NewHistogram(prometheus.HistogramOpts{Name: "sluice_produce_commit_files", Help: "Files each metadata store transaction of the write path commits: files uploaded while an earlier one commits wait for it, then commit together.", Buckets: prometheus.ExponentialBuckets(1, 2, 8)}),
		duplicates:    prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_produce_duplicate_batches_total", Help: "Retried batches of idempotent producers answered with their original offsets."}),
	}
	m.journalRefused = prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_journal_refused_total", Help: "Batches refused because the journal passed --ripcord-max-bytes or --ripcord-max-age, and acknowledged batches the store refused at commit (their topic or partition was deleted)."})
	m.journalRetries = prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_journal_commit_retries_total", Help: "Failed commit attempts of journaled (acknowledged) files; each is retried."})
	m.journalCommitFiles = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "sluice_journal_commit_files", Help: "Journaled files each metadata store transaction sequencing the agent's journal commits (the backlog an outage leaves is sequenced several files per transaction).", Buckets: prometheus.ExponentialBuckets(1, 2, 8)})
	m.ripcordFlushes = prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_ripcord_flushes_total", Help: "Classic-topic files journaled and acknowledged without offsets because the metadata store failed or stalled (--ripcord)."})
	m.ripcordActivations = prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_ripcord_activations_total", Help: "Times ripcord turned active."})
	m.recovered = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_journal_recovered_files_total", Help: "Journaled files recovery settled, by result: committed (it sequenced the file), already (the file was committed), missing (the file was never durable, so never acknowledged), corrupt, refused (the store refused every batch: the topic is gone)."}, []string{"result"})
	journalGauge := func(opts prometheus.GaugeOpts, v func(JournalStats) float64) prometheus.GaugeFunc {
		return prometheus.NewGaugeFunc(opts, func() float64 { return v(m.journalStats()) })
	}
	gauges := []prometheus.Collector{
		journalGauge(prometheus.GaugeOpts{Name: "sluice_journal_bytes", Help: "Bytes of acknowledged files waiting to be sequenced (this agent's journal and the journals it is recovering)."}, func(s JournalStats) float64 { return float64(s.Bytes) }),
		journalGauge(prometheus.GaugeOpts{Name: "sluice_journal_files", Help: "Acknowledged files waiting to be sequenced."}, func(s JournalStats) float64 { return float64(s.Files) }),
		journalGauge(prometheus.GaugeOpts{Name: "sluice_journal_oldest_age_seconds", Help: "Age of the oldest acknowledged file waiting to be sequenced (0 when none)."}, func(s JournalStats) float64 {
			if s.Oldest.IsZero() {
				return 0
			}
			return time.Since(s.Oldest).Seconds()
		}),
		journalGauge(prometheus.GaugeOpts{Name: "sluice_ripcord_active", Help: "1 while ripcord is active: the metadata store fails and produce to existing topics is journaled."}, func(s JournalStats) float64 {
			if s.Ripcord {
				return 1
			}
			return 0
		}),
	}
	if reg != nil {
		reg.MustRegister(m.journalRefused, m.journalRetries, m.journalCommitFiles, m.ripcordFlushes, m.ripcordActivations, m.recovered)
		reg.MustRegister(gauges...)
		reg.MustRegister(m.flushes, m.flushErrors, m.earlySeals, m.idleSeals, m.flushBytes, m.flushLatency, m.uploadLatency, m.commitLatency, m.commitBySize, m.commitFiles, m.ackLatency, m.bufferedBytes, m.batchesIn, m.recordsIn, m.bytesIn, m.duplicates)
	}
	return m
}

// watchJournal makes b's journal the source of the journal gauges.
func (m *Metrics) watchJournal(b *Batcher) {
	m.mu.Lock()
	m.batcher = b
	m.mu.Unlock()
}

// setBacklog records what recovery found waiting in agent's journal.
func (m *Metrics) setBacklog(agent string, st JournalStats) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.backlog == nil {
		m.backlog = make(map[string]JournalStats)
	}
	if st.Files == 0 {
		delete(m.backlog, agent)
		return
	}
	m.backlog[agent] = st
}

func (m *Metrics) journalStats() JournalStats {
	m.mu.Lock()
	b := m.batcher
	var total JournalStats
	for _, st := range m.backlog {
		total.Files += st.Files
		total.Bytes += st.Bytes
		if !st.Oldest.IsZero() && (total.Oldest.IsZero() || st.Oldest.Before(total.Oldest)) {
			total.Oldest = st.Oldest
		}
	}
	m.mu.Unlock()
	if b != nil {
		st := b.JournalStats()
		total.Files += st.Files
		total.Bytes += st.Bytes
		total.Ripcord = st.Ripcord
		if !st.Oldest.IsZero() && (total.Oldest.IsZero() || st.Oldest.Before(total.Oldest)) {
			total.Oldest = st.Oldest
		}
	}
	return total
}

// commitSizeClass is the partitions label of
// sluice_produce_commit_by_partitions_seconds for a flush touching n
// partitions.
func commitSizeClass(n int) string {
	switch {
	case n < 10:
		return "1-9"
	case n < 100:
		return "10-99"
	case n < 1000:
		return "100-999"
	default:
		return "1000+"
	}
}
