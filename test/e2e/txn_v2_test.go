package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestTxnV2CommitAbortFailover runs a franz-go transactional producer on
// transactions version 2 (KIP-890 part 2) against a two-agent cluster:
// commit, abort, then a transaction whose coordinator is killed (SIGKILL)
// before it commits through the surviving agent, then an abort there.
// That version 2 was really used is checked on the agents: the producer
// epoch (DescribeTransactions) goes up by one with every transaction, the
// coordinators count EndTxn v5 epoch bumps, Produce went out as v12 and no
// AddPartitionsToTxn was ever sent. read_committed consumers must see
// exactly the committed records.
func TestTxnV2CommitAbortFailover(t *testing.T) {
	t.Parallel()
	c := StartCluster(t, clusterOpts{zones: []string{"", ""}, extra: []string{"--batch-timeout", "20ms"}})
	ctx := testContext(t, 90*time.Second)
	const topic, id = "txn-v2", "txn-v2-producer"
	c.Agents[0].CreateTopic(topic, 3)

	probe := c.Client()
	adm := kadm.NewClient(probe)
	victimID := txnCoordinator(t, ctx, c, probe, id)
	var victim, survivor *ClusterAgent
	for _, a := range c.Agents {
		if a.NodeID == victimID {
			victim = a
		} else {
			survivor = a
		}
	}

	// Generous retries: after the kill, requests to the dead agent fail to
	// dial until its registration expires (--agent-ttl) and the survivor
	// owns the transactional ID.
	p := c.Client(kgo.TransactionalID(id), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
		kgo.RequestRetries(100), kgo.RetryTimeout(45*time.Second))
	// franz-go opts into version 2 at BeginTransaction if it has seen an
	// agent's ApiVersions (the transaction.version feature) by then.
	if err := p.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	var pid int64 = -1
	// epochIs waits until the coordinator reports the transaction
	// complete at epoch want (DescribeTransactions is answered by the
	// coordinator, which may just have moved).
	epochIs := func(what string, wantEpoch int16, state string) {
		t.Helper()
		var last string
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			d, err := adm.DescribeTransactions(ctx, id)
			if err != nil || d[id].Err != nil {
				last = fmt.Sprint(d, err)
				continue
			}
			got := d[id]
			if pid < 0 {
				pid = got.ProducerID
			}
			if got.ProducerID == pid && got.ProducerEpoch == wantEpoch && got.State == state {
				return
			}
			last = fmt.Sprintf("producer %d epoch %d state %s", got.ProducerID, got.ProducerEpoch, got.State)
		}
		t.Fatalf("%s: want producer %d epoch %d %s; last seen %s", what, pid, wantEpoch, state, last)
	}
	txn := func(prefix string, n int, commit bool, beforeEnd func()) {
		t.Helper()
		if err := p.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < n; i++ {
			v := fmt.Sprintf("%s-%02d", prefix, i)
			if err := p.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
				t.Fatalf("produce %s: %v", v, err)
			}
			if commit {
				want[v] = true
			}
		}
		if beforeEnd != nil {
			beforeEnd()
		}
		if err := p.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatalf("end %s (commit %v): %v", prefix, commit, err)
		}
	}

	// A fresh transactional ID starts at epoch 0; every end bumps it.
	txn("commit1", 9, true, nil)
	epochIs("after the first commit", 1, "CompleteCommit")
	txn("abort1", 6, false, nil)
	epochIs("after the first abort", 2, "CompleteAbort")
	if n, err := victim.Metric(`sluice_txn_epoch_bumps_total{reason="end"}`); err != nil || n != 2 {
		t.Fatalf("coordinator's EndTxn v5 bumps = %v, %v; want 2", n, err)
	}
	for _, a := range c.Agents {
		if n, _ := a.Metric(`sluice_kafka_requests_total{api="AddPartitionsToTxn",version="3"}`); n != 0 {
			t.Fatalf("agent %d served %v AddPartitionsToTxn: the producer did not use transactions version 2", a.NodeID, n)
		}
	}
	produced12 := 0.0
	for _, a := range c.Agents {
		n, _ := a.Metric(`sluice_kafka_requests_total{api="Produce",version="12"}`)
		produced12 += n
	}
	if produced12 == 0 {
		t.Fatal("no Produce v12 request reached the agents")
	}

	// The coordinator dies with the transaction open. The commit goes to
	// the surviving agent, which finds the transaction Ongoing in the
	// store, unless franz-go's request meets the dead agent first: under
	// version 2 it does not resend a commit it cannot confirm, and asks
	// the application to retry with TryAbort, which aborts by reloading
	// the producer ID. Either way the survivor then coordinates.
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	var commit2 []string
	for i := 0; i < 9; i++ {
		v := fmt.Sprintf("commit2-%02d", i)
		if err := p.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatalf("produce %s: %v", v, err)
		}
		commit2 = append(commit2, v)
	}
	victim.Kill()
	if err := p.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Logf("commit after the coordinator's death not confirmed (%v); aborting as franz-go asks", err)
		if err := p.EndTransaction(ctx, kgo.TryAbort); err != nil {
			t.Fatalf("abort after an unconfirmed commit: %v", err)
		}
	} else {
		for _, v := range commit2 {
			want[v] = true
		}
	}
	// A fresh admin client: the probe's would keep the dead coordinator.
	adm = kadm.NewClient(survivor.Client())
	var base int16 = -1
	for deadline := time.Now().Add(20 * time.Second); base < 0 && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		// Ended by the commit, or by the abort's producer ID reload
		// (which leaves the transactional ID Empty at a new epoch).
		if d, err := adm.DescribeTransactions(ctx, id); err == nil && d[id].Err == nil &&
			(d[id].State == "CompleteCommit" || d[id].State == "CompleteAbort" || d[id].State == "Empty") {
			base, pid = d[id].ProducerEpoch, d[id].ProducerID
		}
	}
	if base < 0 {
		t.Fatal("after the failover the survivor never reported the transaction ended")
	}
	txn("commit3", 9, true, nil)
	epochIs("after a commit on the new coordinator", base+1, "CompleteCommit")
	txn("abort2", 4, false, nil)
	epochIs("after an abort on the new coordinator", base+2, "CompleteAbort")
	if n, err := survivor.Metric(`sluice_txn_epoch_bumps_total{reason="end"}`); err != nil || n < 2 {
		t.Fatalf("new coordinator's EndTxn v5 bumps = %v, %v; want at least 2", n, err)
	}
	if n, err := survivor.Metric("sluice_txn_implicit_adds_total"); err != nil || n == 0 {
		t.Fatalf("survivor's implicit adds = %v, %v; want some", n, err)
	}

	got := consumeValues(t, ctx, survivor.Agent, topic, true, len(want), 2*time.Second)
	sameSet(t, "read_committed after commit, abort and failover", got, want)
}
