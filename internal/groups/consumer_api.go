package groups

// KIP-848 API: the request and response types of ConsumerGroupHeartbeat
// and ConsumerGroupDescribe, Kafka's request validation, and the
// Coordinator's entry points.

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicehq/sluice/internal/metadata"
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
