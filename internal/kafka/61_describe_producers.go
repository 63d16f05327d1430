package kafka

// DescribeProducers (key 61), version 0.
//
// Every agent answers for every partition (leaders are nominal) from the
// metadata store: the idempotent and transactional producers with state on
// the partition, their epoch, last sequence number in that epoch (-1 after
// an epoch bump), and the first offset of their open transaction (-1 if
// none). Deviations: the last timestamp and coordinator epoch are -1.
// Unknown topics or partitions get UNKNOWN_TOPIC_OR_PARTITION.
//
// Authorization: READ on the topic (TOPIC_AUTHORIZATION_FAILED).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/metadata"
)

func (s *Server) handleDescribeProducers(ctx context.Context, req *request, m *kmsg.DescribeProducersRequest) kmsg.Response {
	resp := kmsg.NewPtrDescribeProducersResponse()
	resp.Version = req.version
	for _, rt := range m.Topics {
		ot := kmsg.NewDescribeProducersResponseTopic()
		ot.Topic = rt.Topic
		denied := !s.authorizeTopic(req, kmsg.ACLOperationRead, rt.Topic)
		var (
			t        metadata.Topic
			topicErr error
		)
		if !denied {
			t, topicErr = s.topics.Topic(ctx, rt.Topic)
		}
		for _, p := range rt.Partitions {
			op := kmsg.NewDescribeProducersResponseTopicPartition()
			op.Partition = p
			switch {
			case denied:
				op.ErrorCode = kerr.TopicAuthorizationFailed.Code
			case topicErr != nil || p < 0 || p >= t.Partitions:
				op.ErrorCode = kerr.UnknownTopicOrPartition.Code
			default:
				producers, err := s.txnLog.PartitionProducers(ctx, t.ID, p)
				if err != nil {
					op.ErrorCode = errorCode(err)
					op.ErrorMessage = errorMessage(err)
					break
				}
				for _, pr := range producers {
					ap := kmsg.NewDescribeProducersResponseTopicPartitionActiveProducer()
					ap.ProducerID, ap.ProducerEpoch, ap.LastSequence = pr.ProducerID, int32(pr.ProducerEpoch), pr.LastSequence
					ap.LastTimestamp, ap.CoordinatorEpoch, ap.CurrentTxnStartOffset = -1, -1, pr.TxnStartOffset
					op.ActiveProducers = append(op.ActiveProducers, ap)
				}
			}
			s.metrics.errorCode(req.key, op.ErrorCode)
			ot.Partitions = append(ot.Partitions, op)
		}
		resp.Topics = append(resp.Topics, ot)
	}
	return resp
}
