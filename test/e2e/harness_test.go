// Package e2e runs the sluice binary as a user would and talks to it over
// TCP with real Kafka clients: franz-go in process, and kcat,
// python3-confluent-kafka and python3-kafka as subprocesses.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// sluiceBin is the binary under test, built once by TestMain.
var sluiceBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sluice-e2e-bin")
	if err != nil {
		panic(err)
	}
	sluiceBin = filepath.Join(dir, "sluice")
	// A race-enabled binary sleeps a second at exit to catch late
	// reports; every CLI call and agent stop would pay it. Race reports
	// still print and still fail the process.
	if os.Getenv("GORACE") == "" {
		os.Setenv("GORACE", "atexit_sleep_ms=0")
	}
	build := exec.Command("go", "build", "-race", "-o", sluiceBin, "../../cmd/sluice")
	if os.Getenv("SLUICE_E2E_NORACE") != "" {
		build = exec.Command("go", "build", "-o", sluiceBin, "../../cmd/sluice")
	}
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building sluice:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// syncBuffer is a goroutine-safe log sink for an agent's output.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Agent is a `sluice dev` process.
type Agent struct {
	t         *testing.T
	DataDir   string
	KafkaAddr string
	HTTPAddr  string
	// APIUser and APIPassword, when set, log the tests' admin API calls
	// in (--console-auth scram).
	APIUser, APIPassword string
	args                 []string
	cmd                  *exec.Cmd
	exited               chan struct{}
	logs                 *syncBuffer

	// SchemaRegistryAddr is the schema registry's listener.
	SchemaRegistryAddr string
}

// freeAddr returns a loopback address with a port that was free just now
// and that no other call of this process has returned. The ports come
// from below Linux's ephemeral range (32768-60999), so that the outgoing
// connections of the many tests running in parallel, which take their
// local ports from that range, cannot take one between this check and the
// agent's listen, as they could a port picked with ":0".
func freeAddr(t *testing.T) string {
	t.Helper()
	portMu.Lock()
	defer portMu.Unlock()
	for range portLast - portFirst {
		p := portNext
		if portNext++; portNext >= portLast {
			portNext = portFirst
		}
		if portsGiven[p] {
			continue
		}
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		ln.Close()
		portsGiven[p] = true
		return ln.Addr().String()
	}
	t.Fatal("no free port left between 20000 and 32000")
	return ""
}

// portMu guards portNext and portsGiven, freeAddr's state.
var (
	portMu     sync.Mutex
	portNext   = portFirst + rand.IntN(portLast-portFirst)
	portsGiven = map[int]bool{}
)

const portFirst, portLast = 20000, 32000

// StartAgent runs `sluice dev` on fresh loopback ports with dataDir (a new
// temp dir when empty) and waits until it serves.
func StartAgent(t *testing.T, dataDir string, extra ...string) *Agent {
	t.Helper()
	return startAgentAt(t, dataDir, freeAddr(t), extra...)
}

// startAgentAt is StartAgent with its Kafka address chosen by the
// caller (for a config that must name it before the agent starts).
func startAgentAt(t *testing.T, dataDir, kafkaAddr string, extra ...string) *Agent {
	t.Helper()
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	a := &Agent{t: t, DataDir: dataDir, KafkaAddr: kafkaAddr, HTTPAddr: freeAddr(t), SchemaRegistryAddr: freeAddr(t), args: extra}
	a.start()
	t.Cleanup(func() {
		a.Stop()
		if t.Failed() {
			t.Logf("agent log:\n%s", a.logs.String())
		}
	})
	return a
}

func (a *Agent) start() {
	a.t.Helper()
	args := append([]string{"dev", "--data-dir", a.DataDir, "--kafka-addr", a.KafkaAddr, "--http-addr", a.HTTPAddr, "--schema-registry-addr", a.SchemaRegistryAddr, "--log-level", "debug"}, a.args...)
	a.cmd = exec.Command(sluiceBin, args...)
	a.logs = &syncBuffer{}
	a.cmd.Stdout, a.cmd.Stderr = a.logs, a.logs
	if err := a.cmd.Start(); err != nil {
		a.t.Fatal(err)
	}
	a.exited = make(chan struct{})
	go func() { a.cmd.Wait(); close(a.exited) }()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-a.exited:
			a.t.Fatalf("agent exited during start:\n%s", a.logs.String())
		default:
		}
		resp, err := http.Get("http://" + a.HTTPAddr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	a.t.Fatalf("agent did not become healthy:\n%s", a.logs.String())
}

// Restart stops the agent gracefully and starts it again on the same data
// directory and ports.
func (a *Agent) Restart() {
	a.t.Helper()
	a.Stop()
	a.start()
}

// Stop sends SIGTERM and waits for a clean exit.
func (a *Agent) Stop() {
	if a.cmd == nil || a.cmd.Process == nil {
		return
	}
	select {
	case <-a.exited:
		return
	default:
	}
	a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.exited:
	case <-time.After(30 * time.Second):
		a.cmd.Process.Kill()
		<-a.exited
		a.t.Errorf("agent ignored SIGTERM for 30s")
	}
	a.checkRaces()
}

// Kill sends SIGKILL: no flush, no cleanup, as in a crash.
func (a *Agent) Kill() {
	a.cmd.Process.Kill()
	<-a.exited
	a.checkRaces()
}

// checkRaces fails the test when the race detector reported in the
// agent's output: the agents are built with -race for that.
func (a *Agent) checkRaces() {
	if logs := a.logs.String(); strings.Contains(logs, "WARNING: DATA RACE") {
		i := strings.Index(logs, "WARNING: DATA RACE")
		report := strings.SplitN(logs[i:], "\n", 81)
		a.t.Errorf("the race detector reported in the agent:\n%s", strings.Join(report[:min(len(report), 80)], "\n"))
	}
}

// Client returns a franz-go client for the agent, closed at test end.
func (a *Agent) Client(opts ...kgo.Opt) *kgo.Client {
	a.t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(a.KafkaAddr), kgo.RetryTimeout(30 * time.Second)}, opts...)...)
	if err != nil {
		a.t.Fatal(err)
	}
	a.t.Cleanup(cl.Close)
	return cl
}

// Admin returns a kadm client for the agent.
func (a *Agent) Admin() *kadm.Client { return kadm.NewClient(a.Client()) }

// CreateTopic creates a topic or fails the test.
func (a *Agent) CreateTopic(topic string, partitions int32) {
	a.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := a.Admin().CreateTopic(ctx, partitions, 1, nil, topic)
	if err == nil {
		err = res.Err
	}
	if err != nil {
		a.t.Fatalf("create topic %s: %v", topic, err)
	}
}

// testContext returns a context bounded well inside the test timeout.
func testContext(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// ConsumeAll reads every record of topic from the start to the end offsets
// that hold when it is called, with franz-go, and returns them by partition
// in offset order.
func (a *Agent) ConsumeAll(ctx context.Context, topic string) map[int32][]*kgo.Record {
	a.t.Helper()
	ends, err := a.Admin().ListEndOffsets(ctx, topic)
	if err != nil {
		a.t.Fatalf("list end offsets: %v", err)
	}
	if err := ends.Error(); err != nil {
		a.t.Fatalf("list end offsets: %v", err)
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
		}
	})
	out := map[int32][]*kgo.Record{}
	if len(want) == 0 {
		return out
	}
	cl := a.Client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	for len(want) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			a.t.Fatalf("consuming %s: %v; still waiting for %v", topic, ctx.Err(), want)
		}
		fs.EachError(func(t string, p int32, err error) { a.t.Fatalf("fetch %s[%d]: %v", t, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			out[r.Partition] = append(out[r.Partition], r)
			if end, ok := want[r.Partition]; ok && r.Offset+1 >= end {
				delete(want, r.Partition)
			}
		})
	}
	return out
}
