package kafka

// InitProducerID (key 22), versions 0-4.
//
// Idempotent producers (no transactional ID) get a producer ID never used
// before, allocated by the metadata store, with epoch 0. As in Kafka, a
// request naming an existing producer ID and epoch (KIP-360, v3+) also gets
// a fresh ID: idempotent producer state is per producer ID and partition,
// so a new ID starts clean everywhere. Requests with a transactional ID get
// INVALID_REQUEST until transactions land.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (s *Server) handleInitProducerID(ctx context.Context, req *request, m *kmsg.InitProducerIDRequest) kmsg.Response {
	resp := kmsg.NewPtrInitProducerIDResponse()
	resp.Version = req.version
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if m.TransactionalID != nil {
		resp.ErrorCode = kerr.InvalidRequest.Code
		s.metrics.errorCode(req.key, resp.ErrorCode)
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
