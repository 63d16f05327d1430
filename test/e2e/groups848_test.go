package e2e

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// KIP-848 consumer groups with franz-go: kgo.ServerSideBalancer() makes the
// client use ConsumerGroupHeartbeat; the balancer picks the server
// assignor (CooperativeStickyBalancer → "uniform", RangeBalancer →
// "range").

// owners848 tracks, from every consumer's OnPartitionsAssigned / Revoked /
// Lost callbacks, which consumer owns each partition. franz-go revokes
// before it tells the coordinator, and takes partitions only once the
// coordinator assigned them, so an assignment to a partition another live
// consumer still owns means the coordinator handed it out twice.
type owners848 struct {
	mu         sync.Mutex
	owner      map[int32]string
	violations []string
	lost       []string
}

func (o *owners848) assigned(who string, parts []int32) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, p := range parts {
		if prev, ok := o.owner[p]; ok && prev != who {
			o.violations = append(o.violations, fmt.Sprintf("partition %d assigned to %s while %s still owns it", p, who, prev))
		}
		o.owner[p] = who
	}
}

func (o *owners848) revoked(who string, parts []int32) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, p := range parts {
		if o.owner[p] == who {
			delete(o.owner, p)
		}
	}
}

func (o *owners848) lostParts(who string, parts []int32) {
	o.revoked(who, parts)
	if len(parts) > 0 {
		o.mu.Lock()
		o.lost = append(o.lost, fmt.Sprintf("%s lost %v", who, parts))
		o.mu.Unlock()
	}
}

func (o *owners848) check(t *testing.T) {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, v := range o.violations {
		t.Error(v)
	}
	// A healthy group never fences its members.
	for _, l := range o.lost {
		t.Errorf("partitions lost (member fenced): %s", l)
	}
	o.violations, o.lost = nil, nil // reported once
}

// seen848 counts consumed records by value.
type seen848 struct {
	mu    sync.Mutex
	count map[string]int
}

func (s *seen848) add(v string) {
	s.mu.Lock()
	s.count[v]++
	s.mu.Unlock()
}

// missing returns how many of want were not consumed yet.
func (s *seen848) missing(want []string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, v := range want {
		if s.count[v] == 0 {
			n++
		}
	}
	return n
}

type consumer848 struct {
	name   string
	cl     *kgo.Client
	cancel context.CancelFunc
	done   chan struct{}
}

func startConsumer848(t *testing.T, a *Agent, name, group, topic string, balancer kgo.GroupBalancer, own *owners848, seen *seen848) *consumer848 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(a.KafkaAddr), kgo.RetryTimeout(30*time.Second), kgo.ClientID(name),
		kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.ServerSideBalancer(), kgo.Balancers(balancer),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(300*time.Millisecond),
		kgo.AutoCommitInterval(300*time.Millisecond),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { own.assigned(name, m[topic]) }),
		kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, m map[string][]int32) {
			if err := cl.CommitUncommittedOffsets(ctx); err != nil {
				t.Logf("%s: commit on revoke: %v", name, err)
			}
			own.revoked(name, m[topic])
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { own.lostParts(name, m[topic]) }),
	)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &consumer848{name: name, cl: cl, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			fs.EachRecord(func(r *kgo.Record) { seen.add(string(r.Value)) })
		}
	}()
	t.Cleanup(c.stop)
	return c
}

// stop stops polling, commits what was consumed, and closes the client,
// which revokes its partitions and leaves the group.
func (c *consumer848) stop() {
	if c.cancel == nil {
		return
	}
	c.cancel()
	<-c.done
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c.cl.CommitUncommittedOffsets(ctx)
	c.cl.Close()
	c.cancel = nil
}

// produce848 writes n records valued prefix-00000… to topic, in small
// batches spread over about d, and returns their values.
func produce848(t *testing.T, ctx context.Context, a *Agent, topic, prefix string, n int, d time.Duration) []string {
	t.Helper()
	cl := a.Client(kgo.DisableIdempotentWrite(), kgo.ProducerLinger(2*time.Millisecond))
	const batch = 50
	var values []string
	for i := 0; i < n; i += batch {
		var recs []*kgo.Record
		for j := i; j < min(i+batch, n); j++ {
			v := fmt.Sprintf("%s-%05d", prefix, j)
			values = append(values, v)
			recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(fmt.Sprint(j % 13)), Value: []byte(v)})
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Errorf("produce: %v", err)
			return values
		}
		time.Sleep(d * batch / time.Duration(n))
	}
	return values
}

// waitConsumed waits until every value was consumed.
func waitConsumed(t *testing.T, ctx context.Context, seen *seen848, values []string) {
	t.Helper()
	for {
		m := seen.missing(values)
		if m == 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d of %d records never consumed", m, len(values))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// waitStable848 waits until ConsumerGroupDescribe shows the group Stable
// with the given number of members, and returns it.
func waitStable848(t *testing.T, ctx context.Context, adm *kadm.Client, group string, members int) kadm.DescribedConsumerGroup {
	t.Helper()
	var last kadm.DescribedConsumerGroup
	for {
		ds, err := adm.DescribeConsumerGroups(ctx, group)
		if err == nil {
			last = ds[group]
			if last.Err == nil && last.State == "Stable" && len(last.Members) == members {
				return last
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("group %s not stable with %d members: %+v (err %v)", group, members, last, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// checkDescribed848 checks a stable group: the assignor, every partition
// assigned to exactly one member, members at the group epoch.
func checkDescribed848(t *testing.T, d kadm.DescribedConsumerGroup, topic string, partitions int32, assignor string) {
	t.Helper()
	if d.AssignorName != assignor {
		t.Errorf("assignor %q, want %q", d.AssignorName, assignor)
	}
	if d.AssignmentEpoch != d.Epoch {
		t.Errorf("assignment epoch %d, group epoch %d", d.AssignmentEpoch, d.Epoch)
	}
	owner := map[int32]string{}
	for _, m := range d.Members {
		if m.MemberEpoch != d.Epoch || m.MemberType != 1 {
			t.Errorf("member %s at epoch %d (type %d), group at %d", m.MemberID, m.MemberEpoch, m.MemberType, d.Epoch)
		}
		if fmt.Sprint(m.SubscribedTopics) != fmt.Sprint([]string{topic}) {
			t.Errorf("member %s subscribes to %v", m.MemberID, m.SubscribedTopics)
		}
		for p := range m.Assignment[topic] {
			if o, dup := owner[p]; dup {
				t.Errorf("partition %d assigned to %s and %s", p, o, m.MemberID)
			}
			owner[p] = m.MemberID
		}
	}
	if len(owner) != int(partitions) {
		t.Errorf("%d of %d partitions assigned: %v", len(owner), partitions, owner)
	}
}

func TestGroups848UniformAssignor(t *testing.T) {
	t.Parallel()
	runGroups848(t, kgo.CooperativeStickyBalancer(), "uniform", true)
}

func TestGroups848RangeAssignor(t *testing.T) {
	t.Parallel()
	runGroups848(t, kgo.RangeBalancer(), "range", false)
}

// runGroups848 has consumers join and leave a KIP-848 group while a
// producer writes, then checks that every record was consumed, that no
// partition was ever owned by two consumers, that the group converged,
// and that new consumers resume from the committed offsets. With
// restartAgent, the agent restarts under a stable group, which must resume
// with the same members and epoch.
func runGroups848(t *testing.T, balancer kgo.GroupBalancer, assignor string, restartAgent bool) {
	a := StartAgent(t, "", "--batch-timeout", "10ms", "--group-consumer-heartbeat-interval", "200ms")
	ctx := testContext(t, 50*time.Second)
	topic, group := "t848-"+assignor, "g848-"+assignor
	const partitions = 6
	a.CreateTopic(topic, partitions)
	adm := a.Admin()
	own := &owners848{owner: map[int32]string{}}
	seen := &seen848{count: map[string]int{}}

	// Phase 1: members come and go while the producer writes.
	produced := make(chan []string, 1)
	go func() { produced <- produce848(t, ctx, a, topic, "v", 2000, 4*time.Second) }()
	start := func(name string) *consumer848 {
		return startConsumer848(t, a, name, group, topic, balancer, own, seen)
	}
	c1 := start("c1")
	time.Sleep(700 * time.Millisecond)
	c2, c3 := start("c2"), start("c3")
	time.Sleep(time.Second)
	c2.stop()
	c4 := start("c4")
	time.Sleep(time.Second)
	c1.stop()
	values := <-produced
	waitConsumed(t, ctx, seen, values)
	d := waitStable848(t, ctx, adm, group, 2)
	t.Logf("group %s stable at epoch %d with %d members", group, d.Epoch, len(d.Members))
	checkDescribed848(t, d, topic, partitions, assignor)
	own.check(t)

	// The group is listed as a consumer group, and only under that type.
	for _, types := range [][]string{{"consumer"}, {"CLASSIC", "Consumer"}, {"classic"}} {
		req := kmsg.NewPtrListGroupsRequest()
		req.TypesFilter = types
		resp, err := req.RequestWith(ctx, a.Client())
		if err != nil {
			t.Fatal(err)
		}
		found := ""
		for _, g := range resp.Groups {
			if g.Group == group {
				found = g.GroupType + "/" + g.ProtocolType + "/" + g.GroupState
			}
		}
		if want := "consumer/consumer/Stable"; (types[0] == "classic") != (found == "") || (found != "" && found != want) {
			t.Errorf("ListGroups types %v: group listed as %q", types, found)
		}
	}

	if restartAgent {
		// The coordinator restarts: the group resumes from the store with
		// the same members and epoch, and consumption goes on.
		checkAgentRaces(t, a)
		a.Restart()
		more := produce848(t, ctx, a, topic, "r", 200, 500*time.Millisecond)
		waitConsumed(t, ctx, seen, more)
		after := waitStable848(t, ctx, adm, group, 2)
		if after.Epoch != d.Epoch || fmt.Sprint(memberIDs(after)) != fmt.Sprint(memberIDs(d)) {
			t.Errorf("after agent restart: epoch %d members %v, before: epoch %d members %v", after.Epoch, memberIDs(after), d.Epoch, memberIDs(d))
		}
		own.check(t)
	}

	// Phase 2: all consumers stop; the committed offsets are the log ends.
	c3.stop()
	c4.stop()
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	ends.Each(func(e kadm.ListedOffset) {
		c, ok := committed.Lookup(topic, e.Partition)
		if !ok || c.At != e.Offset {
			t.Errorf("partition %d: committed %+v, end offset %d", e.Partition, c, e.Offset)
		}
	})
	if ds, err := adm.DescribeConsumerGroups(ctx, group); err != nil || ds[group].State != "Empty" {
		t.Errorf("group after every member left: %+v, %v", ds[group], err)
	}

	// Phase 3: new consumers resume from the committed offsets: they read
	// the new records only.
	before := map[string]int{}
	seen.mu.Lock()
	for v, n := range seen.count {
		before[v] = n
	}
	seen.mu.Unlock()
	c5, c6 := start("c5"), start("c6")
	fresh := produce848(t, ctx, a, topic, "w", 300, 500*time.Millisecond)
	waitConsumed(t, ctx, seen, fresh)
	waitStable848(t, ctx, adm, group, 2)
	seen.mu.Lock()
	for v, n := range seen.count {
		if !strings.HasPrefix(v, "w-") && n != before[v] {
			t.Errorf("record %s read again after the restart of all consumers", v)
		}
	}
	seen.mu.Unlock()
	c5.stop()
	c6.stop()
	own.check(t)
	a.Stop()
	checkAgentRaces(t, a)
}

// checkAgentRaces fails the test if the (race-enabled) agent reported a
// data race so far. Restart replaces the agent's log, so call it before.
func checkAgentRaces(t *testing.T, a *Agent) {
	t.Helper()
	if logs := a.logs.String(); strings.Contains(logs, "DATA RACE") {
		t.Errorf("the agent reported a data race:\n%s", logs)
	}
}

func memberIDs(d kadm.DescribedConsumerGroup) []string {
	var ids []string
	for _, m := range d.Members {
		ids = append(ids, m.MemberID)
	}
	sort.Strings(ids)
	return ids
}

// TestGroups848ClassicConflict checks that a group ID is either classic or
// consumer: a classic consumer cannot join a live consumer group, and a
// consumer group that emptied can be taken over by classic consumers.
func TestGroups848ClassicConflict(t *testing.T) {
	t.Parallel()
	a := StartAgent(t, "", "--batch-timeout", "10ms", "--group-consumer-heartbeat-interval", "200ms")
	ctx := testContext(t, 40*time.Second)
	const topic, group = "t848-mixed", "g848-mixed"
	a.CreateTopic(topic, 2)
	adm := a.Admin()
	own := &owners848{owner: map[int32]string{}}
	seen := &seen848{count: map[string]int{}}
	c := startConsumer848(t, a, "next", group, topic, kgo.CooperativeStickyBalancer(), own, seen)
	waitStable848(t, ctx, adm, group, 1)

	join := kmsg.NewPtrJoinGroupRequest()
	join.Group, join.MemberID, join.ProtocolType, join.SessionTimeoutMillis, join.RebalanceTimeoutMillis = group, "", "consumer", 10000, 10000
	proto := kmsg.NewJoinGroupRequestProtocol()
	proto.Name, proto.Metadata = "range", []byte{0, 0, 0, 0, 0, 0}
	join.Protocols = append(join.Protocols, proto)
	resp, err := join.RequestWith(ctx, a.Client())
	if err != nil {
		t.Fatal(err)
	}
	if resp.ErrorCode != 23 { // INCONSISTENT_GROUP_PROTOCOL
		t.Fatalf("classic JoinGroup to a live consumer group: error %d, want 23", resp.ErrorCode)
	}
	// DescribeGroups (classic) shows a consumer group as Dead, as Kafka 4.
	dg, err := adm.DescribeGroups(ctx, group)
	if err != nil || dg[group].State != "Dead" {
		t.Fatalf("DescribeGroups: %+v, %v", dg[group], err)
	}

	c.stop()
	classic := a.Client(kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	p := a.Client(kgo.DisableIdempotentWrite())
	if err := p.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("classic")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	for {
		fs := classic.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatal("classic consumer never consumed from the converted group")
		}
		got := false
		fs.EachRecord(func(r *kgo.Record) { got = got || string(r.Value) == "classic" })
		if got {
			break
		}
	}
	ds, err := adm.DescribeConsumerGroups(ctx, group)
	if err != nil || ds[group].Err == nil {
		t.Fatalf("ConsumerGroupDescribe of the now classic group: %+v, %v", ds[group], err)
	}
	own.check(t)
	checkAgentRaces(t, a)
}
