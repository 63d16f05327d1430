package kafka

// InitProducerID (key 22), versions 0-5 (v5 only allows
// TRANSACTION_ABORTABLE, which Sluice never sends).
//
// Idempotent producers (no transactional ID) get a producer ID never used
// before, allocated by the metadata store, with epoch 0. As in Kafka, a
// request naming an existing producer ID and epoch (KIP-360, v3+) also gets
// a fresh ID: idempotent producer state is per producer ID and partition,
// so a new ID starts clean everywhere.
//
// Transactional producers are answered by the transactional ID's
// coordinator (NOT_COORDINATOR elsewhere): a new ID gets a fresh producer
// ID at epoch 0; a known one has any open transaction aborted and its epoch
// bumped, fencing the previous producer (a new producer ID when the epoch
// is exhausted). A KIP-360 request naming the current producer ID and
// epoch bumps it; naming the previous one (a retry, or recovery after the
// coordinator aborted a timed-out transaction with an epoch bump) gets the
// current ones; anything else is PRODUCER_FENCED. A timeout above
// --txn-max-timeout (or not positive) is INVALID_TRANSACTION_TIMEOUT.
//
// Authorization: WRITE on the transactional ID
// (TRANSACTIONAL_ID_AUTHORIZATION_FAILED); an idempotent producer needs
// IDEMPOTENT_WRITE on the cluster or WRITE on some topic (KIP-679;
// CLUSTER_AUTHORIZATION_FAILED).

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (s *Server) handleInitProducerID(ctx context.Context, req *request, m *kmsg.InitProducerIDRequest) kmsg.Response {
	resp := kmsg.NewPtrInitProducerIDResponse()
	resp.Version = req.version
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	// Transactional: WRITE on the transactional ID. Idempotent (KIP-679):
	// IDEMPOTENT_WRITE on the cluster, or WRITE on some topic.
	switch {
	case m.TransactionalID != nil && !s.authorizeTxnID(req, kmsg.ACLOperationWrite, *m.TransactionalID):
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
	case m.TransactionalID == nil && !s.checkCluster(req, kmsg.ACLOperationIdempotentWrite) &&
		!s.authorizeByResourceType(req, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTopic):
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
	}
	if resp.ErrorCode != 0 {
		s.metrics.errorCode(req.key, resp.ErrorCode)
		return resp
	}
	if m.TransactionalID != nil {
		expID, expEpoch := int64(-1), int16(-1)
		if req.version >= 3 {
			expID, expEpoch = m.ProducerID, m.ProducerEpoch
		}
		id, epoch, err := s.txn.InitProducerID(ctx, *m.TransactionalID, time.Duration(m.TransactionTimeoutMillis)*time.Millisecond, expID, expEpoch)
		if err != nil {
			resp.ErrorCode = groupErrorCode(err)
			s.metrics.errorCode(req.key, resp.ErrorCode)
			return resp
		}
		resp.ProducerID, resp.ProducerEpoch = id, epoch
		return resp
	}
	id, err := s.log.AllocateProducerID(ctx)
	if err != nil {
		s.logger.Warn("allocate producer id", "err", err)
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		s.metrics.errorCode(req.key, resp.ErrorCode)
		return resp
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	return resp
}
