package postgres

import (
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// pools reports the connection pools of every open Store, summed: whether
// statements wait for a connection (a pool too small for the agent's
// load shows as empty acquires and acquire wait, and then as heartbeats
// and fetches that time out) rather than for the database.
var pools = &poolCollector{open: map[*pgxpool.Pool]struct{}{}}

type poolCollector struct {
	mu   sync.Mutex // guards open
	open map[*pgxpool.Pool]struct{}
}

var (
	poolConnsDesc = prometheus.NewDesc("sluice_metadata_pool_connections",
		"PostgreSQL pool connections by state: acquired (running a statement or transaction), idle, max (the pool's limit: pool_max_conns).", []string{"state"}, nil)
	poolAcquiresDesc = prometheus.NewDesc("sluice_metadata_pool_acquires_total",
		"Connections taken from the PostgreSQL pool.", nil, nil)
	poolEmptyDesc = prometheus.NewDesc("sluice_metadata_pool_empty_acquires_total",
		"Acquires from the PostgreSQL pool that found no idle connection and waited for one (or for a new connection).", nil, nil)
	poolWaitDesc = prometheus.NewDesc("sluice_metadata_pool_acquire_wait_seconds_total",
		"Time spent waiting for a PostgreSQL pool connection, summed over acquires.", nil, nil)
)

func (c *poolCollector) add(p *pgxpool.Pool) {
	c.mu.Lock()
	c.open[p] = struct{}{}
	c.mu.Unlock()
}

func (c *poolCollector) remove(p *pgxpool.Pool) {
	c.mu.Lock()
	delete(c.open, p)
	c.mu.Unlock()
}

// Describe implements prometheus.Collector.
func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- poolConnsDesc
	ch <- poolAcquiresDesc
	ch <- poolEmptyDesc
	ch <- poolWaitDesc
}

// Collect implements prometheus.Collector.
func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	var acquired, idle, limit, acquires, empty int64
	var wait float64
	c.mu.Lock()
	for p := range c.open {
		st := p.Stat()
		acquired += int64(st.AcquiredConns())
		idle += int64(st.IdleConns())
		limit += int64(st.MaxConns())
		acquires += st.AcquireCount()
		empty += st.EmptyAcquireCount()
		wait += st.AcquireDuration().Seconds()
	}
	c.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(poolConnsDesc, prometheus.GaugeValue, float64(acquired), "acquired")
	ch <- prometheus.MustNewConstMetric(poolConnsDesc, prometheus.GaugeValue, float64(idle), "idle")
	ch <- prometheus.MustNewConstMetric(poolConnsDesc, prometheus.GaugeValue, float64(limit), "max")
	ch <- prometheus.MustNewConstMetric(poolAcquiresDesc, prometheus.CounterValue, float64(acquires))
	ch <- prometheus.MustNewConstMetric(poolEmptyDesc, prometheus.CounterValue, float64(empty))
	ch <- prometheus.MustNewConstMetric(poolWaitDesc, prometheus.CounterValue, wait)
}
