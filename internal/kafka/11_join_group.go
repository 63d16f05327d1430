package kafka

// JoinGroup (key 11), versions 0-9.
//
// The classic group protocol as Kafka's coordinator runs it (see
// internal/groups): the response waits until the rebalance's join phase
// ends. v4+ new members first get MEMBER_ID_REQUIRED with their ID
// (KIP-394); v0-v3 new members get theirs in the join itself. v5+ static
// members (group.instance.id, KIP-345) that rejoin a stable group get
// their place and assignment back without a rebalance unless their
// protocols change the one the group selects (a static leader is told to
// skip assignment, v9). v0 has no rebalance timeout; the session timeout
// stands in. Session timeouts outside [6s, 30m] get
// INVALID_SESSION_TIMEOUT. A KIP-848 consumer group with members refuses
// classic members (INCONSISTENT_GROUP_PROTOCOL); an empty one becomes a
// classic group.
//
// Authorization: READ on the group (GROUP_AUTHORIZATION_FAILED).

import (
	"context"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/groups"
)

func (s *Server) handleJoinGroup(ctx context.Context, req *request, m *kmsg.JoinGroupRequest) reply {
	if !s.authorizeGroup(req, kmsg.ACLOperationRead, m.Group) {
		resp := kmsg.NewPtrJoinGroupResponse()
		resp.Version = req.version
		resp.ErrorCode, resp.Generation, resp.MemberID = kerr.GroupAuthorizationFailed.Code, -1, m.MemberID
		s.metrics.errorCode(req.key, resp.ErrorCode)
		return ready(resp)
	}
	jr := groups.JoinRequest{
		Group: m.Group, MemberID: m.MemberID, InstanceID: m.InstanceID,
		ClientID: req.clientID, ClientHost: hostOf(req.remote),
		SessionTimeout:       time.Duration(m.SessionTimeoutMillis) * time.Millisecond,
		RebalanceTimeout:     time.Duration(m.RebalanceTimeoutMillis) * time.Millisecond,
		ProtocolType:         m.ProtocolType,
		RequireKnownMemberID: req.version >= 4,
	}
	if req.version == 0 {
		jr.RebalanceTimeout = jr.SessionTimeout
	}
	for _, p := range m.Protocols {
		jr.Protocols = append(jr.Protocols, groups.Protocol{Name: p.Name, Metadata: p.Metadata})
	}
	wait := s.groups.Join(ctx, jr)
	return reply{wait: func() kmsg.Response {
		resp := kmsg.NewPtrJoinGroupResponse()
		resp.Version = req.version
		var res groups.JoinResult
		waitStart := time.Now()
		select {
		case res = <-wait:
		case <-ctx.Done():
			res.Err = ctx.Err()
		}
		req.waited += time.Since(waitStart) // the rebalance: not handler time
		resp.ErrorCode = groupErrorCode(res.Err)
		s.metrics.errorCode(req.key, resp.ErrorCode)
		resp.Generation = res.Generation
		resp.ProtocolType = &res.ProtocolType
		resp.Protocol = &res.Protocol
		resp.LeaderID = res.Leader
		resp.MemberID = res.MemberID
		resp.SkipAssignment = res.SkipAssignment
		for _, mi := range res.Members {
			rm := kmsg.NewJoinGroupResponseMember()
			rm.MemberID, rm.InstanceID, rm.ProtocolMetadata = mi.MemberID, mi.InstanceID, mi.Metadata
			resp.Members = append(resp.Members, rm)
		}
		if res.Err != nil {
			resp.Generation = -1
			resp.ProtocolType, resp.Protocol = nil, nil
		}
		return resp
	}}
}

// hostOf renders a client address the way Kafka shows client hosts.
func hostOf(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return "/" + addr
	}
	return "/" + host
}
