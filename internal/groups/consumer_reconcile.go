package groups

// KIP-848 target assignment and reconciliation: resolving subscriptions to
// topic metadata, recomputing the target when the group epoch moves, and
// moving each member towards its target without ever giving one partition
// to two members (Kafka's CurrentAssignmentBuilder).

import (
	"context"
	"errors"
	"slices"
	"sort"

	"github.com/sluicehq/sluice/internal/metadata"
)

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
