package cache

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/fnv"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/objstore"
)

// PeerPath is the HTTP path on which agents serve their cache to zone
// peers: GET PeerPath?key=<file key>&size=<file size>&off=<offset>&len=<length>
// answers the bytes with their CRC-32C (Castagnoli) in the PeerCRCHeader
// header, 404 when the file does not exist, 400 for a bad request and 502
// when the bucket fails.
const PeerPath = "/internal/cache/v1/range"

// PeerCRCHeader carries the CRC-32C of a peer response body, in decimal.
const PeerCRCHeader = "X-Sluice-Crc32c"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Peer is an agent of this agent's zone that serves its cache.
type Peer struct {
	NodeID int32
	// Addr is the host:port of its HTTP listener.
	Addr string
}

// PeersConfig configures zone peer reads.
type PeersConfig struct {
	// Self is this agent's own peer address (it owns some blocks itself).
	Self string
	// Members returns the live agents of this agent's zone that serve
	// their cache, this agent included; it is called on every miss, so it
	// must be cheap (a cached list).
	Members func() []Peer
	// Timeout bounds one peer request, after which the block is read from
	// the bucket; 0 means 2s.
	Timeout time.Duration
	// DownFor is how long a peer that failed is skipped; 0 means 5s.
	DownFor time.Duration
	// Scheme is "http" (the default) or "https"; TLS configures https.
	Scheme string
	TLS    *tls.Config
	// Header is added to every peer request (the cluster secret).
	Header http.Header
}

// Peers routes block reads to the zone agent that owns each block by
// rendezvous hashing over the zone's live agents, skipping agents that
// recently failed (the next agent in the ranking owns their blocks
// meanwhile, so the zone still reads each block about once).
type Peers struct {
	cfg     PeersConfig
	client  *http.Client
	metrics *Metrics

	mu   sync.Mutex           // guards down
	down map[string]time.Time // peer address → skipped until
}

// NewPeers returns a router; attach it with Cache.SetPeers. m should be the
// cache's metrics.
func NewPeers(cfg PeersConfig, m *Metrics) *Peers {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Second
	}
	if cfg.DownFor <= 0 {
		cfg.DownFor = 5 * time.Second
	}
	if m == nil {
		m = NewMetrics(nil)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 16
	if cfg.Scheme == "" {
		cfg.Scheme = "http"
	}
	tr.TLSClientConfig = cfg.TLS
	return &Peers{cfg: cfg, client: &http.Client{Transport: tr}, metrics: m, down: map[string]time.Time{}}
}

// Close drops the idle connections to peers.
func (p *Peers) Close() { p.client.CloseIdleConnections() }

// owner returns the address of the peer that owns block idx of key, or ""
// when this agent does (or is alone).
func (p *Peers) owner(key string, idx int64) string {
	members := p.cfg.Members()
	if len(members) <= 1 {
		return ""
	}
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	var (
		best  string
		score uint64
	)
	for _, m := range members {
		if m.Addr != p.cfg.Self {
			if until, ok := p.down[m.Addr]; ok {
				if now.Before(until) {
					continue
				}
				delete(p.down, m.Addr)
			}
		}
		if s := blockScore(key, idx, m.NodeID); best == "" || s > score {
			best, score = m.Addr, s
		}
	}
	if best == p.cfg.Self {
		return ""
	}
	return best
}

// blockScore is the rendezvous weight of node for block idx of key.
func blockScore(key string, idx int64, node int32) uint64 {
	h := fnv.New64a()
	h.Write([]byte(key))
	var b [12]byte
	for i := 0; i < 8; i++ {
		b[i] = byte(idx >> (8 * i))
	}
	for i := 0; i < 4; i++ {
		b[8+i] = byte(node >> (8 * i))
	}
	h.Write(b[:])
	x := h.Sum64()
	// splitmix64's finalizer: FNV alone spreads similar inputs poorly.
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

func (p *Peers) markDown(addr string) {
	p.mu.Lock()
	p.down[addr] = time.Now().Add(p.cfg.DownFor)
	p.mu.Unlock()
}

// get reads [off, off+length) of key from the peer at addr, checking the
// length and the CRC; an error marks the peer down for a while.
func (p *Peers) get(ctx context.Context, addr, key string, size, off, length int64) ([]byte, error) {
	data, err := p.request(ctx, addr, key, size, off, length)
	if err != nil {
		p.metrics.peerRequests.WithLabelValues("error").Inc()
		p.markDown(addr)
		return nil, err
	}
	p.metrics.peerRequests.WithLabelValues("ok").Inc()
	return data, nil
}

func (p *Peers) request(ctx context.Context, addr, key string, size, off, length int64) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	q := url.Values{}
	q.Set("key", key)
	q.Set("size", strconv.FormatInt(size, 10))
	q.Set("off", strconv.FormatInt(off, 10))
	q.Set("len", strconv.FormatInt(length, 10))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.cfg.Scheme+"://"+addr+PeerPath+"?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	for k, v := range p.cfg.Header {
		req.Header[k] = v
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("cache: peer %s: %s: %s", addr, resp.Status, strings.TrimSpace(string(msg)))
	}
	if resp.ContentLength != length {
		return nil, fmt.Errorf("cache: peer %s: %d bytes for a %d-byte range", addr, resp.ContentLength, length)
	}
	want, err := strconv.ParseUint(resp.Header.Get(PeerCRCHeader), 10, 32)
	if err != nil {
		return nil, fmt.Errorf("cache: peer %s: bad %s header: %v", addr, PeerCRCHeader, err)
	}
	buf := make([]byte, length)
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		return nil, fmt.Errorf("cache: peer %s: %w", addr, err)
	}
	if got := crc32.Checksum(buf, castagnoli); got != uint32(want) {
		return nil, fmt.Errorf("cache: peer %s: CRC-32C %08x, header says %08x", addr, got, want)
	}
	return buf, nil
}

// PeerHandler serves c's blocks to zone peers at PeerPath. Blocks missing
// here are read from the bucket (never from another peer) and cached.
func PeerHandler(c *Cache) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		key := q.Get("key")
		size, err1 := strconv.ParseInt(q.Get("size"), 10, 64)
		off, err2 := strconv.ParseInt(q.Get("off"), 10, 64)
		length, err3 := strconv.ParseInt(q.Get("len"), 10, 64)
		if err := errors.Join(err1, err2, err3); err != nil || !validKey(key) || length <= 0 || length > int64(c.cfg.MaxRunBlocks)*c.cfg.BlockSize {
			http.Error(w, fmt.Sprintf("bad range request (key %q, len %d): %v", key, length, err), http.StatusBadRequest)
			return
		}
		data, err := c.readLocal(r.Context(), key, size, []Range{{Off: off, Len: length}})
		switch {
		case errors.Is(err, ErrRange):
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		case errors.Is(err, objstore.ErrNotFound):
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		case err != nil:
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.Header().Set(PeerCRCHeader, strconv.FormatUint(uint64(crc32.Checksum(data[0], castagnoli)), 10))
		w.Header().Set("Content-Length", strconv.Itoa(len(data[0])))
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(data[0])
		c.metrics.peerServed.Inc()
		c.metrics.peerServedBytes.Add(float64(len(data[0])))
	})
}

// validKey accepts object keys as the agents write them: relative paths
// without parent or empty components.
func validKey(key string) bool {
	if key == "" || len(key) > 1024 || strings.HasPrefix(key, "/") {
		return false
	}
	for _, part := range strings.Split(key, "/") {
		if part == "" || part == "." || part == ".." {
			return false
		}
	}
	return true
}
