package txn

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the transaction coordinator's Prometheus collectors.
type Metrics struct {
	ended        *prometheus.CounterVec
	timeouts     prometheus.Counter
	markerErrors prometheus.Counter
	recovered    prometheus.Counter
	bumps        *prometheus.CounterVec
	implicitAdds prometheus.Counter
}

// NewMetrics creates the collectors and registers them with reg (nil: not
// registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		ended: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_txn_ended_total",
			Help: "Transactions this agent completed, by result (commit, abort)."}, []string{"result"}),
		timeouts: prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_txn_timeouts_total",
			Help: "Transactions this agent aborted because they outlived their timeout."}),
		markerErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_txn_marker_errors_total",
			Help: "Failed attempts to write a transaction's markers (the transaction stays prepared and is completed later)."}),
		recovered: prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_txn_recovered_total",
			Help: "Prepared transactions this agent completed after another attempt (or another agent) was interrupted."}),
		bumps: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_txn_epoch_bumps_total",
			Help: "EndTxn v5 (KIP-890 transaction version 2) answers with a bumped producer epoch, by reason: end (a transaction ended), empty_abort (an abort with nothing ongoing), retry (a retried end answered again), overflow (the epoch was exhausted and a new producer ID allocated)."}, []string{"reason"}),
		implicitAdds: prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_txn_implicit_adds_total",
			Help: "Partitions or groups added to transactions by Produce v12+ and TxnOffsetCommit v5+ requests themselves (KIP-890 transaction version 2), counted per store write."}),
	}
	if reg != nil {
		reg.MustRegister(m.ended, m.timeouts, m.markerErrors, m.recovered, m.bumps, m.implicitAdds)
	}
	return m
}
