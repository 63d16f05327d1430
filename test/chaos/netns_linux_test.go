package chaos

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// inNetns runs f on a thread that has entered agent i's network namespace,
// so sockets f opens live there; the thread goes back to its namespace
// afterwards. (Should that fail, its goroutine ends locked, which makes
// the runtime discard the thread.)
func inNetns(t *testing.T, l *netLab, i int, f func()) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer orig.Close()
		fd, err := os.Open("/var/run/netns/" + l.ns(i))
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer fd.Close()
		if err := unix.Setns(int(fd.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		f()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("back from %s: %w", l.ns(i), err)
			return
		}
		runtime.UnlockOSThread()
		errc <- nil
	}()
	if err := <-errc; err != nil {
		t.Fatalf("entering %s: %v", l.ns(i), err)
	}
}

// TestPartitionNetwork checks the partition machinery itself: each cut
// drops exactly the traffic it names, in the direction it names, and
// healing restores it. It runs with the partition chaos run
// (make chaos-netns sets CHAOS_NETNS) and needs root.
func TestPartitionNetwork(t *testing.T) {
	if os.Getenv("CHAOS_NETNS") == "" {
		t.Skip("set CHAOS_NETNS=1 (or run make chaos-netns) to test the partition network")
	}
	if why := netnsUnavailable(); why != "" {
		t.Skip(why)
	}
	l := newNetLab(t, "", 2)
	host := l.HostIP()
	listen := func(addr string) (net.Listener, int) {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Write([]byte("x"))
				c.Close()
			}
		}()
		return ln, ln.Addr().(*net.TCPAddr).Port
	}
	// Two services on the host, one in each agent namespace.
	_, hostA := listen(net.JoinHostPort(host, "0"))
	_, hostB := listen(net.JoinHostPort(host, "0"))
	var agentPort [3]int
	for i := 1; i <= 2; i++ {
		inNetns(t, l, i, func() { _, agentPort[i] = listen(net.JoinHostPort(l.AgentIP(i), "0")) })
	}
	// reach dials addr from agent i's namespace (0: the host) and reads
	// the service's byte.
	reach := func(from int, ip string, port int) bool {
		ok := false
		try := func() {
			c, err := net.DialTimeout("tcp", net.JoinHostPort(ip, strconv.Itoa(port)), 700*time.Millisecond)
			if err != nil {
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(700 * time.Millisecond))
			b := make([]byte, 1)
			_, err = c.Read(b)
			ok = err == nil
		}
		if from == 0 {
			try()
		} else {
			inNetns(t, l, from, try)
		}
		return ok
	}
	type path struct {
		name string
		from int // 0: the host
		ip   string
		port int
	}
	paths := []path{
		{"agent-1 to host service A", 1, host, hostA},
		{"agent-1 to host service B", 1, host, hostB},
		{"host to agent-1", 0, l.AgentIP(1), agentPort[1]},
		{"agent-2 to agent-1", 2, l.AgentIP(1), agentPort[1]},
		{"agent-1 to agent-2", 1, l.AgentIP(2), agentPort[2]},
		{"agent-2 to host service A", 2, host, hostA},
	}
	check := func(stage string, blocked map[string]bool) {
		t.Helper()
		for _, p := range paths {
			if got := reach(p.from, p.ip, p.port); got == blocked[p.name] {
				t.Errorf("%s: %s reachable=%v, want %v", stage, p.name, got, !blocked[p.name])
			}
		}
	}
	check("before any cut", nil)
	cases := []struct {
		name     string
		from, to *match
		blocked  []string
	}{
		// agent-1 cannot send to host service A: the other service, the
		// other agent and the host's connections to agent-1 still work.
		{"from agent-1 to service A", &match{dst: host, dport: hostA}, nil, []string{"agent-1 to host service A"}},
		// Service A's answers to agent-1 are dropped.
		{"to agent-1 from service A", nil, &match{src: host, sport: hostA}, []string{"agent-1 to host service A"}},
		// The host cannot reach agent-1's port; agent-2 still can.
		{"host to agent-1's port", nil, &match{src: host, dport: agentPort[1]}, []string{"host to agent-1"}},
		// Packets from agent-1 to agent-2 dropped: TCP needs both
		// ways, so neither can connect to the other.
		{"agent-1 to agent-2", &match{dst: l.AgentIP(2)}, nil, []string{"agent-2 to agent-1", "agent-1 to agent-2"}},
		// Both ways to and from the host: agent-1 is cut from every
		// host service, agent-2 is not.
		{"agent-1 and the host, both ways", &match{dst: host}, &match{src: host},
			[]string{"agent-1 to host service A", "agent-1 to host service B", "host to agent-1"}},
	}
	for _, c := range cases {
		heal, err := l.cut(1, c.from, c.to)
		if err != nil {
			t.Fatal(err)
		}
		blocked := map[string]bool{}
		for _, b := range c.blocked {
			blocked[b] = true
		}
		check("cut "+c.name, blocked)
		heal()
		check("healed "+c.name, nil)
	}
}
