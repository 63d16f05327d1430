package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// txnCoordinator asks every agent which agent coordinates a transactional
// ID and waits (bounded) until they all agree: agents refresh their view
// of the live set independently, so right after a cluster starts they may
// briefly disagree, and a test that kills "the coordinator" must kill the
// one the producer will use.
func txnCoordinator(t *testing.T, ctx context.Context, c *Cluster, cl *kgo.Client, id string) int32 {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		// Load the broker list so requests can be sent to each agent.
		if _, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl); err != nil {
			t.Fatal(err)
		}
		answers := map[int32]bool{}
		var last int32
		for _, a := range c.Agents {
			req := kmsg.NewPtrFindCoordinatorRequest()
			req.CoordinatorType = 1
			req.CoordinatorKey = id
			req.CoordinatorKeys = []string{id}
			resp, err := req.RequestWith(ctx, cl.Broker(int(a.NodeID)))
			if err != nil {
				// Not yet in the metadata the client got: not settled.
				answers[-1-a.NodeID] = true
				continue
			}
			last = resp.NodeID
			if len(resp.Coordinators) == 1 {
				last = resp.Coordinators[0].NodeID
			}
			answers[last] = true
		}
		if len(answers) == 1 && last >= 0 {
			return last
		}
		if time.Now().After(deadline) {
			t.Fatalf("agents disagree on the coordinator of %s: %v", id, answers)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestClusterTxnCoordinatorKill kills (SIGKILL) the agent coordinating two
// open transactions on a three-agent cluster (PostgreSQL, S3). The
// producer of the first then commits it through the new coordinator; the
// second is abandoned and must be aborted by the new coordinator when it
// times out. read_committed consumers must see exactly the first's
// records, and every partition's last stable offset must catch up.
func TestClusterTxnCoordinatorKill(t *testing.T) {
	t.Parallel()
	c := StartCluster(t, clusterOpts{zones: []string{"", "", ""}, extra: []string{"--batch-timeout", "20ms", "--txn-check-interval", "200ms"}})
	ctx := testContext(t, 150*time.Second)
	const topic = "txn-kill"
	c.Agents[0].CreateTopic(topic, 6)

	probe := c.Client()
	const committedID = "kill-commit"
	victim := txnCoordinator(t, ctx, c, probe, committedID)
	abandonedID := ""
	for i := 0; i < 200 && abandonedID == ""; i++ {
		if id := fmt.Sprintf("kill-abandon-%d", i); txnCoordinator(t, ctx, c, probe, id) == victim {
			abandonedID = id
		}
	}
	if abandonedID == "" {
		t.Fatal("no transactional ID hashed to the victim agent")
	}

	p1 := c.Client(kgo.TransactionalID(committedID), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	p2 := c.Client(kgo.TransactionalID(abandonedID), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
		kgo.TransactionTimeout(4*time.Second))
	want := map[string]bool{}
	for _, p := range []struct {
		cl     *kgo.Client
		prefix string
	}{{p1, "commit"}, {p2, "abandon"}} {
		if err := p.cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 24; i++ {
			v := fmt.Sprintf("%s-%02d", p.prefix, i)
			if err := p.cl.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
				t.Fatalf("produce %s: %v", v, err)
			}
			if p.prefix == "commit" {
				want[v] = true
			}
		}
	}

	var dead *ClusterAgent
	for _, a := range c.Agents {
		if a.NodeID == victim {
			dead = a
		}
	}
	dead.Kill()
	var live *ClusterAgent
	for _, a := range c.Agents {
		if a != dead {
			live = a
			break
		}
	}

	// The committing producer finds the new coordinator, which finds the
	// transaction Ongoing in the store and commits it.
	if err := p1.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatalf("commit after the coordinator died: %v", err)
	}
	// The abandoned transaction times out on its new coordinator.
	adm := kadm.NewClient(c.Client())
	deadline := time.Now().Add(60 * time.Second)
	for {
		d, err := adm.DescribeTransactions(ctx, abandonedID)
		if err == nil && d[abandonedID].Err == nil && d[abandonedID].State == "CompleteAbort" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("abandoned transaction not aborted: %+v, %v", d, err)
		}
		time.Sleep(200 * time.Millisecond)
	}

	timeouts := 0.0
	for _, a := range c.Agents {
		if a != dead {
			v, _ := a.Metric("sluice_txn_timeouts_total")
			timeouts += v
		}
	}
	if timeouts < 1 {
		t.Fatal("no surviving agent aborted the abandoned transaction")
	}
	got := consumeValues(t, ctx, live.Agent, topic, true, len(want), 2*time.Second)
	sameSet(t, "read_committed after the coordinator was killed", got, want)
	hw, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	lso, err := adm.ListCommittedOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	hw.Each(func(o kadm.ListedOffset) {
		if l, _ := lso.Lookup(topic, o.Partition); l.Offset != o.Offset {
			t.Errorf("partition %d: last stable offset %d, high watermark %d", o.Partition, l.Offset, o.Offset)
		}
	})
	dead.Restart()
}

// TestClusterTxnKillDuringEndTxn kills (SIGKILL) the coordinating agent in
// the middle of EndTxn: PrepareCommit is persisted and the marker file is
// uploading (object storage is stalled) but not committed. After the
// store heals, the new coordinator must find the prepared transaction and
// complete it, the producer's EndTxn must succeed through it, and
// read_committed consumers must see every record of the transaction once.
func TestClusterTxnKillDuringEndTxn(t *testing.T) {
	t.Parallel()
	c := StartCluster(t, clusterOpts{zones: []string{"", "", ""}, proxyS3: true,
		extra: []string{"--batch-timeout", "20ms", "--txn-check-interval", "200ms"}})
	ctx := testContext(t, 150*time.Second)
	const topic, id = "txn-kill-end", "kill-during-end"
	c.Agents[0].CreateTopic(topic, 4)

	probe := c.Client()
	victim := txnCoordinator(t, ctx, c, probe, id)
	p := c.Client(kgo.TransactionalID(id), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for i := 0; i < 20; i++ {
		v := fmt.Sprintf("end-%02d", i)
		if err := p.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		want[v] = true
	}

	c.S3Proxy.Stall()
	ended := make(chan error, 1)
	go func() { ended <- p.EndTransaction(ctx, kgo.TryCommit) }()
	adm := kadm.NewClient(c.Client())
	deadline := time.Now().Add(30 * time.Second)
	for {
		d, err := adm.DescribeTransactions(ctx, id)
		if err == nil && d[id].State == "PrepareCommit" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("transaction never reached PrepareCommit: %+v, %v", d, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	select {
	case err := <-ended:
		t.Fatalf("EndTxn finished while object storage was stalled: %v", err)
	default:
	}
	for _, a := range c.Agents {
		if a.NodeID == victim {
			t.Logf("killing agent %d", a.NodeID)
			a.Kill()
			defer a.Restart()
		}
	}
	c.S3Proxy.Heal()

	select {
	case err := <-ended:
		var netErr *net.OpError
		switch {
		case err == nil:
		case errors.As(err, &netErr):
			// franz-go may give up on the dead coordinator's address
			// (a refused dial) before the cluster names the new one:
			// the outcome is then unknown to the client, not wrong.
			// What follows checks it: committed, and readable.
			t.Logf("EndTxn after the coordinator was killed: %v (outcome unknown to the client; checked below)", err)
		default:
			t.Fatalf("EndTxn after the coordinator was killed: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("EndTxn did not return")
	}
	// A fresh admin client, so no cached coordinator points at the dead
	// agent; retry (bounded) until the new coordinator answers.
	adm = kadm.NewClient(c.Client())
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		d, err := adm.DescribeTransactions(ctx, id)
		if err == nil && d[id].Err == nil {
			if d[id].State != "CompleteCommit" {
				t.Fatalf("after recovery: %+v", d[id])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("describe after recovery: %+v, %v", d, err)
		}
	}
	var live *ClusterAgent
	recovered := 0.0
	for _, a := range c.Agents {
		if a.NodeID != victim {
			live = a
			v, err := a.Metric("sluice_txn_recovered_total")
			t.Logf("agent %d: sluice_txn_recovered_total %v (%v)", a.NodeID, v, err)
			recovered += v
		}
	}
	if recovered < 1 {
		t.Fatal("no surviving agent completed the prepared transaction: the interruption was not exercised")
	}
	got := consumeValues(t, ctx, live.Agent, topic, true, len(want), 2*time.Second)
	sameSet(t, "read_committed after the coordinator died mid-EndTxn", got, want)
	hw, _ := adm.ListEndOffsets(ctx, topic)
	lso, _ := adm.ListCommittedOffsets(ctx, topic)
	hw.Each(func(o kadm.ListedOffset) {
		if l, _ := lso.Lookup(topic, o.Partition); l.Offset != o.Offset {
			t.Errorf("partition %d: last stable offset %d, high watermark %d", o.Partition, l.Offset, o.Offset)
		}
	})
}
