package kafka

// DeleteTopics (key 20), versions 1-6.
//
// Topics are named (v0-v5) or named or identified by ID (v6). A deleted
// topic disappears from Metadata at once and its log index is dropped in the
// same transaction; produce requests still buffered for it fail with
// UNKNOWN_TOPIC_OR_PARTITION at commit. Data files stay in the bucket for
// the orphan sweeper. Unknown names are UNKNOWN_TOPIC_OR_PARTITION, unknown
// IDs UNKNOWN_TOPIC_ID. The timeout is not used. Kafka's virtual internal
// topics (internal_topics.go) are refused with INVALID_TOPIC_EXCEPTION.
//
// Authorization: DELETE on the topic (TOPIC_AUTHORIZATION_FAILED).

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/metadata"
)

func (s *Server) handleDeleteTopics(ctx context.Context, req *request, m *kmsg.DeleteTopicsRequest) kmsg.Response {
	resp := kmsg.NewPtrDeleteTopicsResponse()
	resp.Version = req.version
	type target struct {
		name *string
		id   [16]byte
	}
	var targets []target
	if req.version >= 6 {
		for _, t := range m.Topics {
			targets = append(targets, target{name: t.Topic, id: t.TopicID})
		}
	} else {
		for i := range m.TopicNames {
			targets = append(targets, target{name: &m.TopicNames[i]})
		}
	}
	for _, tg := range targets {
		rt := kmsg.NewDeleteTopicsResponseTopic()
		rt.Topic = tg.name
		rt.TopicID = tg.id
		name := ""
		var err error
		if tg.name != nil && *tg.name != "" {
			name = *tg.name
		} else {
			var t metadata.Topic
			t, err = s.topics.TopicByID(ctx, tg.id)
			if errors.Is(err, metadata.ErrUnknownTopic) {
				err = kerr.UnknownTopicID
			}
			name = t.Name
			rt.Topic = &name
		}
		// DELETE on the topic, checked before the deletion looks it up,
		// so a denied topic's existence is not told.
		if err == nil && !s.authorizeTopic(req, kmsg.ACLOperationDelete, name) {
			err = kerr.TopicAuthorizationFailed
			if tg.name == nil || *tg.name == "" {
				rt.Topic = nil
			}
		}
		if err == nil {
			var t metadata.Topic
			t, err = s.topics.DeleteTopic(ctx, name)
			if err == nil {
				rt.TopicID = t.ID
				s.logger.Info("deleted topic", "topic", name, "id", t.ID.Base64())
				s.metrics.forgetTopic(name)
			}
		}
		if err != nil {
			rt.ErrorCode = metadataErrorCode(err)
			rt.ErrorMessage = errorMessage(err)
			s.metrics.errorCode(req.key, rt.ErrorCode)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}
