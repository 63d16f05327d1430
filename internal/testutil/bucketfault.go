package testutil

import (
	"context"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"
)

// BucketFaults is an HTTP proxy in front of an S3 server that can make the
// bucket fail the way object stores do: answer with errors (503 SlowDown,
// which S3 clients retry), stall (hold requests without an answer until
// healed or the client gives up), or slow down (delay every request).
// Unlike Proxy, which works on TCP, it sees requests, so an error fault
// fails some requests and lets others through. Requests keep their Host
// header, so SigV4 signatures made for the proxy's address verify at the
// server.
type BucketFaults struct {
	ln     net.Listener
	srv    *http.Server
	target *url.URL

	mu        sync.Mutex    // guards the fields below
	errorRate float64       // fraction of requests answered 503
	delay     time.Duration // added to every request
	stalled   chan struct{} // non-nil while stalled; closed by Heal
	stats     BucketFaultStats
}

// BucketFaultStats counts what the proxy did.
type BucketFaultStats struct {
	Requests, Errored, Stalled, Delayed int64
}

// StartBucketFaults proxies a free loopback port to the S3 server at
// target (host:port) until the test ends.
func StartBucketFaults(t testing.TB, target string) *BucketFaults {
	t.Helper()
	return StartBucketFaultsOn(t, "127.0.0.1:0", target)
}

// StartBucketFaultsOn is StartBucketFaults listening on listen (host:port,
// port 0 for a free one), e.g. an address other network namespaces reach.
func StartBucketFaultsOn(t testing.TB, listen, target string) *BucketFaults {
	t.Helper()
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	b := &BucketFaults{ln: ln, target: &url.URL{Scheme: "http", Host: target}}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(b.target)
			r.Out.Host = r.In.Host // the signature covers the Host header
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			w.WriteHeader(http.StatusBadGateway)
		},
	}
	b.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if b.intercept(w, r) {
			return
		}
		rp.ServeHTTP(w, r)
	})}
	go b.srv.Serve(ln)
	t.Cleanup(b.Close)
	return b
}

// Addr is the proxy's host:port.
func (b *BucketFaults) Addr() string { return b.ln.Addr().String() }

// intercept applies the current fault to one request; true means it
// answered the request itself.
func (b *BucketFaults) intercept(w http.ResponseWriter, r *http.Request) bool {
	b.mu.Lock()
	b.stats.Requests++
	rate, delay, stalled := b.errorRate, b.delay, b.stalled
	fail := rate > 0 && rand.Float64() < rate
	switch {
	case stalled != nil:
		b.stats.Stalled++
	case fail:
		b.stats.Errored++
	case delay > 0:
		b.stats.Delayed++
	}
	b.mu.Unlock()
	if stalled != nil {
		select {
		case <-stalled: // healed: go on as if the request was slow
		case <-r.Context().Done():
			return true
		}
	}
	if fail {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`))
		return true
	}
	if delay > 0 {
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return true
		}
	}
	return false
}

// Errors makes a fraction rate (0..1] of requests fail with 503 SlowDown.
func (b *BucketFaults) Errors(rate float64) {
	b.mu.Lock()
	b.errorRate = rate
	b.mu.Unlock()
}

// Slow delays every request by d.
func (b *BucketFaults) Slow(d time.Duration) {
	b.mu.Lock()
	b.delay = d
	b.mu.Unlock()
}

// Stall holds every request (those under way and new ones) until Heal.
func (b *BucketFaults) Stall() {
	b.mu.Lock()
	if b.stalled == nil {
		b.stalled = make(chan struct{})
	}
	b.mu.Unlock()
}

// Heal ends every fault: errors, delay and stall.
func (b *BucketFaults) Heal() {
	b.mu.Lock()
	b.errorRate, b.delay = 0, 0
	if b.stalled != nil {
		close(b.stalled)
		b.stalled = nil
	}
	b.mu.Unlock()
}

// Stats returns the counts so far.
func (b *BucketFaults) Stats() BucketFaultStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stats
}

// Close heals and stops the proxy.
func (b *BucketFaults) Close() {
	b.Heal()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	b.srv.Shutdown(ctx)
}
