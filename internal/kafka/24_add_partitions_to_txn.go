package kafka

// AddPartitionsToTxn (key 24), versions 0-3.
//
// The client path: the transactional ID's coordinator (NOT_COORDINATOR
// elsewhere) adds the partitions to the producer's transaction, starting
// it if none is ongoing, persisted in the metadata store before the answer.
// A producer ID that does not own the transactional ID gets
// INVALID_PRODUCER_ID_MAPPING, another epoch PRODUCER_FENCED. If any
// partition is unknown the request fails as a whole, as in Kafka: unknown
// partitions get UNKNOWN_TOPIC_OR_PARTITION and the others
// OPERATION_NOT_ATTEMPTED; internal topics (IsInternalTopic), which take
// no writes, get INVALID_TOPIC_EXCEPTION the same way. Transactional
// produce requests are checked
// against this (see Produce). Versions 4+ (broker-to-broker verification,
// KIP-890) are not served: verification happens inside the commit instead.
//
// Authorization: WRITE on the transactional ID (every partition
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED) and on each topic
// (TOPIC_AUTHORIZATION_FAILED; the others OPERATION_NOT_ATTEMPTED).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/metadata"
)

func (s *Server) handleAddPartitionsToTxn(ctx context.Context, req *request, m *kmsg.AddPartitionsToTxnRequest) kmsg.Response {
	resp := kmsg.NewPtrAddPartitionsToTxnResponse()
	resp.Version = req.version
	// WRITE on the transactional ID (every partition fails) and on each
	// topic (TOPIC_AUTHORIZATION_FAILED; the rest OPERATION_NOT_ATTEMPTED).
	txnDenied := !s.authorizeTxnID(req, kmsg.ACLOperationWrite, m.TransactionalID)
	var (
		parts   []metadata.TxnPartition
		unknown = map[[2]int]bool{}
		denied  = map[int]bool{}
		// internal topics take no writes, transactional or not
		internal = map[int]bool{}
	)
	for ti, rt := range m.Topics {
		if txnDenied || !s.authorizeTopic(req, kmsg.ACLOperationWrite, rt.Topic) {
			denied[ti] = true
			continue
		}
		if IsInternalTopic(rt.Topic) {
			internal[ti] = true
			continue
		}
		t, err := s.topics.Topic(ctx, rt.Topic)
		for pi, p := range rt.Partitions {
			if err != nil || p < 0 || p >= t.Partitions {
				unknown[[2]int{ti, pi}] = true
				continue
			}
			parts = append(parts, metadata.TxnPartition{Topic: t.Name, TopicID: t.ID, Partition: p})
		}
	}
	code := int16(0)
	refused := len(unknown) > 0 || len(denied) > 0 || len(internal) > 0
	if !refused {
		code = groupErrorCode(s.txn.AddPartitions(ctx, m.TransactionalID, m.ProducerID, m.ProducerEpoch, parts))
	}
	for ti, rt := range m.Topics {
		ot := kmsg.NewAddPartitionsToTxnResponseTopic()
		ot.Topic = rt.Topic
		for pi, p := range rt.Partitions {
			op := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
			op.Partition = p
			switch {
			case txnDenied:
				op.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
			case denied[ti]:
				op.ErrorCode = kerr.TopicAuthorizationFailed.Code
			case internal[ti]:
				op.ErrorCode = kerr.InvalidTopicException.Code
			case !refused:
				op.ErrorCode = code
			case unknown[[2]int{ti, pi}]:
				op.ErrorCode = kerr.UnknownTopicOrPartition.Code
			default:
				op.ErrorCode = kerr.OperationNotAttempted.Code
			}
			s.metrics.errorCode(req.key, op.ErrorCode)
			ot.Partitions = append(ot.Partitions, op)
		}
		resp.Topics = append(resp.Topics, ot)
	}
	return resp
}
