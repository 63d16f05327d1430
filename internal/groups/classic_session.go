package groups

// Classic group liveness: heartbeats and the session timer that evicts a
// member which stops sending them, LeaveGroup, and the member checks an
// OffsetCommit goes through.

import (
	"github.com/twmb/franz-go/pkg/kerr"
)

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
	m.expiry = g.c.clock.AfterFunc(m.sessionTimeout, func() {
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
