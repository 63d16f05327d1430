package kafka

// LeaveGroup (key 13), versions 0-5.
//
// Removes members and rebalances the rest. v0-v2 name one member; v3+ name
// several, each by member ID and/or instance ID (static members), with an
// error per member. In a KIP-848 consumer group only static members can
// be removed, by instance ID alone (as Kafka's admin removal); others get
// UNKNOWN_MEMBER_ID. The leave reason (v5) is logged at debug level only.
//
// Authorization: READ on the group (GROUP_AUTHORIZATION_FAILED).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/groups"
)

func (s *Server) handleLeaveGroup(ctx context.Context, req *request, m *kmsg.LeaveGroupRequest) kmsg.Response {
	resp := kmsg.NewPtrLeaveGroupResponse()
	resp.Version = req.version
	var leaving []groups.LeavingMember
	if req.version < 3 {
		leaving = []groups.LeavingMember{{MemberID: m.MemberID}}
	} else {
		for _, lm := range m.Members {
			leaving = append(leaving, groups.LeavingMember{MemberID: lm.MemberID, InstanceID: lm.InstanceID})
		}
	}
	var (
		errs     []error
		groupErr error = kerr.GroupAuthorizationFailed
	)
	if s.authorizeGroup(req, kmsg.ACLOperationRead, m.Group) {
		errs, groupErr = s.groups.Leave(ctx, m.Group, leaving)
	}
	resp.ErrorCode = groupErrorCode(groupErr)
	s.metrics.errorCode(req.key, resp.ErrorCode)
	if req.version < 3 {
		if groupErr == nil && len(errs) == 1 {
			resp.ErrorCode = groupErrorCode(errs[0])
			s.metrics.errorCode(req.key, resp.ErrorCode)
		}
		return resp
	}
	for i, lm := range leaving {
		rm := kmsg.NewLeaveGroupResponseMember()
		rm.MemberID, rm.InstanceID = lm.MemberID, lm.InstanceID
		if groupErr == nil {
			rm.ErrorCode = groupErrorCode(errs[i])
			s.metrics.errorCode(req.key, rm.ErrorCode)
		}
		resp.Members = append(resp.Members, rm)
	}
	return resp
}
