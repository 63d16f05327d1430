package kafka

// OffsetDelete (key 47), version 0.
//
// Deletes committed offsets of a group. Partitions of topics that the
// group's members subscribe to get GROUP_SUBSCRIBED_TO_TOPIC; unknown
// groups GROUP_ID_NOT_FOUND.
//
// Authorization: DELETE on the group (GROUP_AUTHORIZATION_FAILED) and READ
// on each topic (TOPIC_AUTHORIZATION_FAILED).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/metadata"
)

func (s *Server) handleOffsetDelete(ctx context.Context, req *request, m *kmsg.OffsetDeleteRequest) kmsg.Response {
	resp := kmsg.NewPtrOffsetDeleteResponse()
	resp.Version = req.version
	// DELETE on the group (GROUP_AUTHORIZATION_FAILED) and READ on each
	// topic (TOPIC_AUTHORIZATION_FAILED; the others are deleted).
	if !s.authorizeGroup(req, kmsg.ACLOperationDelete, m.Group) {
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		s.metrics.errorCode(req.key, resp.ErrorCode)
		return resp
	}
	topicDenied := make([]bool, len(m.Topics))
	var offsets []metadata.OffsetCommit
	for ti, t := range m.Topics {
		if topicDenied[ti] = !s.authorizeTopic(req, kmsg.ACLOperationRead, t.Topic); topicDenied[ti] {
			continue
		}
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
	for ti, t := range m.Topics {
		rt := kmsg.NewOffsetDeleteResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetDeleteResponseTopicPartition()
			rp.Partition = p.Partition
			if topicDenied[ti] {
				rp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			} else {
				rp.ErrorCode = groupErrorCode(errs[i])
				i++
			}
			s.metrics.errorCode(req.key, rp.ErrorCode)
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}
