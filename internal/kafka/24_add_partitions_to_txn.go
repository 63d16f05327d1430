package kafka

// AddPartitionsToTxn (key 24), versions 0-5.
//
// Versions 0-3, the client path: the transactional ID's coordinator
// (NOT_COORDINATOR elsewhere) adds the partitions to the producer's
// transaction, starting it if none is ongoing, persisted in the metadata
// store before the answer. A producer ID that does not own the
// transactional ID gets INVALID_PRODUCER_ID_MAPPING, another epoch
// PRODUCER_FENCED. If any partition is unknown the request fails as a
// whole, as in Kafka: unknown partitions get UNKNOWN_TOPIC_OR_PARTITION
// and the others OPERATION_NOT_ATTEMPTED; internal topics
// (IsInternalTopic), which take no writes, get INVALID_TOPIC_EXCEPTION the
// same way. Transactional produce requests of v3-v11 are checked against
// this (see Produce).
//
// Versions 4-5, the broker path of KIP-890 (a partition leader asking the
// coordinator, batched over transactional IDs): Sluice's agents never
// send it, since a produce verifies inside its commit and Produce v12
// registers its partitions itself, but it is served for tools and
// brokers that speak it. Each transaction is handled as the client path
// does, on its coordinator; with VerifyOnly nothing is added and each
// partition answers whether the ongoing transaction covers it
// (INVALID_TXN_STATE if not; CONCURRENT_TRANSACTIONS while it is being
// ended). Version 5 only allows TRANSACTION_ABORTABLE, which Sluice never
// sends.
//
// Authorization: v0-v3, WRITE on the transactional ID (every partition
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED) and on each topic
// (TOPIC_AUTHORIZATION_FAILED; the others OPERATION_NOT_ATTEMPTED);
// v4+, CLUSTER_ACTION on the cluster, as Kafka asks of brokers
// (top-level CLUSTER_AUTHORIZATION_FAILED).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/metadata"
)

func (s *Server) handleAddPartitionsToTxn(ctx context.Context, req *request, m *kmsg.AddPartitionsToTxnRequest) kmsg.Response {
	resp := kmsg.NewPtrAddPartitionsToTxnResponse()
	resp.Version = req.version
	if req.version >= 4 {
		s.addPartitionsToTxnBatched(ctx, req, m, resp)
		return resp
	}
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

// addPartitionsToTxnBatched answers v4+: one result per transaction.
func (s *Server) addPartitionsToTxnBatched(ctx context.Context, req *request, m *kmsg.AddPartitionsToTxnRequest, resp *kmsg.AddPartitionsToTxnResponse) {
	if !s.checkCluster(req, kmsg.ACLOperationClusterAction) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		s.metrics.errorCode(req.key, resp.ErrorCode)
		return
	}
	for _, rtx := range m.Transactions {
		var (
			parts   []metadata.TxnPartition
			index   = map[[2]int]int{} // (topic, partition) in the request → parts
			unknown = false
			// internal topics take no writes: INVALID_TOPIC_EXCEPTION,
			// and nothing of the transaction is attempted
			internal = map[int]bool{}
		)
		for ti, rt := range rtx.Topics {
			if IsInternalTopic(rt.Topic) {
				internal[ti] = true
				unknown = true
				continue
			}
			t, err := s.topics.Topic(ctx, rt.Topic)
			for pi, p := range rt.Partitions {
				if err != nil || p < 0 || p >= t.Partitions {
					unknown = true
					continue
				}
				index[[2]int{ti, pi}] = len(parts)
				parts = append(parts, metadata.TxnPartition{Topic: t.Name, TopicID: t.ID, Partition: p})
			}
		}
		var (
			perPart []error
			txnErr  error
		)
		switch {
		case unknown:
		case rtx.VerifyOnly:
			perPart, txnErr = s.txn.Verify(ctx, rtx.TransactionalID, rtx.ProducerID, rtx.ProducerEpoch, parts)
		default:
			txnErr = s.txn.AddPartitions(ctx, rtx.TransactionalID, rtx.ProducerID, rtx.ProducerEpoch, parts)
		}
		ot := kmsg.NewAddPartitionsToTxnResponseTransaction()
		ot.TransactionalID = rtx.TransactionalID
		for ti, rt := range rtx.Topics {
			tt := kmsg.NewAddPartitionsToTxnResponseTransactionTopic()
			tt.Topic = rt.Topic
			for pi, p := range rt.Partitions {
				op := kmsg.NewAddPartitionsToTxnResponseTransactionTopicPartition()
				op.Partition = p
				i, known := index[[2]int{ti, pi}]
				switch {
				case internal[ti]:
					op.ErrorCode = kerr.InvalidTopicException.Code
				case !known:
					op.ErrorCode = kerr.UnknownTopicOrPartition.Code
				case unknown:
					op.ErrorCode = kerr.OperationNotAttempted.Code
				case txnErr != nil:
					op.ErrorCode = groupErrorCode(txnErr)
				case perPart != nil:
					op.ErrorCode = groupErrorCode(perPart[i])
				}
				s.metrics.errorCode(req.key, op.ErrorCode)
				tt.Partitions = append(tt.Partitions, op)
			}
			ot.Topics = append(ot.Topics, tt)
		}
		resp.Transactions = append(resp.Transactions, ot)
	}
}
