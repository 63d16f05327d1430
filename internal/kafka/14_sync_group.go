package kafka

// SyncGroup (key 14), versions 0-5.
//
// The leader's assignments are stored and handed to every member; members
// that sync before the leader wait for it. The group is persisted (members
// and assignments) when it becomes stable, so a coordinator that takes the
// group over keeps it stable. v5 checks the protocol type and name
// (INCONSISTENT_GROUP_PROTOCOL).
//
// Authorization: READ on the group (GROUP_AUTHORIZATION_FAILED).

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/groups"
)

func (s *Server) handleSyncGroup(ctx context.Context, req *request, m *kmsg.SyncGroupRequest) reply {
	if !s.authorizeGroup(req, kmsg.ACLOperationRead, m.Group) {
		resp := kmsg.NewPtrSyncGroupResponse()
		resp.Version = req.version
		resp.ErrorCode, resp.MemberAssignment = kerr.GroupAuthorizationFailed.Code, []byte{}
		s.metrics.errorCode(req.key, resp.ErrorCode)
		return ready(resp)
	}
	sr := groups.SyncRequest{Group: m.Group, MemberID: m.MemberID, InstanceID: m.InstanceID, Generation: m.Generation,
		ProtocolType: m.ProtocolType, Protocol: m.Protocol, Assignments: map[string][]byte{}}
	for _, a := range m.GroupAssignment {
		sr.Assignments[a.MemberID] = a.MemberAssignment
	}
	wait := s.groups.Sync(ctx, sr)
	return reply{wait: func() kmsg.Response {
		resp := kmsg.NewPtrSyncGroupResponse()
		resp.Version = req.version
		var res groups.SyncResult
		waitStart := time.Now()
		select {
		case res = <-wait:
		case <-ctx.Done():
			res.Err = ctx.Err()
		}
		req.waited += time.Since(waitStart) // the rebalance: not handler time
		resp.ErrorCode = groupErrorCode(res.Err)
		s.metrics.errorCode(req.key, resp.ErrorCode)
		if res.Err == nil {
			resp.ProtocolType, resp.Protocol = &res.ProtocolType, &res.Protocol
			resp.MemberAssignment = res.Assignment
		}
		if resp.MemberAssignment == nil {
			resp.MemberAssignment = []byte{}
		}
		return resp
	}}
}
