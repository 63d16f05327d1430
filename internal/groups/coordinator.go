// Package groups is the consumer group coordinator: the classic group
// protocol (join, sync, heartbeat, leave, static membership) and committed
// offsets. Each group is owned by one agent, chosen by rendezvous hashing
// over the live agents; an agent claims a group in the metadata store
// before acting for it, which bumps the group's owner epoch, and every
// write it makes carries that epoch, so an agent that lost ownership cannot
// write anything (it sees metadata.ErrFenced and answers NOT_COORDINATOR).
//
// Errors returned to the protocol layer are franz-go kerr values: the group
// protocol's own vocabulary.
package groups

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/cluster"
	"github.com/sluicehq/sluice/internal/metadata"
)

// Config holds the coordinator's limits, with Kafka's names in comments.
type Config struct {
	MinSessionTimeout     time.Duration // group.min.session.timeout.ms
	MaxSessionTimeout     time.Duration // group.max.session.timeout.ms
	InitialRebalanceDelay time.Duration // group.initial.rebalance.delay.ms
	MaxMetadataBytes      int           // offset.metadata.max.bytes

	// KIP-848 consumer groups (consumer.go).
	ConsumerSessionTimeout    time.Duration // group.consumer.session.timeout.ms
	ConsumerHeartbeatInterval time.Duration // group.consumer.heartbeat.interval.ms
	// ConsumerMetadataRefresh is how often a group re-reads the metadata
	// of the topics its members subscribe to (new topics matching a
	// regex, added partitions) when its members heartbeat.
	ConsumerMetadataRefresh time.Duration
}

func (c *Config) setDefaults() {
	if c.MinSessionTimeout <= 0 {
		c.MinSessionTimeout = 6 * time.Second
	}
	if c.MaxSessionTimeout <= 0 {
		c.MaxSessionTimeout = 30 * time.Minute
	}
	if c.MaxMetadataBytes <= 0 {
		c.MaxMetadataBytes = 4096
	}
	if c.ConsumerSessionTimeout <= 0 {
		c.ConsumerSessionTimeout = 45 * time.Second
	}
	if c.ConsumerHeartbeatInterval <= 0 {
		c.ConsumerHeartbeatInterval = 5 * time.Second
	}
	if c.ConsumerMetadataRefresh <= 0 {
		c.ConsumerMetadataRefresh = time.Second
	}
}

// Owners says which agent owns a key.
type Owners interface {
	Self() cluster.Broker
	Owner(key string) cluster.Broker
}

// Store is what the coordinator needs from the metadata store.
type Store interface {
	metadata.Groups
	metadata.Topics
	metadata.Log
}

// Coordinator coordinates the groups this agent owns.
type Coordinator struct {
	cfg     Config
	store   Store
	owners  Owners
	logger  *slog.Logger
	metrics *Metrics

	mu     sync.Mutex // guards groups and cgroups; lock order: Coordinator.mu before group.mu
	groups map[string]*group
	// cgroups are the KIP-848 consumer groups; a name is in at most one
	// of groups and cgroups.
	cgroups map[string]*consumerGroup
}

// New returns a Coordinator.
func New(cfg Config, store Store, owners Owners, m *Metrics, logger *slog.Logger) *Coordinator {
	cfg.setDefaults()
	if logger == nil {
		logger = slog.Default()
	}
	c := &Coordinator{cfg: cfg, store: store, owners: owners, logger: logger, groups: map[string]*group{}, cgroups: map[string]*consumerGroup{}}
	if m == nil {
		m = NewMetrics(nil, c)
	}
	c.metrics = m
	return c
}

// errNoGroup means a read-only request named a group the store has never
// seen; callers answer as Kafka does for unknown groups.
var errNoGroup = errors.New("groups: no such group")

// Owner returns the agent that coordinates group.
func (c *Coordinator) Owner(group string) cluster.Broker { return c.owners.Owner(group) }

// get returns the group if this agent owns it, claiming it in the store on
// first use. With create false, a group unknown to the store is errNoGroup.
// A consumer group (KIP-848) is returned as a *consumerGroupError.
func (c *Coordinator) get(ctx context.Context, name string, create bool) (*group, error) {
	if name == "" {
		return nil, kerr.InvalidGroupID
	}
	if c.owners.Owner(name).NodeID != c.owners.Self().NodeID {
		c.drop(name)
		return nil, kerr.NotCoordinator
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cg := c.cgroups[name]; cg != nil && !cg.isGone() {
		return nil, &consumerGroupError{cg}
	}
	if g := c.groups[name]; g != nil && !g.isGone() {
		return g, nil
	}
	if !create {
		if _, err := c.store.Group(ctx, name); errors.Is(err, metadata.ErrGroupNotFound) {
			return nil, errNoGroup
		} else if err != nil {
			return nil, fmt.Errorf("%w: %v", kerr.CoordinatorNotAvailable, err)
		}
	}
	st, err := c.store.ClaimGroup(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", kerr.CoordinatorNotAvailable, err)
	}
	if isConsumerSnapshot(st.Snapshot) {
		cg, err := restoreConsumerGroup(c, st)
		if err != nil {
			return nil, fmt.Errorf("%w: group %s: %v", kerr.CoordinatorNotAvailable, name, err)
		}
		delete(c.groups, name)
		c.cgroups[name] = cg
		c.logger.Debug("claimed consumer group", "group", name, "epoch", st.OwnerEpoch, "group_epoch", cg.epoch)
		return nil, &consumerGroupError{cg}
	}
	delete(c.cgroups, name)
	g := &group{c: c, name: name, members: map[string]*member{}, static: map[string]string{},
		pending: map[string]time.Time{}, joined: map[string]bool{}}
	g.mu.Lock()
	g.restoreLocked(st)
	g.mu.Unlock()
	c.groups[name] = g
	c.logger.Debug("claimed group", "group", name, "epoch", st.OwnerEpoch, "state", g.state, "generation", g.generation)
	return g, nil
}

func (g *group) isGone() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.gone
}

// drop forgets a group this agent no longer owns.
func (c *Coordinator) drop(name string) {
	c.mu.Lock()
	g, cg := c.groups[name], c.cgroups[name]
	delete(c.groups, name)
	delete(c.cgroups, name)
	c.mu.Unlock()
	if g != nil {
		g.mu.Lock()
		g.goneLocked()
		g.mu.Unlock()
	}
	if cg != nil {
		cg.mu.Lock()
		cg.goneLocked()
		cg.mu.Unlock()
	}
}

// Join handles JoinGroup; the channel yields the response.
func (c *Coordinator) Join(ctx context.Context, req JoinRequest) <-chan JoinResult {
	g, err := c.get(ctx, req.Group, true)
	if cg := asConsumer(err); cg != nil {
		// An empty consumer group becomes a classic one; classic members
		// cannot join a consumer group that has members.
		c.mu.Lock()
		if c.cgroups[req.Group] == cg {
			g, err = c.classicFromConsumerLocked(cg)
		} else {
			err = kerr.NotCoordinator
		}
		c.mu.Unlock()
	}
	if err != nil {
		out := make(chan JoinResult, 1)
		out <- JoinResult{Err: err, MemberID: req.MemberID, Generation: -1}
		return out
	}
	return g.join(req)
}

// Sync handles SyncGroup; the channel yields the response.
func (c *Coordinator) Sync(ctx context.Context, req SyncRequest) <-chan SyncResult {
	g, err := c.get(ctx, req.Group, false)
	if errors.Is(err, errNoGroup) || asConsumer(err) != nil {
		err = kerr.UnknownMemberID
	}
	if err != nil {
		out := make(chan SyncResult, 1)
		out <- SyncResult{Err: err}
		return out
	}
	return g.sync(req)
}

// Heartbeat handles Heartbeat.
func (c *Coordinator) Heartbeat(ctx context.Context, group, memberID string, instanceID *string, generation int32) error {
	g, err := c.get(ctx, group, false)
	if errors.Is(err, errNoGroup) || asConsumer(err) != nil {
		return kerr.UnknownMemberID
	}
	if err != nil {
		return err
	}
	return g.heartbeat(memberID, instanceID, generation)
}

// LeavingMember names a member leaving (LeaveGroup v3+ batches them).
type LeavingMember struct {
	MemberID   string
	InstanceID *string
}

// Leave handles LeaveGroup: a group-level error, or one error per member.
func (c *Coordinator) Leave(ctx context.Context, group string, members []LeavingMember) (error, []error) {
	g, err := c.get(ctx, group, false)
	if cg := asConsumer(err); cg != nil {
		errs := cg.classicLeave(members)
		c.forgetIfGone(cg)
		return nil, errs
	}
	if errors.Is(err, errNoGroup) {
		errs := make([]error, len(members))
		for i := range errs {
			errs[i] = kerr.UnknownMemberID
		}
		return nil, errs
	}
	if err != nil {
		return err, nil
	}
	errs := make([]error, len(members))
	for i, m := range members {
		errs[i] = g.leave(m.MemberID, m.InstanceID)
	}
	return nil, errs
}

// Commit handles OffsetCommit: a group-level error, or one error per
// offset. Offsets of unknown topics or partitions fail alone.
func (c *Coordinator) Commit(ctx context.Context, group, memberID string, instanceID *string, generation int32, offsets []metadata.OffsetCommit) (error, []error) {
	errs := make([]error, len(offsets))
	valid := make([]metadata.OffsetCommit, 0, len(offsets))
	idx := make([]int, 0, len(offsets))
	parts := make([]tp, 0, len(offsets))
	for i, o := range offsets {
		if len(o.Metadata) > c.cfg.MaxMetadataBytes {
			errs[i] = kerr.OffsetMetadataTooLarge
			continue
		}
		t, err := c.store.Topic(ctx, o.Topic)
		if err != nil || o.Partition < 0 || o.Partition >= t.Partitions {
			errs[i] = kerr.UnknownTopicOrPartition
			continue
		}
		valid = append(valid, o)
		idx = append(idx, i)
		parts = append(parts, tp{t.ID, o.Partition})
	}
	var epoch int64
	g, err := c.get(ctx, group, true)
	if cg := asConsumer(err); cg != nil {
		cg.mu.Lock()
		err = cg.checkCommitLocked(memberID, generation, parts)
		epoch = cg.ownerEpoch
		cg.mu.Unlock()
	} else if err == nil {
		g.mu.Lock()
		err = g.checkCommitLocked(memberID, instanceID, generation)
		epoch = g.epoch
		g.mu.Unlock()
	}
	if err != nil {
		return err, nil
	}
	if len(valid) > 0 {
		if err := c.store.CommitOffsets(ctx, group, epoch, valid); err != nil {
			return c.storeErr(group, err), nil
		}
		c.metrics.commits.Add(float64(len(valid)))
	}
	for _, i := range idx {
		errs[i] = nil
	}
	return nil, errs
}

// storeErr turns a failed store write into the error a client should see,
// dropping the group when another agent has claimed it.
func (c *Coordinator) storeErr(group string, err error) error {
	if errors.Is(err, metadata.ErrFenced) || errors.Is(err, metadata.ErrGroupNotFound) {
		c.drop(group)
		return kerr.NotCoordinator
	}
	return fmt.Errorf("%w: %v", kerr.CoordinatorNotAvailable, err)
}

// TopicPartitions names partitions of one topic.
type TopicPartitions struct {
	Topic      string
	Partitions []int32
}

// FetchOffsets handles OffsetFetch for one group. With want nil it returns
// every committed offset; otherwise one entry per requested partition, with
// offset -1 where nothing is committed (Kafka's answer, without error).
func (c *Coordinator) FetchOffsets(ctx context.Context, group string, want []TopicPartitions) ([]metadata.OffsetCommit, error) {
	var committed []metadata.OffsetCommit
	_, err := c.get(ctx, group, false)
	switch {
	case errors.Is(err, errNoGroup):
	case err != nil && asConsumer(err) == nil:
		return nil, err
	default:
		if committed, err = c.store.FetchOffsets(ctx, group); err != nil {
			return nil, fmt.Errorf("%w: %v", kerr.CoordinatorNotAvailable, err)
		}
	}
	if want == nil {
		return committed, nil
	}
	type tp struct {
		t string
		p int32
	}
	have := make(map[tp]metadata.OffsetCommit, len(committed))
	for _, o := range committed {
		have[tp{o.Topic, o.Partition}] = o
	}
	var out []metadata.OffsetCommit
	for _, w := range want {
		for _, p := range w.Partitions {
			o, ok := have[tp{w.Topic, p}]
			if !ok {
				o = metadata.OffsetCommit{Topic: w.Topic, Partition: p, Offset: -1, LeaderEpoch: -1}
			}
			out = append(out, o)
		}
	}
	return out, nil
}

// MemberDescription describes a member for DescribeGroups.
type MemberDescription struct {
	MemberID   string
	InstanceID *string
	ClientID   string
	ClientHost string
	Metadata   []byte
	Assignment []byte
}

// Description describes a group for DescribeGroups.
type Description struct {
	State        State
	ProtocolType string
	Protocol     string
	Members      []MemberDescription
}

// Describe handles DescribeGroups for one group. Unknown groups are Dead,
// without error, as in Kafka.
func (c *Coordinator) Describe(ctx context.Context, group string) (Description, error) {
	g, err := c.get(ctx, group, false)
	if errors.Is(err, errNoGroup) || asConsumer(err) != nil {
		// Kafka 4 describes consumer groups (KIP-848) only through
		// ConsumerGroupDescribe; DescribeGroups v0-v5 shows them Dead.
		return Description{State: Dead}, nil
	}
	if err != nil {
		return Description{}, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	d := Description{State: g.state, ProtocolType: g.protocolType}
	if g.state == Stable || g.state == CompletingRebalance {
		d.Protocol = g.protocol
	}
	for _, m := range g.sortedMembersLocked() {
		md := MemberDescription{MemberID: m.id, InstanceID: m.instanceID, ClientID: m.clientID, ClientHost: m.clientHost}
		if g.state == Stable {
			md.Assignment = m.assignment
		}
		for _, p := range m.protocols {
			if p.Name == g.protocol {
				md.Metadata = p.Metadata
			}
		}
		d.Members = append(d.Members, md)
	}
	return d, nil
}

// Listing is one group in ListGroups.
type Listing struct {
	Name         string
	ProtocolType string
	State        State
	// Type is "classic" or "consumer" (KIP-848).
	Type string
}

// List handles ListGroups: the groups this agent owns (each agent answers
// for its own, as Kafka brokers do), optionally filtered by state.
func (c *Coordinator) List(ctx context.Context, states []string) ([]Listing, error) {
	all, err := c.store.ListGroups(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", kerr.CoordinatorNotAvailable, err)
	}
	self := c.owners.Self().NodeID
	var out []Listing
	for _, st := range all {
		if c.owners.Owner(st.Name).NodeID != self {
			continue
		}
		l := Listing{Name: st.Name, ProtocolType: st.ProtocolType, State: State(st.State), Type: "classic"}
		if isConsumerSnapshot(st.Snapshot) {
			l.Type = "consumer"
		}
		c.mu.Lock()
		g, cg := c.groups[st.Name], c.cgroups[st.Name]
		c.mu.Unlock()
		if g != nil {
			g.mu.Lock()
			l.State, l.ProtocolType, l.Type = g.state, g.protocolType, "classic"
			g.mu.Unlock()
		} else if cg != nil {
			cg.mu.Lock()
			l.State, l.ProtocolType, l.Type = cg.stateLocked(), "consumer", "consumer"
			cg.mu.Unlock()
		}
		if len(states) > 0 && !containsFold(states, string(l.State)) {
			continue
		}
		out = append(out, l)
	}
	return out, nil
}

func containsFold(ss []string, s string) bool {
	for _, x := range ss {
		if len(x) == len(s) && (x == s || equalFold(x, s)) {
			return true
		}
	}
	return false
}

func equalFold(a, b string) bool {
	for i := 0; i < len(a); i++ {
		ca, cb := a[i]|0x20, b[i]|0x20
		if ca != cb {
			return false
		}
	}
	return true
}

// Delete handles DeleteGroups for one group: only groups without members
// can be deleted.
func (c *Coordinator) Delete(ctx context.Context, group string) error {
	g, err := c.get(ctx, group, false)
	if errors.Is(err, errNoGroup) {
		return kerr.GroupIDNotFound
	}
	var epoch int64
	if cg := asConsumer(err); cg != nil {
		cg.mu.Lock()
		n := len(cg.members)
		epoch = cg.ownerEpoch
		cg.mu.Unlock()
		if n > 0 {
			return kerr.NonEmptyGroup
		}
	} else if err != nil {
		return err
	} else {
		g.mu.Lock()
		n := len(g.members)
		epoch = g.epoch
		g.mu.Unlock()
		if n > 0 {
			return kerr.NonEmptyGroup
		}
	}
	if err := c.store.DeleteGroup(ctx, group, epoch); err != nil {
		return c.storeErr(group, err)
	}
	c.drop(group)
	return nil
}

// DeleteOffsets handles OffsetDelete: a group-level error, or one per
// partition. Offsets of topics the group's members subscribe to cannot be
// deleted (GROUP_SUBSCRIBED_TO_TOPIC).
func (c *Coordinator) DeleteOffsets(ctx context.Context, group string, offsets []metadata.OffsetCommit) (error, []error) {
	g, err := c.get(ctx, group, false)
	if errors.Is(err, errNoGroup) {
		return kerr.GroupIDNotFound, nil
	}
	var (
		subscribed map[string]bool
		epoch      int64
	)
	if cg := asConsumer(err); cg != nil {
		cg.mu.Lock()
		subscribed, epoch = cg.subscribedTopicsLocked(), cg.ownerEpoch
		cg.mu.Unlock()
	} else if err != nil {
		return err, nil
	} else {
		g.mu.Lock()
		subscribed, epoch = g.subscribedTopicsLocked(), g.epoch
		g.mu.Unlock()
	}
	errs := make([]error, len(offsets))
	var del []metadata.OffsetCommit
	for i, o := range offsets {
		if subscribed[o.Topic] {
			errs[i] = kerr.GroupSubscribedToTopic
			continue
		}
		del = append(del, o)
	}
	if len(del) > 0 {
		if err := c.store.DeleteOffsets(ctx, group, epoch, del); err != nil {
			return c.storeErr(group, err), nil
		}
	}
	return nil, errs
}

// subscribedTopicsLocked decodes the members' consumer-protocol
// subscriptions.
func (g *group) subscribedTopicsLocked() map[string]bool {
	out := map[string]bool{}
	if g.protocolType != "consumer" {
		return out
	}
	for _, m := range g.members {
		for _, p := range m.protocols {
			if p.Name != g.protocol {
				continue
			}
			var meta kmsg.ConsumerMemberMetadata
			if meta.ReadFrom(p.Metadata) == nil {
				for _, t := range meta.Topics {
					out[t] = true
				}
			}
		}
	}
	return out
}

// Close stops every group's timers; the groups stay claimed in the store
// and the next owner takes them over with their members.
func (c *Coordinator) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, g := range c.groups {
		g.mu.Lock()
		g.gone = true
		if g.rebalance != nil {
			g.rebalance.Stop()
		}
		for _, m := range g.members {
			g.stopExpiryLocked(m)
		}
		g.mu.Unlock()
		delete(c.groups, name)
	}
	for name, cg := range c.cgroups {
		cg.mu.Lock()
		cg.goneLocked()
		cg.mu.Unlock()
		delete(c.cgroups, name)
	}
}

// loadedStates counts the loaded groups by state, for metrics.
func (c *Coordinator) loadedStates() map[State]int {
	c.mu.Lock()
	gs := make([]*group, 0, len(c.groups))
	for _, g := range c.groups {
		gs = append(gs, g)
	}
	cgs := make([]*consumerGroup, 0, len(c.cgroups))
	for _, g := range c.cgroups {
		cgs = append(cgs, g)
	}
	c.mu.Unlock()
	out := map[State]int{}
	for _, g := range gs {
		g.mu.Lock()
		if !g.gone {
			out[g.state]++
		}
		g.mu.Unlock()
	}
	for _, g := range cgs {
		g.mu.Lock()
		if !g.gone {
			out[g.stateLocked()]++
		}
		g.mu.Unlock()
	}
	return out
}

// loadedNames returns the names of loaded groups, sorted.
func (c *Coordinator) loadedNames() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	names := make([]string, 0, len(c.groups)+len(c.cgroups))
	for n := range c.groups {
		names = append(names, n)
	}
	for n := range c.cgroups {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
