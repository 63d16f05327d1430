package groups

// The classic group protocol's entry points: JoinGroup, SyncGroup,
// Heartbeat and LeaveGroup, each resolving the group and handing the
// request to its state machine (classic_rebalance.go, classic_session.go).

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Join handles JoinGroup; the channel yields the response.
func (c *Coordinator) Join(ctx context.Context, req JoinRequest) <-chan JoinResult {
	g, err := c.get(ctx, req.Group, true)
	if cg := asConsumer(err); cg != nil {
		// An empty consumer group becomes a classic one; classic members
		// cannot join a consumer group that has members.
		c.mu.Lock()
		if c.cgroups[req.Group] == cg {
			g, err = c.classicFromConsumerLocked(cg)
		} else {
			err = kerr.NotCoordinator
		}
		c.mu.Unlock()
	}
	if err != nil {
		out := make(chan JoinResult, 1)
		out <- JoinResult{Err: err, MemberID: req.MemberID, Generation: -1}
		return out
	}
	return g.join(req)
}

// Sync handles SyncGroup; the channel yields the response.
func (c *Coordinator) Sync(ctx context.Context, req SyncRequest) <-chan SyncResult {
	g, err := c.get(ctx, req.Group, false)
	if errors.Is(err, errNoGroup) || asConsumer(err) != nil {
		err = kerr.UnknownMemberID
	}
	if err != nil {
		out := make(chan SyncResult, 1)
		out <- SyncResult{Err: err}
		return out
	}
	return g.sync(req)
}

// Heartbeat handles Heartbeat.
func (c *Coordinator) Heartbeat(ctx context.Context, group, memberID string, instanceID *string, generation int32) error {
	g, err := c.get(ctx, group, false)
	if errors.Is(err, errNoGroup) || asConsumer(err) != nil {
		return kerr.UnknownMemberID
	}
	if err != nil {
		return err
	}
	return g.heartbeat(memberID, instanceID, generation)
}

// LeavingMember names a member leaving (LeaveGroup v3+ batches them).
type LeavingMember struct {
	MemberID   string
	InstanceID *string
}

// Leave handles LeaveGroup: one error per member, or a group-level error.
func (c *Coordinator) Leave(ctx context.Context, group string, members []LeavingMember) ([]error, error) {
	g, err := c.get(ctx, group, false)
	if cg := asConsumer(err); cg != nil {
		errs := cg.classicLeave(members)
		c.forgetIfGone(cg)
		return errs, nil
	}
	if errors.Is(err, errNoGroup) {
		errs := make([]error, len(members))
		for i := range errs {
			errs[i] = kerr.UnknownMemberID
		}
		return errs, nil
	}
	if err != nil {
		return nil, err
	}
	errs := make([]error, len(members))
	for i, m := range members {
		errs[i] = g.leave(m.MemberID, m.InstanceID)
	}
	return errs, nil
}
