package groups

// The classic join/sync state machine. A group moves
//
//	Empty/Dead ──join──► PreparingRebalance ──all rejoined, or the longest
//	rebalance timeout──► CompletingRebalance ──leader's SyncGroup──► Stable
//
// and back to PreparingRebalance when a member joins, changes its
// protocols, leaves or expires. Join and sync answers are sent on the
// member's joinWait and syncWait channels, under the group's lock.

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

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
				if g.c.clock.Now().Sub(at) > g.c.cfg.MaxSessionTimeout {
					delete(g.pending, pid)
				}
			}
			g.pending[id] = g.c.clock.Now()
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
	g.rebalance = g.c.clock.AfterFunc(timeout, func() {
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
