// Package dynconfig holds the configuration a Kafka cluster changes at run
// time through its admin APIs: dynamic broker configs (AlterConfigs and
// IncrementalAlterConfigs on BROKER resources) and client quotas
// (AlterClientQuotas, KIP-546). Both live in the metadata store as rows of
// one table with one version; every agent polls the version and reloads
// on change (Manager.Run), so a change made through any agent is applied
// by all within the poll interval, and at once by the agent that made it.
//
// The rules (which broker configs exist and may change, how their layers
// resolve, how quota entities take precedence, how rates are measured) are
// Go in this package; a backend only stores rows (Store).
package dynconfig

import (
	"context"
	"errors"
	"maps"
	"sort"
	"sync"
)

// Entry is one stored dynamic setting. Scope names its owner: "broker:"
// for the cluster-wide broker default, "broker:<node id>" for one agent,
// or a quota entity's key (Entity.key).
type Entry struct {
	Scope, Name, Value string
}

// Change sets (or, with Remove, deletes) one entry.
type Change struct {
	Entry
	Remove bool
}

// ErrVersionChanged is returned by ChangeDynamicConfigs when the version is
// no longer the one the caller read; the caller re-reads and retries.
var ErrVersionChanged = errors.New("dynconfig: dynamic configs changed concurrently")

// Store keeps the entries. Implementations: the sqlite and postgres
// metadata stores, and MemStore; storetest holds their shared suite.
type Store interface {
	// DynamicConfigs returns every entry, sorted by scope and name, and
	// the version they are at, read in one snapshot.
	DynamicConfigs(ctx context.Context) ([]Entry, int64, error)
	// DynamicConfigVersion returns the current version, which every
	// successful non-empty ChangeDynamicConfigs increments.
	DynamicConfigVersion(ctx context.Context) (int64, error)
	// ChangeDynamicConfigs applies changes atomically if the version is
	// still ifVersion (ErrVersionChanged otherwise) and increments it.
	// Removing an absent entry is not an error.
	ChangeDynamicConfigs(ctx context.Context, ifVersion int64, changes []Change) error
}

// MemStore is a Store in memory, for tests and stores that keep nothing.
type MemStore struct {
	mu      sync.Mutex // guards entries and version
	entries map[[2]string]string
	version int64
}

var _ Store = (*MemStore)(nil)

// NewMemStore returns an empty store.
func NewMemStore() *MemStore { return &MemStore{entries: map[[2]string]string{}} }

// DynamicConfigs implements Store.
func (m *MemStore) DynamicConfigs(context.Context) ([]Entry, int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Entry, 0, len(m.entries))
	for k, v := range m.entries {
		out = append(out, Entry{Scope: k[0], Name: k[1], Value: v})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Scope != out[j].Scope {
			return out[i].Scope < out[j].Scope
		}
		return out[i].Name < out[j].Name
	})
	return out, m.version, nil
}

// DynamicConfigVersion implements Store.
func (m *MemStore) DynamicConfigVersion(context.Context) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.version, nil
}

// ChangeDynamicConfigs implements Store.
func (m *MemStore) ChangeDynamicConfigs(_ context.Context, ifVersion int64, changes []Change) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if ifVersion != m.version {
		return ErrVersionChanged
	}
	if len(changes) == 0 {
		return nil
	}
	next := maps.Clone(m.entries)
	for _, c := range changes {
		if c.Remove {
			delete(next, [2]string{c.Scope, c.Name})
		} else {
			next[[2]string{c.Scope, c.Name}] = c.Value
		}
	}
	m.entries = next
	m.version++
	return nil
}
