package kafka

// FindCoordinator (key 10), versions 0-4.
//
// A consumer group's coordinator is the live agent chosen by rendezvous
// hashing of the group ID (groups.Coordinator.Owner); every agent gives the
// same answer while the set of live agents is stable. v4 batches keys.
// Only group keys (type 0) are served: transactional IDs get
// COORDINATOR_NOT_AVAILABLE until transactions land.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (s *Server) handleFindCoordinator(_ context.Context, req *request, m *kmsg.FindCoordinatorRequest) kmsg.Response {
	resp := kmsg.NewPtrFindCoordinatorResponse()
	resp.Version = req.version
	keys := m.CoordinatorKeys
	if req.version < 4 {
		keys = []string{m.CoordinatorKey}
	}
	for _, key := range keys {
		c := kmsg.NewFindCoordinatorResponseCoordinator()
		c.Key = key
		c.NodeID = -1
		switch {
		case m.CoordinatorType != 0:
			c.ErrorCode = kerr.CoordinatorNotAvailable.Code
			c.ErrorMessage = kmsg.StringPtr("only consumer group coordinators are served")
		case key == "":
			c.ErrorCode = kerr.InvalidGroupID.Code
		default:
			b := s.groups.Owner(key)
			c.NodeID, c.Host, c.Port = b.NodeID, b.Host, b.Port
		}
		s.metrics.errorCode(req.key, c.ErrorCode)
		resp.Coordinators = append(resp.Coordinators, c)
	}
	if req.version < 4 {
		c := resp.Coordinators[0]
		resp.ErrorCode, resp.ErrorMessage, resp.NodeID, resp.Host, resp.Port = c.ErrorCode, c.ErrorMessage, c.NodeID, c.Host, c.Port
		resp.Coordinators = nil
	}
	return resp
}
