package acl

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/auth"
	"github.com/sluicehq/sluice/internal/refresh"
)

// Store keeps the cluster's ACL bindings (the metadata store's acls table).
// Every agent reads the same bindings; a change through any agent bumps a
// version every agent polls, so caches are invalidated cluster-wide.
type Store interface {
	// ACLs returns every binding and the version they are at.
	ACLs(ctx context.Context) ([]Binding, int64, error)
	// ACLVersion returns the current version: it grows with every
	// AddACLs or RemoveACLs that changed a row.
	ACLVersion(ctx context.Context) (int64, error)
	// AddACLs stores bindings; one that already exists is left as is.
	AddACLs(ctx context.Context, bs []Binding) error
	// RemoveACLs deletes bindings; one that does not exist is ignored.
	RemoveACLs(ctx context.Context, bs []Binding) error
}

// Mode says what the authorizer does with its decisions.
type Mode int

const (
	// ModeOff authorizes nothing: every request is served and the ACL
	// APIs answer SECURITY_DISABLED, as a Kafka broker without an
	// authorizer.
	ModeOff Mode = iota
	// ModeShadow computes every decision, logs and counts would-be
	// denials, and serves the request anyway.
	ModeShadow
	// ModeEnforce refuses what the ACLs do not allow.
	ModeEnforce
)

func (m Mode) String() string {
	switch m {
	case ModeShadow:
		return "shadow"
	case ModeEnforce:
		return "enforce"
	}
	return "off"
}

// ParseMode parses "off", "shadow" or "enforce".
func ParseMode(s string) (Mode, error) {
	for _, m := range []Mode{ModeOff, ModeShadow, ModeEnforce} {
		if s == m.String() {
			return m, nil
		}
	}
	return ModeOff, fmt.Errorf("acl mode %q: want off, shadow or enforce", s)
}

// Config configures an Authorizer.
type Config struct {
	Mode Mode
	// SuperUsers are allowed everything (Kafka's super.users).
	SuperUsers []auth.Principal
	// AllowEveryoneIfNoACLFound allows any operation on a resource no
	// binding matches (Kafka's allow.everyone.if.no.acl.found).
	AllowEveryoneIfNoACLFound bool
	// RefreshInterval is how often the ACL version is polled; 0 means
	// 500ms, which keeps a change through any agent enforced on every
	// agent within 1 s (plus one store round trip).
	RefreshInterval time.Duration
}

// ParseSuperUsers parses Kafka's super.users syntax: principals separated
// by semicolons ("User:admin;User:ops"). Blank entries are skipped.
func ParseSuperUsers(s string) ([]auth.Principal, error) {
	var out []auth.Principal
	for item := range strings.SplitSeq(s, ";") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		p, err := auth.ParsePrincipal(item)
		if err != nil {
			return nil, fmt.Errorf("super users: %w", err)
		}
		out = append(out, p)
	}
	return out, nil
}

// Metrics counts authorization decisions.
type Metrics struct {
	decisions *prometheus.CounterVec
}

// NewMetrics registers the authorizer's metrics with reg (nil: not
// registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sluice_acl_decisions_total",
		Help: "Authorization decisions by --acl-mode, result (allowed, denied; in shadow mode denied requests are served), operation and resource type.",
	}, []string{"mode", "result", "operation", "resource_type"})}
	if reg != nil {
		reg.MustRegister(m.decisions)
	}
	return m
}

// Authorizer decides every request against a cached copy of the store's
// bindings, refreshed by Run when the store's version moves.
type Authorizer struct {
	cfg     Config
	store   Store
	super   map[string]bool
	metrics *Metrics
	logger  *slog.Logger

	mu      sync.RWMutex // guards rules and version
	rules   map[kmsg.ACLResourceType]*typeRules
	version int64

	logMu  sync.Mutex // guards logged
	logged map[string]time.Time
}

// typeRules are one resource type's bindings, indexed so a decision reads
// only those that can match: the LITERAL ones of the name and of "*", and
// the PREFIXED ones (usually few).
type typeRules struct {
	all      []Binding
	literal  map[string][]Binding
	prefixed []Binding
}

func indexRules(bs []Binding) map[kmsg.ACLResourceType]*typeRules {
	rules := map[kmsg.ACLResourceType]*typeRules{}
	for _, b := range bs {
		r := rules[b.ResourceType]
		if r == nil {
			r = &typeRules{literal: map[string][]Binding{}}
			rules[b.ResourceType] = r
		}
		r.all = append(r.all, b)
		if b.PatternType == kmsg.ACLResourcePatternTypePrefixed {
			r.prefixed = append(r.prefixed, b)
		} else {
			r.literal[b.ResourceName] = append(r.literal[b.ResourceName], b)
		}
	}
	return rules
}

// matching calls fn with every binding whose pattern matches name, until
// fn returns false.
func (r *typeRules) matching(name string, fn func(Binding) bool) {
	if r == nil {
		return
	}
	for _, b := range r.literal[name] {
		if !fn(b) {
			return
		}
	}
	if name != Wildcard {
		for _, b := range r.literal[Wildcard] {
			if !fn(b) {
				return
			}
		}
	}
	for _, b := range r.prefixed {
		if strings.HasPrefix(name, b.ResourceName) && !fn(b) {
			return
		}
	}
}

// deniedLogEvery bounds how often one (principal, host, operation,
// resource) denial is logged, so a client retrying a denied produce in a
// loop does not flood the log; every one is counted.
const deniedLogEvery = time.Minute

// New returns an authorizer over store (which may be nil in ModeOff).
// Call Load before serving and Run to follow changes.
func New(cfg Config, store Store, metrics *Metrics, logger *slog.Logger) *Authorizer {
	if cfg.RefreshInterval <= 0 {
		cfg.RefreshInterval = 500 * time.Millisecond
	}
	if metrics == nil {
		metrics = NewMetrics(nil)
	}
	if logger == nil {
		logger = slog.Default()
	}
	a := &Authorizer{cfg: cfg, store: store, super: map[string]bool{}, metrics: metrics, logger: logger,
		rules: map[kmsg.ACLResourceType]*typeRules{}, logged: map[string]time.Time{}}
	for _, p := range cfg.SuperUsers {
		a.super[p.String()] = true
	}
	return a
}

// Off is an authorizer in ModeOff: everything is allowed.
func Off() *Authorizer { return New(Config{}, nil, nil, nil) }

// Mode is the configured mode.
func (a *Authorizer) Mode() Mode { return a.cfg.Mode }

// Load reads every binding from the store. In ModeOff it does nothing.
func (a *Authorizer) Load(ctx context.Context) error {
	if a.cfg.Mode == ModeOff || a.store == nil {
		return nil
	}
	bs, v, err := a.store.ACLs(ctx)
	if err != nil {
		return fmt.Errorf("acl: load: %w", err)
	}
	rules := indexRules(bs)
	a.mu.Lock()
	a.rules, a.version = rules, v
	a.mu.Unlock()
	return nil
}

// Run polls the store's ACL version every RefreshInterval and reloads the
// bindings when it moved, until ctx ends. A store that cannot be reached
// leaves the last bindings in force.
func (a *Authorizer) Run(ctx context.Context) {
	if a.cfg.Mode == ModeOff || a.store == nil {
		return
	}
	refresh.Every(ctx, a.cfg.RefreshInterval, 5*time.Second, func(ctx context.Context) error {
		a.mu.RLock()
		held := a.version
		a.mu.RUnlock()
		return refresh.IfChanged(ctx, a.store.ACLVersion, held, a.Load)
	}, func(err error) {
		a.logger.Warn("acl: cannot refresh ACLs; the last ones stay in force", "err", err)
	})
}

// decide is the decision itself, whatever the mode.
func (a *Authorizer) decide(p auth.Principal, host string, op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) bool {
	principal := p.String()
	if a.super[principal] {
		return true
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	matched, allowed, denied := false, false, false
	a.rules[rt].matching(name, func(b Binding) bool {
		matched = true
		if !entryMatches(b, principal, host) {
			return true
		}
		switch b.Permission {
		case kmsg.ACLPermissionTypeDeny:
			if denyMatches(b.Operation, op) {
				denied = true
				return false // DENY wins
			}
		case kmsg.ACLPermissionTypeAllow:
			if allowImplies(b.Operation, op) {
				allowed = true
			}
		}
		return true
	})
	if denied {
		return false
	}
	if !matched {
		return a.cfg.AllowEveryoneIfNoACLFound
	}
	return allowed
}

// Authorize reports whether principal p, connected from host, may perform
// op on the resource. In ModeOff it is always true; in ModeShadow the
// decision is counted (and a denial logged) but true is returned.
func (a *Authorizer) Authorize(p auth.Principal, host string, op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) bool {
	served, _ := a.Decide(p, host, op, rt, name)
	return served
}

// Decide is Authorize with the ACLs' own verdict: served is Authorize's
// answer, denied whether the ACLs deny the operation, enforced or not (a
// shadow-mode would-be denial is served and denied). ModeOff decides
// nothing: served, not denied.
func (a *Authorizer) Decide(p auth.Principal, host string, op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) (served, denied bool) {
	if a.cfg.Mode == ModeOff {
		return true, false
	}
	ok := a.decide(p, host, op, rt, name)
	a.record(ok, p, host, op, rt, name)
	return ok || a.cfg.Mode == ModeShadow, !ok
}

// Check is the decision Authorize would make, without recording it: for
// the first half of Kafka's "this or that" checks (DESCRIBE on the cluster
// or on each group, CREATE on the cluster or on the topic), whose failure
// alone denies nothing. It is true in ModeOff and, unlike Authorize, may
// be false in ModeShadow.
func (a *Authorizer) Check(p auth.Principal, host string, op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) bool {
	return a.cfg.Mode == ModeOff || a.decide(p, host, op, rt, name)
}

// AuthorizeByResourceType reports whether p may perform op on at least one
// resource of type rt (Kafka's Authorizer.authorizeByResourceType, used
// by InitProducerId per KIP-679): some ALLOW binding for p of op (or ALL)
// whose pattern is not wholly covered by a DENY. Modes apply as in
// Authorize.
func (a *Authorizer) AuthorizeByResourceType(p auth.Principal, host string, op kmsg.ACLOperation, rt kmsg.ACLResourceType) bool {
	served, _ := a.DecideByResourceType(p, host, op, rt)
	return served
}

// DecideByResourceType is AuthorizeByResourceType with the ACLs' own
// verdict, as Decide.
func (a *Authorizer) DecideByResourceType(p auth.Principal, host string, op kmsg.ACLOperation, rt kmsg.ACLResourceType) (served, denied bool) {
	if a.cfg.Mode == ModeOff {
		return true, false
	}
	ok := a.decideByType(p, host, op, rt)
	a.record(ok, p, host, op, rt, AnyResource)
	return ok || a.cfg.Mode == ModeShadow, !ok
}

// AnyResource names the resource of a by-resource-type decision (some
// resource of the type) in logs and events.
const AnyResource = "(any)"

func (a *Authorizer) decideByType(p auth.Principal, host string, op kmsg.ACLOperation, rt kmsg.ACLResourceType) bool {
	principal := p.String()
	if a.super[principal] {
		return true
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	var bs []Binding
	if r := a.rules[rt]; r != nil {
		bs = r.all
	}
	if len(bs) == 0 {
		return a.cfg.AllowEveryoneIfNoACLFound
	}
	deniedLiteral, deniedPrefixes := map[string]bool{}, []string{}
	for _, b := range bs {
		if b.Permission != kmsg.ACLPermissionTypeDeny || !entryMatches(b, principal, host) || !denyMatches(b.Operation, op) {
			continue
		}
		if b.PatternType == kmsg.ACLResourcePatternTypePrefixed {
			deniedPrefixes = append(deniedPrefixes, b.ResourceName)
		} else {
			deniedLiteral[b.ResourceName] = true
		}
	}
	if deniedLiteral[Wildcard] {
		return false
	}
	coveredByDeny := func(name string) bool {
		for _, d := range deniedPrefixes {
			if strings.HasPrefix(name, d) {
				return true
			}
		}
		return false
	}
	for _, b := range bs {
		if b.Permission != kmsg.ACLPermissionTypeAllow || !entryMatches(b, principal, host) || !denyMatches(b.Operation, op) {
			continue
		}
		if b.PatternType == kmsg.ACLResourcePatternTypeLiteral && b.ResourceName == Wildcard {
			return true
		}
		if b.PatternType == kmsg.ACLResourcePatternTypeLiteral && deniedLiteral[b.ResourceName] {
			continue
		}
		if !coveredByDeny(b.ResourceName) {
			return true
		}
	}
	return false
}

// AuthorizedOperations is KIP-430's bit field of the operations p may
// perform on the resource (bit n set for operation code n). Outside
// ModeEnforce every request is served, so every operation the resource
// type supports is reported, as a Kafka broker without an authorizer
// does. A principal that may not describe the resource gets 0, as from
// Kafka. Nothing is counted.
func (a *Authorizer) AuthorizedOperations(p auth.Principal, host string, rt kmsg.ACLResourceType, name string) int32 {
	var bits int32
	for _, op := range supportedOps[rt] {
		if a.cfg.Mode != ModeEnforce || a.decide(p, host, op, rt, name) {
			bits |= 1 << uint(op)
		}
	}
	if hasOp(supportedOps[rt], kmsg.ACLOperationDescribe) && bits&(1<<uint(kmsg.ACLOperationDescribe)) == 0 {
		return 0
	}
	return bits
}

func (a *Authorizer) record(ok bool, p auth.Principal, host string, op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) {
	result := "allowed"
	if !ok {
		result = "denied"
	}
	a.metrics.decisions.WithLabelValues(a.cfg.Mode.String(), result, op.String(), rt.String()).Inc()
	if ok {
		return
	}
	key := p.String() + "\x00" + host + "\x00" + op.String() + "\x00" + rt.String() + "\x00" + name
	now := time.Now()
	a.logMu.Lock()
	last, seen := a.logged[key]
	if !seen || now.Sub(last) >= deniedLogEvery {
		if len(a.logged) >= 10000 {
			clear(a.logged)
		}
		a.logged[key] = now
	}
	a.logMu.Unlock()
	if seen && now.Sub(last) < deniedLogEvery {
		return
	}
	msg := "acl: denied"
	if a.cfg.Mode == ModeShadow {
		msg = "acl: would deny (shadow mode: served)"
	}
	a.logger.Info(msg, "principal", p.String(), "host", host, "operation", op.String(), "resource_type", rt.String(), "resource", name)
}

// Create stores bindings (CreateAcls): one error per binding, nil for
// those created (or already present). The authorizer's own cache is
// reloaded at once; other agents follow within RefreshInterval.
func (a *Authorizer) Create(ctx context.Context, bs []Binding) ([]error, error) {
	errs := make([]error, len(bs))
	var valid []Binding
	for i, b := range bs {
		if errs[i] = b.Validate(); errs[i] == nil {
			valid = append(valid, b)
		}
	}
	if len(valid) > 0 {
		if err := a.store.AddACLs(ctx, valid); err != nil {
			return nil, err
		}
		if err := a.Load(ctx); err != nil {
			a.logger.Warn("acl: reload after create", "err", err)
		}
	}
	return errs, nil
}

// Describe returns the stored bindings f selects (DescribeAcls).
func (a *Authorizer) Describe(ctx context.Context, f Filter) ([]Binding, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	bs, _, err := a.store.ACLs(ctx)
	if err != nil {
		return nil, err
	}
	var out []Binding
	for _, b := range bs {
		if f.Matches(b) {
			out = append(out, b)
		}
	}
	return out, nil
}

// Delete removes the bindings each filter selects (DeleteAcls) and
// returns them, per filter; an invalid filter gets its error and deletes
// nothing. A binding two filters select is reported under both.
func (a *Authorizer) Delete(ctx context.Context, fs []Filter) ([][]Binding, []error, error) {
	bs, _, err := a.store.ACLs(ctx)
	if err != nil {
		return nil, nil, err
	}
	matched := make([][]Binding, len(fs))
	errs := make([]error, len(fs))
	var gone []Binding
	seen := map[Binding]bool{}
	for i, f := range fs {
		if errs[i] = f.Validate(); errs[i] != nil {
			continue
		}
		for _, b := range bs {
			if f.Matches(b) {
				matched[i] = append(matched[i], b)
				if !seen[b] {
					seen[b] = true
					gone = append(gone, b)
				}
			}
		}
	}
	if len(gone) > 0 {
		if err := a.store.RemoveACLs(ctx, gone); err != nil {
			return nil, nil, err
		}
		if err := a.Load(ctx); err != nil {
			a.logger.Warn("acl: reload after delete", "err", err)
		}
	}
	return matched, errs, nil
}
