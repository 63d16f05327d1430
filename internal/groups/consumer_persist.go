package groups

// KIP-848 persistence: the JSON snapshot saved after every change (marked
// "type":"consumer"), and restoring a group from it.

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicehq/sluice/internal/metadata"
)

// goneLocked marks the group as no longer ours and stops its timers.
func (g *consumerGroup) goneLocked() {
	g.gone = true
	for _, m := range g.members {
		stopTimer(&m.expiry)
		stopTimer(&m.revokeTimer)
	}
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
