package kafka

// ListGroups (key 16), versions 0-5.
//
// Each agent lists the groups it coordinates, as each Kafka broker does;
// admin clients ask every agent and merge. v4 filters by state
// (case-insensitive), v5 by type: all groups here are "classic".

import (
	"context"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func (s *Server) handleListGroups(ctx context.Context, req *request, m *kmsg.ListGroupsRequest) kmsg.Response {
	resp := kmsg.NewPtrListGroupsResponse()
	resp.Version = req.version
	for _, t := range m.TypesFilter {
		if !strings.EqualFold(t, "classic") {
			return resp // no group of that type
		}
	}
	list, err := s.groups.List(ctx, m.StatesFilter)
	if err != nil {
		resp.ErrorCode = groupErrorCode(err)
		s.metrics.errorCode(req.key, resp.ErrorCode)
		return resp
	}
	for _, l := range list {
		rg := kmsg.NewListGroupsResponseGroup()
		rg.Group, rg.ProtocolType, rg.GroupState, rg.GroupType = l.Name, l.ProtocolType, string(l.State), "classic"
		resp.Groups = append(resp.Groups, rg)
	}
	return resp
}
