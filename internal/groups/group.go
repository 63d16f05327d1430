package groups

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicehq/sluice/internal/metadata"
)

// State is a classic group's state, named as Kafka names them.
type State string

// Group states.
const (
	Empty               State = "Empty"
	PreparingRebalance  State = "PreparingRebalance"
	CompletingRebalance State = "CompletingRebalance"
	Stable              State = "Stable"
	Dead                State = "Dead"
)

// Protocol is one assignment protocol a member supports, with its metadata.
type Protocol struct {
	Name     string
	Metadata []byte
}

// JoinRequest is a JoinGroup request.
type JoinRequest struct {
	Group            string
	MemberID         string
	InstanceID       *string
	ClientID         string
	ClientHost       string
	SessionTimeout   time.Duration
	RebalanceTimeout time.Duration
	ProtocolType     string
	Protocols        []Protocol
	// RequireKnownMemberID is true for JoinGroup v4+: a new member first
	// gets MEMBER_ID_REQUIRED with its ID (KIP-394).
	RequireKnownMemberID bool
}

// MemberInfo describes a member to the group leader.
type MemberInfo struct {
	MemberID   string
	InstanceID *string
	Metadata   []byte
}

// JoinResult is a JoinGroup response.
type JoinResult struct {
	Err          error
	Generation   int32
	ProtocolType string
	Protocol     string
	Leader       string
	MemberID     string
	// Members is filled for the leader only.
	Members []MemberInfo
	// SkipAssignment tells a static leader that rejoined a stable group not
	// to compute a new assignment (JoinGroup v9+).
	SkipAssignment bool
}

// SyncRequest is a SyncGroup request.
type SyncRequest struct {
	Group        string
	MemberID     string
	InstanceID   *string
	Generation   int32
	ProtocolType *string
	Protocol     *string
	Assignments  map[string][]byte
}

// SyncResult is a SyncGroup response.
type SyncResult struct {
	Err          error
	ProtocolType string
	Protocol     string
	Assignment   []byte
}

type member struct {
	id               string
	instanceID       *string
	clientID         string
	clientHost       string
	sessionTimeout   time.Duration
	rebalanceTimeout time.Duration
	protocolType     string
	protocols        []Protocol
	assignment       []byte

	// joinWait receives the member's JoinGroup response while the group
	// prepares a rebalance; nil when no join is pending.
	joinWait chan JoinResult
	// syncWait receives the member's SyncGroup response while the group
	// waits for the leader's assignment.
	syncWait chan SyncResult
	expiry   *time.Timer
}

// group is one classic consumer group. Every field is guarded by mu.
type group struct {
	c    *Coordinator
	name string

	mu           sync.Mutex
	epoch        int64 // ownership epoch from the metadata store
	state        State
	generation   int32
	protocolType string
	protocol     string
	leader       string
	members      map[string]*member
	static       map[string]string    // instance ID → member ID
	pending      map[string]time.Time // member IDs handed out, not yet joined
	joined       map[string]bool      // members that rejoined this rebalance
	rebalance    *time.Timer
	// delaying is set while a rebalance of a group that was empty waits
	// out the initial delay, so more members can join the first generation.
	delaying bool
	// gone is set when the group was deleted or another agent took it
	// over; the coordinator then drops it.
	gone bool
}

func newMemberID(clientID string) string {
	var b [16]byte
	rand.Read(b[:])
	return clientID + "-" + hex.EncodeToString(b[:])
}

func protocolsEqual(a, b []Protocol) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || !bytes.Equal(a[i].Metadata, b[i].Metadata) {
			return false
		}
	}
	return true
}

// join handles a JoinGroup request. It returns a channel that yields the
// response once the rebalance completes (or at once).
func (g *group) join(req JoinRequest) <-chan JoinResult {
	out := make(chan JoinResult, 1)
	g.mu.Lock()
	defer g.mu.Unlock()
	fail := func(err error) <-chan JoinResult {
		out <- JoinResult{Err: err, MemberID: req.MemberID}
		return out
	}
	if g.gone {
		return fail(kerr.NotCoordinator)
	}
	if req.SessionTimeout < g.c.cfg.MinSessionTimeout || req.SessionTimeout > g.c.cfg.MaxSessionTimeout {
		return fail(kerr.InvalidSessionTimeout)
	}
	if req.ProtocolType == "" || len(req.Protocols) == 0 {
		return fail(kerr.InconsistentGroupProtocol)
	}
	if len(g.members) > 0 && (req.ProtocolType != g.protocolType || !g.supportsCommonProtocol(req.Protocols)) {
		return fail(kerr.InconsistentGroupProtocol)
	}

	// Static members (KIP-345) are identified by instance ID.
	if req.InstanceID != nil {
		if oldID, ok := g.static[*req.InstanceID]; ok {
			old := g.members[oldID]
			if req.MemberID != "" && req.MemberID != oldID {
				return fail(kerr.FencedInstanceID)
			}
			if req.MemberID == "" {
				return g.replaceStaticLocked(old, req, out)
			}
		} else if req.MemberID != "" {
			return fail(kerr.UnknownMemberID)
		}
	}

	// assigned: this join generated req.MemberID (JoinGroup v0-v3 has no
	// MEMBER_ID_REQUIRED round trip, and static members skip it).
	assigned := false
	if req.MemberID == "" {
		id := newMemberID(req.ClientID)
		if req.RequireKnownMemberID && req.InstanceID == nil {
			for pid, at := range g.pending { // forget IDs never used
				if time.Since(at) > g.c.cfg.MaxSessionTimeout {
					delete(g.pending, pid)
				}
			}
			g.pending[id] = time.Now()
			out <- JoinResult{Err: kerr.MemberIDRequired, MemberID: id, Generation: -1}
			return out
		}
		req.MemberID = id
		assigned = true
	}
	m, known := g.members[req.MemberID]
	if !known {
		// A member ID the client did not get from us (as an assigned
		// ID just now, or via MEMBER_ID_REQUIRED) is unknown.
		if _, ok := g.pending[req.MemberID]; !ok && req.InstanceID == nil && !assigned {
			return fail(kerr.UnknownMemberID)
		}
		delete(g.pending, req.MemberID)
		m = &member{id: req.MemberID}
		g.members[m.id] = m
		if req.InstanceID != nil {
			g.static[*req.InstanceID] = m.id
		}
	}
	changed := !known || !protocolsEqual(m.protocols, req.Protocols)
	m.instanceID, m.clientID, m.clientHost = req.InstanceID, req.ClientID, req.ClientHost
	m.sessionTimeout, m.rebalanceTimeout = req.SessionTimeout, req.RebalanceTimeout
	m.protocolType, m.protocols = req.ProtocolType, req.Protocols
	if g.protocolType == "" {
		g.protocolType = req.ProtocolType
	}
	if m.joinWait != nil { // a duplicate join replaces the older one
		m.joinWait <- JoinResult{Err: kerr.UnknownMemberID, MemberID: m.id}
	}
	m.joinWait = out
	g.stopExpiryLocked(m)

	switch g.state {
	case Stable, CompletingRebalance:
		if !changed && m.id != g.leader {
			// Nothing to rebalance: answer with the current generation.
			g.answerJoinLocked(m, false)
			g.touchLocked(m)
			return out
		}
		g.prepareRebalanceLocked()
	case Empty, Dead:
		g.prepareRebalanceLocked()
	}
	g.joined[m.id] = true
	g.maybeCompleteJoinLocked()
	return out
}

// replaceStaticLocked handles a static member that rejoins without its
// member ID (it restarted): the new incarnation takes over the old member's
// place, fencing the old one, and a stable group is not rebalanced.
func (g *group) replaceStaticLocked(old *member, req JoinRequest, out chan JoinResult) <-chan JoinResult {
	newID := newMemberID(req.ClientID)
	if old.joinWait != nil {
		old.joinWait <- JoinResult{Err: kerr.FencedInstanceID, MemberID: old.id}
		old.joinWait = nil
	}
	if old.syncWait != nil {
		old.syncWait <- SyncResult{Err: kerr.FencedInstanceID}
		old.syncWait = nil
	}
	g.stopExpiryLocked(old)
	delete(g.members, old.id)
	wasLeader := g.leader == old.id
	m := &member{id: newID, instanceID: req.InstanceID, clientID: req.ClientID, clientHost: req.ClientHost,
		sessionTimeout: req.SessionTimeout, rebalanceTimeout: req.RebalanceTimeout,
		protocolType: req.ProtocolType, protocols: req.Protocols, assignment: old.assignment}
	g.members[newID] = m
	g.static[*req.InstanceID] = newID
	if wasLeader {
		g.leader = newID
	}
	if g.joined[old.id] {
		delete(g.joined, old.id)
		g.joined[newID] = true
	}
	m.joinWait = out
	// As in Kafka, a stable group rebalances only if the new incarnation
	// changes the protocol the group would select. Its metadata bytes may
	// well differ (clients put their generation and owned partitions in
	// it; a restarted one has neither), and that alone must not trigger a
	// rebalance: avoiding it is the point of static membership.
	if g.state == Stable && g.chooseProtocolLocked() == g.protocol {
		g.answerJoinLocked(m, wasLeader)
		g.touchLocked(m)
		g.persistLocked()
		return out
	}
	if g.state != PreparingRebalance {
		g.prepareRebalanceLocked()
	}
	g.joined[newID] = true
	g.maybeCompleteJoinLocked()
	return out
}

func (g *group) supportsCommonProtocol(ps []Protocol) bool {
	for _, p := range ps {
		all := true
		for _, m := range g.members {
			if !hasProtocol(m.protocols, p.Name) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

func hasProtocol(ps []Protocol, name string) bool {
	for _, p := range ps {
		if p.Name == name {
			return true
		}
	}
	return false
}

// answerJoinLocked sends m its JoinGroup response for the current
// generation.
func (g *group) answerJoinLocked(m *member, skipAssignment bool) {
	if m.joinWait == nil {
		return
	}
	res := JoinResult{Generation: g.generation, ProtocolType: g.protocolType, Protocol: g.protocol, Leader: g.leader, MemberID: m.id, SkipAssignment: skipAssignment}
	if m.id == g.leader {
		res.Members = g.memberInfosLocked()
	}
	m.joinWait <- res
	m.joinWait = nil
}

func (g *group) memberInfosLocked() []MemberInfo {
	out := make([]MemberInfo, 0, len(g.members))
	for _, m := range g.sortedMembersLocked() {
		var meta []byte
		for _, p := range m.protocols {
			if p.Name == g.protocol {
				meta = p.Metadata
			}
		}
		out = append(out, MemberInfo{MemberID: m.id, InstanceID: m.instanceID, Metadata: meta})
	}
	return out
}

func (g *group) sortedMembersLocked() []*member {
	ms := make([]*member, 0, len(g.members))
	for _, m := range g.members {
		ms = append(ms, m)
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].id < ms[j].id })
	return ms
}

// prepareRebalanceLocked moves the group to PreparingRebalance: members
// waiting in SyncGroup are told to rejoin, and the join phase ends when
// every member has rejoined or the longest rebalance timeout passes.
func (g *group) prepareRebalanceLocked() {
	for _, m := range g.members {
		if m.syncWait != nil {
			m.syncWait <- SyncResult{Err: kerr.RebalanceInProgress}
			m.syncWait = nil
		}
	}
	wasEmpty := g.state == Empty || g.state == Dead
	g.state = PreparingRebalance
	g.joined = map[string]bool{}
	g.c.metrics.rebalances.Inc()
	timeout := time.Duration(0)
	for _, m := range g.members {
		timeout = max(timeout, m.rebalanceTimeout)
	}
	g.delaying = wasEmpty && g.c.cfg.InitialRebalanceDelay > 0
	if g.delaying {
		timeout = min(timeout, g.c.cfg.InitialRebalanceDelay)
	}
	if g.rebalance != nil {
		g.rebalance.Stop()
	}
	g.rebalance = time.AfterFunc(timeout, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		g.delaying = false
		if g.state == PreparingRebalance {
			g.completeJoinLocked()
		}
	})
}

// maybeCompleteJoinLocked ends the join phase early once every member has
// rejoined (after the initial delay for a group that was empty).
func (g *group) maybeCompleteJoinLocked() {
	if g.state != PreparingRebalance {
		return
	}
	for id := range g.members {
		if !g.joined[id] {
			return
		}
	}
	if g.delaying {
		return // the delay timer completes this rebalance
	}
	g.completeJoinLocked()
}

// completeJoinLocked ends the join phase: members that did not rejoin are
// dropped, a new generation starts, and every joined member gets its
// JoinGroup response.
func (g *group) completeJoinLocked() {
	if g.rebalance != nil {
		g.rebalance.Stop()
		g.rebalance = nil
	}
	for id, m := range g.members {
		if !g.joined[id] {
			g.removeMemberLocked(m)
		}
	}
	g.generation++
	if len(g.members) == 0 {
		g.state = Empty
		g.protocol = ""
		g.leader = ""
		g.persistLocked()
		return
	}
	g.protocol = g.chooseProtocolLocked()
	if _, ok := g.members[g.leader]; !ok {
		g.leader = g.sortedMembersLocked()[0].id
	}
	g.state = CompletingRebalance
	for _, m := range g.members {
		m.assignment = nil
		g.answerJoinLocked(m, false)
		g.touchLocked(m)
	}
	g.joined = map[string]bool{}
}

// chooseProtocolLocked picks the protocol every member supports that most
// members prefer, as Kafka does.
func (g *group) chooseProtocolLocked() string {
	var candidates []string
	first := g.sortedMembersLocked()[0]
	for _, p := range first.protocols {
		all := true
		for _, m := range g.members {
			if !hasProtocol(m.protocols, p.Name) {
				all = false
				break
			}
		}
		if all {
			candidates = append(candidates, p.Name)
		}
	}
	votes := map[string]int{}
	for _, m := range g.members {
		for _, p := range m.protocols {
			if contains(candidates, p.Name) {
				votes[p.Name]++
				break
			}
		}
	}
	best := ""
	for _, c := range candidates {
		if best == "" || votes[c] > votes[best] {
			best = c
		}
	}
	return best
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// removeMemberLocked drops a member without deciding what happens to the
// group.
func (g *group) removeMemberLocked(m *member) {
	g.stopExpiryLocked(m)
	if m.joinWait != nil {
		m.joinWait <- JoinResult{Err: kerr.UnknownMemberID, MemberID: m.id}
		m.joinWait = nil
	}
	if m.syncWait != nil {
		m.syncWait <- SyncResult{Err: kerr.UnknownMemberID}
		m.syncWait = nil
	}
	delete(g.members, m.id)
	delete(g.joined, m.id)
	if m.instanceID != nil && g.static[*m.instanceID] == m.id {
		delete(g.static, *m.instanceID)
	}
}

// memberLeftLocked reacts to a member leaving or expiring.
func (g *group) memberLeftLocked(m *member) {
	g.removeMemberLocked(m)
	switch g.state {
	case Stable, CompletingRebalance:
		if len(g.members) == 0 {
			g.prepareRebalanceLocked()
			g.completeJoinLocked()
			return
		}
		g.prepareRebalanceLocked()
	case PreparingRebalance:
		g.maybeCompleteJoinLocked()
	}
}

// touchLocked restarts m's session timer.
func (g *group) touchLocked(m *member) {
	g.stopExpiryLocked(m)
	m.expiry = time.AfterFunc(m.sessionTimeout, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.members[m.id] != m || m.joinWait != nil {
			return // gone already, or parked in a join (no heartbeats then)
		}
		g.c.logger.Info("group member session expired", "group", g.name, "member", m.id)
		g.memberLeftLocked(m)
	})
}

func (g *group) stopExpiryLocked(m *member) {
	if m.expiry != nil {
		m.expiry.Stop()
		m.expiry = nil
	}
}

// sync handles a SyncGroup request.
func (g *group) sync(req SyncRequest) <-chan SyncResult {
	out := make(chan SyncResult, 1)
	g.mu.Lock()
	defer g.mu.Unlock()
	fail := func(err error) <-chan SyncResult {
		out <- SyncResult{Err: err}
		return out
	}
	if g.gone {
		return fail(kerr.NotCoordinator)
	}
	m, ok := g.members[req.MemberID]
	if !ok {
		return fail(kerr.UnknownMemberID)
	}
	if req.InstanceID != nil && g.static[*req.InstanceID] != req.MemberID {
		return fail(kerr.FencedInstanceID)
	}
	if req.Generation != g.generation {
		return fail(kerr.IllegalGeneration)
	}
	if (req.ProtocolType != nil && *req.ProtocolType != g.protocolType) || (req.Protocol != nil && *req.Protocol != g.protocol) {
		return fail(kerr.InconsistentGroupProtocol)
	}
	g.touchLocked(m)
	switch g.state {
	case PreparingRebalance:
		return fail(kerr.RebalanceInProgress)
	case Stable:
		out <- SyncResult{ProtocolType: g.protocolType, Protocol: g.protocol, Assignment: m.assignment}
		return out
	case CompletingRebalance:
		if m.syncWait != nil {
			m.syncWait <- SyncResult{Err: kerr.RebalanceInProgress}
		}
		m.syncWait = out
		if m.id != g.leader {
			return out
		}
		for _, mm := range g.members {
			mm.assignment = req.Assignments[mm.id]
		}
		g.state = Stable
		if err := g.persistLocked(); err != nil {
			// Fenced: another agent owns the group now.
			for _, mm := range g.members {
				if mm.syncWait != nil {
					mm.syncWait <- SyncResult{Err: kerr.NotCoordinator}
					mm.syncWait = nil
				}
			}
			return out
		}
		for _, mm := range g.members {
			if mm.syncWait != nil {
				mm.syncWait <- SyncResult{ProtocolType: g.protocolType, Protocol: g.protocol, Assignment: mm.assignment}
				mm.syncWait = nil
			}
		}
		return out
	}
	return fail(kerr.UnknownMemberID)
}

// heartbeat handles a Heartbeat request.
func (g *group) heartbeat(memberID string, instanceID *string, generation int32) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.gone {
		return kerr.NotCoordinator
	}
	m, ok := g.members[memberID]
	if !ok {
		return kerr.UnknownMemberID
	}
	if instanceID != nil && g.static[*instanceID] != memberID {
		return kerr.FencedInstanceID
	}
	switch g.state {
	case PreparingRebalance:
		g.touchLocked(m)
		return kerr.RebalanceInProgress
	case CompletingRebalance, Stable:
		if generation != g.generation {
			return kerr.IllegalGeneration
		}
		g.touchLocked(m)
		return nil
	}
	return kerr.UnknownMemberID
}

// leave removes members (LeaveGroup v3+ names several). An empty memberID
// with an instance ID names a static member.
func (g *group) leave(memberID string, instanceID *string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.gone {
		return kerr.NotCoordinator
	}
	if instanceID != nil {
		id, ok := g.static[*instanceID]
		if !ok {
			return kerr.UnknownMemberID
		}
		if memberID != "" && memberID != id {
			return kerr.FencedInstanceID
		}
		memberID = id
	}
	m, ok := g.members[memberID]
	if !ok {
		if _, pending := g.pending[memberID]; pending {
			delete(g.pending, memberID)
			return nil
		}
		return kerr.UnknownMemberID
	}
	g.c.logger.Debug("group member left", "group", g.name, "member", memberID)
	g.memberLeftLocked(m)
	return nil
}

// checkCommitLocked validates an offset commit's member and generation.
// A commit with generation -1 and no member is an admin commit, allowed
// only while the group has no members.
func (g *group) checkCommitLocked(memberID string, instanceID *string, generation int32) error {
	if g.gone {
		return kerr.NotCoordinator
	}
	if generation < 0 && memberID == "" {
		if len(g.members) > 0 {
			return kerr.UnknownMemberID
		}
		return nil
	}
	m, ok := g.members[memberID]
	if !ok {
		return kerr.UnknownMemberID
	}
	if instanceID != nil && g.static[*instanceID] != memberID {
		return kerr.FencedInstanceID
	}
	if g.state == CompletingRebalance {
		return kerr.RebalanceInProgress
	}
	if generation != g.generation {
		return kerr.IllegalGeneration
	}
	g.touchLocked(m)
	return nil
}

// snapshot is the persisted form of a group's members.
type snapshot struct {
	Leader  string           `json:"leader"`
	Members []memberSnapshot `json:"members"`
}

type memberSnapshot struct {
	ID               string     `json:"id"`
	InstanceID       *string    `json:"instance_id,omitempty"`
	ClientID         string     `json:"client_id"`
	ClientHost       string     `json:"client_host"`
	SessionTimeoutMS int64      `json:"session_timeout_ms"`
	RebalanceTimeout int64      `json:"rebalance_timeout_ms"`
	ProtocolType     string     `json:"protocol_type"`
	Protocols        []Protocol `json:"protocols"`
	Assignment       []byte     `json:"assignment"`
}

// persistLocked saves the group so another agent (or this one after a
// restart) can take it over with its members and assignments. Only Stable
// and Empty groups are persisted; a failure means the group was fenced.
func (g *group) persistLocked() error {
	var snap snapshot
	if g.state == Stable {
		snap.Leader = g.leader
		for _, m := range g.sortedMembersLocked() {
			snap.Members = append(snap.Members, memberSnapshot{ID: m.id, InstanceID: m.instanceID, ClientID: m.clientID, ClientHost: m.clientHost,
				SessionTimeoutMS: m.sessionTimeout.Milliseconds(), RebalanceTimeout: m.rebalanceTimeout.Milliseconds(),
				ProtocolType: m.protocolType, Protocols: m.protocols, Assignment: m.assignment})
		}
	}
	data, _ := json.Marshal(snap)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := g.c.store.SaveGroup(ctx, metadata.Group{Name: g.name, OwnerEpoch: g.epoch, Generation: g.generation,
		ProtocolType: g.protocolType, Protocol: g.protocol, State: string(g.state), Snapshot: data})
	if err != nil {
		g.c.logger.Warn("persist group failed; dropping it", "group", g.name, "err", err)
		g.goneLocked()
	}
	return err
}

// restoreLocked rebuilds the group from its persisted state after a claim.
func (g *group) restoreLocked(st metadata.Group) {
	g.epoch = st.OwnerEpoch
	g.generation = st.Generation
	g.protocolType = st.ProtocolType
	g.protocol = st.Protocol
	g.state = Empty
	var snap snapshot
	if len(st.Snapshot) > 0 && json.Unmarshal(st.Snapshot, &snap) == nil && len(snap.Members) > 0 && State(st.State) == Stable {
		g.state = Stable
		g.leader = snap.Leader
		for _, ms := range snap.Members {
			m := &member{id: ms.ID, instanceID: ms.InstanceID, clientID: ms.ClientID, clientHost: ms.ClientHost,
				sessionTimeout: time.Duration(ms.SessionTimeoutMS) * time.Millisecond, rebalanceTimeout: time.Duration(ms.RebalanceTimeout) * time.Millisecond,
				protocolType: ms.ProtocolType, protocols: ms.Protocols, assignment: ms.Assignment}
			g.members[m.id] = m
			if m.instanceID != nil {
				g.static[*m.instanceID] = m.id
			}
			g.touchLocked(m)
		}
	}
}

// goneLocked marks the group as no longer ours and releases every waiter.
func (g *group) goneLocked() {
	g.gone = true
	if g.rebalance != nil {
		g.rebalance.Stop()
	}
	for _, m := range g.members {
		g.stopExpiryLocked(m)
		if m.joinWait != nil {
			m.joinWait <- JoinResult{Err: kerr.NotCoordinator, MemberID: m.id}
			m.joinWait = nil
		}
		if m.syncWait != nil {
			m.syncWait <- SyncResult{Err: kerr.NotCoordinator}
			m.syncWait = nil
		}
	}
}
