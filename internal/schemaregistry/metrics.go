package schemaregistry

import (
	"context"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the registry's Prometheus metrics.
type Metrics struct {
	requests    *prometheus.CounterVec
	rejections  *prometheus.CounterVec
	schemasDesc *prometheus.Desc
	subjDesc    *prometheus.Desc
	reg         *Registry
}

// NewMetrics registers the registry's metrics on r. reg may be nil (no
// gauges); the gauges read the store when scraped.
func NewMetrics(r prometheus.Registerer, reg *Registry) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_schema_registry_requests_total",
			Help: "Schema registry REST requests by endpoint (route pattern) and HTTP status.",
		}, []string{"endpoint", "status"}),
		rejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_schema_validation_rejections_total",
			Help: "Produce batches refused by broker-side schema validation, by topic.",
		}, []string{"topic"}),
		schemasDesc: prometheus.NewDesc("sluice_schema_registry_schemas",
			"Schemas used by at least one live subject version.", nil, nil),
		subjDesc: prometheus.NewDesc("sluice_schema_registry_subjects",
			"Subjects with at least one live version.", nil, nil),
		reg: reg,
	}
	if r != nil {
		r.MustRegister(m.requests, m.rejections)
		if reg != nil {
			r.MustRegister(m)
		}
	}
	return m
}

func (m *Metrics) request(endpoint string, status int) {
	if endpoint == "" {
		endpoint = "unknown"
	}
	m.requests.WithLabelValues(endpoint, strconv.Itoa(status)).Inc()
}

func (m *Metrics) rejected(topic string) {
	if m != nil {
		m.rejections.WithLabelValues(topic).Inc()
	}
}

// Describe implements prometheus.Collector (the gauges).
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.schemasDesc
	ch <- m.subjDesc
}

// Collect implements prometheus.Collector: it counts schemas and subjects
// in the store, skipping the gauges if the store does not answer quickly.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	schemas, subjects, err := m.reg.Counts(ctx)
	if err != nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(m.schemasDesc, prometheus.GaugeValue, float64(schemas))
	ch <- prometheus.MustNewConstMetric(m.subjDesc, prometheus.GaugeValue, float64(subjects))
}
