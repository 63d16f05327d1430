package cluster

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/metadata"
)

func TestParseRoles(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Roles
		err  string
	}{
		{in: "proxy", want: Roles{Proxy: true}},
		{in: "jobs", want: Roles{Jobs: true}},
		{in: "proxy,jobs", want: DefaultRoles},
		{in: " jobs , proxy ,tableflow", want: Roles{Proxy: true, Jobs: true, Tableflow: true}},
		{in: "proxy,proxy", want: Roles{Proxy: true}},
		{in: "proxy,job", err: `unknown role "job"`},
		{in: "query", err: `unknown role "query"`},
		{in: "", err: "no roles given"},
		{in: " , ", err: "no roles given"},
	} {
		got, err := ParseRoles(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseRoles(%q) = %+v, %v; want error %q", c.in, got, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("ParseRoles(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
		if back, err := ParseRoles(got.String()); err != nil || back != got {
			t.Errorf("ParseRoles(%q.String() = %q) = %+v, %v", c.in, got.String(), back, err)
		}
	}
	// Agents registered before roles existed have proxy and jobs.
	if r := registeredRoles(""); r != DefaultRoles {
		t.Errorf("registeredRoles(\"\") = %+v", r)
	}
}

func TestClientGroup(t *testing.T) {
	for id, want := range map[string]struct {
		group string
		ok    bool
	}{
		"":                                {},
		"app,sluice_az=a":                 {},
		"sluice_group=a":                  {"a", true},
		"app,sluice_group=t1,sluice_az=z": {"t1", true},
		"sluice_az=z;sluice_group=t2&x":   {"t2", true},
		"sluice_group=":                   {"", true},
	} {
		if g, ok := ClientGroup(id); g != want.group || ok != want.ok {
			t.Errorf("ClientGroup(%q) = %q, %v; want %q, %v", id, g, ok, want.group, want.ok)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for a logger and a test to share.
type syncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRegistryRolesAndGroups runs agents of two agent groups and two
// zones, with a jobs-only agent: clients see only proxy agents of their
// group (then zone), owners are chosen within the client's group, the
// jobs count follows the jobs agents, and its absence is warned about.
func TestRegistryRolesAndGroups(t *testing.T) {
	ctx := context.Background()
	store := &memAgents{now: time.Unix(1000, 0), agents: map[int32]metadata.Agent{}}
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	type spec struct {
		group, zone string
		roles       Roles
	}
	specs := []spec{
		{"", "a", Roles{Proxy: true}},   // 1
		{"t1", "a", Roles{Proxy: true}}, // 2
		{"t1", "b", Roles{Proxy: true}}, // 3
		{"", "b", Roles{Proxy: true}},   // 4
		{"", "a", Roles{Jobs: true}},    // 5: jobs only
	}
	regs := make([]*Registry, len(specs))
	for i, s := range specs {
		regs[i] = NewRegistry(store, Broker{NodeID: int32(i + 1), Host: "h", Port: int32(9000 + i)}, s.zone, time.Hour, 10*time.Second, logger)
		regs[i].SetRoles(s.roles)
		regs[i].SetGroup(s.group)
		regs[i].now = func() time.Time { store.mu.Lock(); defer store.mu.Unlock(); return store.now }
		if err := regs[i].beat(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range regs {
		if err := r.beat(ctx); err != nil {
			t.Fatal(err)
		}
	}
	def, t1 := regs[0], regs[1]
	for _, c := range []struct {
		r              *Registry
		clientID, want string
	}{
		{def, "", "[1 4]"},
		{def, "sluice_group=t1", "[2 3]"},
		{def, "sluice_group=t1,sluice_az=b", "[3]"},
		{def, "sluice_group=nosuch", "[1 4]"},
		{def, "sluice_az=b", "[4]"},
		{t1, "", "[2 3]"},
		{t1, "sluice_group=", "[1 4]"},
		{t1, "sluice_az=a", "[2]"},
		{t1, "sluice_group=t1,sluice_az=nowhere", "[2 3]"},
	} {
		if got := ids(c.r.Brokers(c.clientID)); got != c.want {
			t.Errorf("agent %d: Brokers(%q) = %s, want %s", c.r.Self().NodeID, c.clientID, got, c.want)
		}
	}
	for i := 0; i < 50; i++ {
		key := fmt.Sprint("group-", i)
		if o := def.Owner(key).NodeID; o != 1 && o != 4 {
			t.Fatalf("default group's owner of %s is %d", key, o)
		}
		// Every agent names the same owner for a client of group t1, and
		// that owner agrees it owns the key.
		o := def.OwnerFor("app,sluice_group=t1", key)
		if o.NodeID != 2 && o.NodeID != 3 {
			t.Fatalf("t1's owner of %s is %d", key, o.NodeID)
		}
		if regs[o.NodeID-1].Owner(key).NodeID != o.NodeID {
			t.Fatalf("agent %d does not own %s, which agent 1 sends t1's clients to", o.NodeID, key)
		}
		if jo := regs[4].Owner(key).NodeID; jo == 5 {
			t.Fatalf("the jobs-only agent owns %s", key)
		}
	}
	for _, r := range regs {
		if n := r.JobsAgents(); n != 1 {
			t.Fatalf("agent %d counts %d jobs agents, want 1", r.Self().NodeID, n)
		}
	}
	if err := regs[4].Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := def.beat(ctx); err != nil {
		t.Fatal(err)
	}
	if n := def.JobsAgents(); n != 0 {
		t.Fatalf("jobs agents after the jobs agent stopped: %d", n)
	}
	// Within a TTL of its start an agent does not warn: the others may
	// still be starting.
	if strings.Contains(logs.String(), "no live agent has the jobs role") {
		t.Fatalf("warned while the cluster may be starting: %s", logs.String())
	}
	store.advance(5 * time.Second)
	def.beat(ctx)
	store.advance(6 * time.Second)
	def.beat(ctx)
	if !strings.Contains(logs.String(), "no live agent has the jobs role") {
		t.Fatalf("no warning once the jobs agent is gone: %s", logs.String())
	}
	// The warning repeats only after noJobsWarnEvery.
	n := strings.Count(logs.String(), "no live agent has the jobs role")
	def.beat(ctx)
	if m := strings.Count(logs.String(), "no live agent has the jobs role"); m != n {
		t.Fatalf("warned %d times in a row", m)
	}
}
