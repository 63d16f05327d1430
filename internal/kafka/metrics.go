package kafka

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Metrics are the protocol layer's Prometheus collectors.
type Metrics struct {
	requests    *prometheus.CounterVec
	errors      *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	connections prometheus.Gauge
	badFrames   prometheus.Counter
	bytesOut    prometheus.Counter
	recordsOut  prometheus.Counter
	panics      prometheus.Counter
	queuedBytes prometheus.Gauge
	// Per topic, by name; a deleted topic's series are removed.
	topicBytesIn    *prometheus.CounterVec
	topicRecordsIn  *prometheus.CounterVec
	topicBytesOut   *prometheus.CounterVec
	topicRecordsOut *prometheus.CounterVec
	fetchReading    prometheus.Histogram
	fetchSessions   prometheus.Gauge
	// quotaThrottle counts the throttle time given to clients over their
	// quotas, by quota key.
	quotaThrottle *prometheus.CounterVec
	// authentications counts SASL authentications by mechanism and
	// result; tlsFailures TLS handshakes that failed, by listener.
	authentications *prometheus.CounterVec
	tlsFailures     *prometheus.CounterVec
}

// NewMetrics creates the collectors and registers them with reg (nil: not
// registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_kafka_requests_total", Help: "Kafka requests by API and version."}, []string{"api", "version"}),
		errors:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_kafka_errors_total", Help: "Error codes returned, by API and Kafka error code (counted per topic or partition)."}, []string{"api", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "sluice_kafka_request_seconds", Help: "Time from reading a request to its response being ready.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}, []string{"api"}),
		connections: prometheus.NewGauge(prometheus.GaugeOpts{Name: "sluice_kafka_connections", Help: "Open client connections."}),
		badFrames:   prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_kafka_bad_requests_total", Help: "Connections closed for malformed, oversized or unsupported requests."}),
		bytesOut:    prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_fetch_bytes_total", Help: "Record batch bytes returned to consumers."}),
		recordsOut:  prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_fetch_records_total", Help: "Records (offsets) returned to consumers."}),
		panics:      prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_kafka_panics_total", Help: "Requests whose handling panicked; each closed its connection."}),
		queuedBytes: prometheus.NewGauge(prometheus.GaugeOpts{Name: "sluice_kafka_queued_request_bytes", Help: "Bytes of requests in progress on all connections (bounded by --queued-max-request-bytes)."}),
		topicBytesIn: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_topic_produce_bytes_total",
			Help: "Record batch bytes produced to a topic through this agent and acknowledged (acks=0: accepted)."}, []string{"topic"}),
		topicRecordsIn: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_topic_produce_records_total",
			Help: "Records produced to a topic through this agent and acknowledged (acks=0: accepted)."}, []string{"topic"}),
		topicBytesOut: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_topic_fetch_bytes_total",
			Help: "Record batch bytes of a topic returned to consumers by this agent."}, []string{"topic"}),
		topicRecordsOut: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_topic_fetch_records_total",
			Help: "Records (offsets) of a topic returned to consumers by this agent."}, []string{"topic"}),
		fetchReading: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "sluice_fetch_read_seconds",
			Help:    "Time a Fetch spent reading, without the long-poll wait for data (sluice_kafka_request_seconds{api=\"Fetch\"} includes the wait).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18)}),
		fetchSessions: prometheus.NewGauge(prometheus.GaugeOpts{Name: "sluice_fetch_sessions",
			Help: "Incremental fetch sessions (KIP-227) this agent keeps (at most --fetch-session-cache-slots)."}),
		quotaThrottle: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_quota_throttle_seconds_total",
			Help: "Throttle time given to clients over their client quota (producer_byte_rate, consumer_byte_rate, request_percentage), summed, by quota key."}, []string{"quota"}),
		authentications: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_sasl_authentications_total",
			Help: "SASL authentications by mechanism and result (success or failure; an unsupported mechanism counts as mechanism \"unsupported\")."}, []string{"mechanism", "result"}),
		tlsFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_tls_handshake_failures_total",
			Help: "Kafka connections closed because their TLS handshake failed or no principal mapping rule named the client certificate, by listener."}, []string{"listener"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.errors, m.latency, m.connections, m.badFrames, m.bytesOut, m.recordsOut, m.panics, m.queuedBytes, m.authentications, m.tlsFailures,
			m.topicBytesIn, m.topicRecordsIn, m.topicBytesOut, m.topicRecordsOut, m.fetchReading, m.fetchSessions, m.quotaThrottle)
	}
	return m
}

func (m *Metrics) request(key, version int16) {
	m.requests.WithLabelValues(kmsg.NameForKey(key), strconv.Itoa(int(version))).Inc()
}

func (m *Metrics) observe(req *request, took time.Duration) {
	m.request(req.key, req.version)
	m.latency.WithLabelValues(kmsg.NameForKey(req.key)).Observe(took.Seconds())
}

// errorCode counts a non-zero error code returned for key.
func (m *Metrics) errorCode(key int16, code int16) {
	if code != 0 {
		m.errors.WithLabelValues(kmsg.NameForKey(key), strconv.Itoa(int(code))).Inc()
	}
}

// produced counts data a topic took.
func (m *Metrics) produced(topic string, bytes int, records int64) {
	m.topicBytesIn.WithLabelValues(topic).Add(float64(bytes))
	m.topicRecordsIn.WithLabelValues(topic).Add(float64(records))
}

// fetched counts data returned from a topic.
func (m *Metrics) fetched(topic string, bytes int, records int64) {
	m.topicBytesOut.WithLabelValues(topic).Add(float64(bytes))
	m.topicRecordsOut.WithLabelValues(topic).Add(float64(records))
}

// forgetTopic drops a deleted topic's series, as Kafka drops its per-topic
// metrics.
func (m *Metrics) forgetTopic(topic string) {
	for _, v := range []*prometheus.CounterVec{m.topicBytesIn, m.topicRecordsIn, m.topicBytesOut, m.topicRecordsOut} {
		v.DeleteLabelValues(topic)
	}
}

// throttled counts throttle time given on a quota key.
func (m *Metrics) throttled(key string, d time.Duration) {
	m.quotaThrottle.WithLabelValues(key).Add(d.Seconds())
}
