package chaos

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// netLab is the network of a partition run: each agent in a network
// namespace of its own, joined by a veth pair to a bridge in the root
// namespace. The bridge holds the host address, on which the test process
// (the Kafka clients), the bucket fault proxy and a TCP forwarder to
// PostgreSQL listen. Agent-to-agent traffic (the zone peer cache, group
// forwarding) crosses the bridge at layer 2, so nothing is routed and the
// root namespace's settings are not changed.
//
// Partitions drop packets on one direction of an agent's link: every veth
// end has an HTB root qdisc whose class 1:20 ends in a blackhole qdisc,
// and a partition adds u32 filters steering the matching packets (by
// address and port) into that class; healing deletes the filters. Egress
// of the agent's end is traffic from the agent, egress of the bridge's end
// traffic to it, so each direction can be cut alone. (This machine's
// kernel has neither netem nor tc actions; HTB, blackhole and u32 are
// enough.)
type netLab struct {
	id     string // prefix of every name: namespaces, links
	prefix string // the /24 without its last octet, e.g. "10.213.7"
	bridge string
	n      int

	prio atomic.Int32 // filter priorities, one per partition

	mu     sync.Mutex // guards closed
	closed bool
}

// netnsUnavailable says why partitions cannot run here, or "".
func netnsUnavailable() string {
	if os.Geteuid() != 0 {
		return "network partitions need root (ip netns, tc); rerun as root or drop the partition faults"
	}
	for _, bin := range []string{"ip", "tc"} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Sprintf("network partitions need %s (iproute2): %v", bin, err)
		}
	}
	name := fmt.Sprintf("slcprobe%d", os.Getpid()%100000)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		return fmt.Sprintf("network namespaces unavailable (ip netns add: %v: %s)", err, strings.TrimSpace(string(out)))
	}
	defer exec.Command("ip", "netns", "del", name).Run()
	// The qdiscs and classifier partitions are made of.
	steps := [][]string{
		{"link", "add", "probe0", "type", "veth", "peer", "name", "probe1"},
		{"link", "set", "probe0", "up"},
	}
	for _, s := range steps {
		if out, err := exec.Command("ip", append([]string{"-n", name}, s...)...).CombinedOutput(); err != nil {
			return fmt.Sprintf("cannot make links in a namespace (ip %s: %v: %s)", strings.Join(s, " "), err, strings.TrimSpace(string(out)))
		}
	}
	for _, s := range shaperCmds("probe0") {
		if out, err := exec.Command("ip", append([]string{"netns", "exec", name, "tc"}, s...)...).CombinedOutput(); err != nil {
			return fmt.Sprintf("the kernel lacks a traffic-control piece partitions need (tc %s: %v: %s)", strings.Join(s, " "), err, strings.TrimSpace(string(out)))
		}
	}
	if out, err := exec.Command("ip", "netns", "exec", name, "tc", "filter", "add", "dev", "probe0", "parent", "1:",
		"protocol", "ip", "prio", "1", "u32", "match", "ip", "dst", "10.0.0.1/32", "flowid", "1:20").CombinedOutput(); err != nil {
		return fmt.Sprintf("the kernel lacks the u32 classifier (%v: %s)", err, strings.TrimSpace(string(out)))
	}
	return ""
}

// shaperCmds are the tc commands that prepare dev for partitions: an HTB
// root sending unclassified traffic straight through (default 0) and a
// class 1:20 that drops everything put into it.
func shaperCmds(dev string) [][]string {
	return [][]string{
		{"qdisc", "add", "dev", dev, "root", "handle", "1:", "htb", "default", "0"},
		{"class", "add", "dev", dev, "parent", "1:", "classid", "1:20", "htb", "rate", "10gbit", "quantum", "60000"},
		{"qdisc", "add", "dev", dev, "parent", "1:20", "handle", "20:", "blackhole"},
	}
}

func run(args ...string) error {
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// newNetLab builds the bridge and n agent namespaces. id (CHAOS_NETNS_ID,
// set by scripts/chaos-netns.sh so its trap can clean up after a killed
// test) prefixes every name. Cleanup removes everything, also on failure.
func newNetLab(t *testing.T, id string, n int) *netLab {
	t.Helper()
	if id == "" {
		id = fmt.Sprintf("slc%d", os.Getpid()%100000)
	}
	l := &netLab{id: id, bridge: id + "br", n: n}
	// A /24 no route on this machine uses yet.
	for x := 0; x < 250 && l.prefix == ""; x++ {
		p := fmt.Sprintf("10.213.%d", x)
		out, err := exec.Command("ip", "-4", "route", "show", "to", "match", p+".1").Output()
		if err == nil && !strings.Contains(string(out), "10.213.") {
			l.prefix = p
		}
	}
	if l.prefix == "" {
		t.Fatal("no free 10.213.x.0/24 for the partition network")
	}
	t.Cleanup(l.close)
	cmds := [][]string{
		{"ip", "link", "add", l.bridge, "type", "bridge"},
		{"ip", "addr", "add", l.HostIP() + "/24", "dev", l.bridge},
		{"ip", "link", "set", l.bridge, "up"},
	}
	for i := 1; i <= n; i++ {
		ns, veth := l.ns(i), l.veth(i)
		cmds = append(cmds,
			[]string{"ip", "netns", "add", ns},
			[]string{"ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns},
			[]string{"ip", "link", "set", veth, "master", l.bridge, "up"},
			[]string{"ip", "-n", ns, "addr", "add", l.AgentIP(i) + "/24", "dev", "eth0"},
			[]string{"ip", "-n", ns, "link", "set", "eth0", "up"},
			[]string{"ip", "-n", ns, "link", "set", "lo", "up"},
		)
		for _, s := range shaperCmds(veth) {
			cmds = append(cmds, append([]string{"tc"}, s...))
		}
		for _, s := range shaperCmds("eth0") {
			cmds = append(cmds, append([]string{"ip", "netns", "exec", ns, "tc"}, s...))
		}
	}
	for _, c := range cmds {
		if err := run(c...); err != nil {
			t.Fatalf("partition network: %v", err)
		}
	}
	return l
}

// close kills what still runs in the namespaces and deletes them and the
// bridge (which takes the veth pairs with it).
func (l *netLab) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.closed = true
	for i := 1; i <= l.n; i++ {
		if out, err := exec.Command("ip", "netns", "pids", l.ns(i)).Output(); err == nil {
			for _, f := range strings.Fields(string(out)) {
				// Never this process: a thread of it may have
				// entered the namespace (TestPartitionNetwork).
				if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
					if p, err := os.FindProcess(pid); err == nil {
						p.Kill()
					}
				}
			}
		}
		exec.Command("ip", "netns", "del", l.ns(i)).Run()
	}
	exec.Command("ip", "link", "del", l.bridge).Run()
}

func (l *netLab) ns(i int) string      { return fmt.Sprintf("%sa%d", l.id, i) }
func (l *netLab) veth(i int) string    { return fmt.Sprintf("%sv%d", l.id, i) }
func (l *netLab) HostIP() string       { return l.prefix + ".1" }
func (l *netLab) AgentIP(i int) string { return fmt.Sprintf("%s.%d", l.prefix, 10+i) }

// exec is the command prefix that runs a program in agent i's namespace.
func (l *netLab) exec(i int) []string { return []string{"ip", "netns", "exec", l.ns(i)} }

// Directions of a partition, seen from the agent.
const (
	dirBoth = "both ways"
	dirTo   = "one-way, to the agent dropped"
	dirFrom = "one-way, from the agent dropped"
)

// match is one u32 selector: "src"/"dst" host and "sport"/"dport" port;
// empty fields match anything.
type match struct {
	src, dst     string
	sport, dport int
}

func (m match) args() []string {
	var a []string
	if m.src != "" {
		a = append(a, "match", "ip", "src", m.src+"/32")
	}
	if m.dst != "" {
		a = append(a, "match", "ip", "dst", m.dst+"/32")
	}
	if m.sport != 0 {
		a = append(a, "match", "ip", "sport", strconv.Itoa(m.sport), "0xffff")
	}
	if m.dport != 0 {
		a = append(a, "match", "ip", "dport", strconv.Itoa(m.dport), "0xffff")
	}
	return a
}

// cut drops the packets agent i sends that match from, and those it would
// receive that match to (either may be nil), until the returned heal runs.
func (l *netLab) cut(i int, from, to *match) (heal func(), err error) {
	prio := strconv.Itoa(int(l.prio.Add(1)%60000) + 1)
	var undo [][]string
	heal = func() {
		for _, u := range undo {
			if err := run(u...); err != nil {
				fmt.Fprintf(os.Stderr, "heal partition: %v\n", err)
			}
		}
	}
	add := func(pre []string, dev string, m match) error {
		args := append(append([]string{}, pre...), "tc", "filter", "add", "dev", dev, "parent", "1:",
			"protocol", "ip", "prio", prio, "u32")
		args = append(append(args, m.args()...), "flowid", "1:20")
		if err := run(args...); err != nil {
			return err
		}
		undo = append(undo, append(append([]string{}, pre...), "tc", "filter", "del", "dev", dev, "parent", "1:", "prio", prio))
		return nil
	}
	if from != nil {
		if err := add(l.exec(i), "eth0", *from); err != nil {
			heal()
			return nil, err
		}
	}
	if to != nil {
		if err := add(nil, l.veth(i), *to); err != nil {
			heal()
			return nil, err
		}
	}
	return heal, nil
}

// forwarder relays TCP connections from an address on the bridge to a
// loopback one: PostgreSQL listens on loopback only (and trusts only
// loopback clients), so agents in their namespaces reach it through this.
// A connection whose either side ends is closed on both.
type forwarder struct {
	ln     net.Listener
	target string

	mu    sync.Mutex // guards conns
	conns map[net.Conn]struct{}
}

func startForwarder(t *testing.T, listen, target string) *forwarder {
	t.Helper()
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	f := &forwarder{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	go f.accept()
	t.Cleanup(f.close)
	return f
}

func (f *forwarder) Addr() string { return f.ln.Addr().String() }

func (f *forwarder) track(c net.Conn, add bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if add {
		f.conns[c] = struct{}{}
	} else {
		delete(f.conns, c)
	}
}

func (f *forwarder) accept() {
	for {
		in, err := f.ln.Accept()
		if err != nil {
			return
		}
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			out, err := (&net.Dialer{}).DialContext(ctx, "tcp", f.target)
			cancel()
			if err != nil {
				in.Close()
				return
			}
			f.track(in, true)
			f.track(out, true)
			done := make(chan struct{}, 2)
			relay := func(dst, src net.Conn) {
				io.Copy(dst, src)
				done <- struct{}{}
			}
			go relay(out, in)
			go relay(in, out)
			<-done
			in.Close()
			out.Close()
			<-done
			f.track(in, false)
			f.track(out, false)
		}()
	}
}

func (f *forwarder) close() {
	f.ln.Close()
	f.mu.Lock()
	defer f.mu.Unlock()
	for c := range f.conns {
		c.Close()
	}
}

// readyBound is how long a partition from PostgreSQL or the bucket must
// last before /readyz has to say so: the agents' --readiness-interval (1s)
// and --readiness-timeout (2s), and a margin.
const readyBound = 5 * time.Second

// readyAgainBound is how long after a heal an agent may take to be ready
// again; beyond it, the partition left something that does not heal.
const readyAgainBound = 60 * time.Second

// readinessStats is what /readyz said around partitions from a dependency.
type readinessStats struct {
	long         int // partitions held at least readyBound
	longUnready  int // of those, /readyz answered 503 during the partition
	healed       int // partitions healed
	readyAgain   int // of those, /readyz answered 200 again within readyAgainBound
	slowestReady time.Duration
}

// readyz asks agent a's /readyz: its status code, 0 when it did not answer.
func readyz(a *agent) int {
	hc := &http.Client{Timeout: time.Second}
	resp, err := hc.Get("http://" + a.httpAddr + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// partition cuts agent ag from PostgreSQL, the bucket, the clients or agent
// peer in direction dir for hold, then heals. Around a partition from
// PostgreSQL or the bucket it checks that /readyz tells the truth: a 503
// during one held at least readyBound (else the health endpoint lies), and
// a 200 within readyAgainBound of the heal (else the partition left a
// hang). Both failures are fault-machinery problems, which fail the run.
func (f *faults) partition(kind string, ag, peer *agent, dir string, hold time.Duration) {
	lab, host := f.c.net, f.c.net.HostIP()
	var from, to *match
	switch kind {
	case faultPartPG:
		from, to = &match{dst: host, dport: f.c.pgPort}, &match{src: host, sport: f.c.pgPort}
	case faultPartBucket:
		from, to = &match{dst: host, dport: f.c.bucketPort}, &match{src: host, sport: f.c.bucketPort}
	case faultPartClient:
		// Only the Kafka port: the HTTP port stays reachable for /readyz.
		from, to = &match{dst: host, sport: agentKafkaPort}, &match{src: host, dport: agentKafkaPort}
	case faultPartPeer:
		p := lab.AgentIP(peer.id)
		from, to = &match{dst: p}, &match{src: p}
	}
	switch dir {
	case dirTo:
		from = nil
	case dirFrom:
		to = nil
	}
	start := time.Now()
	heal, err := lab.cut(ag.id, from, to)
	if err != nil {
		f.problem("%s on agent %d: %v", kind, ag.id, err)
		return
	}
	dependency := kind == faultPartPG || kind == faultPartBucket
	unready := false
	for time.Since(start) < hold {
		if dependency && !unready && readyz(ag) == http.StatusServiceUnavailable {
			unready = true
		}
		time.Sleep(250 * time.Millisecond)
	}
	heal()
	if !dependency {
		f.logf("healed: %s on agent-%d (%s)", kind, ag.id, dir)
		return
	}
	healed := time.Now()
	again := false
	for time.Since(healed) < readyAgainBound {
		if readyz(ag) == http.StatusOK {
			again = true
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	took := time.Since(healed)
	f.mu.Lock()
	r := &f.readiness
	r.healed++
	if hold >= readyBound {
		r.long++
		if unready {
			r.longUnready++
		}
	}
	if again {
		r.readyAgain++
		if took > r.slowestReady {
			r.slowestReady = took
		}
	}
	f.mu.Unlock()
	if hold >= readyBound && !unready {
		f.problem("agent %d: /readyz never answered 503 during a %v %s (%s)", ag.id, hold.Round(time.Millisecond), kind, dir)
	}
	if !again {
		f.problem("agent %d: /readyz not 200 %v after a %s (%s) healed", ag.id, readyAgainBound, kind, dir)
	} else {
		f.logf("healed: %s on agent-%d (%s); ready again after %v", kind, ag.id, dir, took.Round(100*time.Millisecond))
	}
}
