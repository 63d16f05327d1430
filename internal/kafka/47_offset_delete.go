package kafka

// OffsetDelete (key 47), version 0.
//
// Deletes committed offsets of a group. Partitions of topics that the
// group's members subscribe to get GROUP_SUBSCRIBED_TO_TOPIC; unknown
// groups GROUP_ID_NOT_FOUND.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/metadata"
)

func (s *Server) handleOffsetDelete(ctx context.Context, req *request, m *kmsg.OffsetDeleteRequest) kmsg.Response {
	resp := kmsg.NewPtrOffsetDeleteResponse()
	resp.Version = req.version
	var offsets []metadata.OffsetCommit
	for _, t := range m.Topics {
		for _, p := range t.Partitions {
			offsets = append(offsets, metadata.OffsetCommit{Topic: t.Topic, Partition: p.Partition})
		}
	}
	errs, groupErr := s.groups.DeleteOffsets(ctx, m.Group, offsets)
	resp.ErrorCode = groupErrorCode(groupErr)
	s.metrics.errorCode(req.key, resp.ErrorCode)
	if groupErr != nil {
		return resp
	}
	i := 0
	for _, t := range m.Topics {
		rt := kmsg.NewOffsetDeleteResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetDeleteResponseTopicPartition()
			rp.Partition = p.Partition
			rp.ErrorCode = groupErrorCode(errs[i])
			s.metrics.errorCode(req.key, rp.ErrorCode)
			rt.Partitions = append(rt.Partitions, rp)
			i++
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}
