package kafka

// ListOffsets (key 2), versions 1-6.
//
// Timestamp -2 answers the log start offset, -1 the high watermark, or
// with isolation level read_committed the last stable offset. Any other timestamp answers the first offset whose
// record timestamp is at or after it, with that record's timestamp, found
// across files through the index's per-extent max timestamps; when no record
// is that late the answer is offset -1, timestamp -1, as in Kafka. Versions
// 7+ (max timestamp, tiered-storage specs) are not served. The leader epoch
// is always records.LeaderEpoch. Kafka's virtual internal topics
// (internal_topics.go) answer 0 for earliest and latest, -1 for a
// timestamp. Each topic needs DESCRIBE
// (TOPIC_AUTHORIZATION_FAILED).

import (
	"context"
	"math"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/records"
)

func (s *Server) handleListOffsets(ctx context.Context, req *request, m *kmsg.ListOffsetsRequest) kmsg.Response {
	resp := kmsg.NewPtrListOffsetsResponse()
	resp.Version = req.version
	// The topics are looked up in one call (those the principal may
	// describe): one store query for the entries the topic cache lacks.
	described := make([]bool, len(m.Topics))
	var names []string
	for i, rt := range m.Topics {
		if described[i] = s.authorizeTopic(req, kmsg.ACLOperationDescribe, rt.Topic); described[i] {
			names = append(names, rt.Topic)
		}
	}
	byName := s.lookupTopics(ctx, names)
	for ti, rt := range m.Topics {
		ot := kmsg.NewListOffsetsResponseTopic()
		ot.Topic = rt.Topic
		var (
			t        metadata.Topic
			topicErr error = kerr.TopicAuthorizationFailed
		)
		if described[ti] {
			t, topicErr = byName.topic(rt.Topic)
		}
		for _, rp := range rt.Partitions {
			op := kmsg.NewListOffsetsResponseTopicPartition()
			op.Partition = rp.Partition
			op.Timestamp, op.Offset = -1, -1
			op.LeaderEpoch = records.LeaderEpoch
			var err error
			switch {
			case topicErr != nil:
				err = topicErr
			case rp.Partition < 0 || rp.Partition >= t.Partitions:
				err = metadata.ErrUnknownPartition
			default:
				op.Timestamp, op.Offset, err = s.listOffset(ctx, t.ID, rp.Partition, rp.Timestamp, m.IsolationLevel == 1)
			}
			if err != nil {
				op.ErrorCode = metadataErrorCode(err)
				s.metrics.errorCode(req.key, op.ErrorCode)
			}
			ot.Partitions = append(ot.Partitions, op)
		}
		resp.Topics = append(resp.Topics, ot)
	}
	return resp
}

func (s *Server) listOffset(ctx context.Context, topic metadata.TopicID, partition int32, ts int64, committed bool) (timestamp, offset int64, err error) {
	if s.ktopics.isVirtual(topic) {
		// Kafka's internal topics are empty logs at offset 0.
		if ts == -2 || ts == -1 {
			return -1, 0, nil
		}
		return -1, -1, nil
	}
	if ts == -1 && committed && s.txnLog != nil {
		st, err := s.txnLog.StableState(ctx, topic, partition, math.MaxInt64)
		if err != nil {
			return -1, -1, err
		}
		return -1, st.LastStableOffset, nil
	}
	switch ts {
	case -2, -1:
		st, err := s.log.PartitionState(ctx, topic, partition)
		if err != nil {
			return -1, -1, err
		}
		if ts == -2 {
			return -1, st.LogStartOffset, nil
		}
		return -1, st.HighWatermark, nil
	}
	off, at, found, err := s.reader.OffsetForTimestamp(ctx, topic, partition, ts)
	if err != nil || !found {
		return -1, -1, err
	}
	return at, off, nil
}
