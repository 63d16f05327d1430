package kafka

// CreateTopics (key 19), versions 2-7.
//
// Names follow Kafka's rules (INVALID_TOPIC_EXCEPTION). A partition count
// of -1 means the agent default; 0 or below -1 is INVALID_PARTITIONS. Any
// replication factor above 0 (or -1) is accepted, because durability comes
// from the bucket; the response reports the replica count Metadata will
// show. Manual replica assignments are accepted for their partition count
// only (INVALID_REQUEST if combined with a partition count, as in Kafka).
// Configs must be known topic configs with valid values (INVALID_CONFIG with
// a message). A topic named twice in one request fails as INVALID_REQUEST.
// validate_only runs every check and creates nothing. The v5+ response lists
// the topic's configs with their sources. The timeout is not used: the
// topics that pass their checks are created in one metadata transaction.
//
// Authorization: CREATE on the cluster or on the topic
// (TOPIC_AUTHORIZATION_FAILED); the configs of the answer need
// DESCRIBE_CONFIGS on the topic (config error TOPIC_AUTHORIZATION_FAILED).

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/topics"
)

func (s *Server) handleCreateTopics(ctx context.Context, req *request, m *kmsg.CreateTopicsRequest) kmsg.Response {
	resp := kmsg.NewPtrCreateTopicsResponse()
	resp.Version = req.version
	seen := map[string]int{}
	for _, rt := range m.Topics {
		seen[rt.Topic]++
	}
	replicas := int16(min(len(s.members.Brokers(req.clientID)), 3))
	// CREATE on the cluster allows every topic; otherwise each topic
	// needs CREATE on itself (TOPIC_AUTHORIZATION_FAILED).
	clusterCreate := s.checkCluster(req, kmsg.ACLOperationCreate)
	// Every topic is checked first; those that pass are created together,
	// in one store transaction (a request of 10,000 topics is one sync,
	// not 10,000).
	type outcome struct {
		t   metadata.Topic
		err error
		msg *string
	}
	out := make([]outcome, len(m.Topics))
	var (
		specs  []metadata.TopicSpec
		create []int // the index in m.Topics of each of specs
	)
	for i, rt := range m.Topics {
		o := &out[i]
		switch {
		case seen[rt.Topic] > 1:
			o.err = kerr.InvalidRequest
			o.msg = kmsg.StringPtr(fmt.Sprintf("topic %q appears more than once in the request", rt.Topic))
		case !clusterCreate && !s.authorizeTopic(req, kmsg.ACLOperationCreate, rt.Topic):
			o.err = kerr.TopicAuthorizationFailed
		default:
			var sp metadata.TopicSpec
			sp, o.err = s.topicSpec(rt)
			if o.err != nil {
				break
			}
			if m.ValidateOnly {
				o.t, o.err = s.validateNew(ctx, sp)
				break
			}
			specs, create = append(specs, sp), append(create, i)
		}
	}
	if len(specs) > 0 {
		res, err := s.topics.CreateTopics(ctx, specs)
		for j, i := range create {
			switch {
			case err != nil:
				out[i].err = err
			default:
				out[i].t, out[i].err = res[j].Topic, res[j].Err
			}
			if out[i].err == nil {
				t := out[i].t
				s.logger.Info("created topic", "topic", t.Name, "partitions", t.Partitions, "id", t.ID.Base64())
			}
		}
	}
	for i, rt := range m.Topics {
		o := out[i]
		rs := kmsg.NewCreateTopicsResponseTopic()
		rs.Topic = rt.Topic
		if o.err != nil {
			rs.ErrorCode = metadataErrorCode(o.err)
			rs.ErrorMessage = o.msg
			if rs.ErrorMessage == nil {
				rs.ErrorMessage = errorMessage(o.err)
			}
			s.metrics.errorCode(req.key, rs.ErrorCode)
			resp.Topics = append(resp.Topics, rs)
			continue
		}
		t := o.t
		rs.TopicID = t.ID
		rs.NumPartitions = t.Partitions
		rs.ReplicationFactor = replicas
		if !s.authorizeTopic(req, kmsg.ACLOperationDescribeConfigs, rt.Topic) {
			// Created, but its configs are not the principal's to see.
			rs.ConfigErrorCode = kerr.TopicAuthorizationFailed.Code
			resp.Topics = append(resp.Topics, rs)
			continue
		}
		for _, c := range topics.Configs() {
			rc := kmsg.NewCreateTopicsResponseTopicConfig()
			rc.Name = c.Name
			v, src := s.topicConfigValue(t, c.Name) // as DescribeConfigs reports it
			rc.Value = &v
			rc.Source = int8(src)
			rs.Configs = append(rs.Configs, rc)
		}
		resp.Topics = append(resp.Topics, rs)
	}
	return resp
}

// topicSpec validates one topic of a request and returns what to create.
func (s *Server) topicSpec(rt kmsg.CreateTopicsRequestTopic) (metadata.TopicSpec, error) {
	if err := topics.ValidateName(rt.Topic); err != nil {
		return metadata.TopicSpec{}, err
	}
	partitions := rt.NumPartitions
	switch {
	case len(rt.ReplicaAssignment) > 0 && (partitions != -1 || rt.ReplicationFactor != -1):
		return metadata.TopicSpec{}, fmt.Errorf("%w: both a replica assignment and a partition count or replication factor were given", kerr.InvalidRequest)
	case len(rt.ReplicaAssignment) > 0:
		partitions = int32(len(rt.ReplicaAssignment))
	case partitions == -1:
		partitions = s.defaultPartitions()
	case partitions <= 0:
		return metadata.TopicSpec{}, fmt.Errorf("%w: partition count must be positive or -1, got %d", kerr.InvalidPartitions, partitions)
	}
	if partitions > s.cfg.MaxPartitions {
		return metadata.TopicSpec{}, fmt.Errorf("%w: %d partitions exceed this agent's limit of %d (--max-partitions)", kerr.InvalidPartitions, partitions, s.cfg.MaxPartitions)
	}
	if rf := rt.ReplicationFactor; rf == 0 || rf < -1 {
		return metadata.TopicSpec{}, fmt.Errorf("%w: replication factor must be positive or -1, got %d", kerr.InvalidReplicationFactor, rf)
	}
	configs := map[string]string{}
	for _, c := range rt.Configs {
		if c.Value == nil {
			return metadata.TopicSpec{}, fmt.Errorf("%w: null value for configuration %s", topics.ErrInvalidConfig, c.Name)
		}
		if err := topics.ValidateConfig(c.Name, *c.Value); err != nil {
			return metadata.TopicSpec{}, err
		}
		configs[c.Name] = *c.Value
	}
	s.defaultTopicType(configs)
	if err := topics.ValidateConfigs(configs); err != nil {
		return metadata.TopicSpec{}, err
	}
	return metadata.TopicSpec{Name: rt.Topic, Partitions: partitions, Configs: configs}, nil
}

// validateNew answers validate_only: the topic that would be created, or
// ErrTopicExists.
func (s *Server) validateNew(ctx context.Context, sp metadata.TopicSpec) (metadata.Topic, error) {
	t, err := s.topics.Topic(ctx, sp.Name)
	if err == nil {
		return t, fmt.Errorf("%w: %s", metadata.ErrTopicExists, sp.Name)
	}
	if !errors.Is(err, metadata.ErrUnknownTopic) {
		return t, err
	}
	return metadata.Topic{Name: sp.Name, Partitions: sp.Partitions, Configs: sp.Configs}, nil
}

// defaultTopicType stores the agent's default topic type in the configs of
// a topic being created without one, when it is not classic (Kafka
// brokers likewise keep only overrides).
func (s *Server) defaultTopicType(configs map[string]string) {
	if _, set := configs[topics.TypeConfig]; !set && s.cfg.DefaultTopicType == topics.TypeLightning {
		configs[topics.TypeConfig] = topics.TypeLightning
	}
}
