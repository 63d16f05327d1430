package kafka

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/auth"
	"github.com/sluicehq/sluice/internal/metadata"
)

// countingCreates counts the store calls that create topics.
type countingCreates struct {
	metadata.Topics
	calls atomic.Int64
}

func (c *countingCreates) CreateTopic(ctx context.Context, name string, partitions int32, configs map[string]string) (metadata.Topic, error) {
	c.calls.Add(1)
	return c.Topics.CreateTopic(ctx, name, partitions, configs)
}

func (c *countingCreates) CreateTopics(ctx context.Context, specs []metadata.TopicSpec) ([]metadata.TopicResult, error) {
	c.calls.Add(1)
	return c.Topics.CreateTopics(ctx, specs)
}

// TestCreateTopicsOneStoreCall: the topics of a CreateTopics request that
// pass their checks are created with one store call, and every topic gets
// its own answer in request order: created, already there, invalid,
// named twice, or a Kafka internal topic.
func TestCreateTopicsOneStoreCall(t *testing.T) {
	var counter *countingCreates
	ts := startServerDeps(t, Config{MaxPartitions: 100}, nil, func(d *Deps) {
		counter = &countingCreates{Topics: d.Topics}
		d.Topics = counter
	})
	ctx := context.Background()
	do := func(msg *kmsg.CreateTopicsRequest) *kmsg.CreateTopicsResponse {
		t.Helper()
		msg.SetVersion(7)
		resp, err := ts.srv.Do(ctx, auth.Anonymous, "test", msg)
		if err != nil {
			t.Fatal(err)
		}
		return resp.(*kmsg.CreateTopicsResponse)
	}
	topic := func(name string, partitions int32) kmsg.CreateTopicsRequestTopic {
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, partitions, -1
		return rt
	}
	first := kmsg.NewPtrCreateTopicsRequest()
	first.Topics = append(first.Topics, topic("already", 1))
	if r := do(first); r.Topics[0].ErrorCode != 0 {
		t.Fatalf("create: code %d", r.Topics[0].ErrorCode)
	}

	req := kmsg.NewPtrCreateTopicsRequest()
	var want []int16
	for i := range 50 {
		req.Topics = append(req.Topics, topic(fmt.Sprintf("many-%02d", i), 3))
		want = append(want, 0)
	}
	req.Topics = append(req.Topics, topic("already", 2), topic("bad name!", 1), topic("too-many", 101),
		topic("twice", 1), topic("twice", 1), topic("__consumer_offsets", 1), topic("last", 2))
	want = append(want, kerr.TopicAlreadyExists.Code, kerr.InvalidTopicException.Code, kerr.InvalidPartitions.Code,
		kerr.InvalidRequest.Code, kerr.InvalidRequest.Code, kerr.TopicAlreadyExists.Code, 0)
	before := counter.calls.Load()
	r := do(req)
	if n := counter.calls.Load() - before; n != 1 {
		t.Fatalf("%d store calls created the topics of one request, want 1", n)
	}
	if len(r.Topics) != len(req.Topics) {
		t.Fatalf("%d answers for %d topics", len(r.Topics), len(req.Topics))
	}
	for i, rt := range r.Topics {
		if rt.Topic != req.Topics[i].Topic || rt.ErrorCode != want[i] {
			t.Fatalf("answer %d: %s code %d, want %s code %d", i, rt.Topic, rt.ErrorCode, req.Topics[i].Topic, want[i])
		}
		if rt.ErrorCode != 0 {
			continue
		}
		got, err := ts.store.Topic(ctx, rt.Topic)
		if err != nil || got.ID != rt.TopicID || got.Partitions != req.Topics[i].NumPartitions || rt.NumPartitions != got.Partitions {
			t.Fatalf("%s: stored %+v, %v; answered ID %x with %d partitions", rt.Topic, got, err, rt.TopicID, rt.NumPartitions)
		}
	}
	if got, err := ts.store.Topic(ctx, "already"); err != nil || got.Partitions != 1 {
		t.Fatalf("existing topic after a second create: %+v, %v", got, err)
	}
}
