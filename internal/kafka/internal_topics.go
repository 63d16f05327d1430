package kafka

// Kafka's internal topics, as Kafka shows them.
//
// Kafka lists __consumer_offsets and __transaction_state in Metadata,
// flagged is_internal, and Kafka tools and regex subscriptions rely on them
// being there and flagged to leave internal topics out. Sluice keeps group
// offsets and transaction state in its metadata store, not in topics, so
// these two are virtual: kafkaTopics adds them to every lookup and listing
// the Kafka handlers make, with 50 partitions each (Kafka's
// offsets.topic.num.partitions and transaction.state.log.num.partitions
// defaults), cleanup.policy=compact, and topic IDs derived from the
// cluster ID and the name, so they are the same on every agent and across
// restarts. They hold nothing: every partition is an empty log at offset
// 0 (Fetch answers no records with high watermark 0, ListOffsets 0,
// OffsetForLeaderEpoch end offset 0), since Sluice does not write Kafka's
// internal record format. Changing them is refused: Produce and DeleteTopics
// with INVALID_TOPIC_EXCEPTION, CreatePartitions and AlterConfigs with
// INVALID_REQUEST, DeleteRecords with POLICY_VIOLATION (a compacted topic);
// CreateTopics finds them existing (TOPIC_ALREADY_EXISTS). The metadata
// store, the admin API and the jobs never see them.

import (
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicehq/sluice/internal/events"
	"github.com/sluicehq/sluice/internal/metadata"
)

// Kafka's internal topics.
const (
	OffsetsTopic  = "__consumer_offsets"
	TxnStateTopic = "__transaction_state"
	// InternalTopicPartitions is both topics' partition count, Kafka's
	// default for each.
	InternalTopicPartitions = 50
)

// IsInternalTopic reports whether clients see a topic flagged internal:
// Kafka's two and Sluice's own (__sluice_*). Produce to any of them is
// refused with INVALID_TOPIC_EXCEPTION.
func IsInternalTopic(name string) bool {
	return name == OffsetsTopic || name == TxnStateTopic || events.IsInternal(name)
}

// isKafkaInternal reports whether name is one of Kafka's two virtual topics.
func isKafkaInternal(name string) bool { return name == OffsetsTopic || name == TxnStateTopic }

// InternalTopicID is the ID a virtual topic has in a cluster: the first 16
// bytes of SHA-256 over the cluster ID and the name, the same on every
// agent of the cluster.
func InternalTopicID(clusterID, name string) metadata.TopicID {
	sum := sha256.Sum256([]byte("sluice/kafka-internal-topic\x00" + clusterID + "\x00" + name))
	var id metadata.TopicID
	copy(id[:], sum[:16])
	return id
}

// Errors for changes to Kafka's internal topics, carrying Kafka's codes.
var (
	errInternalTopicDelete = fmt.Errorf("%w: internal topics cannot be deleted", kerr.InvalidTopicException)
	errInternalTopicChange = fmt.Errorf("%w: Kafka's internal topics are virtual in Sluice (group offsets and transactions live in the metadata store) and cannot be changed", kerr.InvalidRequest)
)

// kafkaTopics is the metadata.Topics the Kafka handlers use: the store's
// topics plus Kafka's two virtual internal topics. It holds no mutable
// state.
type kafkaTopics struct {
	metadata.Topics
	virtual []metadata.Topic // sorted by name
}

func newKafkaTopics(store metadata.Topics, clusterID string) *kafkaTopics {
	k := &kafkaTopics{Topics: store}
	for _, name := range []string{OffsetsTopic, TxnStateTopic} {
		k.virtual = append(k.virtual, metadata.Topic{
			ID:         InternalTopicID(clusterID, name),
			Name:       name,
			Partitions: InternalTopicPartitions,
			Configs:    map[string]string{"cleanup.policy": "compact"},
			CreatedAt:  time.Unix(0, 0).UTC(),
		})
	}
	return k
}

// lookup returns the virtual topic named name.
func (k *kafkaTopics) lookup(name string) (metadata.Topic, bool) {
	for _, t := range k.virtual {
		if t.Name == name {
			return cloneTopic(t), true
		}
	}
	return metadata.Topic{}, false
}

// isVirtual reports whether id is one of the virtual topics' IDs.
func (k *kafkaTopics) isVirtual(id metadata.TopicID) bool {
	for _, t := range k.virtual {
		if t.ID == id {
			return true
		}
	}
	return false
}

func cloneTopic(t metadata.Topic) metadata.Topic {
	c := make(map[string]string, len(t.Configs))
	for k, v := range t.Configs {
		c[k] = v
	}
	t.Configs = c
	return t
}

func (k *kafkaTopics) Topic(ctx context.Context, name string) (metadata.Topic, error) {
	if t, ok := k.lookup(name); ok {
		return t, nil
	}
	return k.Topics.Topic(ctx, name)
}

// TopicsByName looks the store's topics up in one call and adds the
// virtual ones named.
func (k *kafkaTopics) TopicsByName(ctx context.Context, names []string) (map[string]metadata.Topic, error) {
	var (
		virtual []metadata.Topic
		stored  = make([]string, 0, len(names))
	)
	for _, name := range names {
		if t, ok := k.lookup(name); ok {
			virtual = append(virtual, t)
		} else {
			stored = append(stored, name)
		}
	}
	found := map[string]metadata.Topic{}
	var err error
	if len(stored) > 0 {
		found, err = k.Topics.TopicsByName(ctx, stored)
		if found == nil {
			found = map[string]metadata.Topic{}
		}
	}
	for _, t := range virtual {
		found[t.Name] = t
	}
	return found, err
}

func (k *kafkaTopics) TopicByID(ctx context.Context, id metadata.TopicID) (metadata.Topic, error) {
	for _, t := range k.virtual {
		if t.ID == id {
			return cloneTopic(t), nil
		}
	}
	return k.Topics.TopicByID(ctx, id)
}

// ListTopics lists the store's topics and the virtual ones, sorted by
// name. A store topic of the same name (created before Sluice listed
// them) is replaced by the virtual one. On a store error the virtual
// topics are still listed with whatever the store returned.
func (k *kafkaTopics) ListTopics(ctx context.Context) ([]metadata.Topic, error) {
	list, err := k.Topics.ListTopics(ctx)
	out := make([]metadata.Topic, 0, len(list)+len(k.virtual))
	for _, t := range list {
		if !isKafkaInternal(t.Name) {
			out = append(out, t)
		}
	}
	for _, t := range k.virtual {
		out = append(out, cloneTopic(t))
	}
	slices.SortFunc(out, func(a, b metadata.Topic) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return out, err
}

func (k *kafkaTopics) CreateTopic(ctx context.Context, name string, partitions int32, configs map[string]string) (metadata.Topic, error) {
	if isKafkaInternal(name) {
		return metadata.Topic{}, fmt.Errorf("%w: %s", metadata.ErrTopicExists, name)
	}
	return k.Topics.CreateTopic(ctx, name, partitions, configs)
}

// CreateTopics passes the topics that are not Kafka's internal ones to
// the store; those exist already, as CreateTopic says.
func (k *kafkaTopics) CreateTopics(ctx context.Context, specs []metadata.TopicSpec) ([]metadata.TopicResult, error) {
	res := make([]metadata.TopicResult, len(specs))
	var (
		pass []metadata.TopicSpec
		at   []int
	)
	for i, sp := range specs {
		if isKafkaInternal(sp.Name) {
			res[i].Err = fmt.Errorf("%w: %s", metadata.ErrTopicExists, sp.Name)
			continue
		}
		pass, at = append(pass, sp), append(at, i)
	}
	if len(pass) == 0 {
		return res, nil
	}
	got, err := k.Topics.CreateTopics(ctx, pass)
	if err != nil {
		return nil, err
	}
	if len(got) != len(pass) {
		return nil, fmt.Errorf("store answered %d results for %d topics", len(got), len(pass))
	}
	for j, i := range at {
		res[i] = got[j]
	}
	return res, nil
}

func (k *kafkaTopics) DeleteTopic(ctx context.Context, name string) (metadata.Topic, error) {
	if isKafkaInternal(name) {
		return metadata.Topic{}, errInternalTopicDelete
	}
	return k.Topics.DeleteTopic(ctx, name)
}

func (k *kafkaTopics) AlterTopicConfigs(ctx context.Context, name string, fn func(map[string]string) (map[string]string, error)) (metadata.Topic, error) {
	if isKafkaInternal(name) {
		return metadata.Topic{}, errInternalTopicChange
	}
	return k.Topics.AlterTopicConfigs(ctx, name, fn)
}

func (k *kafkaTopics) AddPartitions(ctx context.Context, name string, count int32) (metadata.Topic, error) {
	if isKafkaInternal(name) {
		return metadata.Topic{}, errInternalTopicChange
	}
	return k.Topics.AddPartitions(ctx, name, count)
}
