package chaos

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testutil"
)

// buildSluice builds the binary under test once into dir; CHAOS_RACE=1
// builds it with the race detector (slower agents, more findings).
func buildSluice(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "sluice")
	args := []string{"build", "-o", bin}
	if os.Getenv("CHAOS_RACE") != "" {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, "../../cmd/sluice")...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("building sluice: %v", err)
	}
	return bin
}

// agent is one `sluice agent` process. Its log is appended to a file that
// survives restarts.
type agent struct {
	id        int
	kafkaAddr string
	httpAddr  string
	args      []string
	env       []string
	logPath   string
	// wrap prefixes the command (ip netns exec NS for a partition run;
	// it execs, so the process is the agent itself and signals reach it).
	wrap []string

	mu     sync.Mutex // guards cmd, exited and paused
	cmd    *exec.Cmd
	exited chan struct{}
	paused bool
}

// cluster is PostgreSQL, versitygw behind a fault proxy, and the agents.
type cluster struct {
	pg     *testutil.Postgres
	s3     *testutil.Versity
	bucket *testutil.BucketFaults
	agents []*agent
	// net is the partition network when agents run in namespaces; nil
	// when everything is on loopback. pgPort and bucketPort are the
	// ports agents reach PostgreSQL and the bucket on, at net.HostIP().
	net                *netLab
	pgPort, bucketPort int
}

// quietTB keeps a helper's failure-time log dump (versitygw's request
// log, thousands of lines) out of the chaos report.
type quietTB struct{ testing.TB }

func (quietTB) Failed() bool { return false }

func freeAddr(t *testing.T) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(testutil.FreePort(t)))
}

// agentKafkaPort and agentHTTPPort are the agents' ports in a partition
// run, where each agent has an address of its own.
const agentKafkaPort, agentHTTPPort = 9092, 8080

// startCluster starts n agents sharing one database and one bucket reached
// through the bucket fault proxy. With lab, each agent runs in its own
// network namespace and reaches PostgreSQL (through a forwarder) and the
// bucket proxy on the bridge's address.
func startCluster(t *testing.T, ctx context.Context, bin, logDir string, n int, lab *netLab) *cluster {
	t.Helper()
	c := &cluster{pg: testutil.StartPostgres(t), s3: testutil.StartVersity(quietTB{t}), net: lab}
	metadataURL := c.pg.NewDatabase(t)
	c.s3.NewBucket(t, "sluice")
	if lab == nil {
		c.bucket = testutil.StartBucketFaults(t, c.s3.Addr())
	} else {
		c.bucket = testutil.StartBucketFaultsOn(t, net.JoinHostPort(lab.HostIP(), "0"), c.s3.Addr())
		fwd := startForwarder(t, net.JoinHostPort(lab.HostIP(), "0"), c.pg.Addr())
		metadataURL = strings.Replace(metadataURL, "@"+c.pg.Addr()+"/", "@"+fwd.Addr()+"/", 1)
		c.pgPort = fwd.ln.Addr().(*net.TCPAddr).Port
		_, port, _ := net.SplitHostPort(c.bucket.Addr())
		c.bucketPort, _ = strconv.Atoi(port)
	}
	bucketURL := c.s3.BucketURL("sluice", c.bucket.Addr())
	for i := 1; i <= n; i++ {
		kafkaAddr, httpAddr := "", ""
		var wrap, extra []string
		if lab == nil {
			kafkaAddr, httpAddr = freeAddr(t), freeAddr(t)
		} else {
			kafkaAddr = net.JoinHostPort(lab.AgentIP(i), strconv.Itoa(agentKafkaPort))
			httpAddr = net.JoinHostPort(lab.AgentIP(i), strconv.Itoa(agentHTTPPort))
			wrap = lab.exec(i)
			// Readiness follows a partition within about three seconds.
			extra = []string{"--readiness-interval", "1s", "--readiness-timeout", "2s"}
		}
		a := &agent{
			id: i, kafkaAddr: kafkaAddr, httpAddr: httpAddr, wrap: wrap,
			logPath: filepath.Join(logDir, fmt.Sprintf("agent-%d.log", i)),
			args: []string{"agent", "--bucket-url", bucketURL,
				"--node-id", strconv.Itoa(i),
				"--heartbeat-interval", "250ms", "--agent-ttl", "1500ms",
				"--batch-timeout", "50ms",
				// A stalled bucket fails produce within seconds, not 30s.
				"--bucket-timeout", "5s",
				// Background jobs run often so they race with the load.
				"--compaction-interval", "10s", "--retention-interval", "30s",
			},
			env: append(append(os.Environ(), c.s3.Env()...), "SLUICE_METADATA_URL="+metadataURL),
		}
		a.args = append(append(a.args, extra...), "--kafka-addr", a.kafkaAddr, "--http-addr", a.httpAddr)
		c.agents = append(c.agents, a)
		if err := a.start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(a.kill)
	}
	return c
}

func (c *cluster) seeds() []string {
	var out []string
	for _, a := range c.agents {
		out = append(out, a.kafkaAddr)
	}
	return out
}

// start runs the agent and waits (bounded by ctx and 90s) until its
// /healthz answers 200.
func (a *agent) start(ctx context.Context) error {
	logf, err := os.OpenFile(a.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(logf, "\n===== start %s =====\n", time.Now().Format(time.RFC3339Nano))
	a.mu.Lock()
	argv := append(append(append([]string{}, a.wrap...), sluiceBin), a.args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = a.env
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		a.mu.Unlock()
		logf.Close()
		return fmt.Errorf("agent %d: %w", a.id, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(exited) }()
	a.cmd, a.exited, a.paused = cmd, exited, false
	a.mu.Unlock()

	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	hc := &http.Client{Timeout: 2 * time.Second}
	for {
		select {
		case <-exited:
			return fmt.Errorf("agent %d exited during start (log %s)", a.id, a.logPath)
		case <-ctx.Done():
			return fmt.Errorf("agent %d not healthy: %w (log %s)", a.id, ctx.Err(), a.logPath)
		case <-time.After(100 * time.Millisecond):
		}
		resp, err := hc.Get("http://" + a.httpAddr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
	}
}

func (a *agent) proc() (*exec.Cmd, chan struct{}) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cmd, a.exited
}

// kill sends SIGKILL (a crash) and waits for the exit.
func (a *agent) kill() {
	cmd, exited := a.proc()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGKILL)
	<-exited
}

// termWait is how long term waits for an agent to exit: its shutdown
// bound (--shutdown-timeout, 30s by default: a flush that cannot reach the
// bucket or the store keeps trying that long), the 5s after which the
// bound forces the exit, and a margin.
const termWait = 40 * time.Second

// term sends SIGTERM (a graceful restart) and waits up to termWait for the
// exit, then kills; it reports an agent that ignored SIGTERM.
func (a *agent) term() error {
	cmd, exited := a.proc()
	if cmd == nil {
		return nil
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
		return nil
	case <-time.After(termWait):
		a.kill()
		return fmt.Errorf("agent %d ignored SIGTERM for %s", a.id, termWait)
	}
}

// pause freezes the agent (SIGSTOP): connections stay open but nothing
// answers, as in a long GC pause or a hung VM.
func (a *agent) pause() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cmd != nil {
		a.cmd.Process.Signal(syscall.SIGSTOP)
		a.paused = true
	}
}

func (a *agent) resume() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cmd != nil && a.paused {
		a.cmd.Process.Signal(syscall.SIGCONT)
		a.paused = false
	}
}
