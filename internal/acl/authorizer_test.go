package acl

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/auth"
)

const (
	topic   = kmsg.ACLResourceTypeTopic
	group   = kmsg.ACLResourceTypeGroup
	cluster = kmsg.ACLResourceTypeCluster
	txnID   = kmsg.ACLResourceTypeTransactionalId
	literal = kmsg.ACLResourcePatternTypeLiteral
	prefix  = kmsg.ACLResourcePatternTypePrefixed
	allow   = kmsg.ACLPermissionTypeAllow
	deny    = kmsg.ACLPermissionTypeDeny
)

// bind is a binding in the order kafka-acls prints one.
func bind(perm kmsg.ACLPermissionType, principal string, op kmsg.ACLOperation, rt kmsg.ACLResourceType, pt kmsg.ACLResourcePatternType, name, host string) Binding {
	return Binding{ResourceType: rt, ResourceName: name, PatternType: pt, Principal: principal, Host: host, Operation: op, Permission: perm}
}

func newTestAuthorizer(t *testing.T, cfg Config, bs ...Binding) *Authorizer {
	t.Helper()
	store := NewMemStore()
	if err := store.AddACLs(context.Background(), bs); err != nil {
		t.Fatal(err)
	}
	a := New(cfg, store, nil, nil)
	if err := a.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	return a
}

func TestDecide(t *testing.T) {
	alice, bob := auth.User("alice"), auth.User("bob")
	type check struct {
		who  auth.Principal
		host string
		op   kmsg.ACLOperation
		rt   kmsg.ACLResourceType
		name string
		want bool
	}
	tests := []struct {
		name   string
		cfg    Config
		acls   []Binding
		checks []check
	}{
		{"no ACL denies by default", Config{}, nil, []check{
			{alice, "1.2.3.4", kmsg.ACLOperationRead, topic, "t", false},
		}},
		{"no ACL allows with allow.everyone.if.no.acl.found", Config{AllowEveryoneIfNoACLFound: true}, []Binding{
			bind(allow, "User:bob", kmsg.ACLOperationRead, topic, literal, "other", "*"),
		}, []check{
			{alice, "1.2.3.4", kmsg.ACLOperationRead, topic, "t", true},
			// An ACL on the resource, even for someone else, ends the default.
			{alice, "1.2.3.4", kmsg.ACLOperationRead, topic, "other", false},
			{bob, "1.2.3.4", kmsg.ACLOperationRead, topic, "other", true},
		}},
		{"literal allow is exact", Config{}, []Binding{
			bind(allow, "User:alice", kmsg.ACLOperationRead, topic, literal, "orders", "*"),
		}, []check{
			{alice, "1.2.3.4", kmsg.ACLOperationRead, topic, "orders", true},
			{alice, "1.2.3.4", kmsg.ACLOperationRead, topic, "orders2", false},
			{alice, "1.2.3.4", kmsg.ACLOperationWrite, topic, "orders", false},
			{alice, "1.2.3.4", kmsg.ACLOperationRead, group, "orders", false},
			{bob, "1.2.3.4", kmsg.ACLOperationRead, topic, "orders", false},
		}},
		{"implied operations", Config{}, []Binding{
			bind(allow, "User:alice", kmsg.ACLOperationWrite, topic, literal, "w", "*"),
			bind(allow, "User:alice", kmsg.ACLOperationDelete, topic, literal, "d", "*"),
			bind(allow, "User:alice", kmsg.ACLOperationAlter, topic, literal, "a", "*"),
			bind(allow, "User:alice", kmsg.ACLOperationAlterConfigs, topic, literal, "ac", "*"),
			bind(allow, "User:alice", kmsg.ACLOperationCreate, topic, literal, "c", "*"),
			bind(allow, "User:alice", kmsg.ACLOperationRead, group, literal, "g", "*"),
		}, []check{
			{alice, "h", kmsg.ACLOperationDescribe, topic, "w", true},
			{alice, "h", kmsg.ACLOperationDescribe, topic, "d", true},
			{alice, "h", kmsg.ACLOperationDescribe, topic, "a", true},
			{alice, "h", kmsg.ACLOperationDescribeConfigs, topic, "ac", true},
			{alice, "h", kmsg.ACLOperationDescribe, topic, "ac", false},
			{alice, "h", kmsg.ACLOperationDescribe, topic, "c", false},
			{alice, "h", kmsg.ACLOperationDescribe, group, "g", true},
			// Implication goes one way only.
			{alice, "h", kmsg.ACLOperationRead, topic, "w", false},
			{alice, "h", kmsg.ACLOperationAlterConfigs, topic, "ac", true},
		}},
		{"ALL allows every operation", Config{}, []Binding{
			bind(allow, "User:alice", kmsg.ACLOperationAll, topic, literal, "t", "*"),
		}, []check{
			{alice, "h", kmsg.ACLOperationRead, topic, "t", true},
			{alice, "h", kmsg.ACLOperationAlterConfigs, topic, "t", true},
			{alice, "h", kmsg.ACLOperationDescribe, topic, "t", true},
		}},
		{"DENY wins", Config{}, []Binding{
			bind(allow, "User:*", kmsg.ACLOperationAll, topic, literal, "*", "*"),
			bind(deny, "User:alice", kmsg.ACLOperationWrite, topic, prefix, "secret-", "*"),
			bind(deny, "User:alice", kmsg.ACLOperationAll, topic, literal, "locked", "*"),
		}, []check{
			{alice, "h", kmsg.ACLOperationWrite, topic, "secret-x", false},
			{alice, "h", kmsg.ACLOperationRead, topic, "secret-x", true},
			// A DENY of WRITE does not deny the DESCRIBE it would imply.
			{alice, "h", kmsg.ACLOperationDescribe, topic, "secret-x", true},
			{alice, "h", kmsg.ACLOperationDescribe, topic, "locked", false},
			{bob, "h", kmsg.ACLOperationWrite, topic, "secret-x", true},
			{bob, "h", kmsg.ACLOperationWrite, topic, "locked", true},
		}},
		{"wildcard and prefixed resources", Config{}, []Binding{
			bind(allow, "User:alice", kmsg.ACLOperationRead, topic, prefix, "logs.", "*"),
			bind(allow, "User:bob", kmsg.ACLOperationRead, group, literal, "*", "*"),
		}, []check{
			{alice, "h", kmsg.ACLOperationRead, topic, "logs.app", true},
			{alice, "h", kmsg.ACLOperationRead, topic, "logs.", true},
			{alice, "h", kmsg.ACLOperationRead, topic, "logs", false},
			{alice, "h", kmsg.ACLOperationRead, topic, "applogs.x", false},
			{bob, "h", kmsg.ACLOperationRead, group, "anything", true},
			{bob, "h", kmsg.ACLOperationRead, topic, "anything", false},
		}},
		{"host matching", Config{}, []Binding{
			bind(allow, "User:alice", kmsg.ACLOperationRead, topic, literal, "t", "10.0.0.1"),
			bind(deny, "User:*", kmsg.ACLOperationRead, topic, literal, "t", "10.0.0.9"),
			bind(allow, "User:bob", kmsg.ACLOperationRead, topic, literal, "t", "*"),
		}, []check{
			{alice, "10.0.0.1", kmsg.ACLOperationRead, topic, "t", true},
			{alice, "10.0.0.2", kmsg.ACLOperationRead, topic, "t", false},
			{bob, "10.0.0.2", kmsg.ACLOperationRead, topic, "t", true},
			{bob, "10.0.0.9", kmsg.ACLOperationRead, topic, "t", false},
		}},
		{"super users", Config{SuperUsers: []auth.Principal{auth.User("admin"), auth.Anonymous}}, []Binding{
			bind(deny, "User:*", kmsg.ACLOperationAll, topic, literal, "*", "*"),
		}, []check{
			{auth.User("admin"), "h", kmsg.ACLOperationWrite, topic, "t", true},
			{auth.Anonymous, "h", kmsg.ACLOperationAlter, cluster, ClusterName, true},
			{alice, "h", kmsg.ACLOperationWrite, topic, "t", false},
			// Principal types are part of the name: Group:admin is not User:admin.
			{auth.Principal{Type: "Group", Name: "admin"}, "h", kmsg.ACLOperationRead, topic, "t", false},
		}},
		{"transactional id and cluster", Config{}, []Binding{
			bind(allow, "User:alice", kmsg.ACLOperationWrite, txnID, prefix, "app-", "*"),
			bind(allow, "User:alice", kmsg.ACLOperationIdempotentWrite, cluster, literal, ClusterName, "*"),
		}, []check{
			{alice, "h", kmsg.ACLOperationWrite, txnID, "app-1", true},
			{alice, "h", kmsg.ACLOperationDescribe, txnID, "app-1", true},
			{alice, "h", kmsg.ACLOperationIdempotentWrite, cluster, ClusterName, true},
			{alice, "h", kmsg.ACLOperationCreate, cluster, ClusterName, false},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Mode = ModeEnforce
			a := newTestAuthorizer(t, tt.cfg, tt.acls...)
			for _, c := range tt.checks {
				if got := a.Authorize(c.who, c.host, c.op, c.rt, c.name); got != c.want {
					t.Errorf("%s from %s: %s %s %q = %v, want %v", c.who, c.host, c.op, c.rt, c.name, got, c.want)
				}
			}
		})
	}
}

// TestAuthorizeByResourceType is KIP-679's rule for idempotent producers:
// WRITE on any topic, unless DENYs cover every pattern allowed.
func TestAuthorizeByResourceType(t *testing.T) {
	alice := auth.User("alice")
	tests := []struct {
		name string
		acls []Binding
		want bool
	}{
		{"none", nil, false},
		{"literal allow", []Binding{bind(allow, "User:alice", kmsg.ACLOperationWrite, topic, literal, "t", "*")}, true},
		{"other op", []Binding{bind(allow, "User:alice", kmsg.ACLOperationRead, topic, literal, "t", "*")}, false},
		{"ALL", []Binding{bind(allow, "User:alice", kmsg.ACLOperationAll, topic, prefix, "p", "*")}, true},
		{"literal denied", []Binding{
			bind(allow, "User:alice", kmsg.ACLOperationWrite, topic, literal, "t", "*"),
			bind(deny, "User:alice", kmsg.ACLOperationWrite, topic, literal, "t", "*"),
		}, false},
		{"prefix denied covers", []Binding{
			bind(allow, "User:alice", kmsg.ACLOperationWrite, topic, prefix, "app-x", "*"),
			bind(deny, "User:alice", kmsg.ACLOperationWrite, topic, prefix, "app-", "*"),
		}, false},
		{"prefix denied does not cover", []Binding{
			bind(allow, "User:alice", kmsg.ACLOperationWrite, topic, prefix, "app-", "*"),
			bind(deny, "User:alice", kmsg.ACLOperationWrite, topic, prefix, "app-x", "*"),
		}, true},
		{"wildcard deny", []Binding{
			bind(allow, "User:alice", kmsg.ACLOperationWrite, topic, literal, "t", "*"),
			bind(deny, "User:*", kmsg.ACLOperationAll, topic, literal, "*", "*"),
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestAuthorizer(t, Config{Mode: ModeEnforce}, tt.acls...)
			if got := a.AuthorizeByResourceType(alice, "h", kmsg.ACLOperationWrite, topic); got != tt.want {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestModes(t *testing.T) {
	acls := []Binding{bind(allow, "User:alice", kmsg.ACLOperationRead, topic, literal, "t", "*")}
	for _, mode := range []Mode{ModeOff, ModeShadow, ModeEnforce} {
		t.Run(mode.String(), func(t *testing.T) {
			reg := prometheus.NewRegistry()
			store := NewMemStore()
			store.AddACLs(context.Background(), acls)
			a := New(Config{Mode: mode}, store, NewMetrics(reg), nil)
			if err := a.Load(context.Background()); err != nil {
				t.Fatal(err)
			}
			allowed := a.Authorize(auth.User("alice"), "h", kmsg.ACLOperationRead, topic, "t")
			denied := a.Authorize(auth.User("bob"), "h", kmsg.ACLOperationRead, topic, "t")
			if !allowed || denied != (mode != ModeEnforce) {
				t.Fatalf("alice %v, bob %v", allowed, denied)
			}
			want := map[ModeResult]float64{}
			if mode != ModeOff {
				want = map[ModeResult]float64{{mode.String(), "allowed"}: 1, {mode.String(), "denied"}: 1}
			}
			for mr, n := range want {
				c := a.metrics.decisions.WithLabelValues(mr.mode, mr.result, "READ", "TOPIC")
				if got := testutil.ToFloat64(c); got != n {
					t.Errorf("%v = %v, want %v", mr, got, n)
				}
			}
			if mode == ModeOff {
				if n := testutil.CollectAndCount(a.metrics.decisions); n != 0 {
					t.Errorf("off mode counted %d series", n)
				}
			}
			ops := a.AuthorizedOperations(auth.User("bob"), "h", topic, "t")
			if wantAll := mode != ModeEnforce; (ops == allTopicOps()) != wantAll {
				t.Errorf("authorized operations %b (all: %b)", ops, allTopicOps())
			}
		})
	}
}

type ModeResult struct{ mode, result string }

func allTopicOps() int32 {
	var b int32
	for _, op := range SupportedOperations(topic) {
		b |= 1 << uint(op)
	}
	return b
}

func TestAuthorizedOperations(t *testing.T) {
	a := newTestAuthorizer(t, Config{Mode: ModeEnforce},
		bind(allow, "User:alice", kmsg.ACLOperationWrite, topic, literal, "t", "*"),
		bind(allow, "User:alice", kmsg.ACLOperationAlterConfigs, topic, literal, "t", "*"))
	got := a.AuthorizedOperations(auth.User("alice"), "h", topic, "t")
	want := int32(1<<kmsg.ACLOperationWrite | 1<<kmsg.ACLOperationDescribe | 1<<kmsg.ACLOperationAlterConfigs | 1<<kmsg.ACLOperationDescribeConfigs)
	if got != want {
		t.Fatalf("got %b, want %b", got, want)
	}
	// CREATE without DESCRIBE on the cluster: nothing is reported.
	a = newTestAuthorizer(t, Config{Mode: ModeEnforce}, bind(allow, "User:alice", kmsg.ACLOperationCreate, cluster, literal, ClusterName, "*"))
	if got := a.AuthorizedOperations(auth.User("alice"), "h", cluster, ClusterName); got != 0 {
		t.Fatalf("cluster operations without DESCRIBE: %b", got)
	}
}

func TestValidate(t *testing.T) {
	ok := bind(allow, "User:alice", kmsg.ACLOperationRead, topic, literal, "t", "*")
	mod := func(f func(*Binding)) Binding { b := ok; f(&b); return b }
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := map[string]Binding{
		"any resource type": mod(func(b *Binding) { b.ResourceType = kmsg.ACLResourceTypeAny }),
		"match pattern":     mod(func(b *Binding) { b.PatternType = kmsg.ACLResourcePatternTypeMatch }),
		"empty name":        mod(func(b *Binding) { b.ResourceName = "" }),
		"cluster name":      mod(func(b *Binding) { b.ResourceType, b.Operation = cluster, kmsg.ACLOperationAlter }),
		"principal":         mod(func(b *Binding) { b.Principal = "alice" }),
		"host":              mod(func(b *Binding) { b.Host = "example.com" }),
		"any op":            mod(func(b *Binding) { b.Operation = kmsg.ACLOperationAny }),
		"op not for type":   mod(func(b *Binding) { b.Operation = kmsg.ACLOperationIdempotentWrite }),
		"any permission":    mod(func(b *Binding) { b.Permission = kmsg.ACLPermissionTypeAny }),
		"prefixed wildcard": mod(func(b *Binding) { b.PatternType, b.ResourceName = prefix, "*" }),
	}
	for name, b := range bad {
		if err := b.Validate(); err == nil || !strings.Contains(err.Error(), "invalid") {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, f := range []Filter{{ResourceType: kmsg.ACLResourceTypeUnknown, PatternType: kmsg.ACLResourcePatternTypeAny, Operation: kmsg.ACLOperationAny, Permission: kmsg.ACLPermissionTypeAny},
		{ResourceType: kmsg.ACLResourceTypeAny, PatternType: kmsg.ACLResourcePatternTypeUnknown, Operation: kmsg.ACLOperationAny, Permission: kmsg.ACLPermissionTypeAny},
		{ResourceType: kmsg.ACLResourceTypeAny, PatternType: kmsg.ACLResourcePatternTypeAny, Operation: kmsg.ACLOperationUnknown, Permission: kmsg.ACLPermissionTypeAny}} {
		if f.Validate() == nil {
			t.Errorf("filter %+v accepted", f)
		}
	}
}

func TestFilterMatches(t *testing.T) {
	bs := []Binding{
		bind(allow, "User:a", kmsg.ACLOperationRead, topic, literal, "orders", "*"),
		bind(allow, "User:a", kmsg.ACLOperationRead, topic, literal, "*", "*"),
		bind(allow, "User:a", kmsg.ACLOperationRead, topic, prefix, "ord", "*"),
		bind(allow, "User:a", kmsg.ACLOperationRead, topic, prefix, "x", "*"),
		bind(deny, "User:b", kmsg.ACLOperationWrite, group, literal, "orders", "*"),
	}
	name := "orders"
	count := func(f Filter) int {
		n := 0
		for _, b := range bs {
			if f.Matches(b) {
				n++
			}
		}
		return n
	}
	any := Filter{ResourceType: kmsg.ACLResourceTypeAny, PatternType: kmsg.ACLResourcePatternTypeAny, Operation: kmsg.ACLOperationAny, Permission: kmsg.ACLPermissionTypeAny}
	cases := []struct {
		f    Filter
		want int
	}{
		{any, 5},
		{func() Filter { f := any; f.ResourceName = &name; return f }(), 2},
		{func() Filter {
			f := any
			f.ResourceName = &name
			f.PatternType = kmsg.ACLResourcePatternTypeMatch
			return f
		}(), 4},
		{func() Filter { f := any; f.PatternType = prefix; return f }(), 2},
		{func() Filter { f := any; f.ResourceType = group; return f }(), 1},
		{func() Filter { f := any; f.Permission = deny; return f }(), 1},
		{func() Filter {
			f := any
			p := "User:a"
			f.Principal = &p
			f.Operation = kmsg.ACLOperationRead
			return f
		}(), 4},
	}
	for i, c := range cases {
		if got := count(c.f); got != c.want {
			t.Errorf("case %d: %d bindings match, want %d", i, got, c.want)
		}
	}
}

func TestParseSuperUsers(t *testing.T) {
	ps, err := ParseSuperUsers("User:admin; User:CN=ops,O=x ;")
	if err != nil || len(ps) != 2 || ps[0] != auth.User("admin") || ps[1] != auth.User("CN=ops,O=x") {
		t.Fatalf("%v %v", ps, err)
	}
	if _, err := ParseSuperUsers("admin"); err == nil {
		t.Fatal("accepted a principal without a type")
	}
}

// TestRefresh: a change through one authorizer reaches another on the
// same store through Run's polling.
func TestRefresh(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store := NewMemStore()
	a := New(Config{Mode: ModeEnforce, RefreshInterval: 10 * time.Millisecond}, store, nil, nil)
	b := New(Config{Mode: ModeEnforce, RefreshInterval: 10 * time.Millisecond}, store, nil, nil)
	go b.Run(ctx)
	alice := auth.User("alice")
	if b.Authorize(alice, "h", kmsg.ACLOperationRead, topic, "t") {
		t.Fatal("allowed before any ACL")
	}
	if errs, err := a.Create(ctx, []Binding{bind(allow, "User:alice", kmsg.ACLOperationRead, topic, literal, "t", "*")}); err != nil || errs[0] != nil {
		t.Fatal(errs, err)
	}
	if !a.Authorize(alice, "h", kmsg.ACLOperationRead, topic, "t") {
		t.Fatal("the creating authorizer does not see its own ACL")
	}
	deadline := time.Now().Add(2 * time.Second)
	for !b.Authorize(alice, "h", kmsg.ACLOperationRead, topic, "t") {
		if time.Now().After(deadline) {
			t.Fatal("the other authorizer did not pick the ACL up")
		}
		time.Sleep(time.Millisecond)
	}
}

// BenchmarkAuthorize decides against 10,000 literal topic ACLs and 100
// prefixed ones, as a produce of one topic does.
func BenchmarkAuthorize(b *testing.B) {
	var bs []Binding
	for i := range 10000 {
		bs = append(bs, bind(allow, fmt.Sprintf("User:u%d", i%100), kmsg.ACLOperationWrite, topic, literal, fmt.Sprintf("topic-%d", i), "*"))
	}
	for i := range 100 {
		bs = append(bs, bind(allow, "User:etl", kmsg.ACLOperationRead, topic, prefix, fmt.Sprintf("logs-%d.", i), "*"))
	}
	store := NewMemStore()
	store.AddACLs(context.Background(), bs)
	a := New(Config{Mode: ModeEnforce}, store, nil, nil)
	if err := a.Load(context.Background()); err != nil {
		b.Fatal(err)
	}
	p := auth.User("u7")
	b.ReportAllocs()
	for b.Loop() {
		if !a.Authorize(p, "10.0.0.1", kmsg.ACLOperationWrite, topic, "topic-4207") {
			b.Fatal("denied")
		}
	}
}
