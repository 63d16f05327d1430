package e2e

// Consumer groups (the classic protocol) with franz-go group consumers:
// every balancer, static membership, commits and resumption, membership
// churn with a crashed member, a coordinator restart, and the protocol's
// error answers.
//
// The consumers under test (grpMember) poll with BlockRebalanceOnPoll and
// commit synchronously after processing each poll, before allowing a
// rebalance, so a partition changes hands only at a committed offset: the
// next owner must start exactly where the previous one stopped, and the
// tests assert exactly-once processing except where a member crashed
// before committing. A grpTracker records which member owned which
// partition when (from the OnPartitions callbacks) and which member
// processed which record when.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// grpPos is where a record is.
type grpPos struct {
	Partition int32
	Offset    int64
}

// grpSpan is one member's ownership of one partition, from its assigned
// callback to its revoked or lost callback (or crash); to is zero while
// the member still owns the partition.
type grpSpan struct {
	member    string
	partition int32
	from, to  time.Time
}

// grpProc is one processing of a record by a member.
type grpProc struct {
	member string
	pos    grpPos
	value  string
	at     time.Time
}

type grpKey struct {
	member    string
	partition int32
}

// grpTracker records production, ownership and processing for one topic.
type grpTracker struct {
	t     *testing.T
	topic string

	mu        sync.Mutex
	produced  map[string]grpPos
	open      map[grpKey]time.Time
	spans     []grpSpan
	procs     []grpProc
	count     map[string]int
	dead      map[string]time.Time // crashed members, by crash time
	mustDup   map[string]string    // value → member that processed it and crashed before committing
	mayDup    map[string]int       // how often a record was processed and the commit after it failed
	callbacks map[string]int       // member → OnPartitions callbacks seen
}

func newGrpTracker(t *testing.T, topic string) *grpTracker {
	return &grpTracker{t: t, topic: topic, produced: map[string]grpPos{}, open: map[grpKey]time.Time{},
		count: map[string]int{}, dead: map[string]time.Time{}, mustDup: map[string]string{},
		mayDup: map[string]int{}, callbacks: map[string]int{}}
}

func (tr *grpTracker) assigned(member string, ps []int32) {
	now := time.Now()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if _, dead := tr.dead[member]; dead {
		return
	}
	tr.callbacks[member]++
	for _, p := range ps {
		k := grpKey{member, p}
		if _, ok := tr.open[k]; ok {
			tr.t.Errorf("%s: partition %d assigned while already owned", member, p)
			continue
		}
		tr.open[k] = now
	}
}

func (tr *grpTracker) revoked(member string, ps []int32) {
	now := time.Now()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if _, dead := tr.dead[member]; dead {
		return
	}
	tr.callbacks[member]++
	tr.closeLocked(member, ps, now)
}

func (tr *grpTracker) closeLocked(member string, ps []int32, at time.Time) {
	for _, p := range ps {
		k := grpKey{member, p}
		from, ok := tr.open[k]
		if !ok {
			continue
		}
		delete(tr.open, k)
		tr.spans = append(tr.spans, grpSpan{member, p, from, at})
	}
}

// owners returns the live owners of each partition now.
func (tr *grpTracker) owners() map[int32][]string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	out := map[int32][]string{}
	for k := range tr.open {
		out[k.partition] = append(out[k.partition], k.member)
	}
	return out
}

// owned returns the partitions member owns now, sorted.
func (tr *grpTracker) owned(member string) []int32 {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var ps []int32
	for k := range tr.open {
		if k.member == member {
			ps = append(ps, k.partition)
		}
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	return ps
}

func (tr *grpTracker) callbackCount(member string) int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.callbacks[member]
}

func (tr *grpTracker) process(member string, recs []*kgo.Record, at time.Time) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for _, r := range recs {
		v := string(r.Value)
		tr.count[v]++
		tr.procs = append(tr.procs, grpProc{member, grpPos{r.Partition, r.Offset}, v, at})
	}
}

func (tr *grpTracker) commitFailed(recs []*kgo.Record) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for _, r := range recs {
		tr.mayDup[string(r.Value)]++
	}
}

// crashed records that member died after processing recs, before
// committing them: its ownership ends now and nothing it does later counts.
func (tr *grpTracker) crashed(member string, recs []*kgo.Record) {
	now := time.Now()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var ps []int32
	for k := range tr.open {
		if k.member == member {
			ps = append(ps, k.partition)
		}
	}
	tr.closeLocked(member, ps, now)
	tr.dead[member] = now
	for _, r := range recs {
		tr.mustDup[string(r.Value)] = member
	}
}

// processedCount returns how many produced records were processed at
// least once, and how many were produced.
func (tr *grpTracker) processedCount() (done, produced int) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for v := range tr.produced {
		if tr.count[v] > 0 {
			done++
		}
	}
	return done, len(tr.produced)
}

func (tr *grpTracker) processedBy(member string) int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	n := 0
	for _, p := range tr.procs {
		if p.member == member {
			n++
		}
	}
	return n
}

// grpProducer returns a producer that writes each record to the partition
// it names, so the tests' records cover every partition.
func grpProducer(a *Agent) *kgo.Client {
	return a.Client(kgo.DisableIdempotentWrite(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
}

// produce writes n records synchronously, spread over partitions, with
// values prefix-NNNNNN from first on.
func (tr *grpTracker) produce(ctx context.Context, cl *kgo.Client, prefix string, first, n int, partitions int32) {
	tr.t.Helper()
	rs := make([]*kgo.Record, n)
	for i := range rs {
		rs[i] = &kgo.Record{Topic: tr.topic, Partition: int32(first+i) % partitions, Value: []byte(fmt.Sprintf("%s-%06d", prefix, first+i))}
	}
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		tr.t.Errorf("produce: %v", err)
		return
	}
	tr.mu.Lock()
	for _, r := range rs {
		tr.produced[string(r.Value)] = grpPos{r.Partition, r.Offset}
	}
	tr.mu.Unlock()
}

// check asserts what every group test promises:
//   - every produced record was processed, at its produced position, exactly
//     once, except records a member processed and crashed before committing:
//     those exactly twice, the second time by a live member after the crash;
//     records whose commit failed may be processed twice;
//   - nothing else was processed;
//   - every processing happened while the member owned the partition;
//   - no two members owned a partition at the same time.
func (tr *grpTracker) check() {
	t := tr.t
	t.Helper()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	errs := &grpErrs{t: t, what: "group consumption of " + tr.topic}
	byValue := map[string][]grpProc{}
	for _, p := range tr.procs {
		byValue[p.value] = append(byValue[p.value], p)
	}
	for v, pos := range tr.produced {
		ps := byValue[v]
		want := 1
		if _, ok := tr.mustDup[v]; ok {
			want = 2
		}
		switch {
		case len(ps) == want:
		case len(ps) > want && len(ps) <= want+tr.mayDup[v]:
			// Each failed commit allows one more delivery of the
			// records it covered (at-least-once): an agent restart
			// can fail the commits of the same poll twice.
		default:
			errs.add("record %q (%d/%d) processed %d times, want %d: %v", v, pos.Partition, pos.Offset, len(ps), want, ps)
		}
		for _, p := range ps {
			if p.pos != pos {
				errs.add("record %q produced at %v, processed at %v", v, pos, p.pos)
			}
		}
		if crashed, ok := tr.mustDup[v]; ok && len(ps) == 2 {
			if ps[0].member != crashed || ps[1].member == crashed || !ps[1].at.After(tr.dead[crashed]) {
				errs.add("record %q: processed by %s then %s at %v; want the crashed %s, then another member after its crash at %v",
					v, ps[0].member, ps[1].member, ps[1].at, crashed, tr.dead[crashed])
			}
		}
	}
	for v := range byValue {
		if _, ok := tr.produced[v]; !ok {
			errs.add("processed %q, which was never produced", v)
		}
	}
	spans := append([]grpSpan(nil), tr.spans...)
	for k, from := range tr.open {
		spans = append(spans, grpSpan{k.member, k.partition, from, time.Time{}})
	}
	within := func(p grpProc) bool {
		for _, s := range spans {
			if s.member == p.member && s.partition == p.pos.Partition && !p.at.Before(s.from) && (s.to.IsZero() || !p.at.After(s.to)) {
				return true
			}
		}
		return false
	}
	for _, p := range tr.procs {
		if !within(p) {
			errs.add("%s processed %d/%d at %v without owning the partition", p.member, p.pos.Partition, p.pos.Offset, p.at.Format("15:04:05.000"))
		}
	}
	byPart := map[int32][]grpSpan{}
	for _, s := range spans {
		byPart[s.partition] = append(byPart[s.partition], s)
	}
	for p, ss := range byPart {
		sort.Slice(ss, func(i, j int) bool { return ss[i].from.Before(ss[j].from) })
		for i := 1; i < len(ss); i++ {
			prev := ss[i-1]
			if prev.to.IsZero() || prev.to.After(ss[i].from) {
				errs.add("partition %d owned by %s from %v to %v and by %s from %v", p, prev.member,
					prev.from.Format("15:04:05.000"), prev.to.Format("15:04:05.000"), ss[i].member, ss[i].from.Format("15:04:05.000"))
			}
		}
	}
	errs.done()
}

// grpErrs reports the first few of many similar problems and counts the rest.
type grpErrs struct {
	t    *testing.T
	what string
	n    int
}

func (e *grpErrs) add(format string, args ...any) {
	e.t.Helper()
	e.n++
	if e.n <= 10 {
		e.t.Errorf(e.what+": "+format, args...)
	}
}

func (e *grpErrs) done() {
	e.t.Helper()
	if e.n > 10 {
		e.t.Errorf("%s: %d problems in all", e.what, e.n)
	}
}

// grpNet is a member's network: cut closes every connection the client
// has and refuses new ones, which is what the broker sees when a consumer
// process dies.
type grpNet struct {
	mu    sync.Mutex
	conns []net.Conn
	cut   bool
}

func (n *grpNet) dial(ctx context.Context, network, host string) (net.Conn, error) {
	n.mu.Lock()
	cut := n.cut
	n.mu.Unlock()
	if cut {
		return nil, errors.New("simulated crash: network cut")
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, network, host)
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cut {
		c.Close()
		return nil, errors.New("simulated crash: network cut")
	}
	n.conns = append(n.conns, c)
	return c, nil
}

func (n *grpNet) sever() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cut = true
	for _, c := range n.conns {
		c.Close()
	}
	n.conns = nil
}

// grpMember is a franz-go group consumer that processes each poll,
// commits it synchronously, then allows rebalancing.
type grpMember struct {
	name string
	cl   *kgo.Client
	tr   *grpTracker
	net  *grpNet
	pace grpPace

	stop, crash atomic.Bool
	done        chan struct{}
	closeOnce   sync.Once
}

// grpConsumerOpts are the options every tracked member uses: short
// heartbeats so rebalances are quick, the shortest session timeout the
// coordinator allows, manual commits.
func grpConsumerOpts(a *Agent, name, group, topic string) []kgo.Opt {
	return []kgo.Opt{
		kgo.SeedBrokers(a.KafkaAddr), kgo.ClientID(name),
		kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.SessionTimeout(6 * time.Second), kgo.HeartbeatInterval(300 * time.Millisecond),
		kgo.RebalanceTimeout(20 * time.Second), kgo.RetryTimeout(30 * time.Second),
		kgo.FetchMaxWait(200 * time.Millisecond),
	}
}

// grpPace slows a member down: at most max records per poll (0: no
// limit), and delay of "processing" before each commit.
type grpPace struct {
	max   int
	delay time.Duration
}

func grpStart(t *testing.T, a *Agent, tr *grpTracker, name, group string, opts ...kgo.Opt) *grpMember {
	t.Helper()
	return grpStartPaced(t, a, tr, name, group, grpPace{}, opts...)
}

func grpStartPaced(t *testing.T, a *Agent, tr *grpTracker, name, group string, pace grpPace, opts ...kgo.Opt) *grpMember {
	t.Helper()
	m := &grpMember{name: name, tr: tr, net: &grpNet{}, pace: pace, done: make(chan struct{})}
	base := append(grpConsumerOpts(a, name, group, tr.topic),
		kgo.Dialer(m.net.dial), kgo.DisableAutoCommit(), kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, ps map[string][]int32) {
			tr.assigned(name, ps[tr.topic])
		}),
		kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, ps map[string][]int32) {
			// The poll loop commits before allowing a rebalance; this
			// retries a commit that failed there.
			if !m.crash.Load() {
				if err := cl.CommitUncommittedOffsets(ctx); err != nil {
					t.Logf("%s: commit on revoke: %v", name, err)
				}
			}
			tr.revoked(name, ps[tr.topic])
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, ps map[string][]int32) {
			if !m.crash.Load() {
				t.Logf("%s: lost partitions %v", name, ps)
			}
			tr.revoked(name, ps[tr.topic])
		}),
	)
	// SLUICE_E2E_KGO_LOG=info or debug logs what the members do.
	if lv := os.Getenv("SLUICE_E2E_KGO_LOG"); lv != "" {
		level := kgo.LogLevelInfo
		if lv == "debug" {
			level = kgo.LogLevelDebug
		}
		base = append(base, kgo.WithLogger(kgo.BasicLogger(os.Stderr, level, func() string {
			return time.Now().Format("15:04:05.000 ") + name + " "
		})))
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	m.cl = cl
	t.Cleanup(m.close)
	go m.run()
	return m
}

func (m *grpMember) run() {
	defer close(m.done)
	for !m.stop.Load() {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		var fs kgo.Fetches
		if m.pace.max > 0 {
			fs = m.cl.PollRecords(ctx, m.pace.max)
		} else {
			fs = m.cl.PollFetches(ctx)
		}
		cancel()
		if fs.IsClientClosed() {
			return
		}
		fs.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				m.tr.t.Logf("%s: fetch %s[%d]: %v", m.name, topic, p, err)
			}
		})
		recs := fs.Records()
		m.tr.process(m.name, recs, time.Now())
		if m.crash.Load() && len(recs) > 0 {
			// Die after processing, before committing: the broker sees
			// the connections drop and nothing more, ever.
			m.tr.crashed(m.name, recs)
			m.net.sever()
			return
		}
		if len(recs) > 0 {
			time.Sleep(m.pace.delay)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			if err := m.cl.CommitUncommittedOffsets(ctx); err != nil {
				m.tr.t.Logf("%s: commit after processing %d records: %v", m.name, len(recs), err)
				m.tr.commitFailed(recs)
			}
			cancel()
		}
		m.cl.AllowRebalance()
	}
}

// leave stops polling after a committed poll and closes the client, which
// revokes its partitions and leaves the group (static members do not
// leave: they are expected back).
func (m *grpMember) leave() {
	m.tr.t.Helper()
	m.stop.Store(true)
	select {
	case <-m.done:
	case <-time.After(20 * time.Second):
		m.tr.t.Fatalf("%s: poll loop did not stop", m.name)
	}
	m.close()
}

// crashNow makes the member die after processing its next non-empty poll,
// without committing it, and waits for that.
func (m *grpMember) crashNow() {
	m.tr.t.Helper()
	m.crash.Store(true)
	select {
	case <-m.done:
	case <-time.After(20 * time.Second):
		m.tr.t.Fatalf("%s: did not crash (no records to process?)", m.name)
	}
}

func (m *grpMember) close() {
	m.closeOnce.Do(func() {
		m.stop.Store(true)
		done := make(chan struct{})
		go func() {
			defer close(done)
			if m.crash.Load() {
				// A crashed member never leaves: forget the group
				// without a word to the broker.
				dead, cancel := context.WithCancel(context.Background())
				cancel()
				m.cl.AllowRebalance()
				m.cl.LeaveGroupContext(dead)
			}
			m.cl.CloseAllowingRebalance()
		}()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			m.tr.t.Errorf("%s: client did not close in 30s", m.name)
		}
	})
}

// grpWait polls cond until it holds or d passes.
func grpWait(t *testing.T, d time.Duration, what func() string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", d, what())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitProcessed waits until every produced record was processed.
func (tr *grpTracker) waitProcessed(d time.Duration) {
	tr.t.Helper()
	grpWait(tr.t, d, func() string {
		done, all := tr.processedCount()
		return fmt.Sprintf("all records processed: %d of %d; owners %v", done, all, tr.owners())
	}, func() bool {
		done, all := tr.processedCount()
		return done == all
	})
}

// waitOwners waits until each of the n partitions has exactly one owner,
// every one of members owns at least one, and no one else owns any.
func (tr *grpTracker) waitOwners(d time.Duration, partitions int32, members ...*grpMember) {
	tr.t.Helper()
	want := map[string]bool{}
	for _, m := range members {
		want[m.name] = true
	}
	grpWait(tr.t, d, func() string {
		return fmt.Sprintf("partitions 0..%d owned once each by all of %v; owners %v", partitions-1, grpNames(members), tr.owners())
	}, func() bool {
		own := tr.owners()
		seen := map[string]bool{}
		for p := int32(0); p < partitions; p++ {
			if len(own[p]) != 1 || !want[own[p][0]] {
				return false
			}
			seen[own[p][0]] = true
		}
		return len(own) == int(partitions) && len(seen) == len(want)
	})
}

func grpNames(ms []*grpMember) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.name)
	}
	return out
}

// grpCheckCommitted asserts that the group's committed offsets equal the
// topic's end offsets on every partition, waiting up to 10s for commits
// still in flight (members record a record as processed before they
// commit it).
func grpCheckCommitted(t *testing.T, ctx context.Context, adm *kadm.Client, group, topic string) {
	t.Helper()
	var diffs []string
	deadline := time.Now().Add(10 * time.Second)
	for {
		committed, ends := grpOffsets(t, ctx, adm, group, topic)
		diffs = diffs[:0]
		for p, end := range ends {
			if c, ok := committed[p]; end > 0 && (!ok || c != end) {
				diffs = append(diffs, fmt.Sprintf("partition %d committed %d (found %v), end offset %d", p, c, ok, end))
			}
		}
		if len(diffs) == 0 {
			return
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	sort.Strings(diffs)
	t.Errorf("group %s: %s", group, strings.Join(diffs, "; "))
}

// grpOffsets returns the group's committed offsets and the end offsets of
// topic, by partition.
func grpOffsets(t *testing.T, ctx context.Context, adm *kadm.Client, group, topic string) (committed, ends map[int32]int64) {
	t.Helper()
	fetched, err := adm.FetchOffsets(ctx, group)
	if err == nil {
		err = fetched.Error()
	}
	if err != nil {
		t.Fatalf("fetch offsets of %s: %v", group, err)
	}
	listed, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = listed.Error()
	}
	if err != nil {
		t.Fatalf("list end offsets of %s: %v", topic, err)
	}
	committed, ends = map[int32]int64{}, map[int32]int64{}
	fetched.Each(func(o kadm.OffsetResponse) {
		if o.Topic == topic {
			committed[o.Partition] = o.At
		}
	})
	listed.Each(func(o kadm.ListedOffset) { ends[o.Partition] = o.Offset })
	return committed, ends
}

// grpDescribe describes one group and decodes its members' assignments of
// topic: member ID (or instance ID when static) → partitions.
func grpDescribe(t *testing.T, ctx context.Context, adm *kadm.Client, group, topic string) (kadm.DescribedGroup, map[string][]int32) {
	t.Helper()
	described, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		t.Fatalf("describe %s: %v", group, err)
	}
	g := described[group]
	if g.Err != nil {
		t.Fatalf("describe %s: %v", group, g.Err)
	}
	out := map[string][]int32{}
	for _, m := range g.Members {
		id := m.MemberID
		if m.InstanceID != nil {
			id = *m.InstanceID
		}
		out[id] = []int32{}
		if c, ok := m.Assigned.AsConsumer(); ok {
			for _, at := range c.Topics {
				if at.Topic == topic {
					ps := append([]int32(nil), at.Partitions...)
					sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
					out[id] = ps
				}
			}
		}
	}
	return g, out
}

// grpCheckBalanced asserts that the assignment covers partitions 0..n-1
// once each, every member getting n/len or n/len+1 of them.
func grpCheckBalanced(t *testing.T, assigned map[string][]int32, n int32) {
	t.Helper()
	seen := map[int32]string{}
	for m, ps := range assigned {
		if k := int32(len(ps)); k < n/int32(len(assigned)) || k > (n+int32(len(assigned))-1)/int32(len(assigned)) {
			t.Errorf("member %s assigned %v: unbalanced (%d partitions over %d members)", m, ps, n, len(assigned))
		}
		for _, p := range ps {
			if prev, dup := seen[p]; dup {
				t.Errorf("partition %d assigned to %s and %s", p, prev, m)
			}
			seen[p] = m
		}
	}
	if int32(len(seen)) != n {
		t.Errorf("assignment %v covers %d of %d partitions", assigned, len(seen), n)
	}
}

// TestGroupBalancers runs three members of a group with each franz-go
// balancer: the assignment is balanced and disjoint; every record is
// processed exactly once while a member leaves; after every member closed,
// new members resume at the committed offsets, with nothing redelivered.
func TestGroupBalancers(t *testing.T) {
	t.Parallel()
	a := StartAgent(t, "", "--batch-timeout", "5ms")
	adm := a.Admin()
	prod := grpProducer(a)
	const parts = 6
	for _, bal := range []struct {
		name string
		b    kgo.GroupBalancer
	}{
		{"range", kgo.RangeBalancer()},
		{"sticky", kgo.StickyBalancer()},
		{"cooperative-sticky", kgo.CooperativeStickyBalancer()},
	} {
		t.Run(bal.name, func(t *testing.T) {
			ctx := testContext(t, 60*time.Second)
			topic, group := "bal-"+bal.name, "g-bal-"+bal.name
			a.CreateTopic(topic, parts)
			tr := newGrpTracker(t, topic)
			tr.produce(ctx, prod, "a", 0, 120, parts)
			opt := kgo.Balancers(bal.b)
			m1 := grpStart(t, a, tr, "m1", group, opt)
			m2 := grpStart(t, a, tr, "m2", group, opt)
			m3 := grpStart(t, a, tr, "m3", group, opt)
			tr.waitOwners(20*time.Second, parts, m1, m2, m3)
			tr.waitProcessed(20 * time.Second)
			g, assigned := grpDescribe(t, ctx, adm, group, topic)
			if g.State != "Stable" || g.Protocol != bal.name || g.ProtocolType != "consumer" || len(assigned) != 3 {
				t.Fatalf("group %s: state %s protocol %s/%s, members %v", group, g.State, g.ProtocolType, g.Protocol, assigned)
			}
			grpCheckBalanced(t, assigned, parts)
			grpCheckCommitted(t, ctx, adm, group, topic)

			m2.leave()
			tr.produce(ctx, prod, "b", 0, 120, parts)
			tr.waitOwners(20*time.Second, parts, m1, m3)
			tr.waitProcessed(20 * time.Second)
			_, assigned = grpDescribe(t, ctx, adm, group, topic)
			if len(assigned) != 2 {
				t.Fatalf("after m2 left: members %v", assigned)
			}
			grpCheckBalanced(t, assigned, parts)

			m1.leave()
			m3.leave()
			grpCheckCommitted(t, ctx, adm, group, topic)
			if g, _ := grpDescribe(t, ctx, adm, group, topic); g.State != "Empty" || len(g.Members) != 0 {
				t.Fatalf("after everyone left: state %s, %d members", g.State, len(g.Members))
			}

			// New members resume at the committed offsets.
			tr.produce(ctx, prod, "c", 0, 60, parts)
			m4 := grpStart(t, a, tr, "m4", group, opt)
			m5 := grpStart(t, a, tr, "m5", group, opt)
			tr.waitOwners(20*time.Second, parts, m4, m5)
			tr.waitProcessed(20 * time.Second)
			m4.leave()
			m5.leave()
			if n := tr.processedBy("m4") + tr.processedBy("m5"); n != 60 {
				t.Errorf("resumed members processed %d records, want the 60 new ones", n)
			}
			grpCheckCommitted(t, ctx, adm, group, topic)
			tr.check()
		})
	}
}

// TestGroupAutoCommit: franz-go's autocommit commits while consuming and
// on close; a new member of the group gets only what came after.
func TestGroupAutoCommit(t *testing.T) {
	t.Parallel()
	a := StartAgent(t, "", "--batch-timeout", "5ms")
	ctx := testContext(t, 60*time.Second)
	adm := a.Admin()
	prod := grpProducer(a)
	const topic, group, parts = "autocommit", "g-autocommit", 3
	a.CreateTopic(topic, parts)
	tr := newGrpTracker(t, topic)
	tr.produce(ctx, prod, "a", 0, 90, parts)

	consume := func(name string, want int) {
		t.Helper()
		cl, err := kgo.NewClient(append(grpConsumerOpts(a, name, group, topic), kgo.AutoCommitInterval(200*time.Millisecond))...)
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		got := 0
		for got < want {
			fs := cl.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("%s: consumed %d of %d: %v", name, got, want, ctx.Err())
			}
			recs := fs.Records()
			tr.process(name, recs, time.Now())
			got += len(recs)
		}
		// The periodic autocommit reaches the end offsets while the
		// member is still in the group (and polling: franz-go commits
		// what earlier polls returned).
		grpWait(t, 10*time.Second, func() string { return "autocommit to reach the end offsets" }, func() bool {
			pctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			recs := cl.PollFetches(pctx).Records()
			cancel()
			tr.process(name, recs, time.Now())
			committed, ends := grpOffsets(t, ctx, adm, group, topic)
			for p, e := range ends {
				if committed[p] != e {
					return false
				}
			}
			return true
		})
		// Every record read so far was polled, so close commits nothing new.
		cl.Close()
		grpCheckCommitted(t, ctx, adm, group, topic)
	}
	// Ownership is not tracked here; count processings instead.
	consume("auto1", 90)
	tr.produce(ctx, prod, "b", 0, 30, parts)
	consume("auto2", 30)
	if n := tr.processedBy("auto2"); n != 30 {
		t.Fatalf("second member processed %d records, want the 30 new ones", n)
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for v := range tr.produced {
		if tr.count[v] != 1 {
			t.Errorf("record %q processed %d times", v, tr.count[v])
		}
	}
}

// TestGroupStaticMembership: static members (group.instance.id) that
// restart get their partitions back without a rebalance: the other members
// see no callback and keep their generation, and the restarted member
// resumes at its committed offsets.
func TestGroupStaticMembership(t *testing.T) {
	t.Parallel()
	a := StartAgent(t, "", "--batch-timeout", "5ms")
	adm := a.Admin()
	prod := grpProducer(a)
	const parts = 6
	for _, bal := range []struct {
		name string
		b    kgo.GroupBalancer
	}{
		{"range", kgo.RangeBalancer()},
		{"cooperative-sticky", kgo.CooperativeStickyBalancer()},
	} {
		t.Run(bal.name, func(t *testing.T) {
			ctx := testContext(t, 60*time.Second)
			topic, group := "static-"+bal.name, "g-static-"+bal.name
			a.CreateTopic(topic, parts)
			tr := newGrpTracker(t, topic)
			tr.produce(ctx, prod, "a", 0, 60, parts)
			static := func(id string) *grpMember {
				return grpStart(t, a, tr, id, group, kgo.Balancers(bal.b), kgo.InstanceID(id))
			}
			// One at a time, so s2 rejoins (when s3 joins) and the
			// coordinator holds JoinGroup metadata of s2 that names a
			// generation and owned partitions, which its restarted
			// incarnation's metadata will not: that difference alone must
			// not cause a rebalance.
			s1 := static("s1")
			tr.waitOwners(20*time.Second, parts, s1)
			s2 := static("s2")
			tr.waitOwners(20*time.Second, parts, s1, s2)
			s3 := static("s3")
			tr.waitOwners(20*time.Second, parts, s1, s2, s3)
			tr.waitProcessed(20 * time.Second)
			_, before := grpDescribe(t, ctx, adm, group, topic)
			grpCheckBalanced(t, before, parts)
			id1, gen1 := s1.cl.GroupMetadata()
			id3, gen3 := s3.cl.GroupMetadata()
			_, gen2 := s2.cl.GroupMetadata()
			cb1, cb3 := tr.callbackCount("s1"), tr.callbackCount("s3")
			owned2 := tr.owned("s2")

			// s2 stops: a static member does not leave; it stays in the
			// group with its partitions until its session times out.
			s2.leave()
			g, during := grpDescribe(t, ctx, adm, group, topic)
			if g.State != "Stable" || fmt.Sprint(during) != fmt.Sprint(before) {
				t.Fatalf("with s2 stopped: state %s, assignment %v, want Stable and %v", g.State, during, before)
			}
			tr.produce(ctx, prod, "b", 0, 60, parts)
			s2b := static("s2")
			grpWait(t, 10*time.Second, func() string { return "restarted s2 to get its partitions " + fmt.Sprint(owned2) }, func() bool {
				return fmt.Sprint(tr.owned("s2")) == fmt.Sprint(owned2)
			})
			tr.waitProcessed(20 * time.Second)
			// Give a rebalance, if one was wrongly started, time to show.
			time.Sleep(time.Second)
			if id, gen := s1.cl.GroupMetadata(); id != id1 || gen != gen1 {
				t.Errorf("s1: member %s generation %d, was %s %d", id, gen, id1, gen1)
			}
			if id, gen := s3.cl.GroupMetadata(); id != id3 || gen != gen3 {
				t.Errorf("s3: member %s generation %d, was %s %d", id, gen, id3, gen3)
			}
			if _, gen := s2b.cl.GroupMetadata(); gen != gen2 {
				t.Errorf("restarted s2 is in generation %d, want %d", gen, gen2)
			}
			if n1, n3 := tr.callbackCount("s1"), tr.callbackCount("s3"); n1 != cb1 || n3 != cb3 {
				t.Errorf("s1 and s3 saw %d and %d more partition callbacks: a rebalance happened", n1-cb1, n3-cb3)
			}
			_, after := grpDescribe(t, ctx, adm, group, topic)
			if fmt.Sprint(after) != fmt.Sprint(before) {
				t.Errorf("assignment after the restart %v, before %v", after, before)
			}
			s1.leave()
			s2b.leave()
			s3.leave()
			grpCheckCommitted(t, ctx, adm, group, topic)
			tr.check()
		})
	}
}

// TestGroupChurn: a producer writes all along while members join, leave
// gracefully and crash. A crashed member is one whose process died: it
// processed a poll and died before committing it, so its connections drop
// and it never sends another request (grpNet.sever); the coordinator
// notices when its 6s session times out. Every record must be processed,
// exactly once except the crashed member's uncommitted poll, which must be
// processed again by the partition's next owner; no partition may have two
// owners at once.
func TestGroupChurn(t *testing.T) {
	t.Parallel()
	a := StartAgent(t, "", "--batch-timeout", "5ms")
	ctx := testContext(t, 90*time.Second)
	adm := a.Admin()
	const topic, group, parts = "churn", "g-churn", 6
	a.CreateTopic(topic, parts)
	tr := newGrpTracker(t, topic)

	prod := grpProducer(a)
	var stopProducing atomic.Bool
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		for i := 0; !stopProducing.Load() && ctx.Err() == nil; i += parts {
			tr.produce(ctx, prod, "churn", i, parts, parts)
			time.Sleep(20 * time.Millisecond)
		}
	}()
	progress := func(m *grpMember, n int) {
		t.Helper()
		start := tr.processedBy(m.name)
		grpWait(t, 20*time.Second, func() string {
			done, all := tr.processedCount()
			return fmt.Sprintf("%s to process %d records (it processed %d; %d of %d processed; owners %v)",
				m.name, n, tr.processedBy(m.name)-start, done, all, tr.owners())
		}, func() bool { return tr.processedBy(m.name) >= start+n })
		t.Logf("%s: %s processing", time.Now().Format("15:04:05.000"), m.name)
	}

	opt := kgo.Balancers(kgo.CooperativeStickyBalancer())
	m1 := grpStart(t, a, tr, "m1", group, opt)
	m2 := grpStart(t, a, tr, "m2", group, opt)
	tr.waitOwners(20*time.Second, parts, m1, m2)
	progress(m2, 20)
	m3 := grpStart(t, a, tr, "m3", group, opt)
	tr.waitOwners(20*time.Second, parts, m1, m2, m3)
	progress(m3, 20)
	m4 := grpStart(t, a, tr, "m4", group, opt)
	tr.waitOwners(20*time.Second, parts, m1, m2, m3, m4)
	progress(m4, 20)
	m2.leave()
	tr.waitOwners(20*time.Second, parts, m1, m3, m4)
	progress(m3, 20)
	m3.crashNow()
	// A member joins while the coordinator still counts the dead one in:
	// the rebalance completes when the dead member's session expires.
	m5 := grpStart(t, a, tr, "m5", group, opt)
	tr.waitOwners(30*time.Second, parts, m1, m4, m5)
	progress(m5, 20)

	stopProducing.Store(true)
	<-produced
	tr.waitProcessed(30 * time.Second)
	g, assigned := grpDescribe(t, ctx, adm, group, topic)
	if g.State != "Stable" || len(assigned) != 3 {
		t.Errorf("group state %s with members %v, want Stable with m1, m4, m5", g.State, assigned)
	}
	m1.leave()
	m4.leave()
	m5.leave()
	grpCheckCommitted(t, ctx, adm, group, topic)
	tr.mu.Lock()
	redo := len(tr.mustDup)
	tr.mu.Unlock()
	done, all := tr.processedCount()
	t.Logf("%d records produced and processed (%d), %d redelivered after the crash", all, done, redo)
	if redo == 0 {
		t.Errorf("the crashed member processed nothing before dying")
	}
	tr.check()
}

// TestGroupCoordinatorRestart restarts the agent, gracefully and then
// with SIGKILL, while a group works through a backlog: the members carry
// on (they keep their member IDs; the group was persisted), every record
// is processed, committed offsets never go back, and only records whose
// commit failed during an outage may be processed twice.
func TestGroupCoordinatorRestart(t *testing.T) {
	t.Parallel()
	a := StartAgent(t, "", "--batch-timeout", "5ms")
	ctx := testContext(t, 120*time.Second)
	const topic, group, parts = "restart-group", "g-restart", 4
	a.CreateTopic(topic, parts)
	tr := newGrpTracker(t, topic)
	prod := grpProducer(a)
	adm := a.Admin()
	// ~10 records per poll and 30ms of work each: the 1200 records take
	// the two members about two seconds.
	tr.produce(ctx, prod, "a", 0, 1200, parts)
	pace := grpPace{max: 10, delay: 30 * time.Millisecond}
	opt := kgo.SessionTimeout(20 * time.Second)
	m1 := grpStartPaced(t, a, tr, "m1", group, pace, opt)
	m2 := grpStartPaced(t, a, tr, "m2", group, pace, opt)
	tr.waitOwners(20*time.Second, parts, m1, m2)
	id1, _ := m1.cl.GroupMetadata()
	id2, _ := m2.cl.GroupMetadata()

	for i, restart := range []struct {
		name    string
		at      int
		restart func()
	}{
		{"graceful restart", 300, a.Restart},
		{"kill -9 and start", 800, func() { a.Kill(); a.Restart() }},
	} {
		grpWait(t, 30*time.Second, func() string { return fmt.Sprintf("%d records processed", restart.at) }, func() bool {
			done, _ := tr.processedCount()
			return done >= restart.at
		})
		committed, _ := grpOffsets(t, ctx, adm, group, topic)
		restart.restart()
		done, _ := tr.processedCount()
		t.Logf("%s with %d of 1200 records processed", restart.name, done)
		after, _ := grpOffsets(t, ctx, adm, group, topic)
		for p, o := range committed {
			if after[p] < o {
				t.Errorf("%s: partition %d committed %d before, %d after", restart.name, p, o, after[p])
			}
		}
		if done >= 1200 && i == 0 {
			t.Errorf("the backlog was gone before the %s", restart.name)
		}
	}
	tr.waitProcessed(40 * time.Second)
	tr.produce(ctx, prod, "b", 0, 100, parts)
	tr.waitProcessed(20 * time.Second)
	tr.waitOwners(20*time.Second, parts, m1, m2)
	if id, _ := m1.cl.GroupMetadata(); id != id1 {
		t.Errorf("m1 rejoined as %s (was %s): the restarted coordinator lost the group's members", id, id1)
	}
	if id, _ := m2.cl.GroupMetadata(); id != id2 {
		t.Errorf("m2 rejoined as %s (was %s): the restarted coordinator lost the group's members", id, id2)
	}
	g, assigned := grpDescribe(t, ctx, adm, group, topic)
	if g.State != "Stable" || len(assigned) != 2 {
		t.Errorf("after the restarts: state %s, members %v", g.State, assigned)
	}
	m1.leave()
	m2.leave()
	grpCheckCommitted(t, ctx, adm, group, topic)
	tr.mu.Lock()
	t.Logf("%d records whose commit failed", len(tr.mayDup))
	tr.mu.Unlock()
	tr.check()
}

// grpErr names an error code for messages.
func grpErr(code int16) string {
	if err := kerr.ErrorForCode(code); err != nil {
		return err.Error()
	}
	return "no error"
}

// TestGroupErrors checks the coordinator's answers to requests that must
// fail, or succeed in a particular way, with raw requests and kadm.
func TestGroupErrors(t *testing.T) {
	t.Parallel()
	a := StartAgent(t, "", "--batch-timeout", "5ms")
	ctx := testContext(t, 60*time.Second)
	cl := a.Client()
	adm := kadm.NewClient(cl)
	const topic, other = "errs", "errs-other"
	a.CreateTopic(topic, 2)
	a.CreateTopic(other, 1)

	t.Run("OffsetFetchUnknownGroup", func(t *testing.T) {
		for _, v := range []int16{1, 7} {
			req := kmsg.NewPtrOffsetFetchRequest()
			req.Group = "never-seen"
			rt := kmsg.NewOffsetFetchRequestTopic()
			rt.Topic, rt.Partitions = topic, []int32{0, 1}
			req.Topics = append(req.Topics, rt)
			vs := kversion.Stable()
			vs.SetMaxKeyVersion(req.Key(), v)
			r, err := req.RequestWith(ctx, a.Client(kgo.MaxVersions(vs)))
			if err != nil {
				t.Fatal(err)
			}
			if r.Version != v {
				t.Fatalf("asked for v%d, sent v%d", v, r.Version)
			}
			if r.ErrorCode != 0 || len(r.Topics) != 1 || len(r.Topics[0].Partitions) != 2 {
				t.Fatalf("v%d: %s, topics %+v", v, grpErr(r.ErrorCode), r.Topics)
			}
			for _, p := range r.Topics[0].Partitions {
				if p.Offset != -1 || p.ErrorCode != 0 {
					t.Errorf("v%d partition %d: offset %d, %s; want -1 and no error", v, p.Partition, p.Offset, grpErr(p.ErrorCode))
				}
			}
		}
		// v8+ batches groups.
		req := kmsg.NewPtrOffsetFetchRequest()
		for _, g := range []string{"never-1", "never-2"} {
			rg := kmsg.NewOffsetFetchRequestGroup()
			rg.Group = g
			rt := kmsg.NewOffsetFetchRequestGroupTopic()
			rt.Topic, rt.Partitions = topic, []int32{0}
			rg.Topics = append(rg.Topics, rt)
			req.Groups = append(req.Groups, rg)
		}
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Groups) != 2 {
			t.Fatalf("batched fetch answered %d groups", len(resp.Groups))
		}
		for _, g := range resp.Groups {
			if g.ErrorCode != 0 || len(g.Topics) != 1 || g.Topics[0].Partitions[0].Offset != -1 {
				t.Errorf("group %s: %s, %+v", g.Group, grpErr(g.ErrorCode), g.Topics)
			}
		}
		fetched, err := adm.FetchOffsets(ctx, "never-seen")
		if err != nil || len(fetched) != 0 {
			t.Errorf("kadm fetch of an unknown group: %v, %v", fetched, err)
		}
	})

	t.Run("CommitMetadata", func(t *testing.T) {
		const group = "g-meta"
		os := kadm.Offsets{}
		os.Add(kadm.Offset{Topic: topic, Partition: 0, At: 5, LeaderEpoch: -1, Metadata: "checkpoint α"})
		os.Add(kadm.Offset{Topic: topic, Partition: 1, At: 7, LeaderEpoch: -1})
		os.Add(kadm.Offset{Topic: other, Partition: 0, At: 3, LeaderEpoch: -1, Metadata: strings.Repeat("x", 4096)})
		if err := adm.CommitAllOffsets(ctx, group, os); err != nil {
			t.Fatal(err)
		}
		fetched, err := adm.FetchOffsets(ctx, group)
		if err == nil {
			err = fetched.Error()
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []struct {
			topic     string
			partition int32
			at        int64
			meta      string
		}{{topic, 0, 5, "checkpoint α"}, {topic, 1, 7, ""}, {other, 0, 3, strings.Repeat("x", 4096)}} {
			o, ok := fetched.Lookup(want.topic, want.partition)
			if !ok || o.At != want.at || o.Metadata != want.meta {
				t.Errorf("%s/%d: found %v, offset %d, metadata %.20q; want %d, %.20q", want.topic, want.partition, ok, o.At, o.Metadata, want.at, want.meta)
			}
		}
		tooLarge := kadm.Offsets{}
		tooLarge.Add(kadm.Offset{Topic: topic, Partition: 0, At: 6, LeaderEpoch: -1, Metadata: strings.Repeat("x", 4097)})
		res, err := adm.CommitOffsets(ctx, group, tooLarge)
		if err != nil {
			t.Fatal(err)
		}
		if o, _ := res.Lookup(topic, 0); !errors.Is(o.Err, kerr.OffsetMetadataTooLarge) {
			t.Errorf("4097-byte metadata: %v, want OFFSET_METADATA_TOO_LARGE", o.Err)
		}
		unknown := kadm.Offsets{}
		unknown.Add(kadm.Offset{Topic: topic, Partition: 9, At: 1, LeaderEpoch: -1})
		if res, err := adm.CommitOffsets(ctx, group, unknown); err != nil {
			t.Fatal(err)
		} else if o, _ := res.Lookup(topic, 9); !errors.Is(o.Err, kerr.UnknownTopicOrPartition) {
			t.Errorf("commit to partition 9 of 2: %v, want UNKNOWN_TOPIC_OR_PARTITION", o.Err)
		}
	})

	// A live member keeps "g-busy" non-empty for the next subtests.
	busy, err := kgo.NewClient(append(grpConsumerOpts(a, "busy", "g-busy", topic), kgo.OnPartitionsAssigned(func(context.Context, *kgo.Client, map[string][]int32) {}))...)
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	go func() {
		for {
			if fs := busy.PollFetches(ctx); fs.IsClientClosed() || ctx.Err() != nil {
				return
			}
		}
	}()
	grpWait(t, 20*time.Second, func() string { return "g-busy to become stable" }, func() bool {
		d, err := adm.DescribeGroups(ctx, "g-busy")
		return err == nil && d["g-busy"].State == "Stable"
	})

	t.Run("DeleteGroups", func(t *testing.T) {
		res, err := adm.DeleteGroups(ctx, "g-busy", "g-unknown")
		if err != nil {
			t.Fatal(err)
		}
		if !errors.Is(res["g-busy"].Err, kerr.NonEmptyGroup) {
			t.Errorf("delete g-busy: %v, want NON_EMPTY_GROUP", res["g-busy"].Err)
		}
		if !errors.Is(res["g-unknown"].Err, kerr.GroupIDNotFound) {
			t.Errorf("delete g-unknown: %v, want GROUP_ID_NOT_FOUND", res["g-unknown"].Err)
		}
		os := kadm.Offsets{}
		os.Add(kadm.Offset{Topic: topic, Partition: 0, At: 1, LeaderEpoch: -1})
		if err := adm.CommitAllOffsets(ctx, "g-deleteme", os); err != nil {
			t.Fatal(err)
		}
		if res, err := adm.DeleteGroup(ctx, "g-deleteme"); err != nil || res.Err != nil {
			t.Fatalf("delete empty group: %v %v", err, res.Err)
		}
		if fetched, err := adm.FetchOffsets(ctx, "g-deleteme"); err != nil || len(fetched) != 0 {
			t.Errorf("offsets after delete: %v %v", fetched, err)
		}
		if res, _ := adm.DeleteGroup(ctx, "g-deleteme"); !errors.Is(res.Err, kerr.GroupIDNotFound) {
			t.Errorf("second delete: %v, want GROUP_ID_NOT_FOUND", res.Err)
		}
	})

	t.Run("OffsetDelete", func(t *testing.T) {
		res, err := adm.DeleteOffsets(ctx, "g-busy", kadm.TopicsSet{topic: {0: {}}})
		if err != nil {
			t.Fatal(err)
		}
		if e := res[topic][0]; !errors.Is(e, kerr.GroupSubscribedToTopic) {
			t.Errorf("delete offsets of a subscribed topic: %v, want GROUP_SUBSCRIBED_TO_TOPIC", e)
		}
		os := kadm.Offsets{}
		os.Add(kadm.Offset{Topic: topic, Partition: 0, At: 4, LeaderEpoch: -1})
		os.Add(kadm.Offset{Topic: topic, Partition: 1, At: 4, LeaderEpoch: -1})
		if err := adm.CommitAllOffsets(ctx, "g-offdel", os); err != nil {
			t.Fatal(err)
		}
		res, err = adm.DeleteOffsets(ctx, "g-offdel", kadm.TopicsSet{topic: {0: {}}})
		if err != nil || res.Error() != nil {
			t.Fatalf("delete offsets of an empty group: %v %v", err, res.Error())
		}
		fetched, _ := adm.FetchOffsets(ctx, "g-offdel")
		if _, ok := fetched.Lookup(topic, 0); ok {
			t.Errorf("partition 0's offset survived its deletion")
		}
		if o, ok := fetched.Lookup(topic, 1); !ok || o.At != 4 {
			t.Errorf("partition 1's offset: %v %v", o, ok)
		}
		if _, err := adm.DeleteOffsets(ctx, "g-nothing", kadm.TopicsSet{topic: {0: {}}}); !errors.Is(err, kerr.GroupIDNotFound) {
			t.Errorf("delete offsets of an unknown group: %v, want GROUP_ID_NOT_FOUND", err)
		}
	})

	t.Run("ListGroupsByState", func(t *testing.T) {
		for _, c := range []struct {
			states []string
			in     []string
			out    []string
		}{
			{[]string{"Stable"}, []string{"g-busy"}, []string{"g-meta", "g-offdel"}},
			{[]string{"empty"}, []string{"g-meta", "g-offdel"}, []string{"g-busy"}},
			{nil, []string{"g-busy", "g-meta", "g-offdel"}, []string{"g-deleteme"}},
			{[]string{"Dead"}, nil, []string{"g-busy", "g-meta"}},
		} {
			listed, err := adm.ListGroups(ctx, c.states...)
			if err != nil {
				t.Fatal(err)
			}
			for _, g := range c.in {
				if _, ok := listed[g]; !ok {
					t.Errorf("states %v: %s not listed in %v", c.states, g, listed.Groups())
				}
			}
			for _, g := range c.out {
				if _, ok := listed[g]; ok {
					t.Errorf("states %v: %s listed", c.states, g)
				}
			}
		}
	})

	t.Run("JoinSyncHeartbeat", func(t *testing.T) {
		const group = "g-raw"
		meta := kmsg.NewConsumerMemberMetadata()
		meta.Topics = []string{topic}
		join := func(memberID string, sessionMS int32) *kmsg.JoinGroupResponse {
			t.Helper()
			req := kmsg.NewPtrJoinGroupRequest()
			req.Group, req.MemberID, req.ProtocolType = group, memberID, "consumer"
			req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = sessionMS, 10000
			p := kmsg.NewJoinGroupRequestProtocol()
			p.Name, p.Metadata = "range", meta.AppendTo(nil)
			req.Protocols = append(req.Protocols, p)
			resp, err := req.RequestWith(ctx, cl)
			if err != nil {
				t.Fatal(err)
			}
			return resp
		}
		if r := join("", 1000); r.ErrorCode != kerr.InvalidSessionTimeout.Code {
			t.Errorf("join with a 1s session: %s, want INVALID_SESSION_TIMEOUT", grpErr(r.ErrorCode))
		}
		if r := join("", 31*60*1000); r.ErrorCode != kerr.InvalidSessionTimeout.Code {
			t.Errorf("join with a 31m session: %s, want INVALID_SESSION_TIMEOUT", grpErr(r.ErrorCode))
		}
		if r := join("nobody", 10000); r.ErrorCode != kerr.UnknownMemberID.Code {
			t.Errorf("join with a made-up member ID: %s, want UNKNOWN_MEMBER_ID", grpErr(r.ErrorCode))
		}
		r := join("", 10000)
		if r.ErrorCode != kerr.MemberIDRequired.Code || r.MemberID == "" {
			t.Fatalf("first join: %s, member %q; want MEMBER_ID_REQUIRED with an ID", grpErr(r.ErrorCode), r.MemberID)
		}
		r = join(r.MemberID, 10000)
		if r.ErrorCode != 0 || r.LeaderID != r.MemberID || r.Generation < 1 || len(r.Members) != 1 {
			t.Fatalf("second join: %s, leader %q member %q generation %d, %d members", grpErr(r.ErrorCode), r.LeaderID, r.MemberID, r.Generation, len(r.Members))
		}
		member, gen := r.MemberID, r.Generation

		heartbeat := func(memberID string, gen int32) int16 {
			t.Helper()
			req := kmsg.NewPtrHeartbeatRequest()
			req.Group, req.MemberID, req.Generation = group, memberID, gen
			resp, err := req.RequestWith(ctx, cl)
			if err != nil {
				t.Fatal(err)
			}
			return resp.ErrorCode
		}
		commit := func(gen int32) int16 {
			t.Helper()
			req := kmsg.NewPtrOffsetCommitRequest()
			req.Group, req.MemberID, req.Generation = group, member, gen
			rt := kmsg.NewOffsetCommitRequestTopic()
			rt.Topic = topic
			rp := kmsg.NewOffsetCommitRequestTopicPartition()
			rp.Offset = 1
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			resp, err := req.RequestWith(ctx, cl)
			if err != nil {
				t.Fatal(err)
			}
			return resp.Topics[0].Partitions[0].ErrorCode
		}
		// Before the leader's SyncGroup the group awaits its assignment.
		if c := commit(gen); c != kerr.RebalanceInProgress.Code {
			t.Errorf("commit before sync: %s, want REBALANCE_IN_PROGRESS", grpErr(c))
		}
		sync := kmsg.NewPtrSyncGroupRequest()
		sync.Group, sync.MemberID, sync.Generation = group, member, gen+1
		if resp, err := sync.RequestWith(ctx, cl); err != nil || resp.ErrorCode != kerr.IllegalGeneration.Code {
			t.Errorf("sync with the wrong generation: %v %v, want ILLEGAL_GENERATION", err, resp)
		}
		sync.Generation = gen
		assn := kmsg.NewConsumerMemberAssignment()
		at := kmsg.NewConsumerMemberAssignmentTopic()
		at.Topic, at.Partitions = topic, []int32{0, 1}
		assn.Topics = append(assn.Topics, at)
		sa := kmsg.NewSyncGroupRequestGroupAssignment()
		sa.MemberID, sa.MemberAssignment = member, assn.AppendTo(nil)
		sync.GroupAssignment = append(sync.GroupAssignment, sa)
		sresp, err := sync.RequestWith(ctx, cl)
		if err != nil || sresp.ErrorCode != 0 {
			t.Fatalf("sync: %v %+v", err, sresp)
		}
		var got kmsg.ConsumerMemberAssignment
		if err := got.ReadFrom(sresp.MemberAssignment); err != nil || len(got.Topics) != 1 || len(got.Topics[0].Partitions) != 2 {
			t.Errorf("sync returned assignment %+v (%v)", got, err)
		}
		if c := heartbeat(member, gen); c != 0 {
			t.Errorf("heartbeat: %s", grpErr(c))
		}
		if c := heartbeat(member, gen+1); c != kerr.IllegalGeneration.Code {
			t.Errorf("heartbeat with generation %d of %d: %s, want ILLEGAL_GENERATION", gen+1, gen, grpErr(c))
		}
		if c := heartbeat(member, gen-1); c != kerr.IllegalGeneration.Code {
			t.Errorf("heartbeat with generation %d of %d: %s, want ILLEGAL_GENERATION", gen-1, gen, grpErr(c))
		}
		if c := heartbeat("stranger", gen); c != kerr.UnknownMemberID.Code {
			t.Errorf("heartbeat from an unknown member: %s, want UNKNOWN_MEMBER_ID", grpErr(c))
		}
		if c := commit(gen + 1); c != kerr.IllegalGeneration.Code {
			t.Errorf("commit with the wrong generation: %s, want ILLEGAL_GENERATION", grpErr(c))
		}
		if c := commit(gen); c != 0 {
			t.Errorf("commit: %s", grpErr(c))
		}
		// An admin commit (no member, generation -1) is refused while the
		// group has members.
		admin := kadm.Offsets{}
		admin.Add(kadm.Offset{Topic: topic, Partition: 0, At: 0, LeaderEpoch: -1})
		if res, err := adm.CommitOffsets(ctx, group, admin); err != nil {
			t.Fatal(err)
		} else if o, _ := res.Lookup(topic, 0); !errors.Is(o.Err, kerr.UnknownMemberID) {
			t.Errorf("admin commit to a group with members: %v, want UNKNOWN_MEMBER_ID", o.Err)
		}
		leave := kmsg.NewPtrLeaveGroupRequest()
		leave.Group = group
		lm := kmsg.NewLeaveGroupRequestMember()
		lm.MemberID = member
		leave.Members = append(leave.Members, lm)
		if resp, err := leave.RequestWith(ctx, cl); err != nil || resp.ErrorCode != 0 || len(resp.Members) != 1 || resp.Members[0].ErrorCode != 0 {
			t.Errorf("leave: %v %+v", err, resp)
		}
		if c := heartbeat(member, gen); c != kerr.UnknownMemberID.Code {
			t.Errorf("heartbeat after leaving: %s, want UNKNOWN_MEMBER_ID", grpErr(c))
		}
		if g, _ := grpDescribe(t, ctx, adm, group, topic); g.State != "Empty" {
			t.Errorf("after the only member left: state %s", g.State)
		}
	})

	// JoinGroup v0-v3 has no MEMBER_ID_REQUIRED round trip (KIP-394): a
	// new member gets its ID and joins at once (kafka-python 2.0 sends v2).
	t.Run("JoinGroupV3", func(t *testing.T) {
		vs := kversion.Stable()
		vs.SetMaxKeyVersion(kmsg.JoinGroup.Int16(), 3)
		old := a.Client(kgo.MaxVersions(vs))
		meta := kmsg.NewConsumerMemberMetadata()
		meta.Topics = []string{topic}
		req := kmsg.NewPtrJoinGroupRequest()
		req.Group, req.ProtocolType = "g-v3", "consumer"
		req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 10000, 10000
		p := kmsg.NewJoinGroupRequestProtocol()
		p.Name, p.Metadata = "range", meta.AppendTo(nil)
		req.Protocols = append(req.Protocols, p)
		resp, err := req.RequestWith(ctx, old)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Version != 3 || resp.ErrorCode != 0 || resp.MemberID == "" || resp.LeaderID != resp.MemberID || resp.Generation < 1 {
			t.Fatalf("v%d join: %s, member %q leader %q generation %d", resp.Version, grpErr(resp.ErrorCode), resp.MemberID, resp.LeaderID, resp.Generation)
		}
		leave := kmsg.NewPtrLeaveGroupRequest()
		leave.Group, leave.MemberID = "g-v3", resp.MemberID
		lm := kmsg.NewLeaveGroupRequestMember()
		lm.MemberID = resp.MemberID
		leave.Members = append(leave.Members, lm)
		if _, err := leave.RequestWith(ctx, old); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("FindCoordinatorBatched", func(t *testing.T) {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.CoordinatorKeys = []string{"g-busy", "g-meta", "any-group"}
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Version < 4 || len(resp.Coordinators) != 3 {
			t.Fatalf("v%d answered %d coordinators", resp.Version, len(resp.Coordinators))
		}
		host, port, _ := net.SplitHostPort(a.KafkaAddr)
		keys := map[string]bool{}
		for _, c := range resp.Coordinators {
			keys[c.Key] = true
			if c.ErrorCode != 0 || c.NodeID != 1 || c.Host != host || fmt.Sprint(c.Port) != port {
				t.Errorf("coordinator of %s: %+v, want node 1 at %s", c.Key, c, a.KafkaAddr)
			}
		}
		if len(keys) != 3 {
			t.Errorf("coordinators answered for %v, want %v", keys, req.CoordinatorKeys)
		}
		req.CoordinatorKeys = []string{""}
		if resp, err := req.RequestWith(ctx, cl); err != nil || resp.Coordinators[0].ErrorCode != kerr.InvalidGroupID.Code {
			t.Errorf("empty key: %v %+v, want INVALID_GROUP_ID", err, resp)
		}
		req.CoordinatorKeys = []string{"txn"}
		req.CoordinatorType = 1
		if resp, err := req.RequestWith(ctx, cl); err != nil || resp.Coordinators[0].ErrorCode != 0 || resp.Coordinators[0].NodeID != 1 {
			t.Errorf("transaction coordinator: %v %+v, want node 1", err, resp)
		}
	})
}
