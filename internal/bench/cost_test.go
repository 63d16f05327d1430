package bench

import (
	"context"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/journal"
)

var testPrices = Prices{PutPer1000: 0.005, GetPer1000: 0.0004, StorageGBMonth: 0.023, CrossZoneGBEachWay: 0.01}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestPriceTraffic(t *testing.T) {
	// 2,000 PUT-tier and 10,000 GET-tier requests and 3 GiB across zones:
	// 2 × 0.005 + 10 × 0.0004 = 0.014 for requests, 3 × 2 × 0.01 = 0.06.
	c := testPrices.priceTraffic(Requests{PutTier: 2000, GetTier: 10000, Free: 500}, 3*GiB)
	if !near(c.Requests, 0.014) || !near(c.CrossZone, 0.06) || !near(c.Total, 0.074) {
		t.Fatalf("priceTraffic = %+v, want requests 0.014, cross-zone 0.06, total 0.074", c)
	}
	r := Requests{PutTier: 300, GetTier: 30, Free: 3}.perGiB(0.5 * GiB)
	if !near(r.PutTier, 600) || !near(r.GetTier, 60) || !near(r.Free, 6) {
		t.Fatalf("perGiB over half a GiB = %+v, want 600/60/6", r)
	}
	if r := (Requests{PutTier: 1}).perGiB(0); r != (Requests{}) {
		t.Fatalf("perGiB of nothing = %+v, want zero", r)
	}
	if v := perGiB(5, 0); v != 0 {
		t.Fatalf("perGiB(5, 0) = %v", v)
	}
	if v := testPrices.storageUSDPerGiBMonth(1.5); !near(v, 0.0345) {
		t.Fatalf("storage of 1.5 bytes per byte = %v, want 0.0345", v)
	}
}

func TestKafkaModel(t *testing.T) {
	m := kafkaModel(3, 3, testPrices)
	// Producer to leader 2/3 of the time, leader to two followers in the
	// other zones: 2 2/3 GiB across zones per GiB, at 0.02 a GiB.
	if !near(m.ProduceClientCrossGiB, 2.0/3) || !near(m.ReplicationCrossGiB, 2) {
		t.Fatalf("3 zones, RF 3: %+v", m)
	}
	if !near(m.ProduceUSDPerGiB, (2.0/3+2)*0.02) || !near(m.ConsumeUSDPerGiB, 2.0/3*0.02) || m.ConsumeFetchFromFollowerUSD != 0 {
		t.Fatalf("3 zones, RF 3 prices: %+v", m)
	}
	// Two zones hold at most one follower elsewhere.
	if m := kafkaModel(2, 3, testPrices); !near(m.ReplicationCrossGiB, 1) || !near(m.ProduceClientCrossGiB, 0.5) {
		t.Fatalf("2 zones, RF 3: %+v", m)
	}
	if m := kafkaModel(1, 3, testPrices); m.ProduceUSDPerGiB != 0 || m.ConsumeUSDPerGiB != 0 {
		t.Fatalf("1 zone: %+v", m)
	}
}

func TestDesign(t *testing.T) {
	// 3 agents flushing every 250 ms for 10 s: 120 PUTs. 100 MiB in 8 MiB
	// files: at least 13. 30 files of 100 MiB over 4 MiB blocks span
	// between max(30, 25) and 30+25 blocks, read once per zone.
	d := design(3, 10, 0.25, 100<<20, 8<<20, 30, 4<<20, 3)
	want := Design{PutsWindowBound: 120, PutsSizeBound: 13, BlocksLow: 30, BlocksHigh: 55, GetsLow: 90, GetsHigh: 165}
	if d != want {
		t.Fatalf("design = %+v, want %+v", d, want)
	}
}

func TestS3Class(t *testing.T) {
	cases := []struct {
		method, target string
		header         map[string]string
		class, key     string
	}{
		{"PUT", "/b/files/2026/x.slc", nil, classPut, "files/2026/x.slc"},
		{"PUT", "/b/files/y.slc?partNumber=1&uploadId=u", nil, classPut, "files/y.slc"},
		{"PUT", "/b/files/z.slc", map[string]string{"X-Amz-Copy-Source": "/b/files/y.slc"}, classCopy, "files/z.slc"},
		{"POST", "/b/files/y.slc?uploads", nil, classPost, "files/y.slc"},
		{"POST", "/b?delete", nil, classDelete, ""},
		{"GET", "/b/files/x.slc", nil, classGet, "files/x.slc"},
		{"GET", "/b?list-type=2&prefix=files%2F", nil, classList, "files/"},
		{"GET", "/b/", nil, classList, ""},
		{"HEAD", "/b/_sluice/readiness/node-1", nil, classHead, "_sluice/readiness/node-1"},
		{"DELETE", "/b/files/x.slc", nil, classDelete, "files/x.slc"},
	}
	for _, c := range cases {
		r := httptest.NewRequest(c.method, c.target, nil)
		for k, v := range c.header {
			r.Header.Set(k, v)
		}
		class, key := s3Class(r)
		if class != c.class || key != c.key {
			t.Errorf("%s %s: class %q key %q, want %q %q", c.method, c.target, class, key, c.class, c.key)
		}
	}
	for key, want := range map[string]string{
		"files/a": "files/", "journal/x": "journal/", "_sluice/readiness/node-1": "_sluice/", "x": "other",
		// A lightning file is a data file; a ripcord entry naming one
		// under files/, a generation marker and a listing are journal.
		journal.FileKey("node-1", 7, 1, "x.slc"):                 "files/",
		journal.Key("node-1", 7, 2, "files/2026/12/06/21/x.slc"): "journal/",
		journal.MarkerKey("node-1", 7):                           "journal/",
		journal.GenerationPrefix("node-1", 7):                    "journal/",
	} {
		if got := keyPrefix(key); got != want {
			t.Errorf("keyPrefix(%q) = %q, want %q", key, got, want)
		}
	}
}

func TestS3CountsTiers(t *testing.T) {
	c := s3Counts{}
	c.add(classPut, "files/", reqCount{Requests: 10, BytesIn: 100})
	c.add(classList, "files/", reqCount{Requests: 2})
	c.add(classPost, "files/", reqCount{Requests: 1})
	c.add(classGet, "files/", reqCount{Requests: 7, BytesOut: 70})
	c.add(classHead, "_sluice/", reqCount{Requests: 3})
	c.add(classDelete, "files/", reqCount{Requests: 4})
	if got, want := c.tiers(), (Requests{PutTier: 13, GetTier: 10, Free: 4}); got != want {
		t.Fatalf("tiers = %+v, want %+v", got, want)
	}
	d := c.plus(c).minus(c)
	if d[classPut]["files/"] != c[classPut]["files/"] || d.class(classGet).BytesOut != 70 {
		t.Fatalf("plus/minus: %+v", d)
	}
}

// TestS3CounterCounts sends requests through the counting proxy to a
// stand-in endpoint and checks the counts and bytes, and that the Host
// header the client signed reaches the endpoint unchanged.
func TestS3CounterCounts(t *testing.T) {
	var (
		mu    sync.Mutex // guards hosts
		hosts []string
	)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hosts = append(hosts, r.Host)
		mu.Unlock()
		io.Copy(io.Discard, r.Body)
		if r.Method == http.MethodGet {
			w.Write([]byte(strings.Repeat("x", 1000)))
		}
	}))
	defer up.Close()
	c, err := startS3Counter(up.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	do := func(method, path, body string) {
		req, err := http.NewRequest(method, "http://"+c.Addr()+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	do("PUT", "/b/files/1.slc", strings.Repeat("y", 500))
	do("PUT", "/b/_sluice/readiness/node-1", "ok")
	do("GET", "/b/files/1.slc", "")
	do("GET", "/b/files/1.slc", "")
	// The counter records a request when its response body is closed,
	// which the client has done by now; the server side may trail.
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := c.snapshot()
		if s.class(classGet).Requests == 2 && s.class(classPut).Requests == 2 {
			if got := s[classPut]["files/"]; got.Requests != 1 || got.BytesIn != 500 {
				t.Fatalf("files/ PUTs = %+v, want 1 of 500 bytes", got)
			}
			if got := s[classGet]["files/"]; got.BytesOut != 2000 {
				t.Fatalf("files/ GET bytes = %d, want 2000", got.BytesOut)
			}
			if got := s[classPut]["_sluice/"]; got.Requests != 1 {
				t.Fatalf("_sluice/ PUTs = %+v", got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("counts = %+v", s)
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, h := range hosts {
		if h != c.Addr() {
			t.Fatalf("endpoint saw Host %q, want the proxy's %q (signatures cover it)", h, c.Addr())
		}
	}
}

// TestTCPCounterAttributes checks that the TCP counter moves bytes both
// ways, counts them, and attributes a connection to this process by its
// pid through /proc.
func TestTCPCounterAttributes(t *testing.T) {
	if _, err := os.Stat("/proc/net/tcp"); err != nil {
		t.Skip("no /proc/net/tcp")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }() // echo
		}
	}()
	self := os.Getpid()
	p, err := startTCPCounter(ln.Addr().String(), "b", func(c net.Conn) string {
		return zoneOfPid(map[int]string{self: "a"}, procOwner(c, []int{self}))
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("hello, zone b")
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(msg))
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	c.Close()
	got := p.snapshot()
	if n := got[flowKey{From: "a", To: "b"}]; n != int64(2*len(msg)) {
		t.Fatalf("bytes a→b = %d (all: %v), want %d", n, got, 2*len(msg))
	}
	if cross, same := crossZone(got); cross != int64(2*len(msg)) || same != 0 {
		t.Fatalf("crossZone = %d, %d", cross, same)
	}
}

func TestLoadPrices(t *testing.T) {
	p, err := LoadPrices(filepath.Join("..", "..", "bench", "prices-aws-us-east-1.json"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Source == "" || p.PutPer1000 != 0.005 || p.GetPer1000 != 0.0004 || p.StorageGBMonth != 0.023 || p.CrossZoneGBEachWay != 0.01 {
		t.Fatalf("bench/prices-aws-us-east-1.json = %+v", p)
	}
	bad := filepath.Join(t.TempDir(), "p.json")
	os.WriteFile(bad, []byte(`{"put_copy_post_list_per_1000": 0.005}`), 0o644)
	if _, err := LoadPrices(bad); err == nil {
		t.Fatal("a table without GET and storage prices loaded")
	}
}
