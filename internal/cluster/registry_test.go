package cluster

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/metadata"
)

func TestClientZone(t *testing.T) {
	for id, want := range map[string]string{
		"":                             "",
		"app":                          "",
		"sluice_az=a":                  "a",
		"billing,sluice_az=us-east-1a": "us-east-1a",
		"x;sluice_az=z2;y":             "z2",
		"sluice_az=":                   "",
		"svc sluice_az=b extra":        "b",
	} {
		if got := ClientZone(id); got != want {
			t.Errorf("ClientZone(%q) = %q, want %q", id, got, want)
		}
	}
}

// memAgents is an in-memory metadata.Agents with a settable clock.
type memAgents struct {
	mu     sync.Mutex
	now    time.Time
	agents map[int32]metadata.Agent
}

func (m *memAgents) HeartbeatAgent(_ context.Context, a metadata.Agent) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	a.HeartbeatAt = m.now
	m.agents[a.NodeID] = a
	return nil
}

func (m *memAgents) LiveAgents(_ context.Context, ttl time.Duration) ([]metadata.Agent, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []metadata.Agent
	for _, a := range m.agents {
		if m.now.Sub(a.HeartbeatAt) < ttl {
			out = append(out, a)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].NodeID < out[j].NodeID })
	return out, nil
}

func (m *memAgents) RemoveAgent(_ context.Context, id int32, inst string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if a, ok := m.agents[id]; ok && a.Instance == inst {
		delete(m.agents, id)
	}
	return nil
}

func (m *memAgents) advance(d time.Duration) {
	m.mu.Lock()
	m.now = m.now.Add(d)
	m.mu.Unlock()
}

func ids(bs []Broker) string {
	var out []int32
	for _, b := range bs {
		out = append(out, b.NodeID)
	}
	return fmt.Sprint(out)
}

// TestRegistryZonesAndExpiry runs four agents in two zones against one
// store: clients see their zone's agents (or all without a zone), agents
// that stop heartbeating drop out after the TTL, and a clean stop removes
// an agent at once.
func TestRegistryZonesAndExpiry(t *testing.T) {
	ctx := context.Background()
	store := &memAgents{now: time.Unix(1000, 0), agents: map[int32]metadata.Agent{}}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	zones := []string{"a", "b", "a", "b"}
	regs := make([]*Registry, len(zones))
	for i, z := range zones {
		regs[i] = NewRegistry(store, Broker{NodeID: int32(i + 1), Host: "h", Port: int32(9000 + i)}, z, time.Hour, 10*time.Second, logger)
		if err := regs[i].beat(ctx); err != nil {
			t.Fatal(err)
		}
	}
	r := regs[0]
	if err := r.beat(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ clientID, want string }{
		{"", "[1 2 3 4]"},
		{"app,sluice_az=a", "[1 3]"},
		{"sluice_az=b", "[2 4]"},
		{"sluice_az=nowhere", "[1 2 3 4]"},
	} {
		if got := ids(r.Brokers(c.clientID)); got != c.want {
			t.Errorf("Brokers(%q) = %s, want %s", c.clientID, got, c.want)
		}
	}
	if rack := r.Brokers("sluice_az=b")[0].Rack; rack == nil || *rack != "b" {
		t.Errorf("rack of a zone-b agent = %v", rack)
	}
	if rack := r.Self().Rack; rack == nil || *rack != "a" {
		t.Errorf("own rack = %v", rack)
	}

	// Agents 2 and 3 stop heartbeating; 1 and 4 go on.
	store.advance(11 * time.Second)
	regs[3].beat(ctx)
	r.beat(ctx)
	if got := ids(r.Brokers("")); got != "[1 4]" {
		t.Fatalf("after agents 2 and 3 expired: %s", got)
	}
	if got := ids(r.Brokers("sluice_az=b")); got != "[4]" {
		t.Fatalf("zone b after expiry: %s", got)
	}
	// Ownership only ever names live agents.
	for i := 0; i < 50; i++ {
		if o := r.Owner(fmt.Sprint("group-", i)).NodeID; o != 1 && o != 4 {
			t.Fatalf("owner %d is not live", o)
		}
	}
	// A clean stop removes the entry without waiting for the TTL.
	if err := regs[3].Stop(ctx); err != nil {
		t.Fatal(err)
	}
	r.beat(ctx)
	if got := ids(r.Brokers("")); got != "[1]" {
		t.Fatalf("after agent 4 stopped: %s", got)
	}
}
