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

	"github.com/sluicehq/sluice/internal/cluster"
	"github.com/sluicehq/sluice/internal/metadata"
)

// Config holds the coordinator's limits, with Kafka's names in comments.
type Config struct {
	MinSessionTimeout     time.Duration // group.min.session.timeout.ms
	MaxSessionTimeout     time.Duration // group.max.session.timeout.ms
	InitialRebalanceDelay time.Duration // group.initial.rebalance.delay.ms
	MaxMetadataBytes      int           // offset.metadata.max.bytes

	// KIP-848 consumer groups (consumer_*.go).
	ConsumerSessionTimeout    time.Duration // group.consumer.session.timeout.ms
	ConsumerHeartbeatInterval time.Duration // group.consumer.heartbeat.interval.ms
	// ConsumerMetadataRefresh is how often a group re-reads the metadata
	// of the topics its members subscribe to (new topics matching a
	// regex, added partitions) when its members heartbeat.
	ConsumerMetadataRefresh time.Duration

	// Clock is the time source of every timer and timestamp of both state
	// machines; nil is real time. Tests pass a manual clock.
	Clock Clock
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
	if c.Clock == nil {
		c.Clock = realClock{}
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
	// TxnOffsets is the transactional-offset part of
	// metadata.Transactions.
	TxnOffsets
}

// TxnOffsets stages a transaction's offsets (TxnOffsetCommit) and tells
// which are staged (OffsetFetch with require_stable); see
// metadata.Transactions for the contract.
type TxnOffsets interface {
	StageTxnOffsets(ctx context.Context, id string, producerID int64, epoch int16, group string, offsets []metadata.OffsetCommit) error
	PendingTxnOffsets(ctx context.Context, group string) ([]metadata.OffsetCommit, error)
}

// Coordinator coordinates the groups this agent owns.
type Coordinator struct {
	// Set by New and never changed.
	cfg     Config
	store   Store
	owners  Owners
	logger  *slog.Logger
	metrics *Metrics
	clock   Clock // cfg.Clock

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
	c := &Coordinator{cfg: cfg, store: store, owners: owners, logger: logger, clock: cfg.Clock, groups: map[string]*group{}, cgroups: map[string]*consumerGroup{}}
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

// storeErr turns a failed store write into the error a client should see,
// dropping the group when another agent has claimed it.
func (c *Coordinator) storeErr(group string, err error) error {
	if errors.Is(err, metadata.ErrFenced) || errors.Is(err, metadata.ErrGroupNotFound) {
		c.drop(group)
		return kerr.NotCoordinator
	}
	return fmt.Errorf("%w: %v", kerr.CoordinatorNotAvailable, err)
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
