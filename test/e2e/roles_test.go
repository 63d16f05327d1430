package e2e

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// metricSum sums the samples of metric whose label sets contain every one
// of labels (name{…} value lines of /metrics).
func metricSum(t *testing.T, httpAddr, metric string, labels ...string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sum := 0.0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, metric+"{") && !strings.HasPrefix(line, metric+" ") {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(line, l)
		}
		if ok {
			v, _ := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
			sum += v
		}
	}
	return sum
}

// TestRolesJobsOnlyOnJobsAgent runs a proxy-only and a jobs-only agent:
// the jobs agent does not listen for Kafka clients and is not in Metadata,
// retention and compaction run on it alone, and once it is gone the proxy
// reports no jobs agents (sluice_jobs_agents_live 0) and warns.
func TestRolesJobsOnlyOnJobsAgent(t *testing.T) {
	t.Parallel()
	c := StartCluster(t, clusterOpts{})
	fast := []string{"--retention-interval", "200ms", "--compaction-interval", "200ms"}
	proxy := c.AddAgent("", append([]string{"--roles", "proxy"}, fast...)...)
	jobsAgent := c.AddAgent("", append([]string{"--roles", "jobs"}, fast...)...)

	// The jobs agent has no Kafka listener.
	if conn, err := net.DialTimeout("tcp", jobsAgent.KafkaAddr, time.Second); err == nil {
		conn.Close()
		t.Fatalf("the jobs-only agent accepts Kafka connections on %s", jobsAgent.KafkaAddr)
	}
	ctx := testContext(t, 50*time.Second)
	cl := proxy.Client()
	adm := kadm.NewClient(cl)
	eventually(t, "both agents counting one jobs agent", func() bool {
		a, errA := proxy.Metric("sluice_jobs_agents_live")
		b, errB := jobsAgent.Metric("sluice_jobs_agents_live")
		return errA == nil && errB == nil && a == 1 && b == 1
	})
	md, err := adm.BrokerMetadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ids := md.Brokers.NodeIDs(); len(ids) != 1 || ids[0] != proxy.NodeID {
		t.Fatalf("Metadata brokers = %v, want only the proxy %d", ids, proxy.NodeID)
	}

	// Records older than retention.ms go: retention runs on the jobs agent.
	res, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"retention.ms": kmsg.StringPtr("1")}, "roles-expire")
	if err == nil {
		err = res.Err
	}
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "roles-expire", Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "retention expiring the three records", func() bool {
		starts, err := adm.ListStartOffsets(ctx, "roles-expire")
		if err != nil {
			t.Fatal(err)
		}
		o, _ := starts.Lookup("roles-expire", 0)
		return o.Offset == 3
	})
	if v := metricSum(t, jobsAgent.HTTPAddr, "sluice_retention_log_start_advances_total"); v == 0 {
		t.Fatal("the log start advanced, but not by the jobs agent's retention")
	}
	eventually(t, "compaction runs on the jobs agent", func() bool {
		return metricSum(t, jobsAgent.HTTPAddr, "sluice_jobs_runs_total", `job="compaction"`) > 0
	})
	// The proxy never took a job's lease.
	for _, m := range []string{"sluice_jobs_runs_total", "sluice_retention_log_start_advances_total", "sluice_files_deleted_total"} {
		if v := metricSum(t, proxy.HTTPAddr, m); v != 0 {
			t.Fatalf("the proxy-only agent reports %s = %v", m, v)
		}
	}

	// Without the jobs agent the proxy counts none and warns.
	jobsAgent.Stop()
	eventually(t, "the proxy counting no jobs agent", func() bool {
		v, err := proxy.Metric("sluice_jobs_agents_live")
		return err == nil && v == 0
	})
	eventually(t, "the proxy warning that no agent runs jobs", func() bool {
		return strings.Contains(proxy.logs.String(), "no live agent has the jobs role")
	})
	// The proxy still serves.
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: "roles-expire", Value: []byte("after")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// TestAgentGroups runs agents in groups a and b: a client whose client ID
// names group a sees only group a's agent in Metadata and is sent to it
// for its consumer group's coordinator, whichever agent it bootstraps
// from.
func TestAgentGroups(t *testing.T) {
	t.Parallel()
	c := StartCluster(t, clusterOpts{})
	a := c.AddAgent("", "--agent-group", "a")
	b := c.AddAgent("", "--agent-group", "b")
	// Each agent has seen the other register (a group with no live agent
	// falls back to the asked agent's own).
	sees := func(seed, group string, want int32) bool {
		cl, err := kgo.NewClient(kgo.SeedBrokers(seed), kgo.ClientID("sluice_group="+group))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		req := kmsg.NewPtrMetadataRequest()
		resp, err := req.RequestWith(ctx, cl)
		return err == nil && len(resp.Brokers) == 1 && resp.Brokers[0].NodeID == want
	}
	eventually(t, "both agents registered", func() bool {
		return sees(b.KafkaAddr, "a", a.NodeID) && sees(a.KafkaAddr, "b", b.NodeID)
	})
	ctx := testContext(t, 45*time.Second)
	for _, cc := range []struct {
		seed, clientID string
		want           int32
	}{
		{b.KafkaAddr, "billing,sluice_group=a", a.NodeID},
		{a.KafkaAddr, "billing,sluice_group=a", a.NodeID},
		{a.KafkaAddr, "sluice_group=b", b.NodeID},
		{b.KafkaAddr, "no-group", b.NodeID}, // no group named: the agent's own
	} {
		cl, err := kgo.NewClient(kgo.SeedBrokers(cc.seed), kgo.ClientID(cc.clientID))
		if err != nil {
			t.Fatal(err)
		}
		md, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		if len(md.Brokers) != 1 || md.Brokers[0].NodeID != cc.want {
			t.Fatalf("client %q via %s: Metadata brokers %+v, want only %d", cc.clientID, cc.seed, md.Brokers, cc.want)
		}
		for _, group := range []string{"g1", "g2", "g3", "g4"} {
			fc := kmsg.NewPtrFindCoordinatorRequest()
			fc.CoordinatorKey = group
			resp, err := fc.RequestWith(ctx, cl)
			if err != nil {
				t.Fatal(err)
			}
			if resp.ErrorCode != 0 || resp.NodeID != cc.want {
				t.Fatalf("client %q: coordinator of %s = node %d (error %d), want %d", cc.clientID, group, resp.NodeID, resp.ErrorCode, cc.want)
			}
		}
		cl.Close()
	}
	// A group-a client produces and consumes with a consumer group
	// through group a's agent alone.
	a.CreateTopic("groups-a", 2)
	cl := c.Client(kgo.ClientID("app,sluice_group=a"), kgo.ConsumerGroup("cg"), kgo.ConsumeTopics("groups-a"))
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "groups-a", Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	fs := cl.PollRecords(ctx, 1)
	if err := fs.Err(); err != nil {
		t.Fatal(err)
	}
	if fs.NumRecords() != 1 {
		t.Fatalf("consumed %d records", fs.NumRecords())
	}
}
