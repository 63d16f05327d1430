package dynconfig

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/refresh"
)

// Snapshot is the dynamic configuration at one version. It is immutable;
// a nil *Snapshot is empty.
type Snapshot struct {
	version int64
	// brokers maps a broker resource ("" for the cluster default, else
	// a node ID) to its configs.
	brokers map[string]map[string]string
	quotas  map[Entity]map[string]float64
}

// Version is the store version the snapshot was read at.
func (s *Snapshot) Version() int64 {
	if s == nil {
		return 0
	}
	return s.version
}

func snapshotOf(entries []Entry, version int64) *Snapshot {
	s := &Snapshot{version: version, brokers: map[string]map[string]string{}, quotas: map[Entity]map[string]float64{}}
	for _, e := range entries {
		if res, ok := strings.CutPrefix(e.Scope, "broker:"); ok {
			if s.brokers[res] == nil {
				s.brokers[res] = map[string]string{}
			}
			s.brokers[res][e.Name] = e.Value
			continue
		}
		ent, ok := parseEntity(e.Scope)
		v, err := strconv.ParseFloat(e.Value, 64)
		if !ok || err != nil {
			continue // not ours to read; never written by this package
		}
		if s.quotas[ent] == nil {
			s.quotas[ent] = map[string]float64{}
		}
		s.quotas[ent][e.Name] = v
	}
	return s
}

// Manager is one agent's view of the dynamic configuration: it loads it
// from the store, follows changes (Run), and makes changes.
type Manager struct {
	store Store
	// node is this agent's broker resource name (its node ID).
	node     string
	interval time.Duration
	logger   *slog.Logger

	mu   sync.RWMutex // guards snap
	snap *Snapshot
}

// Config configures a Manager.
type Config struct {
	// NodeID is this agent's node ID (its broker resource name).
	NodeID int32
	// RefreshInterval is how often the version is polled; 0 means 500ms.
	RefreshInterval time.Duration
	Logger          *slog.Logger
}

// New returns a manager over store (a MemStore when nil). Call Load
// before serving and Run to follow other agents' changes.
func New(cfg Config, store Store) *Manager {
	if store == nil {
		store = NewMemStore()
	}
	if cfg.RefreshInterval <= 0 {
		cfg.RefreshInterval = 500 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Manager{store: store, node: strconv.Itoa(int(cfg.NodeID)), interval: cfg.RefreshInterval, logger: cfg.Logger}
}

// Node is this agent's broker resource name.
func (m *Manager) Node() string { return m.node }

// Snapshot returns the current snapshot (nil before the first Load).
func (m *Manager) Snapshot() *Snapshot {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.snap
}

// TopicDefaults returns the topic config defaults the dynamic broker
// configs set for this agent (retention.ms from log.retention.ms, …):
// only configs set dynamically, so the topic config defaults stay in
// force otherwise.
func (m *Manager) TopicDefaults() map[string]string {
	snap := m.Snapshot()
	out := map[string]string{}
	for _, c := range brokerConfigs {
		if c.Topic == "" {
			continue
		}
		vs := snap.Resolve(m.node, c.Name, nil)
		if len(vs) > 1 { // a dynamic layer above DEFAULT_CONFIG
			out[c.Topic] = vs[0].Value
		}
	}
	return out
}

// Load reads the whole configuration from the store.
func (m *Manager) Load(ctx context.Context) error {
	entries, v, err := m.store.DynamicConfigs(ctx)
	if err != nil {
		return fmt.Errorf("dynconfig: load: %w", err)
	}
	snap := snapshotOf(entries, v)
	m.mu.Lock()
	if m.snap != nil && m.snap.version > v {
		m.mu.Unlock()
		return nil // a concurrent Load already installed a newer one
	}
	m.snap = snap
	m.mu.Unlock()
	return nil
}

// Run polls the version every RefreshInterval and reloads when it moved,
// until ctx ends. A store that cannot be reached leaves the last
// configuration in force.
func (m *Manager) Run(ctx context.Context) {
	refresh.Every(ctx, m.interval, 5*time.Second, func(ctx context.Context) error {
		held := int64(-1) // none loaded yet: any version loads
		if snap := m.Snapshot(); snap != nil {
			held = snap.Version()
		}
		return refresh.IfChanged(ctx, m.store.DynamicConfigVersion, held, m.Load)
	}, func(err error) {
		m.logger.Warn("dynconfig: cannot refresh dynamic configs; the last ones stay in force", "err", err)
	})
}

// change runs compute against the store's current entries and writes the
// changes it returns, retrying when another agent changed the store in
// between; with validateOnly it only computes. The new configuration is
// loaded before it returns.
func (m *Manager) change(ctx context.Context, validateOnly bool, compute func(*Snapshot) ([]Change, error)) error {
	for attempt := 0; ; attempt++ {
		entries, v, err := m.store.DynamicConfigs(ctx)
		if err != nil {
			return err
		}
		changes, err := compute(snapshotOf(entries, v))
		if err != nil || validateOnly || len(changes) == 0 {
			return err
		}
		err = m.store.ChangeDynamicConfigs(ctx, v, changes)
		if errors.Is(err, ErrVersionChanged) && attempt < 10 && ctx.Err() == nil {
			continue
		}
		if err != nil {
			return err
		}
		return m.Load(ctx)
	}
}

// AlterBroker replaces the dynamic configs of broker resource ("" for the
// cluster default, or this agent's node ID) with what fn returns given the
// current ones; every value is checked with ValidateBroker (only configs
// that change are checked, so a stored value stays valid). fn may run more
// than once.
func (m *Manager) AlterBroker(ctx context.Context, resource string, validateOnly bool, fn func(current map[string]string) (map[string]string, error)) (map[string]string, error) {
	var result map[string]string
	err := m.change(ctx, validateOnly, func(s *Snapshot) ([]Change, error) {
		cur := s.Broker(resource)
		next, err := fn(maps.Clone(cur))
		if err != nil {
			return nil, err
		}
		var changes []Change
		for k, v := range next {
			if old, ok := cur[k]; ok && old == v {
				continue
			}
			if err := ValidateBroker(k, v); err != nil {
				return nil, err
			}
			changes = append(changes, Change{Entry: Entry{Scope: brokerScope(resource), Name: k, Value: v}})
		}
		for k := range cur {
			if _, ok := next[k]; !ok {
				changes = append(changes, Change{Entry: Entry{Scope: brokerScope(resource), Name: k}, Remove: true})
			}
		}
		result = next
		return changes, nil
	})
	return result, err
}

// QuotaOp sets (or, with Remove, removes) one quota key of an entity.
type QuotaOp struct {
	Key    string
	Value  float64
	Remove bool
}

// ValidateQuotaOps checks an entity's requested changes.
func ValidateQuotaOps(e Entity, ops []QuotaOp) error {
	if !e.Valid() {
		return fmt.Errorf("%w: empty entity", ErrInvalidQuota)
	}
	seen := map[string]bool{}
	for _, o := range ops {
		if seen[o.Key] {
			return fmt.Errorf("%w: quota %s appears more than once", ErrInvalidQuota, o.Key)
		}
		seen[o.Key] = true
		if o.Remove {
			if _, ok := quotaKeys[o.Key]; !ok {
				return fmt.Errorf("%w: unknown quota key %s for user and client-id entities", ErrInvalidQuota, o.Key)
			}
			continue
		}
		if err := ValidateQuota(o.Key, o.Value); err != nil {
			return err
		}
	}
	return nil
}

// AlterQuotas applies ops to an entity, atomically.
func (m *Manager) AlterQuotas(ctx context.Context, e Entity, ops []QuotaOp, validateOnly bool) error {
	if err := ValidateQuotaOps(e, ops); err != nil {
		return err
	}
	return m.change(ctx, validateOnly, func(*Snapshot) ([]Change, error) {
		changes := make([]Change, 0, len(ops))
		for _, o := range ops {
			changes = append(changes, Change{Entry: Entry{Scope: e.key(), Name: o.Key, Value: formatQuota(o.Value)}, Remove: o.Remove})
		}
		return changes, nil
	})
}
