package auth

import (
	"context"
	"slices"
	"strings"
	"sync"
)

// MemScramStore is a ScramStore in memory, for tests and single-process
// tools.
type MemScramStore struct {
	mu    sync.Mutex // guards creds
	creds map[memKey]ScramCredential
}

type memKey struct {
	user string
	mech ScramMechanism
}

var _ ScramStore = (*MemScramStore)(nil)

// NewMemScramStore returns an empty store.
func NewMemScramStore() *MemScramStore {
	return &MemScramStore{creds: map[memKey]ScramCredential{}}
}

// ScramCredential implements ScramStore.
func (s *MemScramStore) ScramCredential(_ context.Context, user string, m ScramMechanism) (ScramCredential, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.creds[memKey{user, m}]
	if !ok {
		return ScramCredential{}, ErrNoCredential
	}
	return c, nil
}

// ScramCredentials implements ScramStore.
func (s *MemScramStore) ScramCredentials(_ context.Context, users []string) ([]ScramCredential, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []ScramCredential
	for k, c := range s.creds {
		if users == nil || slices.Contains(users, k.user) {
			out = append(out, c)
		}
	}
	SortScramCredentials(out)
	return out, nil
}

// SortScramCredentials sorts by user, then mechanism.
func SortScramCredentials(cs []ScramCredential) {
	slices.SortFunc(cs, func(a, b ScramCredential) int {
		if c := strings.Compare(a.User, b.User); c != 0 {
			return c
		}
		return int(a.Mechanism) - int(b.Mechanism)
	})
}

// UpsertScramCredential implements ScramStore.
func (s *MemScramStore) UpsertScramCredential(_ context.Context, c ScramCredential) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.creds[memKey{c.User, c.Mechanism}] = c
	return nil
}

// DeleteScramCredential implements ScramStore.
func (s *MemScramStore) DeleteScramCredential(_ context.Context, user string, m ScramMechanism) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.creds[memKey{user, m}]; !ok {
		return ErrNoCredential
	}
	delete(s.creds, memKey{user, m})
	return nil
}
