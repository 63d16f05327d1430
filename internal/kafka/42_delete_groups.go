package kafka

// DeleteGroups (key 42), versions 0-3.
//
// Deletes groups that have no members, with their committed offsets.
// Groups with members get NON_EMPTY_GROUP, unknown ones GROUP_ID_NOT_FOUND,
// groups coordinated elsewhere NOT_COORDINATOR. v3 adds an error message
// to each failed group (the error's description).
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
		if req.version >= 3 && rg.ErrorCode != 0 {
			if e := kerr.ErrorForCode(rg.ErrorCode); e != nil {
				rg.ErrorMessage = kmsg.StringPtr(e.Error())
			}
		}
		s.metrics.errorCode(req.key, rg.ErrorCode)
		resp.Groups = append(resp.Groups, rg)
	}
	return resp
}
