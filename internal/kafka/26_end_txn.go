package kafka

// EndTxn (key 26), versions 0-5.
//
// The transactional ID's coordinator (NOT_COORDINATOR elsewhere) commits or
// aborts the ongoing transaction: it persists PrepareCommit/PrepareAbort,
// writes a marker (control batch) to every partition of the transaction
// through the write path, then completes the transaction and applies or
// drops its staged offsets. Unlike Kafka, the answer waits for the
// markers, so once EndTxn succeeds read_committed consumers can read the
// transaction. A retry of an end that completed succeeds; ending a
// transaction that is not ongoing any other way is INVALID_TXN_STATE.
// Producer checks as in AddPartitionsToTxn. A marker write that fails
// leaves the transaction prepared and answers CONCURRENT_TRANSACTIONS;
// the retry (or the coordinator's periodic sweep) completes it.
//
// Version 5 is KIP-890 part 2 (transaction version 2, which ApiVersions
// advertises as the finalized `transaction.version` feature): every end
// bumps the producer epoch, the markers carry the bumped epoch (so a late
// write of the ended transaction is fenced), and the response carries the
// producer ID and epoch to use next. An exhausted epoch moves the
// transactional ID to a new producer ID at epoch 0. Aborting with no
// transaction ongoing succeeds and bumps; a retry with the previous ID and
// epoch of an end that completed the same way gets the current ones
// (txn.Coordinator.EndTxnBump). Versions 0-4 keep the producer's epoch.
//
// Authorization: WRITE on the transactional ID.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (s *Server) handleEndTxn(ctx context.Context, req *request, m *kmsg.EndTxnRequest) kmsg.Response {
	resp := kmsg.NewPtrEndTxnResponse()
	resp.Version = req.version
	if !s.authorizeTxnID(req, kmsg.ACLOperationWrite, m.TransactionalID) {
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
	} else if req.version >= 5 {
		id, epoch, err := s.txn.EndTxnBump(ctx, m.TransactionalID, m.ProducerID, m.ProducerEpoch, m.Commit)
		if resp.ErrorCode = groupErrorCode(err); err == nil {
			resp.ProducerID, resp.ProducerEpoch = id, epoch
		}
	} else {
		resp.ErrorCode = groupErrorCode(s.txn.EndTxn(ctx, m.TransactionalID, m.ProducerID, m.ProducerEpoch, m.Commit))
	}
	s.metrics.errorCode(req.key, resp.ErrorCode)
	return resp
}
