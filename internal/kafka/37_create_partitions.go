package kafka

// CreatePartitions (key 37), versions 0-3.
//
// Kafka's virtual internal topics (internal_topics.go) are refused with
// INVALID_REQUEST. Partition counts only grow: a count equal to or below the current one is
// INVALID_PARTITIONS with a message saying the current count, as in Kafka.
// The new partitions start with empty logs, and the topic's existing
// partitions are untouched; the increase is one metadata transaction that
// re-checks the count, so concurrent requests cannot shrink a topic.
// Manual assignments are accepted for their count only: there must be one
// non-empty replica list per new partition (INVALID_REPLICA_ASSIGNMENT
// otherwise), and the replica IDs are ignored, since any agent serves any
// partition. A topic named twice is INVALID_REQUEST; unknown topics get
// UNKNOWN_TOPIC_OR_PARTITION. validate_only runs every check and changes
// nothing. The timeout is not used.
//
// Authorization: ALTER on the topic (TOPIC_AUTHORIZATION_FAILED).

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/topics"
)

func (s *Server) handleCreatePartitions(ctx context.Context, req *request, m *kmsg.CreatePartitionsRequest) kmsg.Response {
	resp := kmsg.NewPtrCreatePartitionsResponse()
	resp.Version = req.version
	seen := map[string]int{}
	for _, rt := range m.Topics {
		seen[rt.Topic]++
	}
	for _, rt := range m.Topics {
		rs := kmsg.NewCreatePartitionsResponseTopic()
		rs.Topic = rt.Topic
		var err error
		if seen[rt.Topic] > 1 {
			err = fmt.Errorf("%w: duplicate topic %s in the request", kerr.InvalidRequest, rt.Topic)
		} else if !s.authorizeTopic(req, kmsg.ACLOperationAlter, rt.Topic) {
			err = kerr.TopicAuthorizationFailed
		} else {
			err = s.createPartitions(ctx, rt, m.ValidateOnly)
		}
		if err != nil {
			rs.ErrorCode = metadataErrorCode(err)
			rs.ErrorMessage = errorMessage(err)
			s.metrics.errorCode(req.key, rs.ErrorCode)
		}
		resp.Topics = append(resp.Topics, rs)
	}
	return resp
}

func (s *Server) createPartitions(ctx context.Context, rt kmsg.CreatePartitionsRequestTopic, validateOnly bool) error {
	if err := topics.ValidateName(rt.Topic); err != nil {
		return err
	}
	t, err := s.topics.Topic(ctx, rt.Topic)
	if err != nil {
		return err
	}
	if isKafkaInternal(t.Name) {
		return errInternalTopicChange
	}
	switch {
	case rt.Count == t.Partitions:
		return fmt.Errorf("%w: topic already has %d partitions", kerr.InvalidPartitions, t.Partitions)
	case rt.Count > s.cfg.MaxPartitions:
		return fmt.Errorf("%w: %d partitions exceed this agent's limit of %d (--max-partitions)", kerr.InvalidPartitions, rt.Count, s.cfg.MaxPartitions)
	case rt.Count < t.Partitions:
		return fmt.Errorf("%w: topic currently has %d partitions, which is higher than the requested %d", kerr.InvalidPartitions, t.Partitions, rt.Count)
	}
	if rt.Assignment != nil {
		if add := rt.Count - t.Partitions; int32(len(rt.Assignment)) != add {
			return fmt.Errorf("%w: increasing the number of partitions by %d but %d assignments provided", kerr.InvalidReplicaAssignment, add, len(rt.Assignment))
		}
		for i, a := range rt.Assignment {
			if len(a.Replicas) == 0 {
				return fmt.Errorf("%w: assignment %d has no replicas", kerr.InvalidReplicaAssignment, i)
			}
		}
	}
	if validateOnly {
		return nil
	}
	old := t.Partitions
	t, err = s.topics.AddPartitions(ctx, rt.Topic, rt.Count)
	if errors.Is(err, metadata.ErrPartitionCount) {
		return fmt.Errorf("%w: %v", kerr.InvalidPartitions, err)
	}
	if err == nil {
		s.logger.Info("added partitions", "topic", t.Name, "from", old, "to", t.Partitions)
	}
	return err
}
