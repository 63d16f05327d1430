package groups

// The KIP-848 heartbeat state machine: joining (epoch 0), regular
// heartbeats with epoch checks, static members, leaving (epochs -1 and
// -2), and the session and rebalance timers that fence silent or slow
// members. Assignment work is in consumer_reconcile.go.

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

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
	if bump || g.c.clock.Now().Sub(g.refreshedAt) >= cfg.ConsumerMetadataRefresh {
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
		g.refreshedAt = g.c.clock.Now()
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
	var t Timer
	t = g.c.clock.AfterFunc(d, func() {
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
	var t Timer
	t = g.c.clock.AfterFunc(d, func() {
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
