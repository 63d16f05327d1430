package e2e

// Lightning topics and ripcord (docs/lightning.md): produce acknowledged
// once durable in the bucket, sequenced afterwards, never lost or
// duplicated across agent crashes and metadata store outages.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ackLog records the values producers had acknowledged.
type ackLog struct {
	mu    sync.Mutex
	acked map[string]bool
}

func newAckLog() *ackLog { return &ackLog{acked: map[string]bool{}} }

func (l *ackLog) add(v string) {
	l.mu.Lock()
	l.acked[v] = true
	l.mu.Unlock()
}

func (l *ackLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

// checkOnceInOrder checks that got holds every acknowledged value exactly
// once, no value twice, offsets without gaps, and each producer's values
// (named "<producer>-<seq>") in increasing order within a partition.
func (l *ackLog) checkOnceInOrder(t *testing.T, got map[int32][]*kgo.Record) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	seen := map[string]bool{}
	for part, recs := range got {
		last := map[string]int{}
		for i, r := range recs {
			if r.Offset != int64(i) {
				t.Fatalf("partition %d: record %d has offset %d", part, i, r.Offset)
			}
			v := string(r.Value)
			if seen[v] {
				t.Fatalf("value %q read twice", v)
			}
			seen[v] = true
			who, seqText, _ := strings.Cut(v, "-")
			seq, err := strconv.Atoi(seqText)
			if err != nil {
				t.Fatalf("unexpected value %q", v)
			}
			if prev, ok := last[who]; ok && seq <= prev {
				t.Fatalf("partition %d: %s's record %d after its record %d", part, who, seq, prev)
			}
			last[who] = seq
		}
	}
	for v := range l.acked {
		if !seen[v] {
			t.Fatalf("acknowledged value %q was not read back", v)
		}
	}
}

// produceUntil runs n producers writing to topic through cl() clients until
// stop is closed, recording acknowledgements. Each producer writes its
// values in sequence ("<name>-<seq>"), with no retries: a value whose
// answer is lost may or may not be stored, but never twice.
func produceUntil(t *testing.T, ctx context.Context, n int, prefix, topic string, cl func() *kgo.Client, acks interface{ add(string) }, stop <-chan struct{}, every time.Duration) (wait func()) {
	var wg sync.WaitGroup
	for w := range n {
		c := cl()
		wg.Add(1)
		go func() {
			defer wg.Done()
			var inflight sync.WaitGroup
			var pace <-chan time.Time
			if every > 0 {
				tick := time.NewTicker(every)
				defer tick.Stop()
				pace = tick.C
			}
			for i := 0; ; i++ {
				select {
				case <-stop:
					inflight.Wait()
					return
				case <-ctx.Done():
					inflight.Wait()
					return
				default:
				}
				if pace != nil {
					select {
					case <-pace: // a steady load, not a flood
					case <-stop:
					}
				}
				v := fmt.Sprintf("%s%d-%07d", prefix, w, i)
				inflight.Add(1)
				c.Produce(ctx, &kgo.Record{Topic: topic, Value: []byte(v)}, func(r *kgo.Record, err error) {
					defer inflight.Done()
					if err == nil {
						acks.add(v)
					}
				})
				if i%50 == 49 {
					inflight.Wait() // keep a bounded amount in flight
				}
			}
		}()
	}
	return wg.Wait
}

// waitCommitted waits until topic's partitions hold at least n records.
func waitCommitted(t *testing.T, ctx context.Context, a *Agent, topic string, n int) {
	t.Helper()
	for {
		ends, err := a.Admin().ListEndOffsets(ctx, topic)
		total := int64(0)
		if err == nil {
			ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
		}
		if total >= int64(n) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s holds %d records, want at least %d acknowledged ones", topic, total, n)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// TestLightningKillRecovery: producers write to a lightning topic through
// an agent that acknowledges journaled files but holds their commits (the
// test hook), so kill -9 always lands between acknowledgement and commit.
// Every acknowledged record is then read back exactly once and in each
// producer's order: first after recovery by another agent (once the dead
// agent's journal lease expires), then after recovery by the same agent
// restarted.
func TestLightningKillRecovery(t *testing.T) {
	t.Parallel()
	flags := []string{"--batch-timeout", "5ms", "--journal-lease-ttl", "3s", "--default-topic-type", "lightning"}
	c := StartCluster(t, clusterOpts{})
	hold := []string{"SLUICE_TEST_HOLD_JOURNAL_COMMITS=1"}
	crashing := c.AddAgentEnv("a", hold, flags...)
	survivor := c.AddAgent("b", flags...)
	ctx := testContext(t, 3*time.Minute)

	for _, round := range []string{"other", "same"} {
		topic := "lightning-" + round
		survivor.CreateTopic(topic, 2)
		acks := newAckLog()
		stop := make(chan struct{})
		wait := produceUntil(t, ctx, 3, round, topic, func() *kgo.Client {
			return c.Client(kgo.ClientID("writer,sluice_az=a"), kgo.DisableIdempotentWrite(),
				kgo.RecordRetries(0), kgo.ProducerLinger(time.Millisecond))
		}, acks, stop, 0)
		for acks.len() < 1500 {
			if ctx.Err() != nil {
				t.Fatalf("round %s: only %d records acknowledged", round, acks.len())
			}
			time.Sleep(20 * time.Millisecond)
		}
		crashing.Kill()
		close(stop)
		wait()
		acked := acks.len()
		if round == "same" {
			crashing.Env = nil
			crashing.Restart()
		}
		waitCommitted(t, ctx, survivor.Agent, topic, acked)
		got := survivor.ConsumeAll(ctx, topic)
		acks.checkOnceInOrder(t, got)
		recovered := func(a *ClusterAgent) string {
			return grepLines(metricsText(t, a.HTTPAddr), `sluice_journal_recovered_files_total{result="committed"}`)
		}
		if round == "same" {
			t.Logf("round same: %d acknowledged; recovered by the restarted agent: %q, by the other: %q", acked, recovered(crashing), recovered(survivor))
		} else {
			t.Logf("round other: %d acknowledged; recovered by the other agent: %q", acked, recovered(survivor))
		}
		if round == "other" {
			if !strings.Contains(metricsText(t, survivor.HTTPAddr), `sluice_journal_recovered_files_total{result="committed"}`) {
				t.Fatal("the surviving agent recovered nothing")
			}
			crashing.Restart() // still holding commits, for the next round
		}
	}
}

// TestRipcordPostgresOutage: three agents with --ripcord keep
// acknowledging produce to a classic topic while PostgreSQL is stopped for
// 30s; once it is back every acknowledged record is read exactly once, in
// each producer's order, and a consumer that ran throughout catches up.
func TestRipcordPostgresOutage(t *testing.T) {
	t.Parallel()
	began := time.Now()
	c := StartCluster(t, clusterOpts{zones: []string{"a", "b", "c"},
		extra: []string{"--ripcord", "--batch-timeout", "100ms", "--ripcord-commit-timeout", "1s"}})
	const topic = "ripcord"
	c.Agents[0].CreateTopic(topic, 3)
	ctx := testContext(t, 3*time.Minute)
	// Each producer talks to the one agent of its zone. Ordering holds
	// per connection: a producer whose partition moved to another agent
	// mid-outage would have two journals sequenced independently, so the
	// producers start only once every agent sees the whole cluster.
	for _, a := range c.Agents {
		for {
			m, err := a.Admin().BrokerMetadata(ctx)
			if err == nil && len(m.Brokers) == len(c.Agents) {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("agent %d never saw the whole cluster: %v", a.NodeID, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	// The consumer reads from the start and keeps going through the outage.
	consumed := make(chan string, 1<<16)
	cons := c.Client(kgo.ClientID("reader,sluice_az=b"), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	consCtx, stopCons := context.WithCancel(ctx)
	defer stopCons()
	go func() {
		for consCtx.Err() == nil {
			cons.PollFetches(consCtx).EachRecord(func(r *kgo.Record) { consumed <- string(r.Value) })
		}
	}()

	acks := newAckLog()
	stop := make(chan struct{})
	var duringOutage atomic.Int64
	outage := atomic.Bool{}
	zones := []string{"a", "b", "c"}
	var next atomic.Int32
	wait := produceUntil(t, ctx, 3, "p", topic, func() *kgo.Client {
		z := zones[int(next.Add(1)-1)%len(zones)]
		return c.Client(kgo.ClientID("writer,sluice_az="+z), kgo.DisableIdempotentWrite(),
			kgo.RecordRetries(0), kgo.ProducerLinger(5*time.Millisecond))
	}, &countingAcks{ackLog: acks, during: &duringOutage, outage: &outage}, stop, 2*time.Millisecond)

	for acks.len() < 1000 {
		if ctx.Err() != nil {
			t.Fatal("no acknowledgements before the outage")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("stopping PostgreSQL %s into the test", time.Since(began))
	c.PG.Stop()
	outage.Store(true)
	start := time.Now()
	sawRipcord := false
	for time.Since(start) < 30*time.Second {
		for _, a := range c.Agents {
			if v, err := a.Metric("sluice_ripcord_active"); err == nil && v == 1 {
				sawRipcord = true
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	outage.Store(false)
	ackedInOutage := duringOutage.Load()
	c.PG.Start()
	if !sawRipcord {
		t.Error("no agent reported sluice_ripcord_active 1 during the outage")
	}
	if ackedInOutage < 100 {
		t.Errorf("only %d records acknowledged during the 30s outage", ackedInOutage)
	}
	// Produce goes on a little after the store is back, then stops.
	after := acks.len()
	for acks.len() < after+300 && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	close(stop)
	wait()
	acked := acks.len()
	t.Logf("acknowledged %d records, %d of them while PostgreSQL was stopped (%s into the test)", acked, ackedInOutage, time.Since(began))

	waitCommitted(t, ctx, c.Agents[0].Agent, topic, acked)
	t.Logf("all committed %s into the test", time.Since(began))
	// The consumer that ran through the outage sees every acknowledged record.
	got := map[string]bool{}
	for missing := acked; missing > 0; {
		select {
		case v := <-consumed:
			if !got[v] {
				got[v] = true
				acks.mu.Lock()
				if acks.acked[v] {
					missing--
				}
				acks.mu.Unlock()
			}
		case <-ctx.Done():
			t.Fatalf("the running consumer is still missing %d acknowledged records", missing)
		}
	}
	t.Logf("the running consumer caught up %s into the test", time.Since(began))
	acks.checkOnceInOrder(t, c.Agents[1].ConsumeAll(ctx, topic))
	t.Logf("checked %s into the test", time.Since(began))
}

// TestLightningBucketFaults: with one bucket request in twenty failing
// (503 SlowDown) while producers write to a lightning topic, while the
// writing agent is killed between acknowledgement and commit, and while
// another agent recovers its journal, producers get only retriable errors
// and every acknowledged record is read back exactly once, in order.
func TestLightningBucketFaults(t *testing.T) {
	t.Parallel()
	flags := []string{"--batch-timeout", "10ms", "--journal-lease-ttl", "3s", "--default-topic-type", "lightning", "--bucket-timeout", "5s"}
	c := StartCluster(t, clusterOpts{bucketFaults: true})
	crashing := c.AddAgentEnv("a", []string{"SLUICE_TEST_HOLD_JOURNAL_COMMITS=1"}, flags...)
	survivor := c.AddAgent("b", flags...)
	ctx := testContext(t, 3*time.Minute)
	const topic = "lightning-faults"
	survivor.CreateTopic(topic, 2)

	acks := newAckLog()
	var mu sync.Mutex
	fatal := map[string]int{}
	errs := &errCounting{ackLog: acks, onErr: func(err error) {
		// franz-go wraps the broker's code (no retries: "record failed
		// after being retried too many times"); client-side errors
		// (connections cut by the faults) carry none.
		var ke *kerr.Error
		if errors.As(err, &ke) && !ke.Retriable {
			mu.Lock()
			fatal[err.Error()]++
			mu.Unlock()
		}
	}}
	stop := make(chan struct{})
	c.S3Faults.Errors(0.05)
	wait := produceUntilErr(t, ctx, 2, "f", topic, func() *kgo.Client {
		return c.Client(kgo.ClientID("writer,sluice_az=a"), kgo.DisableIdempotentWrite(),
			kgo.RecordRetries(0), kgo.ProducerLinger(time.Millisecond))
	}, errs, stop)
	for acks.len() < 300 {
		if ctx.Err() != nil {
			t.Fatalf("only %d records acknowledged", acks.len())
		}
		time.Sleep(20 * time.Millisecond)
	}
	crashing.Kill()
	close(stop)
	wait()
	acked := acks.len()
	// The survivor starts recovering through the failing bucket (its
	// passes stop at the first entry they cannot settle and retry);
	// then the bucket heals and recovery completes.
	for !strings.Contains(metricsText(t, survivor.HTTPAddr), `sluice_journal_recovered_files_total{result="committed"}`) {
		if ctx.Err() != nil {
			t.Fatal("the surviving agent recovered nothing through the failing bucket")
		}
		time.Sleep(200 * time.Millisecond)
	}
	c.S3Faults.Heal()
	waitCommitted(t, ctx, survivor.Agent, topic, acked)
	got := survivor.ConsumeAll(ctx, topic)
	acks.checkOnceInOrder(t, got)
	mu.Lock()
	defer mu.Unlock()
	if len(fatal) > 0 {
		t.Fatalf("non-retriable produce errors while the bucket failed: %v", fatal)
	}
	t.Logf("%d acknowledged through a failing bucket; %s", acked,
		grepLines(metricsText(t, survivor.HTTPAddr), `sluice_journal_recovered_files_total`))
}

// errCounting is an ackLog that also sees every produce error.
type errCounting struct {
	*ackLog
	onErr func(error)
}

// produceUntilErr is produceUntil reporting errors to acks.onErr.
func produceUntilErr(t *testing.T, ctx context.Context, n int, prefix, topic string, cl func() *kgo.Client, acks *errCounting, stop <-chan struct{}) (wait func()) {
	var wg sync.WaitGroup
	for w := range n {
		c := cl()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-ctx.Done():
					return
				default:
				}
				v := fmt.Sprintf("%s%d-%07d", prefix, w, i)
				if err := c.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(v)}).FirstErr(); err != nil {
					if ctx.Err() == nil {
						acks.onErr(err)
					}
					continue
				}
				acks.add(v)
			}
		}()
	}
	return wg.Wait
}

// countingAcks is an ackLog that also counts acknowledgements received
// while outage is set.
type countingAcks struct {
	*ackLog
	during *atomic.Int64
	outage *atomic.Bool
}

func (c *countingAcks) add(v string) {
	c.ackLog.add(v)
	if c.outage.Load() {
		c.during.Add(1)
	}
}

// TestLightningTopicContract: what a client sees on a lightning topic of
// `sluice dev`: acknowledgements without offsets (franz-go reports -1),
// idempotent producers refused with INVALID_RECORD, the type fixed at
// creation (INVALID_CONFIG), and the records readable once sequenced.
func TestLightningTopicContract(t *testing.T) {
	t.Parallel()
	a := StartAgent(t, "")
	ctx := testContext(t, time.Minute)
	const topic = "lightning-contract"
	fast := "lightning"
	res, err := a.Admin().CreateTopic(ctx, 1, 1, map[string]*string{"sluice.topic.type": &fast}, topic)
	if err == nil {
		err = res.Err
	}
	if err != nil {
		t.Fatal(err)
	}

	plain := a.Client(kgo.DefaultProduceTopic(topic), kgo.DisableIdempotentWrite())
	rs := plain.ProduceSync(ctx, kgo.StringRecord("one"), kgo.StringRecord("two"))
	if err := rs.FirstErr(); err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if r.Record.Offset != -1 {
			t.Fatalf("lightning acknowledgement carried offset %d, want -1", r.Record.Offset)
		}
	}

	idem := a.Client(kgo.DefaultProduceTopic(topic), kgo.RecordRetries(0))
	if err := idem.ProduceSync(ctx, kgo.StringRecord("idempotent")).FirstErr(); !errors.Is(err, kerr.InvalidRecord) {
		t.Fatalf("idempotent producer on a lightning topic: %v, want INVALID_RECORD", err)
	}

	classic := "classic"
	alt, err := a.Admin().AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "sluice.topic.type", Value: &classic}}, topic)
	if err == nil {
		for _, r := range alt {
			err = r.Err
		}
	}
	if !errors.Is(err, kerr.InvalidConfig) {
		t.Fatalf("changing sluice.topic.type: %v, want INVALID_CONFIG", err)
	}

	waitCommitted(t, ctx, a, topic, 2)
	got := a.ConsumeAll(ctx, topic)
	if len(got[0]) != 2 || string(got[0][0].Value) != "one" || string(got[0][1].Value) != "two" || got[0][1].Offset != 1 {
		t.Fatalf("read back %v", got[0])
	}
}
