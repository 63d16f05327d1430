package kafka

// ListGroups (key 16), versions 0-5.
//
// Each agent lists the groups it coordinates, as each Kafka broker does;
// admin clients ask every agent and merge. v4 filters by state
// (case-insensitive), v5 by type ("classic", or "consumer" for KIP-848
// groups; case-insensitive). Consumer groups report protocol type
// "consumer" and their KIP-848 state (Empty, Assigning, Reconciling,
// Stable).
//
// Authorization: DESCRIBE on the cluster lists every group; otherwise only
// the groups the principal may describe are listed.

import (
	"context"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func (s *Server) handleListGroups(ctx context.Context, req *request, m *kmsg.ListGroupsRequest) kmsg.Response {
	resp := kmsg.NewPtrListGroupsResponse()
	resp.Version = req.version
	list, err := s.groups.List(ctx, m.StatesFilter)
	if err != nil {
		resp.ErrorCode = groupErrorCode(err)
		s.metrics.errorCode(req.key, resp.ErrorCode)
		return resp
	}
	// DESCRIBE on the cluster lists every group; otherwise only the
	// groups the principal may describe are listed.
	all := s.checkCluster(req, kmsg.ACLOperationDescribe)
	for _, l := range list {
		if !all && !s.authorizeGroup(req, kmsg.ACLOperationDescribe, l.Name) {
			continue
		}
		if len(m.TypesFilter) > 0 && !slices.ContainsFunc(m.TypesFilter, func(t string) bool { return strings.EqualFold(t, l.Type) }) {
			continue
		}
		rg := kmsg.NewListGroupsResponseGroup()
		rg.Group, rg.ProtocolType, rg.GroupState, rg.GroupType = l.Name, l.ProtocolType, string(l.State), l.Type
		resp.Groups = append(resp.Groups, rg)
	}
	return resp
}
