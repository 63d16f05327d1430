package kafka

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/metadata"
)

func describeTopicConfigs(rc *rawConn, version int16, topic string, names []string, synonyms bool) kmsg.DescribeConfigsResponseResource {
	rc.t.Helper()
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.Version = version
	req.IncludeSynonyms = synonyms
	req.IncludeDocumentation = true
	rr := kmsg.NewDescribeConfigsRequestResource()
	rr.ResourceType = kmsg.ConfigResourceTypeTopic
	rr.ResourceName = topic
	rr.ConfigNames = names
	req.Resources = append(req.Resources, rr)
	resp := rc.roundTrip(req).(*kmsg.DescribeConfigsResponse)
	if len(resp.Resources) != 1 {
		rc.t.Fatalf("%d resources in response", len(resp.Resources))
	}
	return resp.Resources[0]
}

func configByName(rs kmsg.DescribeConfigsResponseResource, name string) *kmsg.DescribeConfigsResponseResourceConfig {
	for i := range rs.Configs {
		if rs.Configs[i].Name == name {
			return &rs.Configs[i]
		}
	}
	return nil
}

func TestDescribeConfigsVersions(t *testing.T) {
	ts := startServer(t, Config{MaxMessageBytes: 2000000})
	ts.createTopic("dc", 1, map[string]string{"retention.ms": "5000"})
	rc := ts.dial()
	for v := int16(0); v <= 4; v++ {
		rs := describeTopicConfigs(rc, v, "dc", nil, v >= 1)
		if rs.ErrorCode != 0 || len(rs.Configs) < 30 {
			t.Fatalf("v%d: error %d, %d configs", v, rs.ErrorCode, len(rs.Configs))
		}
		ret := configByName(rs, "retention.ms")
		if ret == nil || *ret.Value != "5000" || ret.IsDefault || ret.ReadOnly || ret.IsSensitive {
			t.Fatalf("v%d retention.ms = %+v", v, ret)
		}
		cp := configByName(rs, "cleanup.policy")
		if cp == nil || *cp.Value != "delete" || (v == 0 && !cp.IsDefault) {
			t.Fatalf("v%d cleanup.policy = %+v", v, cp)
		}
		mmb := configByName(rs, "max.message.bytes")
		if mmb == nil || *mmb.Value != "2000000" {
			t.Fatalf("v%d max.message.bytes = %+v, want the agent's 2000000", v, mmb)
		}
		if v >= 1 {
			if ret.Source != kmsg.ConfigSourceDynamicTopicConfig || cp.Source != kmsg.ConfigSourceDefaultConfig || mmb.Source != kmsg.ConfigSourceStaticBrokerConfig {
				t.Fatalf("v%d sources: retention.ms %v, cleanup.policy %v, max.message.bytes %v", v, ret.Source, cp.Source, mmb.Source)
			}
			syn := mmb.ConfigSynonyms
			if len(syn) != 2 || syn[0].Name != "message.max.bytes" || *syn[0].Value != "2000000" || syn[0].Source != kmsg.ConfigSourceStaticBrokerConfig ||
				syn[1].Name != "message.max.bytes" || *syn[1].Value != "1048588" || syn[1].Source != kmsg.ConfigSourceDefaultConfig {
				t.Fatalf("v%d max.message.bytes synonyms = %+v", v, syn)
			}
			if len(ret.ConfigSynonyms) != 2 || ret.ConfigSynonyms[0].Source != kmsg.ConfigSourceDynamicTopicConfig || ret.ConfigSynonyms[1].Name != "log.retention.ms" {
				t.Fatalf("v%d retention.ms synonyms = %+v", v, ret.ConfigSynonyms)
			}
		}
		if v >= 3 && (ret.ConfigType != kmsg.ConfigTypeLong || cp.ConfigType != kmsg.ConfigTypeList || ret.Documentation == nil || *ret.Documentation == "") {
			t.Fatalf("v%d types/docs: %+v %+v", v, ret, cp)
		}
	}
	// The name filter, with a name Sluice does not know.
	rs := describeTopicConfigs(rc, 4, "dc", []string{"retention.ms", "no.such.config"}, false)
	if len(rs.Configs) != 1 || rs.Configs[0].Name != "retention.ms" || rs.Configs[0].ConfigSynonyms != nil {
		t.Fatalf("filtered = %+v", rs.Configs)
	}
	if rs := describeTopicConfigs(rc, 4, "missing", nil, false); rs.ErrorCode != kerr.UnknownTopicOrPartition.Code || len(rs.Configs) != 0 {
		t.Fatalf("missing topic = %+v", rs)
	}

	// Broker resources: own ID, the empty name, and another ID.
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.Version = 4
	for _, name := range []string{"1", "", "7"} {
		rr := kmsg.NewDescribeConfigsRequestResource()
		rr.ResourceType = kmsg.ConfigResourceTypeBroker
		rr.ResourceName = name
		req.Resources = append(req.Resources, rr)
	}
	resp := rc.roundTrip(req).(*kmsg.DescribeConfigsResponse)
	own := configByName(resp.Resources[0], "message.max.bytes")
	if resp.Resources[0].ErrorCode != 0 || own == nil || *own.Value != "2000000" || own.ReadOnly || own.Source != kmsg.ConfigSourceStaticBrokerConfig {
		t.Fatalf("broker 1 = %+v", resp.Resources[0])
	}
	if c := configByName(resp.Resources[0], "broker.id"); c == nil || *c.Value != "1" || !c.ReadOnly {
		t.Fatalf("broker.id = %+v", c)
	}
	if c := configByName(resp.Resources[0], "auto.create.topics.enable"); c == nil || *c.Value != "false" {
		t.Fatalf("auto.create.topics.enable = %+v", c)
	}
	if resp.Resources[1].ErrorCode != 0 || len(resp.Resources[1].Configs) != 0 {
		t.Fatalf("broker \"\" = %+v", resp.Resources[1])
	}
	if resp.Resources[2].ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("broker 7 = %+v", resp.Resources[2])
	}
}

func incAlter(rc *rawConn, validateOnly bool, topic string, cfgs ...kmsg.IncrementalAlterConfigsRequestResourceConfig) kmsg.IncrementalAlterConfigsResponseResource {
	rc.t.Helper()
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	req.Version = 1
	req.ValidateOnly = validateOnly
	rr := kmsg.NewIncrementalAlterConfigsRequestResource()
	rr.ResourceType = kmsg.ConfigResourceTypeTopic
	rr.ResourceName = topic
	rr.Configs = cfgs
	req.Resources = append(req.Resources, rr)
	return rc.roundTrip(req).(*kmsg.IncrementalAlterConfigsResponse).Resources[0]
}

func op(name string, o kmsg.IncrementalAlterConfigOp, value *string) kmsg.IncrementalAlterConfigsRequestResourceConfig {
	return kmsg.IncrementalAlterConfigsRequestResourceConfig{Name: name, Op: o, Value: value}
}

func TestIncrementalAlterConfigs(t *testing.T) {
	ts := startServer(t, Config{})
	ts.createTopic("ia", 1, map[string]string{"retention.ms": "5000"})
	rc := ts.dial()
	configs := func() map[string]string {
		tp, err := ts.store.Topic(context.Background(), "ia")
		if err != nil {
			t.Fatal(err)
		}
		return tp.Configs
	}
	s := kmsg.StringPtr
	if rs := incAlter(rc, false, "ia",
		op("cleanup.policy", kmsg.IncrementalAlterConfigOpAppend, s("compact")),
		op("retention.ms", kmsg.IncrementalAlterConfigOpDelete, nil),
		op("segment.ms", kmsg.IncrementalAlterConfigOpSet, s("1000")),
	); rs.ErrorCode != 0 {
		t.Fatalf("alter = %+v", rs)
	}
	if c := configs(); len(c) != 2 || c["cleanup.policy"] != "delete,compact" || c["segment.ms"] != "1000" {
		t.Fatalf("configs after alter = %v", c)
	}
	if rs := incAlter(rc, false, "ia", op("cleanup.policy", kmsg.IncrementalAlterConfigOpSubtract, s("delete"))); rs.ErrorCode != 0 {
		t.Fatalf("subtract = %+v", rs)
	}
	if c := configs(); c["cleanup.policy"] != "compact" {
		t.Fatalf("after subtract = %v", c)
	}
	// Failures change nothing, including the valid configs beside them.
	for _, tc := range []struct {
		name string
		cfgs []kmsg.IncrementalAlterConfigsRequestResourceConfig
		code int16
	}{
		{"invalid value", []kmsg.IncrementalAlterConfigsRequestResourceConfig{op("segment.ms", kmsg.IncrementalAlterConfigOpSet, s("5")), op("retention.ms", kmsg.IncrementalAlterConfigOpSet, s("-7"))}, kerr.InvalidConfig.Code},
		{"unknown name", []kmsg.IncrementalAlterConfigsRequestResourceConfig{op("no.such", kmsg.IncrementalAlterConfigOpSet, s("1"))}, kerr.InvalidConfig.Code},
		{"append to non-list", []kmsg.IncrementalAlterConfigsRequestResourceConfig{op("retention.ms", kmsg.IncrementalAlterConfigOpAppend, s("1"))}, kerr.InvalidConfig.Code},
		{"append invalid item", []kmsg.IncrementalAlterConfigsRequestResourceConfig{op("cleanup.policy", kmsg.IncrementalAlterConfigOpAppend, s("bogus"))}, kerr.InvalidConfig.Code},
		{"null set", []kmsg.IncrementalAlterConfigsRequestResourceConfig{op("retention.ms", kmsg.IncrementalAlterConfigOpSet, nil)}, kerr.InvalidRequest.Code},
		{"bad op", []kmsg.IncrementalAlterConfigsRequestResourceConfig{op("retention.ms", 9, s("1"))}, kerr.InvalidRequest.Code},
		{"duplicate", []kmsg.IncrementalAlterConfigsRequestResourceConfig{op("retention.ms", kmsg.IncrementalAlterConfigOpSet, s("1")), op("retention.ms", kmsg.IncrementalAlterConfigOpDelete, nil)}, kerr.InvalidRequest.Code},
	} {
		rs := incAlter(rc, false, "ia", tc.cfgs...)
		if rs.ErrorCode != tc.code || rs.ErrorMessage == nil {
			t.Fatalf("%s: %+v, want code %d with a message", tc.name, rs, tc.code)
		}
		if c := configs(); len(c) != 2 || c["segment.ms"] != "1000" {
			t.Fatalf("%s changed configs: %v", tc.name, c)
		}
	}
	if rs := incAlter(rc, true, "ia", op("segment.ms", kmsg.IncrementalAlterConfigOpSet, s("77"))); rs.ErrorCode != 0 {
		t.Fatalf("validate only = %+v", rs)
	}
	if c := configs(); c["segment.ms"] != "1000" {
		t.Fatalf("validate_only changed configs: %v", c)
	}
	if rs := incAlter(rc, false, "nope", op("segment.ms", kmsg.IncrementalAlterConfigOpSet, s("77"))); rs.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("missing topic = %+v", rs)
	}
}

func TestAlterConfigsReplaces(t *testing.T) {
	ts := startServer(t, Config{})
	ts.createTopic("ac", 1, map[string]string{"retention.ms": "5000", "segment.ms": "1000"})
	rc := ts.dial()
	req := kmsg.NewPtrAlterConfigsRequest()
	req.Version = 0
	rr := kmsg.NewAlterConfigsRequestResource()
	rr.ResourceType = kmsg.ConfigResourceTypeTopic
	rr.ResourceName = "ac"
	rr.Configs = []kmsg.AlterConfigsRequestResourceConfig{{Name: "cleanup.policy", Value: kmsg.StringPtr("compact")}}
	req.Resources = append(req.Resources, rr)
	broker := kmsg.NewAlterConfigsRequestResource()
	broker.ResourceType = kmsg.ConfigResourceTypeBroker
	broker.ResourceName = "1"
	broker.Configs = []kmsg.AlterConfigsRequestResourceConfig{{Name: "broker.id", Value: kmsg.StringPtr("5")}}
	req.Resources = append(req.Resources, broker)
	resp := rc.roundTrip(req).(*kmsg.AlterConfigsResponse)
	if resp.Resources[0].ErrorCode != 0 || resp.Resources[1].ErrorCode != kerr.InvalidConfig.Code {
		t.Fatalf("AlterConfigs = %+v", resp.Resources)
	}
	tp, _ := ts.store.Topic(context.Background(), "ac")
	if len(tp.Configs) != 1 || tp.Configs["cleanup.policy"] != "compact" {
		t.Fatalf("configs after replacement = %v", tp.Configs)
	}
	// The agent's own view (through the cache) changed at once.
	if rs := describeTopicConfigs(rc, 1, "ac", []string{"retention.ms", "cleanup.policy"}, false); *configByName(rs, "retention.ms").Value != "604800000" || configByName(rs, "cleanup.policy").Source != kmsg.ConfigSourceDynamicTopicConfig {
		t.Fatalf("describe after replace = %+v", rs.Configs)
	}
}

func TestCreatePartitionsRaw(t *testing.T) {
	ts := startServer(t, Config{})
	ts.createTopic("cp", 2, nil)
	rc := ts.dial()
	send := func(validateOnly bool, topics ...kmsg.CreatePartitionsRequestTopic) []kmsg.CreatePartitionsResponseTopic {
		req := kmsg.NewPtrCreatePartitionsRequest()
		req.Version = 3
		req.ValidateOnly = validateOnly
		req.Topics = topics
		return rc.roundTrip(req).(*kmsg.CreatePartitionsResponse).Topics
	}
	partitions := func() int32 {
		tp, _ := ts.store.Topic(context.Background(), "cp")
		return tp.Partitions
	}
	for _, c := range []struct {
		count int32
		asg   []kmsg.CreatePartitionsRequestTopicAssignment
		code  int16
	}{
		{2, nil, kerr.InvalidPartitions.Code},
		{1, nil, kerr.InvalidPartitions.Code},
		{4, []kmsg.CreatePartitionsRequestTopicAssignment{{Replicas: []int32{1}}}, kerr.InvalidReplicaAssignment.Code},
	} {
		got := send(false, kmsg.CreatePartitionsRequestTopic{Topic: "cp", Count: c.count, Assignment: c.asg})
		if got[0].ErrorCode != c.code || got[0].ErrorMessage == nil || partitions() != 2 {
			t.Fatalf("count %d: %+v, partitions now %d", c.count, got[0], partitions())
		}
	}
	if got := send(true, kmsg.CreatePartitionsRequestTopic{Topic: "cp", Count: 5}); got[0].ErrorCode != 0 || partitions() != 2 {
		t.Fatalf("validate only: %+v, partitions %d", got[0], partitions())
	}
	got := send(false,
		kmsg.CreatePartitionsRequestTopic{Topic: "cp", Count: 4, Assignment: []kmsg.CreatePartitionsRequestTopicAssignment{{Replicas: []int32{1}}, {Replicas: []int32{1}}}},
		kmsg.CreatePartitionsRequestTopic{Topic: "missing", Count: 4},
	)
	if got[0].ErrorCode != 0 || got[1].ErrorCode != kerr.UnknownTopicOrPartition.Code || partitions() != 4 {
		t.Fatalf("increase: %+v, partitions %d", got, partitions())
	}
	if got := send(false, kmsg.CreatePartitionsRequestTopic{Topic: "cp", Count: 6}, kmsg.CreatePartitionsRequestTopic{Topic: "cp", Count: 7}); got[0].ErrorCode != kerr.InvalidRequest.Code || partitions() != 4 {
		t.Fatalf("duplicate: %+v", got)
	}
}

func TestLeaderlessAdminAPIs(t *testing.T) {
	ts := startServer(t, Config{LogDir: "file:///bucket"})
	tp := ts.createTopic("ll", 2, nil)
	ctx := context.Background()
	if _, err := ts.store.CommitFile(ctx, metadata.FileCommit{Key: "x", Size: 100, Batches: []metadata.BatchCommit{
		{TopicID: tp.ID, Partition: 1, ByteOffset: 8, ByteLength: 61, Records: 3},
	}}); err != nil {
		t.Fatal(err)
	}
	rc := ts.dial()

	// OffsetForLeaderEpoch.
	ofe := kmsg.NewPtrOffsetForLeaderEpochRequest()
	ofe.Version = 4
	ofe.ReplicaID = -1
	ofeT := kmsg.NewOffsetForLeaderEpochRequestTopic()
	ofeT.Topic = "ll"
	for _, p := range []struct{ part, cur, epoch int32 }{{1, -1, 0}, {0, 0, 0}, {1, 0, 3}, {1, 0, -1}, {1, 2, 0}, {9, -1, 0}} {
		ofeT.Partitions = append(ofeT.Partitions, kmsg.OffsetForLeaderEpochRequestTopicPartition{Partition: p.part, CurrentLeaderEpoch: p.cur, LeaderEpoch: p.epoch})
	}
	ofe.Topics = append(ofe.Topics, ofeT, kmsg.OffsetForLeaderEpochRequestTopic{Topic: "nope", Partitions: []kmsg.OffsetForLeaderEpochRequestTopicPartition{{LeaderEpoch: 0}}})
	ofeResp := rc.roundTrip(ofe).(*kmsg.OffsetForLeaderEpochResponse)
	want := []struct {
		code   int16
		epoch  int32
		offset int64
	}{{0, 0, 3}, {0, 0, 0}, {0, -1, -1}, {0, -1, -1}, {kerr.UnknownLeaderEpoch.Code, -1, -1}, {kerr.UnknownTopicOrPartition.Code, -1, -1}}
	for i, w := range want {
		got := ofeResp.Topics[0].Partitions[i]
		if got.ErrorCode != w.code || got.LeaderEpoch != w.epoch || got.EndOffset != w.offset {
			t.Fatalf("OffsetForLeaderEpoch case %d = %+v, want %+v", i, got, w)
		}
	}
	if got := ofeResp.Topics[1].Partitions[0]; got.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("unknown topic = %+v", got)
	}

	// DescribeLogDirs.
	dld := kmsg.NewPtrDescribeLogDirsRequest()
	dld.Version = 4
	dldResp := rc.roundTrip(dld).(*kmsg.DescribeLogDirsResponse)
	if len(dldResp.Dirs) != 1 || dldResp.Dirs[0].Dir != "file:///bucket" || len(dldResp.Dirs[0].Topics) != 1 {
		t.Fatalf("DescribeLogDirs = %+v", dldResp)
	}
	parts := dldResp.Dirs[0].Topics[0].Partitions
	if len(parts) != 2 || parts[0].Size != 0 || parts[1].Size != 61 {
		t.Fatalf("DescribeLogDirs partitions = %+v", parts)
	}
	dld.Topics = []kmsg.DescribeLogDirsRequestTopic{{Topic: "ll", Partitions: []int32{1, 5}}, {Topic: "nope", Partitions: []int32{0}}}
	dldResp = rc.roundTrip(dld).(*kmsg.DescribeLogDirsResponse)
	if ts := dldResp.Dirs[0].Topics; len(ts) != 1 || len(ts[0].Partitions) != 1 || ts[0].Partitions[0].Partition != 1 || ts[0].Partitions[0].Size != 61 {
		t.Fatalf("DescribeLogDirs filtered = %+v", dldResp.Dirs[0].Topics)
	}

	// ElectLeaders.
	el := kmsg.NewPtrElectLeadersRequest()
	el.Version = 2
	el.Topics = []kmsg.ElectLeadersRequestTopic{{Topic: "ll", Partitions: []int32{0, 7}}, {Topic: "nope", Partitions: []int32{0}}}
	elResp := rc.roundTrip(el).(*kmsg.ElectLeadersResponse)
	if elResp.ErrorCode != 0 || elResp.Topics[0].Partitions[0].ErrorCode != kerr.ElectionNotNeeded.Code ||
		elResp.Topics[0].Partitions[1].ErrorCode != kerr.UnknownTopicOrPartition.Code || elResp.Topics[1].Partitions[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("ElectLeaders = %+v", elResp)
	}

	// ListPartitionReassignments.
	lpr := kmsg.NewPtrListPartitionReassignmentsRequest()
	lpr.Topics = []kmsg.ListPartitionReassignmentsRequestTopic{{Topic: "ll", Partitions: []int32{0}}}
	if resp := rc.roundTrip(lpr).(*kmsg.ListPartitionReassignmentsResponse); resp.ErrorCode != 0 || len(resp.Topics) != 0 {
		t.Fatalf("ListPartitionReassignments = %+v", resp)
	}

	// DescribeCluster.
	dc := kmsg.NewPtrDescribeClusterRequest()
	dc.Version = 1
	dc.EndpointType = 1
	dcResp := rc.roundTrip(dc).(*kmsg.DescribeClusterResponse)
	if dcResp.ErrorCode != 0 || dcResp.ClusterID != "test-cluster" || dcResp.ControllerID != 1 || len(dcResp.Brokers) != 1 || dcResp.Brokers[0].NodeID != 1 {
		t.Fatalf("DescribeCluster = %+v", dcResp)
	}
	dc.EndpointType = 2
	if resp := rc.roundTrip(dc).(*kmsg.DescribeClusterResponse); resp.ErrorCode != kerr.UnsupportedEndpointType.Code {
		t.Fatalf("DescribeCluster controllers = %+v", resp)
	}
}

func TestAlterList(t *testing.T) {
	for _, c := range []struct {
		cur, items string
		add        bool
		want       string
	}{
		{"delete", "compact", true, "delete,compact"},
		{"delete,compact", "compact", true, "delete,compact"},
		{"delete, compact", "delete", false, "compact"},
		{"", "a,b", true, "a,b"},
		{"a", "b", false, "a"},
	} {
		if got := alterList(c.cur, c.items, c.add); got != c.want {
			t.Errorf("alterList(%q, %q, %v) = %q, want %q", c.cur, c.items, c.add, got, c.want)
		}
	}
}
