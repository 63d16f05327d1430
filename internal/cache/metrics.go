package cache

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the cache's Prometheus collectors.
type Metrics struct {
	hits, misses, shared prometheus.Counter
	evictions            prometheus.Counter
	bytes, blocks        prometheus.Gauge
	bucketReads          prometheus.Counter
	bucketBytes          prometheus.Counter
	peerRequests         *prometheus.CounterVec
	peerFallbacks        prometheus.Counter
	peerServed           prometheus.Counter
	peerServedBytes      prometheus.Counter
	written              prometheus.Counter
}

// NewMetrics creates the collectors and registers them with reg (nil: not
// registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		hits:            prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_cache_hits_total", Help: "Block reads answered from this agent's cache."}),
		misses:          prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_cache_misses_total", Help: "Block reads that had to fetch the block (from a peer or the bucket)."}),
		shared:          prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_cache_shared_total", Help: "Block reads that joined a fetch of the same block already in flight."}),
		evictions:       prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_cache_evictions_total", Help: "Blocks evicted to stay within the cache size."}),
		bytes:           prometheus.NewGauge(prometheus.GaugeOpts{Name: "sluice_cache_bytes", Help: "Bytes charged to the cache size: blocks read, and the buffers of the files put into it (--cache-produced)."}),
		blocks:          prometheus.NewGauge(prometheus.GaugeOpts{Name: "sluice_cache_blocks", Help: "Cached blocks."}),
		bucketReads:     prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_fetch_bucket_reads_total", Help: "Range reads (GETs) issued to object storage by the read path, including reads for zone peers."}),
		bucketBytes:     prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_fetch_bucket_bytes_total", Help: "Bytes read from object storage by the read path, including reads for zone peers."}),
		peerRequests:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_cache_peer_requests_total", Help: "Block runs requested from the zone agent that owns them, by result (ok, error)."}, []string{"result"}),
		peerFallbacks:   prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_cache_peer_fallbacks_total", Help: "Block runs read from the bucket because their owning peer failed or was marked down."}),
		peerServed:      prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_cache_peer_served_total", Help: "Block runs this agent served to zone peers."}),
		peerServedBytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_cache_peer_served_bytes_total", Help: "Bytes this agent served to zone peers."}),
		written:         prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_cache_written_bytes_total", Help: "Bytes of files this agent wrote that were put into its cache as they were committed (--cache-produced)."}),
	}
	if reg != nil {
		reg.MustRegister(m.hits, m.misses, m.shared, m.evictions, m.bytes, m.blocks, m.bucketReads, m.bucketBytes,
			m.peerRequests, m.peerFallbacks, m.peerServed, m.peerServedBytes, m.written)
	}
	return m
}
