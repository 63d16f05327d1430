package kafka

import (
	"context"

	"github.com/sluicehq/sluice/internal/metadata"
)

// topicLookup is the answer of one batched by-name lookup (lookupTopics).
type topicLookup struct {
	found map[string]metadata.Topic
	err   error
}

// lookupTopics looks names up in one call (metadata.Topics.TopicsByName:
// one store query for the names the topic cache lacks), for a request
// that names many topics.
func (s *Server) lookupTopics(ctx context.Context, names []string) topicLookup {
	if len(names) == 0 {
		return topicLookup{}
	}
	found, err := s.topics.TopicsByName(ctx, names)
	return topicLookup{found: found, err: err}
}

// topic is name's answer: the topic, the lookup's error, or
// metadata.ErrUnknownTopic.
func (l topicLookup) topic(name string) (metadata.Topic, error) {
	if t, ok := l.found[name]; ok {
		return t, nil
	}
	if l.err != nil {
		return metadata.Topic{}, l.err
	}
	return metadata.Topic{}, metadata.ErrUnknownTopic
}
