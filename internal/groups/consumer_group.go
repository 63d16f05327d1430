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
	"errors"
	"regexp"
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

	expiry      Timer
	revokeTimer Timer
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

func newMember(id string) *cmember {
	return &cmember{id: id, state: memberStable, prevEpoch: -1, assigned: map[tp]int32{}, revoking: map[tp]int32{}}
}
