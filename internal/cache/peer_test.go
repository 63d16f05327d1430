package cache

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"
	"time"
)

// TestPeerHandler: the endpoint answers exact bytes with their CRC, and the
// Kafka-broker-like rule "bad input gets a clear error" for HTTP: 400 for a
// malformed or out-of-file range, 404 for a missing file (not cached).
func TestPeerHandler(t *testing.T) {
	src := newMemSource()
	data := src.add("files/a.slc", 3000)
	c := New(src, Config{Size: 1 << 20, BlockSize: 1024}, nil)
	defer c.Close()
	srv := httptest.NewServer(PeerHandler(c))
	defer srv.Close()
	get := func(key string, size, off, length int64) *http.Response {
		t.Helper()
		q := url.Values{"key": {key}, "size": {strconv.FormatInt(size, 10)}, "off": {strconv.FormatInt(off, 10)}, "len": {strconv.FormatInt(length, 10)}}
		resp, err := http.Get(srv.URL + PeerPath + "?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	for _, tc := range []struct {
		key            string
		size, off, len int64
		status         int
	}{
		{"files/a.slc", 3000, 1024, 1976, 200},
		{"files/a.slc", 3000, 1024, 3000, 400},    // past the end
		{"../etc/passwd", 3000, 0, 10, 400},       // not a file key
		{"files/a.slc", 3000, 0, 0, 400},          // empty
		{"files/a.slc", 3000, 0, 1 << 40, 400},    // larger than a run
		{"files/missing.slc", 3000, 0, 1024, 404}, // not found
		{"files/missing.slc", 3000, 0, 1024, 404}, // and not cached as such
	} {
		resp := get(tc.key, tc.size, tc.off, tc.len)
		var body bytes.Buffer
		body.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Fatalf("%+v: status %d (%s)", tc, resp.StatusCode, body.String())
		}
		if tc.status == 200 && !bytes.Equal(body.Bytes(), data[tc.off:tc.off+tc.len]) {
			t.Fatalf("%+v: wrong bytes", tc)
		}
	}
	if gets, _ := src.count(); gets != 1+2 {
		t.Fatalf("GETs = %d, want 3 (one for the file, one per not-found)", gets)
	}

	// A client of the endpoint gets the same bytes through Peers.get.
	p := NewPeers(PeersConfig{Self: "self", Members: func() []Peer { return nil }, Timeout: time.Second}, nil)
	defer p.Close()
	got, err := p.get(context.Background(), srv.Listener.Addr().String(), "files/a.slc", 3000, 0, 3000)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Peers.get: %v", err)
	}
	if _, err := p.get(context.Background(), srv.Listener.Addr().String(), "files/a.slc", 3000, 0, 3001); err == nil {
		t.Fatal("Peers.get of a range past the end succeeded")
	}
}

// TestRendezvousOwnership: every agent of a zone agrees on each block's
// owner, blocks spread over the agents, a down peer's blocks move to the
// others, and only its blocks move.
func TestRendezvousOwnership(t *testing.T) {
	members := []Peer{{1, "a"}, {2, "b"}, {3, "c"}}
	routers := map[string]*Peers{}
	for _, m := range members {
		routers[m.Addr] = NewPeers(PeersConfig{Self: m.Addr, Members: func() []Peer { return members }}, nil)
	}
	counts := map[string]int{}
	owners := map[int64]string{}
	for idx := int64(0); idx < 3000; idx++ {
		var owner string
		for self, r := range routers {
			o := r.owner("files/x", idx)
			if o == "" {
				o = self
			}
			if owner != "" && o != owner {
				t.Fatalf("block %d: agents disagree on its owner (%s, %s)", idx, owner, o)
			}
			owner = o
		}
		counts[owner]++
		owners[idx] = owner
	}
	for _, m := range members {
		if counts[m.Addr] < 800 {
			t.Fatalf("ownership is lopsided: %v", counts)
		}
	}
	routers["a"].markDown("b")
	for idx, o := range owners {
		got := routers["a"].owner("files/x", idx)
		if got == "" {
			got = "a"
		}
		if o != "b" && got != o {
			t.Fatalf("block %d moved from %s to %s when b went down", idx, o, got)
		}
		if got == "b" {
			t.Fatalf("block %d still routed to the down peer", idx)
		}
	}
}

// TestPeerWrongSizeCannotPoison: a peer request that claims a smaller file
// size caches its clipped block under its own key, so a later correct read
// still gets the whole block.
func TestPeerWrongSizeCannotPoison(t *testing.T) {
	src := newMemSource()
	data := src.add("files/a", 100)
	c := New(src, Config{Size: 1000, BlockSize: 64}, nil)
	defer c.Close()
	srv := httptest.NewServer(PeerHandler(c))
	defer srv.Close()
	resp, err := http.Get(srv.URL + PeerPath + "?key=files/a&size=80&off=64&len=16")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	mustRead(t, c, "files/a", data, Range{64, 36})
}
