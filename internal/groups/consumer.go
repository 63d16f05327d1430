package groups

// KIP-848 consumer groups (group type "consumer"), next to the classic
// protocol: members heartbeat with ConsumerGroupHeartbeat and the
// coordinator computes assignments itself, as Kafka 4's group coordinator
// does.
//
// The model, in Kafka's terms:
//
//   - The group epoch is bumped whenever the membership or a subscription
//     changes (a member joins with a subscription, changes it, leaves or is
//     fenced) or the metadata of a subscribed topic changes (created,
//     deleted, partitions added). The first heartbeat of a new group bumps
//     it from 0 to 1.
//   - The target assignment is recomputed by the group's assignor (see
//     assign.go) when the group epoch is ahead of the assignment epoch, on
//     the next heartbeat of any member.
//   - Each member reconciles towards its target on its own heartbeats
//     (Kafka's CurrentAssignmentBuilder): partitions it must give up are
//     moved to "pending revocation" and the member stays at its epoch
//     (UNREVOKED_PARTITIONS) until a heartbeat reports it no longer owns
//     them; partitions another member still holds (assigned or pending
//     revocation) are withheld (UNRELEASED_PARTITIONS) until released; the
//     member's epoch jumps to the target epoch once nothing is left to
//     revoke. A partition is therefore never held by two members.
//   - Member epochs are checked on every heartbeat: a newer epoch than the
//     coordinator's, or an older one other than the previous epoch with
//     owned partitions within the assignment (a lost response), is
//     FENCED_MEMBER_EPOCH.
//   - Members that do not heartbeat within the session timeout, or do not
//     revoke within their rebalance timeout, are fenced: removed, their
//     partitions released, the group epoch bumped.
//
// The group is persisted with SaveGroup (a JSON snapshot marked
// "type":"consumer") after every change, under the owner epoch, so a new
// owner (or this agent after a restart) resumes it with its members, epochs
// and assignments.

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicehq/sluice/internal/metadata"
)

// Consumer group states, as Kafka names them (Empty, Stable and Dead are
// shared with classic groups).
const (
	Assigning   State = "Assigning"
	Reconciling State = "Reconciling"
)

// Member epochs with a meaning of their own.
const (
	joinEpoch        = 0
	leaveEpoch       = -1
	staticLeaveEpoch = -2
)

// GroupError is a group-protocol error with a message for the response's
// ErrorMessage field; it unwraps to the kerr value.
type GroupError struct {
	Err *kerr.Error
	Msg string
}

func (e *GroupError) Error() string { return e.Msg }
func (e *GroupError) Unwrap() error { return e.Err }

func gerr(code *kerr.Error, format string, args ...any) error {
	return &GroupError{Err: code, Msg: fmt.Sprintf(format, args...)}
}

// TopicIDPartitions names partitions of one topic by topic ID.
type TopicIDPartitions struct {
	TopicID metadata.TopicID
	// Topic is the topic's name, filled in descriptions only.
	Topic      string
	Partitions []int32
}

// ConsumerHeartbeatRequest is a ConsumerGroupHeartbeat request. Nil fields
// mean "unchanged since the last heartbeat", as in the protocol.
type ConsumerHeartbeatRequest struct {
	Group       string
	MemberID    string
	MemberEpoch int32
	InstanceID  *string
	RackID      *string
	// RebalanceTimeoutMillis is -1 when unchanged.
	RebalanceTimeoutMillis int32
	SubscribedTopicNames   []string
	SubscribedTopicRegex   *string
	ServerAssignor         *string
	// Owned is the member's current partitions; nil when unchanged.
	Owned      []TopicIDPartitions
	ClientID   string
	ClientHost string
	// GenerateMemberID is set for version 0, where the coordinator picks
	// member IDs; from version 1 the client does (KIP-1082).
	GenerateMemberID bool
}

// ConsumerHeartbeatResult is a ConsumerGroupHeartbeat response.
type ConsumerHeartbeatResult struct {
	Err               error
	MemberID          string
	MemberEpoch       int32
	HeartbeatInterval time.Duration
	// Assignment is the member's assigned partitions; sent only when
	// HasAssignment.
	Assignment    []TopicIDPartitions
	HasAssignment bool
}

// ConsumerMemberDescription describes a member for ConsumerGroupDescribe.
type ConsumerMemberDescription struct {
	MemberID             string
	InstanceID           *string
	RackID               *string
	MemberEpoch          int32
	ClientID             string
	ClientHost           string
	SubscribedTopicNames []string
	SubscribedTopicRegex *string
	Assignment           []TopicIDPartitions
	TargetAssignment     []TopicIDPartitions
}

// ConsumerGroupDescription describes a group for ConsumerGroupDescribe.
type ConsumerGroupDescription struct {
	State           State
	Epoch           int32
	AssignmentEpoch int32
	Assignor        string
	Members         []ConsumerMemberDescription
}

// memberState is a member's reconciliation state.
type memberState string

const (
	memberStable     memberState = "stable"
	memberUnrevoked  memberState = "unrevoked_partitions"
	memberUnreleased memberState = "unreleased_partitions"
)

// cmember is a consumer group member. Guarded by its group's mu.
type cmember struct {
	id               string
	instanceID       *string
	rackID           *string
	clientID         string
	clientHost       string
	rebalanceTimeout time.Duration
	names            []string // sorted subscribed topic names
	regex            string   // subscribed topic regex; "" for none
	re               *regexp.Regexp
	assignor         string // requested server assignor; "" for none
	epoch, prevEpoch int32
	state            memberState
	// assigned and revoking hold the partitions the member owns, with the
	// member epoch at which each was assigned (KIP-1251 commit checks).
	assigned map[tp]int32
	revoking map[tp]int32

	expiry      *time.Timer
	revokeTimer *time.Timer
}

// topicMeta is a subscribed topic's metadata.
type topicMeta struct {
	ID         metadata.TopicID
	Partitions int32
}

// consumerGroup is one KIP-848 consumer group. Every field is guarded by
// mu; lock order: Coordinator.mu before consumerGroup.mu.
type consumerGroup struct {
	c    *Coordinator
	name string

	mu              sync.Mutex
	ownerEpoch      int64
	epoch           int32 // group epoch
	assignmentEpoch int32
	assignor        string // assignor of the current target
	members         map[string]*cmember
	static          map[string]string // instance ID → member ID
	target          map[string]tpSet  // member ID → target assignment
	owner           map[tp]string     // partition → member holding it
	subs            map[string]topicMeta
	refreshedAt     time.Time
	gone            bool
}

func newConsumerGroup(c *Coordinator, name string, ownerEpoch int64) *consumerGroup {
	return &consumerGroup{c: c, name: name, ownerEpoch: ownerEpoch, members: map[string]*cmember{},
		static: map[string]string{}, target: map[string]tpSet{}, owner: map[tp]string{}, subs: map[string]topicMeta{}}
}

func (g *consumerGroup) isGone() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.gone
}

// consumerGroupError is what Coordinator.get returns for a name that is a
// consumer group: the classic APIs each decide what that means.
type consumerGroupError struct{ g *consumerGroup }

func (e *consumerGroupError) Error() string { return "groups: " + e.g.name + " is a consumer group" }

func asConsumer(err error) *consumerGroup {
	var ce *consumerGroupError
	if errors.As(err, &ce) {
		return ce.g
	}
	return nil
}

// newUUID returns a random member ID in Kafka's Uuid.toString form.
func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// validateHeartbeat applies Kafka's request checks
// (throwIfConsumerGroupHeartbeatRequestIsInvalid).
func validateHeartbeat(req *ConsumerHeartbeatRequest) error {
	if req.Group == "" {
		return gerr(kerr.InvalidRequest, "GroupId can't be empty.")
	}
	if req.MemberID == "" && (!req.GenerateMemberID || req.MemberEpoch != joinEpoch) {
		return gerr(kerr.InvalidRequest, "MemberId can't be empty.")
	}
	if req.InstanceID != nil && *req.InstanceID == "" {
		return gerr(kerr.InvalidRequest, "InstanceId can't be empty.")
	}
	if req.RackID != nil && *req.RackID == "" {
		return gerr(kerr.InvalidRequest, "RackId can't be empty.")
	}
	switch {
	case req.MemberEpoch == joinEpoch:
		if req.RebalanceTimeoutMillis == -1 {
			return gerr(kerr.InvalidRequest, "RebalanceTimeoutMs must be provided in first request.")
		}
		if req.Owned == nil || len(req.Owned) > 0 {
			return gerr(kerr.InvalidRequest, "TopicPartitions must be empty when (re-)joining.")
		}
		if req.SubscribedTopicNames == nil && req.SubscribedTopicRegex == nil {
			return gerr(kerr.InvalidRequest, "Either SubscribedTopicNames or SubscribedTopicRegex must be non-null when (re-)joining.")
		}
	case req.MemberEpoch == staticLeaveEpoch:
		if req.InstanceID == nil {
			return gerr(kerr.InvalidRequest, "InstanceId can't be null.")
		}
	case req.MemberEpoch < staticLeaveEpoch:
		return gerr(kerr.InvalidRequest, "MemberEpoch is invalid.")
	}
	if req.RebalanceTimeoutMillis < -1 {
		return gerr(kerr.InvalidRequest, "RebalanceTimeoutMs is invalid.")
	}
	if req.SubscribedTopicRegex != nil {
		if _, err := compileTopicRegex(*req.SubscribedTopicRegex); err != nil {
			return gerr(kerr.InvalidRegularExpression, "SubscribedTopicRegex %q is invalid: %v", *req.SubscribedTopicRegex, err)
		}
	}
	if req.ServerAssignor != nil && !validAssignor(*req.ServerAssignor) {
		return gerr(kerr.UnsupportedAssignor, "ServerAssignor %s is not supported. Supported assignors: %s, %s.", *req.ServerAssignor, AssignorUniform, AssignorRange)
	}
	return nil
}

// compileTopicRegex compiles a subscription regex, which (as in Kafka)
// must match the whole topic name. Go's regexp has RE2 semantics, as
// Kafka's RE2/J.
func compileTopicRegex(s string) (*regexp.Regexp, error) {
	if s == "" {
		return nil, nil
	}
	return regexp.Compile("^(?:" + s + ")$")
}

// ConsumerHeartbeat handles ConsumerGroupHeartbeat.
func (c *Coordinator) ConsumerHeartbeat(ctx context.Context, req ConsumerHeartbeatRequest) ConsumerHeartbeatResult {
	if err := validateHeartbeat(&req); err != nil {
		return ConsumerHeartbeatResult{Err: err}
	}
	leaving := req.MemberEpoch == leaveEpoch || req.MemberEpoch == staticLeaveEpoch
	g, err := c.consumerGroup(ctx, req.Group, req.MemberEpoch == joinEpoch)
	if err != nil {
		return ConsumerHeartbeatResult{Err: err}
	}
	var res ConsumerHeartbeatResult
	if leaving {
		res = g.leave(req)
	} else {
		res = g.heartbeat(ctx, req)
	}
	c.forgetIfGone(g)
	return res
}

// consumerGroup returns the consumer group name, loading it and, when
// create is set, creating it or converting an empty classic group.
func (c *Coordinator) consumerGroup(ctx context.Context, name string, create bool) (*consumerGroup, error) {
	g, err := c.get(ctx, name, create)
	if cg := asConsumer(err); cg != nil {
		return cg, nil
	}
	if errors.Is(err, errNoGroup) {
		return nil, gerr(kerr.GroupIDNotFound, "Consumer group %s not found.", name)
	}
	if err != nil {
		return nil, err
	}
	if !create {
		return nil, gerr(kerr.GroupIDNotFound, "Group %s is not a consumer group.", name)
	}
	// A classic group without members becomes a consumer group (its
	// committed offsets stay), as Kafka converts empty classic groups.
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.groups[name] != g {
		return nil, kerr.NotCoordinator // changed hands meanwhile; the client retries
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.gone {
		return nil, kerr.NotCoordinator
	}
	if len(g.members) > 0 {
		return nil, gerr(kerr.GroupIDNotFound, "Group %s is not a consumer group.", name)
	}
	g.goneLocked()
	delete(c.groups, name)
	cg := newConsumerGroup(c, name, g.epoch)
	c.cgroups[name] = cg
	c.logger.Debug("classic group converted to consumer group", "group", name)
	return cg, nil
}

// classicFromConsumer turns an empty consumer group into an empty classic
// group for a JoinGroup, as Kafka does. Callers hold c.mu.
func (c *Coordinator) classicFromConsumerLocked(cg *consumerGroup) (*group, error) {
	cg.mu.Lock()
	defer cg.mu.Unlock()
	if cg.gone {
		return nil, kerr.NotCoordinator
	}
	if len(cg.members) > 0 {
		return nil, gerr(kerr.InconsistentGroupProtocol, "Group %s is a consumer group with members; classic members cannot join it.", cg.name)
	}
	cg.goneLocked()
	delete(c.cgroups, cg.name)
	g := &group{c: c, name: cg.name, members: map[string]*member{}, static: map[string]string{},
		pending: map[string]time.Time{}, joined: map[string]bool{}, epoch: cg.ownerEpoch, state: Empty}
	c.groups[cg.name] = g
	c.logger.Debug("consumer group converted to classic group", "group", cg.name)
	return g, nil
}

// forgetIfGone drops a consumer group that lost ownership or failed to
// persist, so the next request loads it again from the store.
func (c *Coordinator) forgetIfGone(g *consumerGroup) {
	if !g.isGone() {
		return
	}
	c.mu.Lock()
	if c.cgroups[g.name] == g {
		delete(c.cgroups, g.name)
	}
	c.mu.Unlock()
}

// checkEpoch is Kafka's throwIfConsumerGroupMemberEpochIsInvalid.
func (m *cmember) checkEpoch(epoch int32, owned []TopicIDPartitions) error {
	if epoch > m.epoch {
		return gerr(kerr.FencedMemberEpoch, "The consumer group member has a greater member epoch (%d) than the one known by the group coordinator (%d). The member must abandon all its partitions and rejoin.", epoch, m.epoch)
	}
	if epoch < m.epoch && (epoch != m.prevEpoch || owned == nil || !m.ownsAllOf(owned)) {
		return gerr(kerr.FencedMemberEpoch, "The consumer group member has a smaller member epoch (%d) than the one known by the group coordinator (%d). The member must abandon all its partitions and rejoin.", epoch, m.epoch)
	}
	return nil
}

// ownsAllOf reports whether every partition in owned is assigned to m.
func (m *cmember) ownsAllOf(owned []TopicIDPartitions) bool {
	for _, t := range owned {
		for _, p := range t.Partitions {
			if _, ok := m.assigned[tp{t.TopicID, p}]; !ok {
				return false
			}
		}
	}
	return true
}

// ownsAny reports whether owned (nil: unknown, so yes) holds any of set.
func ownsAny(owned []TopicIDPartitions, set map[tp]int32) bool {
	if owned == nil {
		return true
	}
	for _, t := range owned {
		for _, p := range t.Partitions {
			if _, ok := set[tp{t.TopicID, p}]; ok {
				return true
			}
		}
	}
	return false
}

func newMember(id string) *cmember {
	return &cmember{id: id, state: memberStable, prevEpoch: -1, assigned: map[tp]int32{}, revoking: map[tp]int32{}}
}

// heartbeat handles a join (epoch 0) or a regular heartbeat.
func (g *consumerGroup) heartbeat(ctx context.Context, req ConsumerHeartbeatRequest) ConsumerHeartbeatResult {
	g.mu.Lock()
	defer g.mu.Unlock()
	fail := func(err error) ConsumerHeartbeatResult { return ConsumerHeartbeatResult{Err: err} }
	if g.gone {
		return fail(kerr.NotCoordinator)
	}
	cfg := &g.c.cfg
	memberID := req.MemberID
	if memberID == "" {
		memberID = newUUID()
	}
	var (
		m      *cmember
		isNew  bool // m is not in the group yet
		rejoin bool // a known member rejoins with epoch 0
		// replaced is set when m took over a static member's place.
		replaced bool
	)
	if req.InstanceID == nil {
		m = g.members[memberID]
		switch {
		case m == nil && req.MemberEpoch != joinEpoch:
			return fail(gerr(kerr.UnknownMemberID, "Member %s is not a member of group %s.", memberID, g.name))
		case m == nil:
			m, isNew = newMember(memberID), true
		case req.MemberEpoch == joinEpoch:
			rejoin = true
		default:
			if err := m.checkEpoch(req.MemberEpoch, req.Owned); err != nil {
				return fail(err)
			}
		}
	} else {
		instance := *req.InstanceID
		old := g.members[g.static[instance]]
		if req.MemberEpoch == joinEpoch {
			switch {
			case old == nil:
				if m = g.members[memberID]; m == nil {
					m, isNew = newMember(memberID), true
				} else {
					rejoin = true
				}
			case old.id == memberID && old.epoch != staticLeaveEpoch:
				m, rejoin = old, true
			case old.epoch != staticLeaveEpoch:
				return fail(gerr(kerr.UnreleasedInstanceID, "Static member %s with instance id %s cannot join the group because the instance id is owned by %s member.", memberID, instance, old.id))
			default:
				m, replaced = g.replaceStaticLocked(old, memberID), true
			}
		} else {
			switch {
			case old == nil:
				return fail(gerr(kerr.UnknownMemberID, "Instance id %s is unknown.", instance))
			case old.id != memberID:
				return fail(gerr(kerr.FencedInstanceID, "Static member %s with instance id %s was fenced by member %s.", memberID, instance, old.id))
			}
			if err := old.checkEpoch(req.MemberEpoch, req.Owned); err != nil {
				return fail(err)
			}
			m = old
		}
	}

	// 1. Update the member; a new subscription bumps the group epoch.
	dirty := isNew || replaced
	set := func(changed bool) {
		dirty = dirty || changed
	}
	if req.InstanceID != nil && (m.instanceID == nil || *m.instanceID != *req.InstanceID) {
		set(true)
		if m.instanceID != nil && g.static[*m.instanceID] == m.id {
			delete(g.static, *m.instanceID)
		}
		m.instanceID = req.InstanceID
		if !isNew {
			g.static[*m.instanceID] = m.id
		}
	}
	if req.RackID != nil {
		set(m.rackID == nil || *m.rackID != *req.RackID)
		m.rackID = req.RackID
	}
	if req.RebalanceTimeoutMillis >= 0 {
		d := time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond
		set(d != m.rebalanceTimeout)
		m.rebalanceTimeout = d
	}
	if req.ServerAssignor != nil {
		set(*req.ServerAssignor != m.assignor)
		m.assignor = *req.ServerAssignor
	}
	subscriptionChanged := false
	if req.SubscribedTopicNames != nil {
		names := slices.Clone(req.SubscribedTopicNames)
		sort.Strings(names)
		names = slices.Compact(names)
		if !slices.Equal(names, m.names) {
			m.names, subscriptionChanged = names, true
		}
	}
	if req.SubscribedTopicRegex != nil && *req.SubscribedTopicRegex != m.regex {
		m.regex = *req.SubscribedTopicRegex
		m.re, _ = compileTopicRegex(m.regex) // validated already
		subscriptionChanged = true
	}
	set(subscriptionChanged || m.clientID != req.ClientID || m.clientHost != req.ClientHost)
	m.clientID, m.clientHost = req.ClientID, req.ClientHost
	if isNew {
		g.members[m.id] = m
		if m.instanceID != nil {
			g.static[*m.instanceID] = m.id
		}
		g.c.logger.Debug("consumer group member joined", "group", g.name, "member", m.id, "client_id", m.clientID)
	}

	bump := g.epoch == 0 || subscriptionChanged
	if bump || time.Since(g.refreshedAt) >= cfg.ConsumerMetadataRefresh {
		subs, err := g.resolveSubscriptionsLocked(ctx)
		if err != nil {
			// The member was updated in memory already: reload the group
			// from its persisted state on the next request.
			g.goneLocked()
			return fail(fmt.Errorf("%w: %v", kerr.CoordinatorNotAvailable, err))
		}
		if !maps2Equal(subs, g.subs) {
			g.subs = subs
			bump = true
		}
		g.refreshedAt = time.Now()
	}
	if bump {
		g.bumpLocked()
		dirty = true
	}

	// 2. Recompute the target assignment for a new group epoch.
	if g.epoch > g.assignmentEpoch {
		g.computeTargetLocked()
		dirty = true
	}

	// 3. Reconcile the member towards its target.
	before := keys(m.assigned)
	wasRevoking, epochBefore := m.state == memberUnrevoked, m.epoch
	if rejoin {
		// The member abandoned its partitions to rejoin (it reports owning
		// none): what it had to revoke is released, and it gets its
		// assignment again at the target epoch.
		for x := range m.revoking {
			if g.owner[x] == m.id {
				delete(g.owner, x)
			}
		}
		m.revoking, m.state = map[tp]int32{}, memberStable
		g.nextAssignmentLocked(m, m.epoch, []TopicIDPartitions{})
		dirty = true
	} else if g.reconcileLocked(m, req.Owned) {
		dirty = true
	}
	g.touchLocked(m)
	if m.state != memberUnrevoked {
		stopTimer(&m.revokeTimer)
	} else if !wasRevoking || m.epoch != epochBefore || m.revokeTimer == nil {
		g.scheduleRevokeTimeoutLocked(m)
	}

	if dirty {
		if err := g.persistLocked(); err != nil {
			return fail(err)
		}
	}
	res := ConsumerHeartbeatResult{MemberID: m.id, MemberEpoch: m.epoch, HeartbeatInterval: cfg.ConsumerHeartbeatInterval}
	full := req.RebalanceTimeoutMillis != -1 && (req.SubscribedTopicNames != nil || req.SubscribedTopicRegex != nil) && req.Owned != nil
	if req.MemberEpoch == joinEpoch || full || !sameKeys(before, m.assigned) {
		res.HasAssignment = true
		res.Assignment = toTopicIDPartitions(m.assigned)
	}
	return res
}

// replaceStaticLocked hands a static member that left temporarily (epoch
// -2) over to the new incarnation that rejoins with its instance ID: the
// new member keeps the old one's subscription, target and partitions.
func (g *consumerGroup) replaceStaticLocked(old *cmember, memberID string) *cmember {
	stopTimer(&old.expiry)
	stopTimer(&old.revokeTimer)
	delete(g.members, old.id)
	m := &cmember{id: memberID, instanceID: old.instanceID, rackID: old.rackID, clientID: old.clientID, clientHost: old.clientHost,
		rebalanceTimeout: old.rebalanceTimeout, names: old.names, regex: old.regex, re: old.re, assignor: old.assignor,
		epoch: 0, prevEpoch: 0, state: memberStable, assigned: map[tp]int32{}, revoking: map[tp]int32{}}
	for x := range old.assigned {
		m.assigned[x] = 0
		g.owner[x] = m.id
	}
	for x := range old.revoking {
		if g.owner[x] == old.id {
			delete(g.owner, x)
		}
	}
	if t, ok := g.target[old.id]; ok {
		delete(g.target, old.id)
		g.target[m.id] = t
	}
	g.members[m.id] = m
	g.static[*m.instanceID] = m.id
	g.c.logger.Debug("static consumer group member replaced", "group", g.name, "old", old.id, "member", m.id)
	return m
}

// leave handles heartbeats with epoch -1 (leave) and -2 (static member
// leaving temporarily: it keeps its partitions until it comes back or its
// session expires).
func (g *consumerGroup) leave(req ConsumerHeartbeatRequest) ConsumerHeartbeatResult {
	g.mu.Lock()
	defer g.mu.Unlock()
	fail := func(err error) ConsumerHeartbeatResult { return ConsumerHeartbeatResult{Err: err} }
	if g.gone {
		return fail(kerr.NotCoordinator)
	}
	var m *cmember
	if req.InstanceID == nil {
		if m = g.members[req.MemberID]; m == nil {
			return fail(gerr(kerr.UnknownMemberID, "Member %s is not a member of group %s.", req.MemberID, g.name))
		}
	} else {
		if m = g.members[g.static[*req.InstanceID]]; m == nil {
			return fail(gerr(kerr.UnknownMemberID, "Instance id %s is unknown.", *req.InstanceID))
		}
		if m.id != req.MemberID {
			return fail(gerr(kerr.FencedInstanceID, "Static member %s with instance id %s was fenced by member %s.", req.MemberID, *req.InstanceID, m.id))
		}
	}
	res := ConsumerHeartbeatResult{MemberID: m.id, MemberEpoch: req.MemberEpoch}
	if req.MemberEpoch == staticLeaveEpoch {
		g.c.logger.Debug("static consumer group member left temporarily", "group", g.name, "member", m.id)
		for x := range m.revoking {
			if g.owner[x] == m.id {
				delete(g.owner, x)
			}
		}
		m.revoking = map[tp]int32{}
		for x := range m.assigned {
			m.assigned[x] = 0
		}
		m.prevEpoch, m.epoch, m.state = m.epoch, staticLeaveEpoch, memberStable
		stopTimer(&m.revokeTimer)
	} else {
		g.c.logger.Debug("consumer group member left", "group", g.name, "member", m.id)
		g.fenceLocked(m)
	}
	if err := g.persistLocked(); err != nil {
		return fail(err)
	}
	return res
}

// classicLeave handles LeaveGroup for a consumer group. Its members leave
// with ConsumerGroupHeartbeat; as in Kafka, LeaveGroup can only remove a
// static member by instance ID alone (administrative removal).
func (g *consumerGroup) classicLeave(members []LeavingMember) []error {
	g.mu.Lock()
	defer g.mu.Unlock()
	errs := make([]error, len(members))
	removed := false
	for i, lm := range members {
		if g.gone {
			errs[i] = kerr.NotCoordinator
			continue
		}
		if lm.InstanceID == nil {
			errs[i] = gerr(kerr.UnknownMemberID, "Member %s does not use the classic protocol.", lm.MemberID)
			continue
		}
		m := g.members[g.static[*lm.InstanceID]]
		switch {
		case m == nil:
			errs[i] = gerr(kerr.UnknownMemberID, "Instance id %s is unknown.", *lm.InstanceID)
		case lm.MemberID != "" && lm.MemberID != m.id:
			errs[i] = gerr(kerr.FencedInstanceID, "Static member %s with instance id %s was fenced by member %s.", lm.MemberID, *lm.InstanceID, m.id)
		case lm.MemberID != "":
			errs[i] = gerr(kerr.UnknownMemberID, "Member %s does not use the classic protocol.", lm.MemberID)
		default:
			g.c.logger.Debug("consumer group member removed by LeaveGroup", "group", g.name, "member", m.id)
			g.fenceLocked(m)
			removed = true
		}
	}
	if removed {
		if err := g.persistLocked(); err != nil {
			for i := range errs {
				if errs[i] == nil {
					errs[i] = err
				}
			}
		}
	}
	return errs
}

// bumpLocked starts a new group epoch.
func (g *consumerGroup) bumpLocked() {
	g.epoch++
	g.c.metrics.rebalances.Inc()
}

// fenceLocked removes a member, releasing its partitions, and bumps the
// group epoch; the target is recomputed on the next heartbeat.
func (g *consumerGroup) fenceLocked(m *cmember) {
	stopTimer(&m.expiry)
	stopTimer(&m.revokeTimer)
	for x := range m.assigned {
		if g.owner[x] == m.id {
			delete(g.owner, x)
		}
	}
	for x := range m.revoking {
		if g.owner[x] == m.id {
			delete(g.owner, x)
		}
	}
	delete(g.members, m.id)
	delete(g.target, m.id)
	if m.instanceID != nil && g.static[*m.instanceID] == m.id {
		delete(g.static, *m.instanceID)
	}
	g.bumpLocked()
}

// touchLocked restarts m's session timer.
func (g *consumerGroup) touchLocked(m *cmember) {
	g.armExpiryLocked(m, g.c.cfg.ConsumerSessionTimeout)
}

func (g *consumerGroup) armExpiryLocked(m *cmember, d time.Duration) {
	stopTimer(&m.expiry)
	var t *time.Timer
	t = time.AfterFunc(d, func() {
		g.mu.Lock()
		if g.gone || g.members[m.id] != m || m.expiry != t {
			g.mu.Unlock()
			return
		}
		g.c.logger.Info("consumer group member session expired", "group", g.name, "member", m.id)
		g.fenceLocked(m)
		g.persistLocked()
		g.mu.Unlock()
		g.c.forgetIfGone(g)
	})
	m.expiry = t
}

// scheduleRevokeTimeoutLocked fences m if it still has not revoked its
// pending partitions, at the same epoch, after its rebalance timeout.
func (g *consumerGroup) scheduleRevokeTimeoutLocked(m *cmember) {
	stopTimer(&m.revokeTimer)
	epoch := m.epoch
	d := m.rebalanceTimeout
	if d <= 0 {
		d = g.c.cfg.ConsumerSessionTimeout
	}
	var t *time.Timer
	t = time.AfterFunc(d, func() {
		g.mu.Lock()
		if g.gone || g.members[m.id] != m || m.revokeTimer != t || m.state != memberUnrevoked || m.epoch != epoch {
			g.mu.Unlock()
			return
		}
		g.c.logger.Info("consumer group member did not revoke partitions within its rebalance timeout", "group", g.name, "member", m.id)
		g.fenceLocked(m)
		g.persistLocked()
		g.mu.Unlock()
		g.c.forgetIfGone(g)
	})
	m.revokeTimer = t
}

func stopTimer(t **time.Timer) {
	if *t != nil {
		(*t).Stop()
		*t = nil
	}
}

// goneLocked marks the group as no longer ours and stops its timers.
func (g *consumerGroup) goneLocked() {
	g.gone = true
	for _, m := range g.members {
		stopTimer(&m.expiry)
		stopTimer(&m.revokeTimer)
	}
}

// resolveSubscriptionsLocked reads the metadata of every topic a member
// subscribes to, by name or regex.
func (g *consumerGroup) resolveSubscriptionsLocked(ctx context.Context) (map[string]topicMeta, error) {
	out := map[string]topicMeta{}
	names := map[string]bool{}
	regex := false
	for _, m := range g.members {
		for _, n := range m.names {
			names[n] = true
		}
		regex = regex || m.re != nil
	}
	if regex {
		all, err := g.c.store.ListTopics(ctx)
		if err != nil {
			return nil, err
		}
		for _, t := range all {
			match := names[t.Name]
			for _, m := range g.members {
				match = match || (m.re != nil && m.re.MatchString(t.Name))
			}
			if match {
				out[t.Name] = topicMeta{ID: t.ID, Partitions: t.Partitions}
			}
		}
		return out, nil
	}
	for n := range names {
		t, err := g.c.store.Topic(ctx, n)
		if errors.Is(err, metadata.ErrUnknownTopic) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[n] = topicMeta{ID: t.ID, Partitions: t.Partitions}
	}
	return out, nil
}

func maps2Equal(a, b map[string]topicMeta) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// memberTopicsLocked returns the existing topics m subscribes to.
func (g *consumerGroup) memberTopicsLocked(m *cmember) map[string]bool {
	out := map[string]bool{}
	for _, n := range m.names {
		if _, ok := g.subs[n]; ok {
			out[n] = true
		}
	}
	if m.re != nil {
		for n := range g.subs {
			if m.re.MatchString(n) {
				out[n] = true
			}
		}
	}
	return out
}

// preferredAssignorLocked is the assignor most members ask for (ties by
// name), or uniform, as Kafka's computePreferredServerAssignor.
func (g *consumerGroup) preferredAssignorLocked() string {
	votes := map[string]int{}
	for _, m := range g.members {
		if m.assignor != "" {
			votes[m.assignor]++
		}
	}
	best := ""
	for _, name := range []string{AssignorRange, AssignorUniform} {
		if votes[name] > 0 && (best == "" || votes[name] > votes[best]) {
			best = name
		}
	}
	if best == "" {
		best = AssignorUniform
	}
	return best
}

// computeTargetLocked computes the target assignment for the group epoch.
func (g *consumerGroup) computeTargetLocked() {
	var members []assignMember
	for _, m := range g.members {
		members = append(members, assignMember{id: m.id, topics: g.memberTopicsLocked(m)})
	}
	var topics []assignTopic
	for n, t := range g.subs {
		topics = append(topics, assignTopic{name: n, id: t.ID, partitions: t.Partitions})
	}
	g.assignor = g.preferredAssignorLocked()
	g.target = assign(g.assignor, members, topics, g.target)
	g.assignmentEpoch = g.epoch
	g.c.logger.Debug("consumer group target assignment computed", "group", g.name, "epoch", g.epoch,
		"assignor", g.assignor, "members", len(members), "topics", len(topics))
}

// reconcileLocked moves m towards its target (Kafka's
// CurrentAssignmentBuilder) and reports whether m changed. owned is what
// the member reported owning (nil: unknown).
func (g *consumerGroup) reconcileLocked(m *cmember, owned []TopicIDPartitions) bool {
	targetEpoch := g.assignmentEpoch
	switch m.state {
	case memberStable:
		if m.epoch == targetEpoch {
			return false
		}
		return g.nextAssignmentLocked(m, m.epoch, owned)
	case memberUnrevoked:
		if ownsAny(owned, m.revoking) {
			return false
		}
		return g.nextAssignmentLocked(m, min(m.epoch+1, targetEpoch), owned)
	default: // memberUnreleased
		return g.nextAssignmentLocked(m, m.epoch, owned)
	}
}

// nextAssignmentLocked is Kafka's computeNextAssignment: memberEpoch is
// the epoch m keeps while it still has partitions to revoke.
func (g *consumerGroup) nextAssignmentLocked(m *cmember, memberEpoch int32, owned []TopicIDPartitions) bool {
	targetEpoch := g.assignmentEpoch
	target := g.target[m.id]
	assigned := map[tp]int32{}
	revoking := map[tp]int32{}
	for x, e := range m.assigned {
		if _, ok := target[x]; ok {
			assigned[x] = e
		} else {
			revoking[x] = e
		}
	}
	var pending []tp
	unreleased := false
	for x := range target {
		if _, ok := assigned[x]; ok {
			continue
		}
		if o, held := g.owner[x]; held && o != m.id {
			unreleased = true
			continue
		}
		pending = append(pending, x)
	}
	var (
		state memberState
		epoch int32
	)
	switch {
	case len(revoking) > 0 && ownsAny(owned, revoking):
		state, epoch = memberUnrevoked, memberEpoch
	default:
		revoking = map[tp]int32{}
		for _, x := range pending {
			assigned[x] = targetEpoch
		}
		state, epoch = memberStable, targetEpoch
		if unreleased {
			state = memberUnreleased
		}
	}
	changed := state != m.state || epoch != m.epoch || !sameEpochs(assigned, m.assigned) || !sameEpochs(revoking, m.revoking)
	if !changed {
		return false
	}
	for x := range m.assigned {
		if g.owner[x] == m.id {
			delete(g.owner, x)
		}
	}
	for x := range m.revoking {
		if g.owner[x] == m.id {
			delete(g.owner, x)
		}
	}
	for x := range assigned {
		g.owner[x] = m.id
	}
	for x := range revoking {
		g.owner[x] = m.id
	}
	if epoch != m.epoch {
		m.prevEpoch, m.epoch = m.epoch, epoch
	}
	m.state, m.assigned, m.revoking = state, assigned, revoking
	return true
}

func keys(s map[tp]int32) map[tp]int32 {
	out := make(map[tp]int32, len(s))
	for k := range s {
		out[k] = 0
	}
	return out
}

func sameKeys(a, b map[tp]int32) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			return false
		}
	}
	return true
}

func sameEpochs(a, b map[tp]int32) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// toTopicIDPartitions renders a partition set sorted by topic ID and
// partition.
func toTopicIDPartitions[V any](s map[tp]V) []TopicIDPartitions {
	by := map[metadata.TopicID][]int32{}
	for x := range s {
		by[x.t] = append(by[x.t], x.p)
	}
	out := make([]TopicIDPartitions, 0, len(by))
	for id, ps := range by {
		slices.Sort(ps)
		out = append(out, TopicIDPartitions{TopicID: id, Partitions: ps})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].TopicID.String() < out[j].TopicID.String() })
	return out
}

// stateLocked is the group state as Kafka's ConsumerGroup computes it.
func (g *consumerGroup) stateLocked() State {
	switch {
	case len(g.members) == 0:
		return Empty
	case g.epoch > g.assignmentEpoch:
		return Assigning
	}
	for _, m := range g.members {
		if m.state != memberStable || m.epoch != g.assignmentEpoch {
			return Reconciling
		}
	}
	return Stable
}

// checkCommitLocked validates an OffsetCommit, as Kafka 4.3 does
// (KIP-1251): the member's current epoch commits anything; an older epoch
// commits only partitions the member still holds since at most that
// epoch; a newer one nothing. A negative epoch without members is an admin
// commit.
func (g *consumerGroup) checkCommitLocked(memberID string, epoch int32, parts []tp) error {
	if g.gone {
		return kerr.NotCoordinator
	}
	if epoch < 0 && len(g.members) == 0 {
		return nil
	}
	m := g.members[memberID]
	if m == nil {
		return gerr(kerr.UnknownMemberID, "Member %s is not a member of group %s.", memberID, g.name)
	}
	if epoch == m.epoch {
		return nil
	}
	stale := gerr(kerr.StaleMemberEpoch, "The member epoch %d of member %s does not match its current epoch %d.", epoch, memberID, m.epoch)
	if epoch > m.epoch {
		return stale
	}
	for _, x := range parts {
		at, ok := m.assigned[x]
		if !ok {
			at, ok = m.revoking[x]
		}
		if !ok || epoch < at {
			return stale
		}
	}
	return nil
}

// CheckOffsetFetch validates the member ID and epoch of an OffsetFetch
// (v9+) for a consumer group, as Kafka does; classic groups and requests
// without a member (admin clients) are not checked.
func (c *Coordinator) CheckOffsetFetch(ctx context.Context, group string, memberID *string, memberEpoch int32) error {
	if memberID == nil && memberEpoch < 0 {
		return nil
	}
	_, err := c.get(ctx, group, false)
	g := asConsumer(err)
	if g == nil {
		return nil // classic, unknown, or not ours: FetchOffsets answers
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	id := ""
	if memberID != nil {
		id = *memberID
	}
	m := g.members[id]
	if m == nil {
		return gerr(kerr.UnknownMemberID, "Member %s is not a member of group %s.", id, g.name)
	}
	if memberEpoch != m.epoch {
		return gerr(kerr.StaleMemberEpoch, "The member epoch %d of member %s does not match its current epoch %d.", memberEpoch, id, m.epoch)
	}
	return nil
}

// DescribeConsumerGroup handles ConsumerGroupDescribe for one group.
func (c *Coordinator) DescribeConsumerGroup(ctx context.Context, group string) (ConsumerGroupDescription, error) {
	if group == "" {
		return ConsumerGroupDescription{}, kerr.InvalidGroupID
	}
	_, err := c.get(ctx, group, false)
	g := asConsumer(err)
	switch {
	case g != nil:
	case errors.Is(err, errNoGroup):
		return ConsumerGroupDescription{}, gerr(kerr.GroupIDNotFound, "Group %s not found.", group)
	case err != nil:
		return ConsumerGroupDescription{}, err
	default:
		return ConsumerGroupDescription{}, gerr(kerr.GroupIDNotFound, "Group %s is not a consumer group.", group)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	d := ConsumerGroupDescription{State: g.stateLocked(), Epoch: g.epoch, AssignmentEpoch: g.assignmentEpoch, Assignor: g.assignor}
	if d.Assignor == "" {
		d.Assignor = g.preferredAssignorLocked()
	}
	names := map[metadata.TopicID]string{}
	for n, t := range g.subs {
		names[t.ID] = n
	}
	named := func(ts []TopicIDPartitions) []TopicIDPartitions {
		for i := range ts {
			ts[i].Topic = names[ts[i].TopicID]
		}
		return ts
	}
	ids := make([]string, 0, len(g.members))
	for id := range g.members {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		m := g.members[id]
		md := ConsumerMemberDescription{MemberID: m.id, InstanceID: m.instanceID, RackID: m.rackID, MemberEpoch: m.epoch,
			ClientID: m.clientID, ClientHost: m.clientHost, SubscribedTopicNames: slices.Clone(m.names),
			Assignment: named(toTopicIDPartitions(m.assigned)), TargetAssignment: named(toTopicIDPartitions(g.target[m.id]))}
		if md.SubscribedTopicNames == nil {
			md.SubscribedTopicNames = []string{}
		}
		if m.regex != "" {
			re := m.regex
			md.SubscribedTopicRegex = &re
		}
		d.Members = append(d.Members, md)
	}
	return d, nil
}

// subscribedTopicsLocked returns the topics the group's members subscribe
// to, by name or through a regex.
func (g *consumerGroup) subscribedTopicsLocked() map[string]bool {
	out := map[string]bool{}
	for _, m := range g.members {
		for _, n := range m.names {
			out[n] = true
		}
		if m.re != nil {
			for n := range g.subs {
				if m.re.MatchString(n) {
					out[n] = true
				}
			}
		}
	}
	return out
}

// consumerSnapshot is the persisted form of a consumer group. Type tells
// it apart from a classic group's snapshot; members are under a key the
// classic decoder does not read.
type consumerSnapshot struct {
	Type            string                   `json:"type"`
	Epoch           int32                    `json:"group_epoch"`
	AssignmentEpoch int32                    `json:"assignment_epoch"`
	Assignor        string                   `json:"assignor,omitempty"`
	Members         []consumerMemberSnapshot `json:"consumer_members"`
	Topics          map[string]topicMetaSnap `json:"topics,omitempty"`
}

const consumerSnapshotType = "consumer"

type topicMetaSnap struct {
	ID         string `json:"id"`
	Partitions int32  `json:"partitions"`
}

type consumerMemberSnapshot struct {
	ID                 string      `json:"id"`
	InstanceID         *string     `json:"instance_id,omitempty"`
	RackID             *string     `json:"rack_id,omitempty"`
	ClientID           string      `json:"client_id"`
	ClientHost         string      `json:"client_host"`
	RebalanceTimeoutMS int64       `json:"rebalance_timeout_ms"`
	Names              []string    `json:"subscribed_topic_names,omitempty"`
	Regex              string      `json:"subscribed_topic_regex,omitempty"`
	Assignor           string      `json:"server_assignor,omitempty"`
	Epoch              int32       `json:"member_epoch"`
	PrevEpoch          int32       `json:"previous_member_epoch"`
	State              memberState `json:"state"`
	Assigned           []partsSnap `json:"assigned,omitempty"`
	Revoking           []partsSnap `json:"revoking,omitempty"`
	Target             []partsSnap `json:"target,omitempty"`
}

// partsSnap is one topic's partitions; Epochs, when present, are the
// epochs the partitions were assigned at.
type partsSnap struct {
	TopicID    string  `json:"topic_id"`
	Partitions []int32 `json:"partitions"`
	Epochs     []int32 `json:"epochs,omitempty"`
}

func snapParts(s map[tp]int32, withEpochs bool) []partsSnap {
	var out []partsSnap
	for _, t := range toTopicIDPartitions(s) {
		ps := partsSnap{TopicID: t.TopicID.String(), Partitions: t.Partitions}
		if withEpochs {
			for _, p := range t.Partitions {
				ps.Epochs = append(ps.Epochs, s[tp{t.TopicID, p}])
			}
		}
		out = append(out, ps)
	}
	return out
}

func parseTopicID(s string) (metadata.TopicID, error) {
	var id metadata.TopicID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(id) {
		return id, fmt.Errorf("bad topic id %q", s)
	}
	copy(id[:], b)
	return id, nil
}

func unsnapParts(ps []partsSnap) (map[tp]int32, error) {
	out := map[tp]int32{}
	for _, s := range ps {
		id, err := parseTopicID(s.TopicID)
		if err != nil {
			return nil, err
		}
		for i, p := range s.Partitions {
			e := int32(0)
			if i < len(s.Epochs) {
				e = s.Epochs[i]
			}
			out[tp{id, p}] = e
		}
	}
	return out, nil
}

// isConsumerSnapshot reports whether a stored group is a consumer group.
func isConsumerSnapshot(data []byte) bool {
	if len(data) == 0 {
		return false
	}
	var head struct {
		Type string `json:"type"`
	}
	return json.Unmarshal(data, &head) == nil && head.Type == consumerSnapshotType
}

// persistLocked saves the group; a failure (another agent claimed it, or
// the store failed) marks the group gone so it is reloaded from the store,
// and is returned as the error the client should see.
func (g *consumerGroup) persistLocked() error {
	snap := consumerSnapshot{Type: consumerSnapshotType, Epoch: g.epoch, AssignmentEpoch: g.assignmentEpoch, Assignor: g.assignor,
		Members: []consumerMemberSnapshot{}, Topics: map[string]topicMetaSnap{}}
	for n, t := range g.subs {
		snap.Topics[n] = topicMetaSnap{ID: t.ID.String(), Partitions: t.Partitions}
	}
	ids := make([]string, 0, len(g.members))
	for id := range g.members {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		m := g.members[id]
		target := map[tp]int32{}
		for x := range g.target[id] {
			target[x] = 0
		}
		snap.Members = append(snap.Members, consumerMemberSnapshot{ID: m.id, InstanceID: m.instanceID, RackID: m.rackID,
			ClientID: m.clientID, ClientHost: m.clientHost, RebalanceTimeoutMS: m.rebalanceTimeout.Milliseconds(),
			Names: m.names, Regex: m.regex, Assignor: m.assignor, Epoch: m.epoch, PrevEpoch: m.prevEpoch, State: m.state,
			Assigned: snapParts(m.assigned, true), Revoking: snapParts(m.revoking, true), Target: snapParts(target, false)})
	}
	data, err := json.Marshal(snap)
	if err != nil {
		g.goneLocked()
		return fmt.Errorf("%w: %v", kerr.CoordinatorNotAvailable, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = g.c.store.SaveGroup(ctx, metadata.Group{Name: g.name, OwnerEpoch: g.ownerEpoch, Generation: g.epoch,
		ProtocolType: "consumer", Protocol: g.assignor, State: string(g.stateLocked()), Snapshot: data})
	if err == nil {
		return nil
	}
	g.c.logger.Warn("persist consumer group failed; dropping it", "group", g.name, "err", err)
	g.goneLocked()
	if errors.Is(err, metadata.ErrFenced) || errors.Is(err, metadata.ErrGroupNotFound) {
		return kerr.NotCoordinator
	}
	return fmt.Errorf("%w: %v", kerr.CoordinatorNotAvailable, err)
}

// restoreConsumerGroup rebuilds a consumer group claimed from the store.
// Every member gets a fresh session timeout.
func restoreConsumerGroup(c *Coordinator, st metadata.Group) (*consumerGroup, error) {
	var snap consumerSnapshot
	if err := json.Unmarshal(st.Snapshot, &snap); err != nil {
		return nil, err
	}
	g := newConsumerGroup(c, st.Name, st.OwnerEpoch)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.epoch, g.assignmentEpoch, g.assignor = snap.Epoch, snap.AssignmentEpoch, snap.Assignor
	for n, t := range snap.Topics {
		id, err := parseTopicID(t.ID)
		if err != nil {
			return nil, err
		}
		g.subs[n] = topicMeta{ID: id, Partitions: t.Partitions}
	}
	for _, ms := range snap.Members {
		m := &cmember{id: ms.ID, instanceID: ms.InstanceID, rackID: ms.RackID, clientID: ms.ClientID, clientHost: ms.ClientHost,
			rebalanceTimeout: time.Duration(ms.RebalanceTimeoutMS) * time.Millisecond, names: ms.Names, regex: ms.Regex,
			assignor: ms.Assignor, epoch: ms.Epoch, prevEpoch: ms.PrevEpoch, state: ms.State}
		var err error
		if m.re, err = compileTopicRegex(m.regex); err != nil {
			return nil, err
		}
		if m.assigned, err = unsnapParts(ms.Assigned); err != nil {
			return nil, err
		}
		if m.revoking, err = unsnapParts(ms.Revoking); err != nil {
			return nil, err
		}
		target, err := unsnapParts(ms.Target)
		if err != nil {
			return nil, err
		}
		g.target[m.id] = tpSet{}
		for x := range target {
			g.target[m.id][x] = struct{}{}
		}
		for x := range m.assigned {
			g.owner[x] = m.id
		}
		for x := range m.revoking {
			g.owner[x] = m.id
		}
		g.members[m.id] = m
		if m.instanceID != nil {
			g.static[*m.instanceID] = m.id
		}
		g.touchLocked(m)
		if m.state == memberUnrevoked {
			g.scheduleRevokeTimeoutLocked(m)
		}
	}
	return g, nil
}
