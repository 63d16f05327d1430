package kafka

// DescribeGroups (key 15), versions 0-5.
//
// Each group is described by its coordinator; others get NOT_COORDINATOR.
// Unknown groups are reported in state Dead without an error, as Kafka
// does, and so are KIP-848 consumer groups, as Kafka 4 answers these
// versions (they are described by ConsumerGroupDescribe). Member
// assignments are shown once the group is stable. Authorized operations
// (v3+) are not computed and report Kafka's "not requested" value.
//
// Authorization: DESCRIBE on each group (GROUP_AUTHORIZATION_FAILED);
// authorized operations (KIP-430) are filled in when requested.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (s *Server) handleDescribeGroups(ctx context.Context, req *request, m *kmsg.DescribeGroupsRequest) kmsg.Response {
	resp := kmsg.NewPtrDescribeGroupsResponse()
	resp.Version = req.version
	for _, name := range m.Groups {
		rg := kmsg.NewDescribeGroupsResponseGroup()
		rg.Group = name
		if !s.authorizeGroup(req, kmsg.ACLOperationDescribe, name) {
			rg.ErrorCode = kerr.GroupAuthorizationFailed.Code
			s.metrics.errorCode(req.key, rg.ErrorCode)
			resp.Groups = append(resp.Groups, rg)
			continue
		}
		if m.IncludeAuthorizedOperations {
			rg.AuthorizedOperations = s.authorizedOps(req, kmsg.ACLResourceTypeGroup, name)
		}
		d, err := s.groups.Describe(ctx, name)
		if err != nil {
			rg.ErrorCode = groupErrorCode(err)
			s.metrics.errorCode(req.key, rg.ErrorCode)
			resp.Groups = append(resp.Groups, rg)
			continue
		}
		rg.State, rg.ProtocolType, rg.Protocol = string(d.State), d.ProtocolType, d.Protocol
		for _, md := range d.Members {
			rm := kmsg.NewDescribeGroupsResponseGroupMember()
			rm.MemberID, rm.InstanceID, rm.ClientID, rm.ClientHost = md.MemberID, md.InstanceID, md.ClientID, md.ClientHost
			rm.ProtocolMetadata, rm.MemberAssignment = md.Metadata, md.Assignment
			if rm.ProtocolMetadata == nil {
				rm.ProtocolMetadata = []byte{}
			}
			if rm.MemberAssignment == nil {
				rm.MemberAssignment = []byte{}
			}
			rg.Members = append(rg.Members, rm)
		}
		resp.Groups = append(resp.Groups, rg)
	}
	return resp
}
