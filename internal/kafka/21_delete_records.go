package kafka

// DeleteRecords (key 21), versions 0-2.
//
// Moves each partition's log start offset forward to the requested offset
// (-1 means the high watermark), as Kafka's AdminClient.deleteRecords does:
// the records below it are no longer readable (fetches get
// OFFSET_OUT_OF_RANGE, ListOffsets earliest answers the new start), and the
// files that only held them are deleted from the bucket by the background
// file deletion after --file-grace-period. The response's low watermark is
// the log start after the request; an offset at or below the current start
// changes nothing and reports the current start.
//
// Errors, as Kafka: an offset above the high watermark or below -1 is
// OFFSET_OUT_OF_RANGE; unknown topics and partitions are
// UNKNOWN_TOPIC_OR_PARTITION; a topic whose cleanup.policy does not include
// delete is POLICY_VIOLATION. Each partition is one metadata transaction,
// so partitions of one request succeed or fail independently. The timeout
// is not used: the change is durable when the response is sent.
//
// Authorization: DELETE on the topic (TOPIC_AUTHORIZATION_FAILED).

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/metadata"
)

// RecordDeleter moves log start offsets (metadata.Lifecycle provides it).
type RecordDeleter interface {
	AdvanceLogStart(ctx context.Context, topic metadata.TopicID, partition int32, offset int64) (metadata.PartitionState, error)
}

func (s *Server) handleDeleteRecords(ctx context.Context, req *request, m *kmsg.DeleteRecordsRequest) kmsg.Response {
	resp := kmsg.NewPtrDeleteRecordsResponse()
	resp.Version = req.version
	for _, rt := range m.Topics {
		ot := kmsg.NewDeleteRecordsResponseTopic()
		ot.Topic = rt.Topic
		var (
			t    metadata.Topic
			terr error = kerr.TopicAuthorizationFailed
		)
		if s.authorizeTopic(req, kmsg.ACLOperationDelete, rt.Topic) {
			t, terr = s.topics.Topic(ctx, rt.Topic)
		}
		if terr == nil && !s.cleanupOf(t).Delete {
			terr = fmt.Errorf("%w: records of topic %s cannot be deleted because its cleanup.policy does not include delete", kerr.PolicyViolation, rt.Topic)
		}
		for _, rp := range rt.Partitions {
			op := kmsg.NewDeleteRecordsResponseTopicPartition()
			op.Partition = rp.Partition
			op.LowWatermark = -1
			err := terr
			if err == nil {
				op.LowWatermark, err = s.deleteRecords(ctx, t, rp.Partition, rp.Offset)
			}
			if err != nil {
				op.LowWatermark = -1
				op.ErrorCode = metadataErrorCode(err)
				s.metrics.errorCode(req.key, op.ErrorCode)
			}
			ot.Partitions = append(ot.Partitions, op)
		}
		resp.Topics = append(resp.Topics, ot)
	}
	return resp
}

func (s *Server) deleteRecords(ctx context.Context, t metadata.Topic, partition int32, offset int64) (int64, error) {
	if partition < 0 || partition >= t.Partitions {
		return -1, fmt.Errorf("%w: %s/%d", metadata.ErrUnknownPartition, t.Name, partition)
	}
	if offset == -1 {
		st, err := s.log.PartitionState(ctx, t.ID, partition)
		if err != nil {
			return -1, err
		}
		offset = st.HighWatermark
	}
	if offset < 0 {
		return -1, fmt.Errorf("%w: offset %d", metadata.ErrOffsetOutOfRange, offset)
	}
	if s.records == nil {
		return -1, errors.New("kafka: no record deleter configured")
	}
	st, err := s.records.AdvanceLogStart(ctx, t.ID, partition, offset)
	if err != nil {
		return -1, err
	}
	return st.LogStartOffset, nil
}
