package groups

import (
	"context"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the coordinator's Prometheus collectors. Group counts and
// consumer lag are computed when scraped.
type Metrics struct {
	rebalances prometheus.Counter
	commits    prometheus.Counter
	c          *Coordinator
}

var (
	groupsDesc = prometheus.NewDesc("sluice_groups", "Consumer groups coordinated by this agent, by state.", []string{"state"}, nil)
	lagDesc    = prometheus.NewDesc("sluice_group_lag", "Consumer lag (high watermark minus committed offset) of groups coordinated by this agent.",
		[]string{"group", "topic", "partition"}, nil)
)

// NewMetrics creates the collectors for c and registers them with reg (nil:
// not registered).
func NewMetrics(reg prometheus.Registerer, c *Coordinator) *Metrics {
	m := &Metrics{
		rebalances: prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_group_rebalances_total", Help: "Rebalances started by groups coordinated by this agent (classic groups), and group epoch bumps of consumer groups (KIP-848)."}),
		commits:    prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_group_offset_commits_total", Help: "Partition offsets committed."}),
		c:          c,
	}
	if reg != nil {
		reg.MustRegister(m.rebalances, m.commits, m)
	}
	return m
}

// SetCoordinator binds the scrape-time collectors to c (for metrics created
// before the coordinator).
func (m *Metrics) SetCoordinator(c *Coordinator) { m.c = c }

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- groupsDesc
	ch <- lagDesc
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	if m.c == nil {
		return
	}
	counts := m.c.loadedStates()
	for _, s := range []State{Empty, PreparingRebalance, CompletingRebalance, Stable, Assigning, Reconciling} {
		ch <- prometheus.MustNewConstMetric(groupsDesc, prometheus.GaugeValue, float64(counts[s]), string(s))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, name := range m.c.loadedNames() {
		offsets, err := m.c.store.FetchOffsets(ctx, name)
		if err != nil {
			continue
		}
		for _, o := range offsets {
			t, err := m.c.store.Topic(ctx, o.Topic)
			if err != nil {
				continue
			}
			st, err := m.c.store.PartitionState(ctx, t.ID, o.Partition)
			if err != nil {
				continue
			}
			ch <- prometheus.MustNewConstMetric(lagDesc, prometheus.GaugeValue, float64(max(st.HighWatermark-o.Offset, 0)),
				name, o.Topic, strconv.Itoa(int(o.Partition)))
		}
	}
}
