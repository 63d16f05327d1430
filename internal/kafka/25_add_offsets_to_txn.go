package kafka

// AddOffsetsToTxn (key 25), versions 0-4.
//
// The transactional ID's coordinator (NOT_COORDINATOR elsewhere) adds the
// group to the producer's transaction, starting it if none is ongoing; the
// producer may then commit the group's offsets with TxnOffsetCommit, and
// they become visible when the transaction commits. Producer checks as in
// AddPartitionsToTxn. Version 4 only allows TRANSACTION_ABORTABLE, which
// is never sent.
//
// Authorization: WRITE on the transactional ID, READ on the group.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (s *Server) handleAddOffsetsToTxn(ctx context.Context, req *request, m *kmsg.AddOffsetsToTxnRequest) kmsg.Response {
	resp := kmsg.NewPtrAddOffsetsToTxnResponse()
	resp.Version = req.version
	switch {
	case !s.authorizeTxnID(req, kmsg.ACLOperationWrite, m.TransactionalID):
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
	case !s.authorizeGroup(req, kmsg.ACLOperationRead, m.Group):
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
	default:
		resp.ErrorCode = groupErrorCode(s.txn.AddOffsets(ctx, m.TransactionalID, m.ProducerID, m.ProducerEpoch, m.Group))
	}
	s.metrics.errorCode(req.key, resp.ErrorCode)
	return resp
}
