package acl

import (
	"context"
	"slices"
	"sync"
)

// MemStore is an in-memory Store, for tests and for agents without a
// shared metadata store.
type MemStore struct {
	mu      sync.Mutex // guards acls and version
	acls    map[Binding]bool
	version int64
}

var _ Store = (*MemStore)(nil)

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore { return &MemStore{acls: map[Binding]bool{}} }

// ACLs implements Store.
func (m *MemStore) ACLs(ctx context.Context) ([]Binding, int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Binding, 0, len(m.acls))
	for b := range m.acls {
		out = append(out, b)
	}
	slices.SortFunc(out, Compare)
	return out, m.version, nil
}

// ACLVersion implements Store.
func (m *MemStore) ACLVersion(ctx context.Context) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.version, nil
}

// AddACLs implements Store.
func (m *MemStore) AddACLs(ctx context.Context, bs []Binding) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	changed := false
	for _, b := range bs {
		if !m.acls[b] {
			m.acls[b], changed = true, true
		}
	}
	if changed {
		m.version++
	}
	return nil
}

// RemoveACLs implements Store.
func (m *MemStore) RemoveACLs(ctx context.Context, bs []Binding) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	changed := false
	for _, b := range bs {
		if m.acls[b] {
			delete(m.acls, b)
			changed = true
		}
	}
	if changed {
		m.version++
	}
	return nil
}
