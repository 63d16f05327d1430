package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/sluicehq/sluice/internal/journal"
)

// The cost benchmark puts its own counting layers between the agents it
// starts and everything they talk to, so the figures it reports are
// measured on the wire and not taken from the agents' own accounts:
//
//   - s3Counter: an HTTP reverse proxy per agent in front of the S3
//     endpoint, counting requests by S3 billing class and key prefix, and
//     the bytes each way;
//   - tcpCounter: a TCP proxy per agent in front of the metadata store, and
//     one per agent in front of its zone peer cache listener, counting
//     bytes each way. The peer proxies attribute every connection to the
//     agent process that opened it (Linux /proc), so agent-to-agent bytes
//     are known by (caller zone, serving zone).

// Request classes, as S3 bills them: PUT, COPY, POST and LIST at one
// price, GET, HEAD and every other request at another, DELETE free.
const (
	classPut    = "put"    // PutObject, UploadPart
	classPost   = "post"   // multipart create/complete (billed as PUT)
	classCopy   = "copy"   // CopyObject (billed as PUT)
	classList   = "list"   // ListObjects(V2), ListBuckets (billed as PUT)
	classGet    = "get"    // GetObject
	classHead   = "head"   // HeadObject, HeadBucket (billed as GET)
	classDelete = "delete" // DeleteObject(s) (free)
	classOther  = "other"  // billed as GET
)

// s3Class returns the billing class and the object key of an S3 request
// in path style (/bucket/key).
func s3Class(r *http.Request) (class, key string) {
	p := strings.TrimPrefix(r.URL.Path, "/")
	if _, k, ok := strings.Cut(p, "/"); ok {
		key = k
	}
	q := r.URL.Query()
	switch r.Method {
	case http.MethodPut:
		if r.Header.Get("X-Amz-Copy-Source") != "" {
			return classCopy, key
		}
		return classPut, key
	case http.MethodPost:
		if q.Has("delete") {
			return classDelete, key
		}
		return classPost, key
	case http.MethodGet:
		if key == "" || q.Has("list-type") {
			return classList, q.Get("prefix")
		}
		return classGet, key
	case http.MethodHead:
		return classHead, key
	case http.MethodDelete:
		return classDelete, key
	}
	return classOther, key
}

// keyPrefix groups object keys by what wrote them: files/ (data files of
// produce and compaction, and the data files lightning topics write into
// the journal, journal/<agent>/<gen>/<seq>-<name>), journal/ (the rest of
// the journal: ripcord entries, generation markers under journal-open/,
// recovery's listings), _sluice/ (readiness probes), other.
func keyPrefix(key string) string {
	if e, ok := journal.Parse(key); ok && e.Resident() {
		return "files/"
	}
	if strings.HasPrefix(key, journal.MarkerPrefix) {
		return "journal/"
	}
	for _, p := range []string{"files/", "journal/", "_sluice/"} {
		if strings.HasPrefix(key, p) {
			return p
		}
	}
	return "other"
}

// reqCount is a request count and its bytes.
type reqCount struct {
	Requests int64 `json:"requests"`
	BytesIn  int64 `json:"bytes_in"`  // request bodies (to the bucket)
	BytesOut int64 `json:"bytes_out"` // response bodies (from the bucket)
}

// s3Counts is a snapshot of an s3Counter: class → prefix → counts.
type s3Counts map[string]map[string]reqCount

func (c s3Counts) add(class, prefix string, n reqCount) {
	m := c[class]
	if m == nil {
		m = map[string]reqCount{}
		c[class] = m
	}
	x := m[prefix]
	x.Requests += n.Requests
	x.BytesIn += n.BytesIn
	x.BytesOut += n.BytesOut
	m[prefix] = x
}

// class sums a class over every prefix.
func (c s3Counts) class(class string) reqCount {
	var out reqCount
	for _, n := range c[class] {
		out.Requests += n.Requests
		out.BytesIn += n.BytesIn
		out.BytesOut += n.BytesOut
	}
	return out
}

// minus returns c - o.
func (c s3Counts) minus(o s3Counts) s3Counts {
	out := s3Counts{}
	for cl, m := range c {
		for p, n := range m {
			b := o[cl][p]
			out.add(cl, p, reqCount{n.Requests - b.Requests, n.BytesIn - b.BytesIn, n.BytesOut - b.BytesOut})
		}
	}
	return out
}

func (c s3Counts) plus(o s3Counts) s3Counts {
	out := s3Counts{}
	for _, x := range []s3Counts{c, o} {
		for cl, m := range x {
			for p, n := range m {
				out.add(cl, p, n)
			}
		}
	}
	return out
}

// s3Counter is a counting reverse proxy in front of an S3 endpoint. The
// Host header is passed through unchanged, so SigV4 signatures made for
// the proxy's address still verify at the endpoint.
type s3Counter struct {
	ln  net.Listener
	srv *http.Server

	mu     sync.Mutex // guards counts
	counts s3Counts
}

func startS3Counter(upstream string) (*s3Counter, error) {
	u, err := url.Parse(upstream)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	c := &s3Counter{ln: ln, counts: s3Counts{}}
	rp := httputil.NewSingleHostReverseProxy(u)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	rp.Transport = countingTransport{next: tr, c: c}
	// Requests an agent abandons (shutdown, timeouts) are its business.
	rp.ErrorLog = log.New(io.Discard, "", 0)
	c.srv = &http.Server{Handler: rp}
	go c.srv.Serve(ln)
	return c, nil
}

func (c *s3Counter) Addr() string { return c.ln.Addr().String() }

func (c *s3Counter) Close() error { return c.srv.Close() }

func (c *s3Counter) snapshot() s3Counts {
	c.mu.Lock()
	defer c.mu.Unlock()
	return s3Counts{}.plus(c.counts)
}

func (c *s3Counter) record(class, prefix string, n reqCount) {
	c.mu.Lock()
	c.counts.add(class, prefix, n)
	c.mu.Unlock()
}

type countingTransport struct {
	next http.RoundTripper
	c    *s3Counter
}

func (t countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	class, key := s3Class(r)
	prefix := keyPrefix(key)
	var in atomic.Int64
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = &countingBody{ReadCloser: r.Body, n: &in}
	}
	resp, err := t.next.RoundTrip(r)
	if err != nil {
		t.c.record(class, prefix, reqCount{Requests: 1, BytesIn: in.Load()})
		return nil, err
	}
	resp.Body = &countingBody{ReadCloser: resp.Body, n: new(atomic.Int64), done: func(out int64) {
		t.c.record(class, prefix, reqCount{Requests: 1, BytesIn: in.Load(), BytesOut: out})
	}}
	return resp, nil
}

// countingBody counts the bytes read through it and calls done once, on
// Close, with the count.
type countingBody struct {
	io.ReadCloser
	n    *atomic.Int64
	once sync.Once
	done func(int64)
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

func (b *countingBody) Close() error {
	err := b.ReadCloser.Close()
	if b.done != nil {
		b.once.Do(func() { b.done(b.n.Load()) })
	}
	return err
}

// flowKey names a direction-less traffic flow between two zones.
type flowKey struct{ From, To string }

// tcpCounter is a TCP proxy to target counting the bytes of every
// connection. With attribute set, each accepted connection is attributed
// to a zone (the zone of the process that opened it); otherwise every
// connection belongs to zone from.
type tcpCounter struct {
	ln        net.Listener
	target    string
	zone      string                // the zone of the target (or of the only caller)
	attribute func(net.Conn) string // caller zone of a connection; nil: zone

	mu     sync.Mutex // guards bytes, conns and closed
	bytes  map[flowKey]int64
	conns  map[net.Conn]struct{}
	closed bool
}

func startTCPCounter(target, zone string, attribute func(net.Conn) string) (*tcpCounter, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &tcpCounter{ln: ln, target: target, zone: zone, attribute: attribute,
		bytes: map[flowKey]int64{}, conns: map[net.Conn]struct{}{}}
	go p.serve()
	return p, nil
}

func (p *tcpCounter) Addr() string { return p.ln.Addr().String() }

func (p *tcpCounter) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.handle(c)
	}
}

func (p *tcpCounter) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *tcpCounter) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

func (p *tcpCounter) handle(c net.Conn) {
	from := p.zone
	if p.attribute != nil {
		from = p.attribute(c)
	}
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	if !p.track(c) || !p.track(up) {
		c.Close()
		up.Close()
		return
	}
	key := flowKey{From: from, To: p.zone}
	var wg sync.WaitGroup
	pipe := func(dst, src net.Conn) {
		defer wg.Done()
		buf := make([]byte, 64<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				p.mu.Lock()
				p.bytes[key] += int64(n)
				p.mu.Unlock()
				if _, werr := dst.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		// Either direction ending ends the connection.
		dst.Close()
		src.Close()
	}
	wg.Add(2)
	go pipe(up, c)
	go pipe(c, up)
	wg.Wait()
	p.untrack(c)
	p.untrack(up)
}

// snapshot returns the bytes moved so far by (caller zone, target zone).
func (p *tcpCounter) snapshot() map[flowKey]int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[flowKey]int64, len(p.bytes))
	for k, v := range p.bytes {
		out[k] = v
	}
	return out
}

func (p *tcpCounter) Close() {
	p.ln.Close()
	p.mu.Lock()
	p.closed = true
	conns := p.conns
	p.conns = map[net.Conn]struct{}{}
	p.mu.Unlock()
	for c := range conns {
		c.Close()
	}
}

// procOwner finds which of pids holds the TCP socket at the other end of
// an accepted loopback connection c: it looks the client's port up in
// /proc/net/tcp{,6} for the socket's inode and searches the processes'
// file descriptors for it. It returns -1 when it cannot tell (another OS,
// a process that exited).
func procOwner(c net.Conn, pids []int) int {
	remote, ok := c.RemoteAddr().(*net.TCPAddr)
	local, ok2 := c.LocalAddr().(*net.TCPAddr)
	if !ok || !ok2 {
		return -1
	}
	inode := ""
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		if inode = socketInode(f, remote.Port, local.Port); inode != "" {
			break
		}
	}
	if inode == "" {
		return -1
	}
	want := "socket:[" + inode + "]"
	for _, pid := range pids {
		fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if l, err := os.Readlink(filepath.Join(fmt.Sprintf("/proc/%d/fd", pid), fd.Name())); err == nil && l == want {
				return pid
			}
		}
	}
	return -1
}

// socketInode returns the inode of the socket in a /proc/net/tcp table
// whose local port is localPort and remote port remotePort.
func socketInode(table string, localPort, remotePort int) string {
	f, err := os.Open(table)
	if err != nil {
		return ""
	}
	defer f.Close()
	lp := fmt.Sprintf(":%04X", localPort)
	rp := fmt.Sprintf(":%04X", remotePort)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fl := strings.Fields(sc.Text())
		if len(fl) < 10 || !strings.HasSuffix(fl[1], lp) || !strings.HasSuffix(fl[2], rp) {
			continue
		}
		return fl[9]
	}
	return ""
}

// countingDialer dials for a client in zone clientZone and counts the
// bytes of every connection by the zone of the agent it reaches
// (zoneOf(host); "unknown" when the address is no agent's).
type countingDialer struct {
	clientZone string
	zoneOf     func(host string) string
	flows      *flowCounter
}

// flowCounter sums bytes by (client zone, agent zone).
type flowCounter struct {
	mu    sync.Mutex // guards bytes
	bytes map[flowKey]int64
}

func newFlowCounter() *flowCounter { return &flowCounter{bytes: map[flowKey]int64{}} }

func (f *flowCounter) add(k flowKey, n int64) {
	f.mu.Lock()
	f.bytes[k] += n
	f.mu.Unlock()
}

func (f *flowCounter) snapshot() map[flowKey]int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[flowKey]int64, len(f.bytes))
	for k, v := range f.bytes {
		out[k] = v
	}
	return out
}

func (d countingDialer) DialContext(ctx context.Context, network, host string) (net.Conn, error) {
	var nd net.Dialer
	c, err := nd.DialContext(ctx, network, host)
	if err != nil {
		return nil, err
	}
	return &countedConn{Conn: c, key: flowKey{From: d.clientZone, To: d.zoneOf(host)}, flows: d.flows}, nil
}

type countedConn struct {
	net.Conn
	key   flowKey
	flows *flowCounter
}

func (c *countedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.flows.add(c.key, int64(n))
	}
	return n, err
}

func (c *countedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if n > 0 {
		c.flows.add(c.key, int64(n))
	}
	return n, err
}

// crossZone sums the bytes of flows whose ends are in different zones
// (or unknown ones) and those within one zone.
func crossZone(flows map[flowKey]int64) (cross, same int64) {
	for k, v := range flows {
		if k.From != "" && k.From == k.To {
			same += v
		} else {
			cross += v
		}
	}
	return cross, same
}

// replaceHost replaces the host:port of a URL (postgres://u@h:p/db) with
// addr and returns the new URL and the old host:port.
func replaceHost(raw, addr string) (string, string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", err
	}
	if u.Host == "" {
		return "", "", errors.New("no host in " + raw)
	}
	old := u.Host
	if u.Port() == "" {
		old = net.JoinHostPort(u.Hostname(), "5432")
	}
	u.Host = addr
	return u.String(), old, nil
}

// zoneOfPid maps the pid procOwner found to its agent's zone; "unknown"
// when it found none (or a process that is no agent).
func zoneOfPid(zones map[int]string, pid int) string {
	if z, ok := zones[pid]; ok {
		return z
	}
	return "unknown"
}
