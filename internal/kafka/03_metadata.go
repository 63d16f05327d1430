package kafka

// Metadata (key 3), versions 0-13 (v13, KIP-1102, adds a top-level
// error code, always 0 here).
//
// Brokers are the live agents the client should see (cluster.Membership),
// at the addresses of the listener the client came in on; an agent
// without that listener is left out, as Kafka does.
// Every partition has a nominal leader spread over those agents; any agent
// accepts any partition's produce and fetch, so the leader only balances
// connections. Replicas and ISR list up to three agents, all always in
// sync, since durability comes from the bucket. Leader epochs are always
// records.LeaderEpoch.
//
// Unknown topics are created with the default partition count when the
// agent allows auto-creation and the request does (v4+; always for v0-v3).
// Topics requested by ID (v10+) are never auto-created. Sluice's internal
// topics (__sluice_*: events and audit, internal/events) are flagged
// is_internal and never auto-created. Kafka's __consumer_offsets and
// __transaction_state are listed, flagged is_internal, as virtual topics
// (internal_topics.go): Sluice keeps that state in its metadata store.
//
// Authorization: a topic needs DESCRIBE. A request for all topics lists
// only those; a topic asked for by name gets TOPIC_AUTHORIZATION_FAILED
// whether or not it exists, so its existence is never told. Auto-creation
// needs CREATE on the cluster or on the topic (TOPIC_AUTHORIZATION_FAILED
// otherwise). Authorized operations (KIP-430, v8+) are filled in for the
// topics and, v8-v10, the cluster when requested.

import (
	"context"
	"errors"
	"hash/fnv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/acl"
	"github.com/sluicehq/sluice/internal/cluster"
	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/records"
	"github.com/sluicehq/sluice/internal/topics"
)

func (s *Server) handleMetadata(ctx context.Context, req *request, m *kmsg.MetadataRequest) kmsg.Response {
	resp := kmsg.NewPtrMetadataResponse()
	resp.Version = req.version
	brokers := s.brokersFor(req)
	reps := newReplicaSets(brokers)
	for _, b := range brokers {
		resp.Brokers = append(resp.Brokers, kmsg.MetadataResponseBroker{NodeID: b.NodeID, Host: b.Host, Port: b.Port, Rack: b.Rack})
	}
	resp.ClusterID = &s.cluster
	resp.ControllerID = brokers[0].NodeID
	if m.IncludeClusterAuthorizedOperations {
		resp.AuthorizedOperations = s.authorizedOps(req, kmsg.ACLResourceTypeCluster, acl.ClusterName)
	}
	withOps := func(mt kmsg.MetadataResponseTopic) kmsg.MetadataResponseTopic {
		if m.IncludeTopicAuthorizedOperations {
			mt.AuthorizedOperations = s.authorizedOps(req, kmsg.ACLResourceTypeTopic, *mt.Topic)
		}
		return mt
	}

	allTopics := m.Topics == nil || (req.version == 0 && len(m.Topics) == 0)
	if allTopics {
		list, err := s.topics.ListTopics(ctx)
		if err != nil {
			s.logger.Warn("metadata: list topics", "err", err)
		}
		resp.Topics = make([]kmsg.MetadataResponseTopic, 0, len(list))
		for _, t := range list {
			if s.authorizeTopic(req, kmsg.ACLOperationDescribe, t.Name) {
				resp.Topics = append(resp.Topics, withOps(s.topicMetadata(t, reps)))
			}
		}
		return resp
	}
	autoCreate := s.autoCreateTopics() && (req.version < 4 || m.AllowAutoTopicCreation)
	// The topics named (and visible to the principal) are looked up in
	// one call: a client that names its 10,000 topics costs one store
	// query for the entries the topic cache lacks, not one per topic.
	described := make([]bool, len(m.Topics))
	var names []string
	for i, rt := range m.Topics {
		if rt.Topic != nil && *rt.Topic != "" && s.authorizeTopic(req, kmsg.ACLOperationDescribe, *rt.Topic) {
			described[i] = true
			names = append(names, *rt.Topic)
		}
	}
	byName := s.lookupTopics(ctx, names)
	resp.Topics = make([]kmsg.MetadataResponseTopic, 0, len(m.Topics))
	for i, rt := range m.Topics {
		var (
			t   metadata.Topic
			err error
		)
		switch {
		case rt.Topic != nil && *rt.Topic != "" && !described[i]:
			err = kerr.TopicAuthorizationFailed
		case rt.Topic != nil && *rt.Topic != "":
			t, err = byName.topic(*rt.Topic)
			t, err = s.topicForMetadata(ctx, req, *rt.Topic, t, err, autoCreate, func() bool {
				return s.checkCluster(req, kmsg.ACLOperationCreate) || s.authorizeTopic(req, kmsg.ACLOperationCreate, *rt.Topic)
			})
		case rt.TopicID != [16]byte{}:
			t, err = s.topics.TopicByID(ctx, rt.TopicID)
			if errors.Is(err, metadata.ErrUnknownTopic) {
				err = kerr.UnknownTopicID
			} else if err == nil && !s.authorizeTopic(req, kmsg.ACLOperationDescribe, t.Name) {
				t, err = metadata.Topic{}, kerr.TopicAuthorizationFailed
			}
		default:
			err = topics.ErrInvalidName
		}
		if err != nil {
			mt := kmsg.NewMetadataResponseTopic()
			mt.Topic = rt.Topic
			mt.TopicID = rt.TopicID
			mt.ErrorCode = metadataErrorCode(err)
			s.metrics.errorCode(req.key, mt.ErrorCode)
			resp.Topics = append(resp.Topics, mt)
			continue
		}
		resp.Topics = append(resp.Topics, withOps(s.topicMetadata(t, reps)))
	}
	return resp
}

func metadataErrorCode(err error) int16 {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	if unavailable(err) {
		// The metadata store is unreachable: retriable, and every
		// client (librdkafka included) keeps its records and asks again.
		return kerr.LeaderNotAvailable.Code
	}
	return errorCode(err)
}

// topicForMetadata takes a topic's lookup (t, err) and, for an unknown
// topic, creates it if autoCreate and the principal may (mayCreate;
// TOPIC_AUTHORIZATION_FAILED otherwise). A creation is audited as
// CreateTopics' are, marked auto_created.
func (s *Server) topicForMetadata(ctx context.Context, req *request, name string, t metadata.Topic, err error, autoCreate bool, mayCreate func() bool) (metadata.Topic, error) {
	if !errors.Is(err, metadata.ErrUnknownTopic) {
		return t, err
	}
	if err := topics.ValidateName(name); err != nil {
		return t, err
	}
	if !autoCreate || IsInternalTopic(name) {
		// Internal topics are created by their writer, with their own
		// partition count and retention, never by a client's Metadata.
		return t, err
	}
	if !mayCreate() {
		return t, kerr.TopicAuthorizationFailed
	}
	var configs map[string]string
	if s.cfg.DefaultTopicType == topics.TypeLightning {
		configs = map[string]string{topics.TypeConfig: topics.TypeLightning}
	}
	t, err = s.topics.CreateTopic(ctx, name, s.defaultPartitions(), configs)
	if errors.Is(err, metadata.ErrTopicExists) { // created concurrently
		return s.topics.Topic(ctx, name)
	}
	if err == nil {
		s.logger.Info("auto-created topic", "topic", name, "partitions", t.Partitions)
	}
	s.auditAutoCreate(ctx, req, name, configs, err)
	return t, err
}

// topicHash spreads nominal leaders of different topics differently.
func topicHash(id metadata.TopicID) uint32 {
	h := fnv.New32a()
	h.Write(id[:])
	return h.Sum32()
}

// replicaSets are the replica lists of one Metadata response, by the
// index of the partition's leader in brokers: a partition's list
// (cluster.Replicas) depends only on that index, so the response's
// partitions share len(brokers) slices, which encoding only reads,
// instead of allocating one each (100,000 for 100,000 partitions).
type replicaSets struct {
	brokers []cluster.Broker
	sets    [][]int32
}

func newReplicaSets(brokers []cluster.Broker) replicaSets {
	r := replicaSets{brokers: brokers, sets: make([][]int32, len(brokers))}
	for i := range brokers {
		r.sets[i] = cluster.Replicas(brokers, 0, int32(i))
	}
	return r
}

func (s *Server) topicMetadata(t metadata.Topic, reps replicaSets) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	name := t.Name
	mt.Topic = &name
	mt.TopicID = t.ID
	// Kafka's two and Sluice's own topics (events, audit) are internal:
	// tools and regex subscriptions leave them out.
	mt.IsInternal = IsInternalTopic(name)
	th := topicHash(t.ID)
	n := uint64(len(reps.brokers))
	mt.Partitions = make([]kmsg.MetadataResponseTopicPartition, t.Partitions)
	for p := int32(0); p < t.Partitions; p++ {
		// The index cluster.Leader and cluster.Replicas use.
		i := (uint64(th) + uint64(p)) % n
		mp := &mt.Partitions[p]
		*mp = kmsg.NewMetadataResponseTopicPartition()
		mp.Partition = p
		mp.Leader = reps.brokers[i].NodeID
		mp.LeaderEpoch = records.LeaderEpoch
		mp.Replicas = reps.sets[i]
		mp.ISR = mp.Replicas
	}
	return mt
}
