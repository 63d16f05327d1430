package kafka

import (
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/events"
)

// TestKafkaInternalTopics checks Kafka's two internal topics as every
// API that names a topic sees them: listed and flagged internal, empty
// logs at offset 0, and refused to every change.
func TestKafkaInternalTopics(t *testing.T) {
	ts := startServer(t, Config{AutoCreateTopics: true})
	ts.createTopic("orders", 2, nil)
	rc := ts.dial()
	ids := map[string][16]byte{OffsetsTopic: InternalTopicID("test-cluster", OffsetsTopic), TxnStateTopic: InternalTopicID("test-cluster", TxnStateTopic)}
	if ids[OffsetsTopic] == ids[TxnStateTopic] || ids[OffsetsTopic] != InternalTopicID("test-cluster", OffsetsTopic) || ids[OffsetsTopic] == InternalTopicID("other-cluster", OffsetsTopic) {
		t.Fatal("internal topic IDs are not stable per cluster and name")
	}

	// Metadata, all topics: the two listed, flagged, with stable IDs.
	md := kmsg.NewPtrMetadataRequest()
	md.Version = 12
	all := rc.roundTrip(md).(*kmsg.MetadataResponse)
	seen := map[string]bool{}
	for _, mt := range all.Topics {
		name := *mt.Topic
		seen[name] = true
		want, internal := ids[name]
		if mt.IsInternal != internal {
			t.Errorf("%s: is_internal %v", name, mt.IsInternal)
		}
		if internal && (mt.TopicID != want || len(mt.Partitions) != InternalTopicPartitions || mt.ErrorCode != 0) {
			t.Errorf("%s: id %x, %d partitions, error %d", name, mt.TopicID, len(mt.Partitions), mt.ErrorCode)
		}
	}
	if !seen[OffsetsTopic] || !seen[TxnStateTopic] || !seen["orders"] || len(all.Topics) != 3 {
		t.Fatalf("all topics: %v", seen)
	}

	// By name and by ID; auto-creation never applies to them.
	md = kmsg.NewPtrMetadataRequest()
	md.Version = 12
	md.AllowAutoTopicCreation = true
	name := OffsetsTopic
	md.Topics = []kmsg.MetadataRequestTopic{{Topic: &name}, {TopicID: ids[TxnStateTopic]}}
	named := rc.roundTrip(md).(*kmsg.MetadataResponse)
	if len(named.Topics) != 2 || named.Topics[0].ErrorCode != 0 || !named.Topics[0].IsInternal || named.Topics[1].ErrorCode != 0 || *named.Topics[1].Topic != TxnStateTopic {
		t.Fatalf("named: %+v", named.Topics)
	}

	// ListOffsets: earliest and latest 0; a timestamp finds nothing.
	lo := kmsg.NewPtrListOffsetsRequest()
	lo.Version = 6
	lo.Topics = []kmsg.ListOffsetsRequestTopic{{Topic: OffsetsTopic, Partitions: []kmsg.ListOffsetsRequestTopicPartition{
		{Partition: 0, Timestamp: -2}, {Partition: 49, Timestamp: -1}, {Partition: 3, Timestamp: 1000}, {Partition: 50, Timestamp: -1}}}}
	lr := rc.roundTrip(lo).(*kmsg.ListOffsetsResponse).Topics[0].Partitions
	if lr[0].ErrorCode != 0 || lr[0].Offset != 0 || lr[1].ErrorCode != 0 || lr[1].Offset != 0 || lr[2].Offset != -1 || lr[3].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("list offsets: %+v", lr)
	}

	// Fetch: no records, high watermark 0; past 0 is out of range.
	for _, version := range []int16{12, 13} {
		f := kmsg.NewPtrFetchRequest()
		f.Version = version
		f.MaxBytes = 1 << 20
		ft := kmsg.FetchRequestTopic{Topic: TxnStateTopic, TopicID: ids[TxnStateTopic], Partitions: []kmsg.FetchRequestTopicPartition{
			{Partition: 0, FetchOffset: 0, PartitionMaxBytes: 1 << 20, CurrentLeaderEpoch: -1, LogStartOffset: -1},
			{Partition: 1, FetchOffset: 7, PartitionMaxBytes: 1 << 20, CurrentLeaderEpoch: -1, LogStartOffset: -1}}}
		f.Topics = []kmsg.FetchRequestTopic{ft}
		fr := rc.roundTrip(f).(*kmsg.FetchResponse)
		ps := fr.Topics[0].Partitions
		if ps[0].ErrorCode != 0 || ps[0].HighWatermark != 0 || ps[0].LogStartOffset != 0 || len(ps[0].RecordBatches) != 0 || ps[1].ErrorCode != kerr.OffsetOutOfRange.Code {
			t.Fatalf("fetch v%d: %+v", version, ps)
		}
	}

	// OffsetForLeaderEpoch: the end of an empty log.
	oe := kmsg.NewPtrOffsetForLeaderEpochRequest()
	oe.Version = 4
	oe.ReplicaID = -1
	oe.Topics = []kmsg.OffsetForLeaderEpochRequestTopic{{Topic: OffsetsTopic, Partitions: []kmsg.OffsetForLeaderEpochRequestTopicPartition{{Partition: 0, CurrentLeaderEpoch: -1, LeaderEpoch: 0}}}}
	if p := rc.roundTrip(oe).(*kmsg.OffsetForLeaderEpochResponse).Topics[0].Partitions[0]; p.ErrorCode != 0 || p.EndOffset != 0 {
		t.Fatalf("offset for leader epoch: %+v", p)
	}

	// DescribeConfigs: compacted, as in Kafka.
	if c := configByName(describeTopicConfigs(rc, 4, OffsetsTopic, nil, false), "cleanup.policy"); c == nil || c.Value == nil || *c.Value != "compact" {
		t.Fatalf("cleanup.policy: %+v", c)
	}

	// Produce to any internal topic: INVALID_TOPIC_EXCEPTION, nothing stored.
	for _, topic := range []string{OffsetsTopic, TxnStateTopic, "__sluice_audit"} {
		p := kmsg.NewPtrProduceRequest()
		p.Version = 9
		p.Acks = -1
		p.TimeoutMillis = 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = topic
		rt.Partitions = []kmsg.ProduceRequestTopicPartition{{Partition: 0, Records: encodeRecords(1, func(int) []byte { return []byte("v") })}}
		p.Topics = []kmsg.ProduceRequestTopic{rt}
		pr := rc.roundTrip(p).(*kmsg.ProduceResponse).Topics[0].Partitions[0]
		if pr.ErrorCode != kerr.InvalidTopicException.Code || pr.ErrorMessage == nil || !strings.Contains(*pr.ErrorMessage, "Cannot append to internal topic "+topic) {
			t.Errorf("produce to %s: %+v", topic, pr)
		}
	}
	if n := ts.files(); n != 0 {
		t.Fatalf("%d files written", n)
	}

	// CreateTopics finds it; DeleteTopics, CreatePartitions and
	// AlterConfigs are refused.
	ct := kmsg.NewPtrCreateTopicsRequest()
	ct.Version = 7
	ct.Topics = []kmsg.CreateTopicsRequestTopic{{Topic: OffsetsTopic, NumPartitions: 1, ReplicationFactor: -1}}
	if r := rc.roundTrip(ct).(*kmsg.CreateTopicsResponse).Topics[0]; r.ErrorCode != kerr.TopicAlreadyExists.Code {
		t.Errorf("create: %+v", r)
	}
	dt := kmsg.NewPtrDeleteTopicsRequest()
	dt.Version = 6
	dt.Topics = []kmsg.DeleteTopicsRequestTopic{{Topic: &name}, {TopicID: ids[TxnStateTopic]}}
	for _, r := range rc.roundTrip(dt).(*kmsg.DeleteTopicsResponse).Topics {
		if r.ErrorCode != kerr.InvalidTopicException.Code {
			t.Errorf("delete: %+v", r)
		}
	}
	cp := kmsg.NewPtrCreatePartitionsRequest()
	cp.Version = 3
	cp.Topics = []kmsg.CreatePartitionsRequestTopic{{Topic: TxnStateTopic, Count: 60}}
	if r := rc.roundTrip(cp).(*kmsg.CreatePartitionsResponse).Topics[0]; r.ErrorCode != kerr.InvalidRequest.Code {
		t.Errorf("create partitions: %+v", r)
	}
	v := "1000"
	for _, validateOnly := range []bool{true, false} {
		if r := incAlter(rc, validateOnly, OffsetsTopic, op("retention.ms", kmsg.IncrementalAlterConfigOpSet, &v)); r.ErrorCode != kerr.InvalidRequest.Code {
			t.Errorf("alter configs (validate only %v): %+v", validateOnly, r)
		}
	}
	// Still there, unchanged.
	again := rc.roundTrip(kmsg.NewPtrMetadataRequest()).(*kmsg.MetadataResponse)
	if len(again.Topics) != 3 {
		t.Fatalf("after the changes: %d topics", len(again.Topics))
	}
}

// TestAutoCreateAudited: a topic created by a Metadata request is audited
// as CreateTopics' are, marked auto_created; a lookup of an existing or an
// internal topic creates and audits nothing.
func TestAutoCreateAudited(t *testing.T) {
	rec := &recordingEmitter{}
	ts := startServerDeps(t, Config{AutoCreateTopics: true, DefaultPartitions: 3}, nil, func(d *Deps) { d.Events = rec })
	rc := ts.dial()
	metadataFor := func(names ...string) *kmsg.MetadataResponse {
		md := kmsg.NewPtrMetadataRequest()
		md.Version = 9
		md.AllowAutoTopicCreation = true
		for _, n := range names {
			n := n
			md.Topics = append(md.Topics, kmsg.MetadataRequestTopic{Topic: &n})
		}
		return rc.roundTrip(md).(*kmsg.MetadataResponse)
	}
	if r := metadataFor("auto-1"); r.Topics[0].ErrorCode != 0 || len(r.Topics[0].Partitions) != 3 {
		t.Fatalf("auto-create: %+v", r.Topics[0])
	}
	got := rec.take(events.TypeTopicCreated)
	if len(got) != 1 {
		t.Fatalf("%d topic.created events", len(got))
	}
	d := got[0].Data.(events.AdminData)
	if got[0].Subject != "auto-1" || !d.AutoCreated || d.Method != "kafka.Metadata" || d.Resource != "auto-1" || d.ResourceType != "topic" ||
		d.Status != "SUCCESS" || d.Principal != "User:ANONYMOUS" || d.RemoteAddr == "" || d.Request["partitions"] != int32(3) {
		t.Fatalf("event: %+v", d)
	}
	metadataFor("auto-1", OffsetsTopic, "__sluice_audit")
	if got := rec.take(events.TypeTopicCreated); len(got) != 0 {
		t.Fatalf("lookups audited: %+v", got)
	}
}

// TestAddInternalPartitionsToTxn: a transaction cannot take an internal
// topic's partition; the request fails as a whole.
func TestAddInternalPartitionsToTxn(t *testing.T) {
	ts := startServer(t, Config{})
	ts.createTopic("txn-user", 1, nil)
	rc := ts.dial()
	r := kmsg.NewPtrAddPartitionsToTxnRequest()
	r.Version = 3
	r.TransactionalID, r.ProducerID, r.ProducerEpoch = "tx", 1, 0
	r.Topics = []kmsg.AddPartitionsToTxnRequestTopic{{Topic: OffsetsTopic, Partitions: []int32{0}}, {Topic: "txn-user", Partitions: []int32{0}}}
	resp := rc.roundTrip(r).(*kmsg.AddPartitionsToTxnResponse)
	if c := resp.Topics[0].Partitions[0].ErrorCode; c != kerr.InvalidTopicException.Code {
		t.Errorf("internal partition: %d", c)
	}
	if c := resp.Topics[1].Partitions[0].ErrorCode; c != kerr.OperationNotAttempted.Code {
		t.Errorf("user partition: %d", c)
	}
}
