package e2e

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// sessionsOpen reads sluice_fetch_sessions from the agent.
func sessionsOpen(t *testing.T, a *Agent) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^sluice_fetch_sessions (\S+)$`).FindStringSubmatch(metricsText(t, a.HTTPAddr))
	if m == nil {
		t.Fatal("sluice_fetch_sessions not exported")
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// sessionLoad produces numbered values round-robin to a topic and reads
// them back through one consumer, checking offsets stay contiguous per
// partition and counting how often each value is read.
type sessionLoad struct {
	t                  *testing.T
	ctx                context.Context
	producer, consumer *kgo.Client
	seen               map[string]int
	last               map[int32]int64
}

func newSessionLoad(t *testing.T, ctx context.Context, topic string, client func(...kgo.Opt) *kgo.Client) *sessionLoad {
	return &sessionLoad{
		t: t, ctx: ctx,
		producer: client(kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner())),
		consumer: client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.FetchMaxWait(500*time.Millisecond)),
		seen: map[string]int{},
		last: map[int32]int64{},
	}
}

// produce sends the values v<from>..v<to-1>.
func (l *sessionLoad) produce(from, to int) {
	l.t.Helper()
	var recs []*kgo.Record
	for i := from; i < to; i++ {
		recs = append(recs, kgo.StringRecord(fmt.Sprintf("v%04d", i)))
	}
	if err := l.producer.ProduceSync(l.ctx, recs...).FirstErr(); err != nil {
		l.t.Fatal(err)
	}
}

// readUntil polls until n distinct values have been read.
func (l *sessionLoad) readUntil(n int) {
	l.t.Helper()
	for len(l.seen) < n {
		fs := l.consumer.PollFetches(l.ctx)
		if l.ctx.Err() != nil {
			l.t.Fatalf("read %d of %d records", len(l.seen), n)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if prev, ok := l.last[r.Partition]; ok && r.Offset != prev+1 {
				l.t.Errorf("partition %d: offset %d after %d", r.Partition, r.Offset, prev)
			}
			l.last[r.Partition] = r.Offset
			l.seen[string(r.Value)]++
		})
	}
}

// checkOnce fails for every value read more than once.
func (l *sessionLoad) checkOnce() {
	l.t.Helper()
	for v, n := range l.seen {
		if n != 1 {
			l.t.Errorf("%s read %d times", v, n)
		}
	}
}

// TestFetchSessionsAcrossRestart: a franz-go consumer of 24 partitions
// fetches through an incremental fetch session (KIP-227); the agent's
// restart loses the session, and the consumer starts a new one and reads
// every record exactly once, in order, as does kcat (librdkafka fetches
// without sessions).
func TestFetchSessionsAcrossRestart(t *testing.T) {
	t.Parallel()
	cliRequireKcat(t)
	a := StartAgent(t, "", "--batch-timeout", "5ms")
	const topic, partitions = "sessions", 24
	a.CreateTopic(topic, partitions)
	ctx := testContext(t, 3*time.Minute)
	l := newSessionLoad(t, ctx, topic, a.Client)
	l.produce(0, 240)
	l.readUntil(240)
	if n := sessionsOpen(t, a); n < 1 {
		t.Fatalf("%v fetch sessions open while franz-go consumes; want its session", n)
	}

	// The restart loses the session; franz-go fetches in the background,
	// so by the time the metric is read it may have opened a new one.
	a.Restart()
	l.produce(240, 480)
	l.readUntil(480)
	l.checkOnce()
	if n := sessionsOpen(t, a); n < 1 {
		t.Fatalf("the consumer did not open a new session after the restart (%v open)", n)
	}

	out, err := cliRun(ctx, nil, "kcat", "-b", a.KafkaAddr, "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%s\n")
	if err != nil {
		t.Fatal(err)
	}
	if got := len(regexp.MustCompile(`(?m)^v\d{4}$`).FindAll(out, -1)); got != 480 {
		t.Fatalf("kcat read %d records, want 480", got)
	}
}

// TestFetchSessionsAcrossAgents: a franz-go consumer of a two-agent
// cluster fetches through a session with each agent that leads some of
// its partitions; one of them stops, its partitions move to the other,
// and the consumer carries on there (a session is per connection, so it
// opens or extends one with the survivor) and reads every record exactly
// once, in order.
func TestFetchSessionsAcrossAgents(t *testing.T) {
	t.Parallel()
	c := StartCluster(t, clusterOpts{zones: []string{"", ""}, extra: []string{"--batch-timeout", "5ms"}})
	const topic, partitions = "sessions-cluster", 24
	c.Agents[0].CreateTopic(topic, partitions)
	ctx := testContext(t, 3*time.Minute)
	l := newSessionLoad(t, ctx, topic, c.Client)
	l.produce(0, 240)
	l.readUntil(240)
	// The agent to stop is one the consumer holds a session with.
	var victim, survivor *ClusterAgent
	for _, a := range c.Agents {
		if sessionsOpen(t, a.Agent) >= 1 {
			victim = a
		}
	}
	if victim == nil {
		t.Fatal("no agent holds a fetch session while franz-go consumes")
	}
	for _, a := range c.Agents {
		if a != victim {
			survivor = a
		}
	}
	victim.Stop()
	l.produce(240, 480)
	l.readUntil(480)
	l.checkOnce()
	if n := sessionsOpen(t, survivor.Agent); n < 1 {
		t.Fatalf("the consumer holds no session with the surviving agent (%v open)", n)
	}
}
