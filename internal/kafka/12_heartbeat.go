package kafka

// Heartbeat (key 12), versions 0-4.
//
// Keeps a member's session alive. During a rebalance the answer is
// REBALANCE_IN_PROGRESS (the member rejoins); a wrong generation is
// ILLEGAL_GENERATION, an unknown member UNKNOWN_MEMBER_ID, a replaced static
// member FENCED_INSTANCE_ID.
//
// Authorization: READ on the group (GROUP_AUTHORIZATION_FAILED).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (s *Server) handleHeartbeat(ctx context.Context, req *request, m *kmsg.HeartbeatRequest) kmsg.Response {
	resp := kmsg.NewPtrHeartbeatResponse()
	resp.Version = req.version
	if !s.authorizeGroup(req, kmsg.ACLOperationRead, m.Group) {
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
	} else {
		resp.ErrorCode = groupErrorCode(s.groups.Heartbeat(ctx, m.Group, m.MemberID, m.InstanceID, m.Generation))
	}
	s.metrics.errorCode(req.key, resp.ErrorCode)
	return resp
}
