package kafka

// DeleteGroups (key 42), versions 0-2.
//
// Deletes groups that have no members, with their committed offsets.
// Groups with members get NON_EMPTY_GROUP, unknown ones GROUP_ID_NOT_FOUND,
// groups coordinated elsewhere NOT_COORDINATOR.
//
// Authorization: DELETE on each group (GROUP_AUTHORIZATION_FAILED).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (s *Server) handleDeleteGroups(ctx context.Context, req *request, m *kmsg.DeleteGroupsRequest) kmsg.Response {
	resp := kmsg.NewPtrDeleteGroupsResponse()
	resp.Version = req.version
	for _, name := range m.Groups {
		rg := kmsg.NewDeleteGroupsResponseGroup()
		rg.Group = name
		if s.authorizeGroup(req, kmsg.ACLOperationDelete, name) {
			rg.ErrorCode = groupErrorCode(s.groups.Delete(ctx, name))
		} else {
			rg.ErrorCode = kerr.GroupAuthorizationFailed.Code
		}
		s.metrics.errorCode(req.key, rg.ErrorCode)
		resp.Groups = append(resp.Groups, rg)
	}
	return resp
}
