package tableflow

import "github.com/prometheus/client_golang/prometheus"

// Metrics are tableflow's Prometheus metrics.
type Metrics struct {
	records       *prometheus.CounterVec
	dlq           *prometheus.CounterVec
	files         *prometheus.CounterVec
	bytes         *prometheus.CounterVec
	commits       *prometheus.CounterVec
	schemaChanges *prometheus.CounterVec
	lag           *prometheus.GaugeVec
	freshness     *prometheus.HistogramVec
	debt          *prometheus.GaugeVec
	owned         *prometheus.GaugeVec
	// catalogErrors and catalogPending are per external catalog.
	catalogErrors  *prometheus.CounterVec
	catalogPending *prometheus.GaugeVec
}

// NewMetrics creates the metrics and registers them on reg (if not nil).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_tableflow_records_total", Help: "Records committed to a table.",
		}, []string{"table"}),
		dlq: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_tableflow_dlq_records_total", Help: "Records sent to a table's DLQ topic.",
		}, []string{"table"}),
		files: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_tableflow_files_written_total", Help: "Parquet data files committed by ingestion.",
		}, []string{"table"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_tableflow_bytes_written_total", Help: "Bytes of Parquet data files committed by ingestion.",
		}, []string{"table"}),
		commits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_tableflow_commits_total", Help: "Table commits, by kind: append, compaction, expiry, retention.",
		}, []string{"table", "kind"}),
		schemaChanges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_tableflow_schema_changes_total", Help: "Schema evolutions (columns added) per table.",
		}, []string{"table"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sluice_tableflow_lag_records", Help: "Records in a source partition not yet consumed.",
		}, []string{"table", "partition"}),
		freshness: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sluice_tableflow_freshness_seconds",
			Help:    "Age (by Kafka timestamp) of the oldest record of each commit when it becomes visible.",
			Buckets: []float64{0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600},
		}, []string{"table"}),
		debt: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sluice_tableflow_compaction_debt_files", Help: "Data files smaller than the target size, seen by the last maintenance pass.",
		}, []string{"table"}),
		owned: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sluice_tableflow_table_owned", Help: "1 while this process holds a table's lease.",
		}, []string{"table"}),
		catalogErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_tableflow_catalog_sync_errors_total", Help: "Failed attempts to register a table's metadata location in an external catalog (each is retried).",
		}, []string{"catalog"}),
		catalogPending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sluice_tableflow_catalog_sync_pending_tables", Help: "Tables whose external catalog registration may be behind tableflow's store.",
		}, []string{"catalog"}),
	}
	if reg != nil {
		reg.MustRegister(m.records, m.dlq, m.files, m.bytes, m.commits, m.schemaChanges, m.lag, m.freshness, m.debt, m.owned, m.catalogErrors, m.catalogPending)
	}
	return m
}
