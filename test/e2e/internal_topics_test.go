package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestInternalTopicsAsKafka checks Kafka's internal topics as clients see
// them against Sluice: listed and flagged internal in Metadata, hidden by
// kadm's ListTopics, left out of regex subscriptions, listed by
// librdkafka, and refused to produce.
func TestInternalTopicsAsKafka(t *testing.T) {
	t.Parallel()
	a := StartAgent(t, "")
	ctx := testContext(t, 45*time.Second)
	adm := a.Admin()
	defer adm.Close()
	for _, topic := range []string{"rx-a", "rx-b"} {
		if r, err := adm.CreateTopic(ctx, 2, 1, nil, topic); err != nil || r.Err != nil {
			t.Fatalf("create %s: %v %v", topic, err, r.Err)
		}
	}

	// franz-go Metadata for all topics: both flagged internal.
	cl := a.Client()
	defer cl.Close()
	req := kmsg.NewPtrMetadataRequest()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string][16]byte{}
	for _, mt := range resp.Topics {
		name := *mt.Topic
		switch name {
		case "__consumer_offsets", "__transaction_state":
			if !mt.IsInternal || len(mt.Partitions) != 50 || mt.TopicID == [16]byte{} {
				t.Errorf("%s: internal %v, %d partitions, id %x", name, mt.IsInternal, len(mt.Partitions), mt.TopicID)
			}
			ids[name] = mt.TopicID
		case "rx-a", "rx-b":
			if mt.IsInternal {
				t.Errorf("%s flagged internal", name)
			}
		default:
			if !strings.HasPrefix(name, "__sluice_") || !mt.IsInternal {
				t.Errorf("unexpected topic %s (internal %v)", name, mt.IsInternal)
			}
		}
	}
	if len(ids) != 2 {
		t.Fatalf("Metadata listed %v of Kafka's internal topics", ids)
	}

	// kadm: ListTopics hides them, ListTopicsWithInternal shows them.
	plain, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := plain.Names(); !slices.Equal(got, []string{"rx-a", "rx-b"}) {
		t.Errorf("ListTopics = %v", got)
	}
	with, err := adm.ListTopicsWithInternal(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for name, id := range ids {
		if d, ok := with[name]; !ok || !d.IsInternal || d.ID != id {
			t.Errorf("ListTopicsWithInternal %s: listed %v, %+v", name, ok, d)
		}
	}

	// A regex consumer of everything gets the user topics only, though
	// __sluice_audit holds the creations above.
	p := a.Client()
	defer p.Close()
	for _, topic := range []string{"rx-a", "rx-b"} {
		if err := p.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(topic)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	rx := a.Client(kgo.ConsumeRegex(), kgo.ConsumeTopics(".*"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	defer rx.Close()
	got := map[string]int{}
	for got["rx-a"] == 0 || got["rx-b"] == 0 {
		fs := rx.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("regex consumer got %v", got)
		}
		fs.EachRecord(func(r *kgo.Record) { got[r.Topic]++ })
	}
	for topic := range got {
		if topic != "rx-a" && topic != "rx-b" {
			t.Errorf("regex consumer read %s", topic)
		}
	}
	if subs := rx.GetConsumeTopics(); !slices.Equal(sortedNames(subs), []string{"rx-a", "rx-b"}) {
		t.Errorf("regex consumer subscribed to %v", subs)
	}

	// librdkafka's regex subscription (confluent-kafka, "^.*") filters
	// topics by topic.blacklist only, never by is_internal: against Kafka
	// it is assigned __consumer_offsets' and __transaction_state's 100
	// partitions too, and so it is here, with the user topics' four.
	lines, err := cliScript(ctx, "groups_confluent.py", "consume", map[string]any{
		"bootstrap": a.KafkaAddr, "topic": "^.*", "group": "rx-librdkafka", "expect": 2, "commit": "auto", "timeout": 30})
	if err != nil {
		t.Fatal(err)
	}
	assigned := ""
	for _, l := range lines {
		if l.Kind == "info" && strings.HasPrefix(l.Info, "assigned ") {
			assigned = l.Info
		}
	}
	if n := len(strings.Split(strings.TrimPrefix(assigned, "assigned "), ",")); assigned == "" || n < 104 {
		t.Errorf("librdkafka regex consumer: %q (%d partitions)", assigned, n)
	}

	// Produce to an internal topic: INVALID_TOPIC_EXCEPTION.
	for _, topic := range []string{"__consumer_offsets", "__sluice_audit"} {
		err := p.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("x")}).FirstErr()
		if !errors.Is(err, kerr.InvalidTopicException) {
			t.Errorf("produce to %s: %v, want INVALID_TOPIC_EXCEPTION", topic, err)
		}
	}

	// librdkafka (kcat -L) lists them with their partitions.
	out, err := cliRun(context.Background(), nil, "kcat", "-b", a.KafkaAddr, "-L", "-J", "-m", "10")
	if err != nil {
		t.Fatalf("kcat -L: %v\n%s", err, out)
	}
	var md struct {
		Topics []struct {
			Topic      string
			Partitions []json.RawMessage
		}
	}
	if err := json.Unmarshal(out, &md); err != nil {
		t.Fatalf("kcat -L -J printed %q: %v", out, err)
	}
	listed := map[string]int{}
	for _, tp := range md.Topics {
		listed[tp.Topic] = len(tp.Partitions)
	}
	if listed["__consumer_offsets"] != 50 || listed["__transaction_state"] != 50 || listed["rx-a"] != 2 {
		t.Errorf("kcat -L listed %v", listed)
	}
}

func sortedNames(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
