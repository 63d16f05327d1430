package groups

// Classic group types: the API's requests and results, and the group and
// member state every classic_*.go file works on.

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"sort"
	"sync"
	"time"
)

func (g *group) isGone() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.gone
}

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
	expiry   Timer // session timer, armed by touchLocked
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
	rebalance    Timer                // ends the join phase
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

func (g *group) sortedMembersLocked() []*member {
	ms := make([]*member, 0, len(g.members))
	for _, m := range g.members {
		ms = append(ms, m)
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].id < ms[j].id })
	return ms
}
