package txn

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the transaction coordinator's Prometheus collectors.
type Metrics struct {
	ended        *prometheus.CounterVec
	timeouts     prometheus.Counter
	markerErrors prometheus.Counter
	recovered    prometheus.Counter
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
	}
	if reg != nil {
		reg.MustRegister(m.ended, m.timeouts, m.markerErrors, m.recovered)
	}
	return m
}
