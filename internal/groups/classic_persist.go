package groups

// Classic group persistence: Stable groups are saved with their members
// and assignments (Empty ones without), so the next owner resumes them
// without a rebalance.

import (
	"context"
	"encoding/json"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicehq/sluice/internal/metadata"
)

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
