package kafka

// FindCoordinator (key 10), versions 0-6 (v5 allows
// TRANSACTION_ABORTABLE, never sent; v6 adds the share group key type).
//
// A consumer group's (key type 0) or transactional ID's (key type 1)
// coordinator is the live agent chosen by rendezvous hashing of the key
// (groups.Coordinator.Owner, txn.Coordinator.Owner); every agent gives the
// same answer while the set of live agents is stable. Its address is the
// one of the listener the client came in on (COORDINATOR_NOT_AVAILABLE
// when the owner has no such listener). With agent groups the owner is
// chosen among the agents of the client's group (cluster.Registry.OwnerFor),
// which are the only agents it can be sent to. v4 batches keys.
// Other key types (share groups) get INVALID_REQUEST; an empty group ID
// INVALID_GROUP_ID, an empty transactional ID INVALID_REQUEST.
//
// Authorization: DESCRIBE on the group (GROUP_AUTHORIZATION_FAILED) or the
// transactional ID (TRANSACTIONAL_ID_AUTHORIZATION_FAILED).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/cluster"
)

// clientOwners is a Membership that picks coordinators within the
// client's agent group (cluster.Registry); the groups and transaction
// coordinators check ownership with the same hashing.
type clientOwners interface {
	OwnerFor(clientID, key string) cluster.Broker
}

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
		case m.CoordinatorType != 0 && m.CoordinatorType != 1:
			c.ErrorCode = kerr.InvalidRequest.Code
			c.ErrorMessage = kmsg.StringPtr("only group and transaction coordinators are served")
		case key == "" && m.CoordinatorType == 0:
			c.ErrorCode = kerr.InvalidGroupID.Code
		case key == "":
			c.ErrorCode = kerr.InvalidRequest.Code
		case m.CoordinatorType == 1 && !s.authorizeTxnID(req, kmsg.ACLOperationDescribe, key):
			c.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		case m.CoordinatorType == 0 && !s.authorizeGroup(req, kmsg.ACLOperationDescribe, key):
			c.ErrorCode = kerr.GroupAuthorizationFailed.Code
		default:
			owner := s.groups.Owner
			if m.CoordinatorType == 1 {
				owner = s.txn.Owner
			}
			o := owner(key)
			if co, ok := s.members.(clientOwners); ok {
				o = co.OwnerFor(req.clientID, key)
			}
			if o.NodeID < 0 {
				c.ErrorCode = kerr.CoordinatorNotAvailable.Code
			} else if b, ok := o.On(req.listener); ok {
				c.NodeID, c.Host, c.Port = b.NodeID, b.Host, b.Port
			} else {
				c.ErrorCode = kerr.CoordinatorNotAvailable.Code
				c.ErrorMessage = kmsg.StringPtr("the coordinator has no listener " + req.listener)
			}
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
