package groups

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicehq/sluice/internal/metadata"
)

// TestClassicScenario runs the classic-protocol scenarios in
// testdata/classic. Every scenario drives group "g" with clients named by
// the test; member IDs are shown by the name of the client that first
// received them (name#2 for a client's second ID). Commands:
//
//	config [initial-delay=D] [min-session=D] [max-session=D]
//	                  recreate the coordinator (a fresh store) with these limits
//	join NAME [member=LABEL|none] [instance=I] [session=D] [rebalance=D]
//	     [protocols=P1,P2|none] [meta=M] [type=T|none] [old]
//	                  JoinGroup; member defaults to NAME's last ID, session
//	                  and rebalance to 10s, protocols to range, type to
//	                  consumer; old is JoinGroup v0-v3 (no MEMBER_ID_REQUIRED)
//	sync NAME [gen=N] [assign=LABEL:BYTES,...] [member=LABEL] [instance=I]
//	heartbeat NAME [gen=N] [member=LABEL] [instance=I]
//	leave NAME [member=LABEL|none] [instance=I]
//	commit NAME [gen=N] [member=LABEL|none] [instance=I]
//	                  OffsetCommit of t/0; gen defaults to NAME's generation
//	advance D         move the manual clock, firing due timers
//	describe          the group's state
//	restart           another coordinator takes the group over (same store and clock)
//
// A join or sync not answered at once prints "pending"; every answer
// (immediate or later) is printed as "NAME: join ..." / "NAME: sync ...".
func TestClassicScenario(t *testing.T) {
	var r *classicRunner
	runScenarios(t, filepath.Join("testdata", "classic"), func(t *testing.T, d *directive) string {
		if d.cmd == "config" {
			r = newClassicRunner(t, Config{InitialRebalanceDelay: durKV(t, d, "initial-delay", 0),
				MinSessionTimeout: durKV(t, d, "min-session", 0), MaxSessionTimeout: durKV(t, d, "max-session", 0)})
			return "ok"
		}
		if r == nil || r.t != t {
			r = newClassicRunner(t, Config{})
		}
		return r.run(d)
	})
}

type classicRunner struct {
	t      *testing.T
	h      *harness
	clock  *manualClock
	ids    map[string]string // client name → its current member ID
	labels map[string]string // member ID → label
	gens   map[string]int32  // client name → last generation it joined
	joins  map[string]<-chan JoinResult
	syncs  map[string]<-chan SyncResult
}

func newClassicRunner(t *testing.T, cfg Config) *classicRunner {
	clk := newManualClock()
	cfg.Clock = clk
	r := &classicRunner{t: t, h: newHarness(t, cfg), clock: clk, ids: map[string]string{}, labels: map[string]string{},
		gens: map[string]int32{}, joins: map[string]<-chan JoinResult{}, syncs: map[string]<-chan SyncResult{}}
	r.h.topic("t", 1)
	return r
}

// durKV reads a duration argument.
func durKV(t *testing.T, d *directive, key string, def time.Duration) time.Duration {
	v, ok := d.kv[key]
	if !ok {
		return def
	}
	x, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("line %d: %s=%q: %v", d.line, key, v, err)
	}
	return x
}

// durArg reads a directive's one positional duration.
func durArg(t *testing.T, d *directive) time.Duration {
	if len(d.args) != 1 {
		t.Fatalf("line %d: %s takes one duration", d.line, d.cmd)
	}
	x, err := time.ParseDuration(d.args[0])
	if err != nil {
		t.Fatalf("line %d: %v", d.line, err)
	}
	return x
}

// member resolves the member ID a command uses.
func (r *classicRunner) member(d *directive, name string) string {
	v, ok := d.kv["member"]
	switch {
	case !ok:
		return r.ids[name]
	case v == "none":
		return ""
	}
	for id, l := range r.labels {
		if l == v {
			return id
		}
	}
	return v // an ID the coordinator never handed out
}

func (r *classicRunner) gen(d *directive, name string) int32 {
	if v, ok := d.kv["gen"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			r.t.Fatalf("line %d: gen=%q", d.line, v)
		}
		return int32(n)
	}
	if g, ok := r.gens[name]; ok {
		return g
	}
	return -1
}

func instance(d *directive) *string {
	if v, ok := d.kv["instance"]; ok {
		return &v
	}
	return nil
}

// label names a member ID, registering IDs seen for the first time as
// the client's.
func (r *classicRunner) label(name, id string) string {
	if id == "" {
		return `""`
	}
	if l, ok := r.labels[id]; ok {
		return l
	}
	l := name
	for n := 2; ; n++ {
		taken := false
		for _, x := range r.labels {
			taken = taken || x == l
		}
		if !taken {
			break
		}
		l = fmt.Sprintf("%s#%d", name, n)
	}
	r.labels[id] = l
	return l
}

// lookup names a member ID without registering it: "?" for an ID no
// client has been told yet (a join still pending).
func (r *classicRunner) lookup(id string) string {
	if l, ok := r.labels[id]; ok {
		return l
	}
	if id == "" {
		return `""`
	}
	return "?"
}

func errName(err error) string {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Message
	}
	return err.Error()
}

func (r *classicRunner) run(d *directive) string {
	ctx := context.Background()
	name := ""
	if len(d.args) > 0 {
		name = d.args[0]
	}
	var out []string
	switch d.cmd {
	case "join":
		var protocols []Protocol
		if ps := valueOr(d.kv["protocols"], "range"); ps != "none" {
			for _, p := range strings.Split(ps, ",") {
				protocols = append(protocols, Protocol{Name: p, Metadata: []byte(d.kv["meta"])})
			}
		}
		protocolType := valueOr(d.kv["type"], "consumer")
		if protocolType == "none" {
			protocolType = ""
		}
		req := JoinRequest{Group: "g", MemberID: r.member(d, name), InstanceID: instance(d), ClientID: name, ClientHost: "/127.0.0.1",
			SessionTimeout: durKV(r.t, d, "session", 10*time.Second), RebalanceTimeout: durKV(r.t, d, "rebalance", 10*time.Second),
			ProtocolType: protocolType, Protocols: protocols, RequireKnownMemberID: !d.has("old")}
		r.joins[name] = r.h.c.Join(ctx, req)
		if !r.answered(name, "join") {
			out = append(out, name+": join pending")
		}
	case "sync":
		var assign map[string][]byte
		if v, ok := d.kv["assign"]; ok {
			assign = map[string][]byte{}
			for _, a := range strings.Split(v, ",") {
				l, b, _ := strings.Cut(a, ":")
				assign[r.member(&directive{kv: map[string]string{"member": l}}, l)] = []byte(b)
			}
		}
		r.syncs[name] = r.h.c.Sync(ctx, SyncRequest{Group: "g", MemberID: r.member(d, name), InstanceID: instance(d),
			Generation: r.gen(d, name), Assignments: assign})
		if !r.answered(name, "sync") {
			out = append(out, name+": sync pending")
		}
	case "heartbeat":
		out = append(out, name+": heartbeat "+result(r.h.c.Heartbeat(ctx, "g", r.member(d, name), instance(d), r.gen(d, name))))
	case "leave":
		errs, err := r.h.c.Leave(ctx, "g", []LeavingMember{{MemberID: r.member(d, name), InstanceID: instance(d)}})
		if err == nil {
			err = errs[0]
		}
		out = append(out, name+": leave "+result(err))
	case "commit":
		errs, err := r.h.c.Commit(ctx, "g", r.member(d, name), instance(d), r.gen(d, name), []metadata.OffsetCommit{{Topic: "t", Partition: 0, Offset: 1, LeaderEpoch: -1}})
		if err == nil {
			err = errs[0]
		}
		out = append(out, name+": commit "+result(err))
	case "advance":
		r.clock.Advance(durArg(r.t, d))
	case "describe":
		out = append(out, r.describe())
	case "restart":
		r.h.restart().Close() // the old owner's timers stop with it
	default:
		r.t.Fatalf("line %d: unknown command %q", d.line, d.cmd)
	}
	return strings.Join(append(out, r.drain()...), "\n")
}

func valueOr(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func result(err error) string {
	if err == nil {
		return "ok"
	}
	return "error=" + errName(err)
}

// answered reports whether NAME's join or sync has an answer waiting.
func (r *classicRunner) answered(name, kind string) bool {
	if kind == "join" {
		return len(r.joins[name]) > 0
	}
	return len(r.syncs[name]) > 0
}

// drain prints every answered join and sync, by client name.
func (r *classicRunner) drain() []string {
	names := map[string]bool{}
	for n := range r.joins {
		names[n] = true
	}
	for n := range r.syncs {
		names[n] = true
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	joins := map[string]JoinResult{}
	for _, n := range sorted { // learn every new member ID before printing any
		if ch := r.joins[n]; ch != nil && len(ch) > 0 {
			res := <-ch
			delete(r.joins, n)
			joins[n] = res
			if res.MemberID != "" && (res.Err == nil || errors.Is(res.Err, kerr.MemberIDRequired)) {
				r.ids[n] = res.MemberID
				r.label(n, res.MemberID)
			}
		}
	}
	var out []string
	for _, n := range sorted {
		if res, ok := joins[n]; ok {
			out = append(out, n+": join "+r.joinResult(n, res))
		}
		if ch := r.syncs[n]; ch != nil && len(ch) > 0 {
			res := <-ch
			delete(r.syncs, n)
			s := n + ": sync "
			if res.Err != nil {
				s += "error=" + errName(res.Err)
			} else {
				s += fmt.Sprintf("protocol=%s assignment=%q", res.Protocol, res.Assignment)
			}
			out = append(out, s)
		}
	}
	return out
}

func (r *classicRunner) joinResult(name string, res JoinResult) string {
	member := r.label(name, res.MemberID)
	if res.Err != nil {
		return fmt.Sprintf("error=%s member=%s", errName(res.Err), member)
	}
	r.gens[name] = res.Generation
	s := fmt.Sprintf("member=%s gen=%d protocol=%s leader=%s", member, res.Generation, res.Protocol, r.lookup(res.Leader))
	if res.SkipAssignment {
		s += " skip-assignment"
	}
	if res.Members != nil {
		var ms []string
		for _, m := range res.Members {
			ms = append(ms, r.lookup(m.MemberID))
		}
		s += " members=" + strings.Join(ms, ",")
	}
	return s
}

func (r *classicRunner) describe() string {
	d, err := r.h.c.Describe(context.Background(), "g")
	if err != nil {
		return "error=" + errName(err)
	}
	r.h.c.mu.Lock()
	g := r.h.c.groups["g"]
	r.h.c.mu.Unlock()
	gen, leader := int32(-1), ""
	if g != nil {
		g.mu.Lock()
		gen, leader = g.generation, g.leader
		g.mu.Unlock()
	}
	s := fmt.Sprintf("state=%s gen=%d protocol=%s leader=%s", d.State, gen, d.Protocol, r.lookup(leader))
	for _, m := range d.Members {
		s += fmt.Sprintf("\n  %s", r.lookup(m.MemberID))
		if m.InstanceID != nil {
			s += " instance=" + *m.InstanceID
		}
		if m.Assignment != nil {
			s += fmt.Sprintf(" assignment=%q", m.Assignment)
		}
	}
	return s
}
