package e2e

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/testutil"
)

// Cluster is a set of `sluice agent` processes sharing one PostgreSQL
// database and one S3 bucket on a versitygw server, all started for the
// test on loopback ports.
type Cluster struct {
	t  *testing.T
	PG *testutil.Postgres
	S3 *testutil.Versity
	// S3Proxy sits between the agents and S3 when the cluster was started
	// with a proxy (to stall the store); nil otherwise.
	S3Proxy *testutil.Proxy
	// S3Faults sits between the agents and S3 when the cluster was
	// started with bucketFaults (to fail requests); nil otherwise.
	S3Faults    *testutil.BucketFaults
	MetadataURL string
	BucketURL   string
	Agents      []*ClusterAgent
	nextNode    int32
}

// ClusterAgent is one `sluice agent` process of a Cluster. The embedded
// Agent gives it the single-agent helpers (Client, Admin, CreateTopic,
// ConsumeAll, Stop, Kill).
type ClusterAgent struct {
	*Agent
	NodeID  int32
	Zone    string
	cluster *Cluster
	// Env is added to the process environment at every start.
	Env []string
}

// clusterOpts configures StartCluster.
type clusterOpts struct {
	// zones has one entry per agent to start ("" for no zone).
	zones []string
	// proxyS3 routes the agents' S3 traffic through a stallable proxy.
	proxyS3 bool
	// bucketFaults routes it through an HTTP proxy that fails requests.
	bucketFaults bool
	// extra flags for every agent.
	extra []string
}

// StartCluster starts PostgreSQL, versitygw and one agent per zone entry.
func StartCluster(t *testing.T, o clusterOpts) *Cluster {
	t.Helper()
	c := &Cluster{t: t, PG: testutil.StartPostgres(t), S3: testutil.StartVersity(t), nextNode: 1}
	c.MetadataURL = c.PG.NewDatabase(t)
	c.BucketURL = c.S3.NewBucket(t, "sluice")
	if o.proxyS3 {
		c.S3Proxy = testutil.StartProxy(t, c.S3.Addr())
		c.BucketURL = c.S3.BucketURL("sluice", c.S3Proxy.Addr())
	}
	if o.bucketFaults {
		c.S3Faults = testutil.StartBucketFaults(t, c.S3.Addr())
		c.BucketURL = c.S3.BucketURL("sluice", c.S3Faults.Addr())
	}
	for _, z := range o.zones {
		c.AddAgent(z, o.extra...)
	}
	return c
}

// AddAgent starts one more agent in zone and waits until it serves.
func (c *Cluster) AddAgent(zone string, extra ...string) *ClusterAgent {
	c.t.Helper()
	return c.AddAgentEnv(zone, nil, extra...)
}

// AddAgentEnv is AddAgent with env added to the agent's environment.
func (c *Cluster) AddAgentEnv(zone string, env []string, extra ...string) *ClusterAgent {
	c.t.Helper()
	a := &ClusterAgent{
		Agent:   &Agent{t: c.t, KafkaAddr: freeAddr(c.t), HTTPAddr: freeAddr(c.t), SchemaRegistryAddr: freeAddr(c.t), args: extra},
		NodeID:  c.nextNode,
		Zone:    zone,
		cluster: c,
		Env:     env,
	}
	c.nextNode++
	c.Agents = append(c.Agents, a)
	a.start()
	c.t.Cleanup(func() {
		a.Stop()
		if c.t.Failed() {
			c.t.Logf("agent %d log:\n%s", a.NodeID, tail(a.logs.String(), 150))
		}
	})
	return a
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("… %d lines skipped", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// start runs `sluice agent` on the agent's ports (again, after Kill or
// Stop) and waits for /healthz.
func (a *ClusterAgent) start() {
	a.t.Helper()
	c := a.cluster
	args := append([]string{"agent",
		"--bucket-url", c.BucketURL,
		"--kafka-addr", a.KafkaAddr, "--http-addr", a.HTTPAddr,
		"--node-id", strconv.Itoa(int(a.NodeID)),
		// Short liveness so tests see dead agents drop out quickly.
		"--heartbeat-interval", "250ms", "--agent-ttl", "1500ms",
		// Not the default 127.0.0.1:8081, which agents of tests running
		// in parallel would contend for.
		"--schema-registry-addr", a.SchemaRegistryAddr,
	}, a.args...)
	a.cmd = exec.Command(sluiceBin, args...)
	// The metadata URL and zone come from the environment, as in the
	// docker-compose and Kubernetes examples.
	a.cmd.Env = append(append(os.Environ(), c.S3.Env()...), "SLUICE_METADATA_URL="+c.MetadataURL, "SLUICE_ZONE="+a.Zone)
	a.cmd.Env = append(a.cmd.Env, a.Env...)
	if a.logs == nil {
		a.logs = &syncBuffer{}
	}
	a.cmd.Stdout, a.cmd.Stderr = a.logs, a.logs
	if err := a.cmd.Start(); err != nil {
		a.t.Fatal(err)
	}
	exited := make(chan struct{})
	a.exited = exited
	cmd := a.cmd
	go func() { cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			a.t.Fatalf("agent %d exited during start:\n%s", a.NodeID, a.logs.String())
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
	a.t.Fatalf("agent %d did not become healthy:\n%s", a.NodeID, a.logs.String())
}

// Restart starts a stopped or killed agent again on the same ports.
func (a *ClusterAgent) Restart() {
	a.t.Helper()
	a.Stop()
	a.start()
}

// Seeds is every agent's Kafka address.
func (c *Cluster) Seeds() []string {
	var out []string
	for _, a := range c.Agents {
		out = append(out, a.KafkaAddr)
	}
	return out
}

// Client returns a franz-go client seeded with every agent, closed at test
// end.
func (c *Cluster) Client(opts ...kgo.Opt) *kgo.Client {
	c.t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.Seeds()...), kgo.RetryTimeout(30 * time.Second)}, opts...)...)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(cl.Close)
	return cl
}

// Metric reads one unlabelled sample from the agent's /metrics.
func (a *ClusterAgent) Metric(name string) (float64, error) {
	resp, err := http.Get("http://" + a.HTTPAddr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("metric %s not found", name)
}
