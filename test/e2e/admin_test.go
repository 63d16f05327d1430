package e2e

// Admin and configuration APIs through franz-go's kadm (and raw kmsg
// requests where kadm has no helper), and through confluent-kafka's
// AdminClient (py/admin_confluent.py).

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// topicConfig describes one config of one topic or broker.
func describedConfig(t *testing.T, rcs kadm.ResourceConfigs, err error, key string) kadm.Config {
	t.Helper()
	if err != nil {
		t.Fatalf("describe configs: %v", err)
	}
	if len(rcs) != 1 || rcs[0].Err != nil {
		t.Fatalf("describe configs = %+v", rcs)
	}
	for _, c := range rcs[0].Configs {
		if c.Key == key {
			return c
		}
	}
	t.Fatalf("config %s not described; got %d configs", key, len(rcs[0].Configs))
	return kadm.Config{}
}

func alterErr(t *testing.T, rs kadm.AlterConfigsResponses, err error) error {
	t.Helper()
	if err != nil {
		t.Fatalf("alter configs request: %v", err)
	}
	if len(rs) != 1 {
		t.Fatalf("alter configs = %+v", rs)
	}
	return rs[0].Err
}

func TestAdminConfigsKadm(t *testing.T) {
	t.Parallel()
	a := StartAgent(t, "", "--max-message-bytes", "2000000", "--default-partitions", "3")
	ctx := testContext(t, 60*time.Second)
	adm := a.Admin()
	a.CreateTopic("cfg", 1)
	describe := func(key string) kadm.Config {
		t.Helper()
		rcs, err := adm.DescribeTopicConfigs(ctx, "cfg")
		return describedConfig(t, rcs, err, key)
	}

	// Defaults, with the broker default as synonym.
	if c := describe("retention.ms"); c.MaybeValue() != "604800000" || c.Source != kmsg.ConfigSourceDefaultConfig ||
		len(c.Synonyms) != 1 || c.Synonyms[0].Key != "log.retention.ms" {
		t.Fatalf("retention.ms = %+v", c)
	}
	if c := describe("max.message.bytes"); c.MaybeValue() != "2000000" || c.Source != kmsg.ConfigSourceStaticBrokerConfig ||
		len(c.Synonyms) != 2 || c.Synonyms[0].Key != "message.max.bytes" || c.Synonyms[0].Value == nil || *c.Synonyms[0].Value != "2000000" {
		t.Fatalf("max.message.bytes = %+v", c)
	}

	// Incremental alteration: set and append.
	set := func(name, value string) kadm.AlterConfig {
		return kadm.AlterConfig{Op: kadm.SetConfig, Name: name, Value: kmsg.StringPtr(value)}
	}
	rs, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{set("retention.ms", "1234"), {Op: kadm.AppendConfig, Name: "cleanup.policy", Value: kmsg.StringPtr("compact")}}, "cfg")
	if err := alterErr(t, rs, err); err != nil {
		t.Fatalf("alter: %v", err)
	}
	if c := describe("retention.ms"); c.MaybeValue() != "1234" || c.Source != kmsg.ConfigSourceDynamicTopicConfig || len(c.Synonyms) != 2 {
		t.Fatalf("retention.ms after alter = %+v", c)
	}
	if c := describe("cleanup.policy"); c.MaybeValue() != "delete,compact" || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
		t.Fatalf("cleanup.policy after append = %+v", c)
	}

	// Error paths change nothing.
	rs, err = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{set("segment.ms", "99"), set("retention.ms", "abc")}, "cfg")
	if err := alterErr(t, rs, err); !errors.Is(err, kerr.InvalidConfig) || !strings.Contains(rs[0].ErrMessage, "retention.ms") {
		t.Fatalf("invalid value: %v (%q), want INVALID_CONFIG naming the config", err, rs[0].ErrMessage)
	}
	rs, err = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{set("retention.ms", "1")}, "no-such-topic")
	if err := alterErr(t, rs, err); !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("missing topic: %v", err)
	}
	rs, err = adm.ValidateAlterTopicConfigs(ctx, []kadm.AlterConfig{set("segment.ms", "99")}, "cfg")
	if err := alterErr(t, rs, err); err != nil {
		t.Fatalf("validate only: %v", err)
	}
	if c := describe("segment.ms"); c.MaybeValue() != "604800000" || c.Source != kmsg.ConfigSourceDefaultConfig {
		t.Fatalf("segment.ms after failed and validate-only alterations = %+v", c)
	}
	if c := describe("retention.ms"); c.MaybeValue() != "1234" {
		t.Fatalf("retention.ms after failed alterations = %+v", c)
	}

	// Legacy AlterConfigs replaces the whole set.
	rs, err = adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{set("segment.ms", "99")}, "cfg")
	if err := alterErr(t, rs, err); err != nil {
		t.Fatalf("alter state: %v", err)
	}
	if c := describe("retention.ms"); c.MaybeValue() != "604800000" || c.Source != kmsg.ConfigSourceDefaultConfig {
		t.Fatalf("retention.ms after replacement = %+v", c)
	}

	// Broker configs: flags are the static layer; read-only ones are not
	// alterable (dynamic ones: broker_configs_test.go).
	brs, err := adm.DescribeBrokerConfigs(ctx, 1)
	if c := describedConfig(t, brs, err, "num.partitions"); c.MaybeValue() != "3" || c.Source != kmsg.ConfigSourceStaticBrokerConfig {
		t.Fatalf("num.partitions = %+v", c)
	}
	if c := describedConfig(t, brs, err, "message.max.bytes"); c.MaybeValue() != "2000000" {
		t.Fatalf("message.max.bytes = %+v", c)
	}
	rs, err = adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{set("broker.id", "5")}, 1)
	if err := alterErr(t, rs, err); !errors.Is(err, kerr.InvalidConfig) {
		t.Fatalf("alter read-only broker config: %v, want INVALID_CONFIG", err)
	}

	// Configs survive a restart, and are honoured: max.message.bytes.
	rs, err = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{set("max.message.bytes", "2000")}, "cfg")
	if err := alterErr(t, rs, err); err != nil {
		t.Fatal(err)
	}
	a.Restart()
	adm = a.Admin()
	if c := describe("segment.ms"); c.MaybeValue() != "99" || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
		t.Fatalf("segment.ms after restart = %+v", c)
	}
	cl := a.Client(kgo.MaxBufferedRecords(1), kgo.ProducerBatchMaxBytes(1<<20), kgo.RecordRetries(1))
	big := make([]byte, 5000)
	rand.Read(big) // incompressible
	err = cl.ProduceSync(ctx, &kgo.Record{Topic: "cfg", Value: big}).FirstErr()
	if !errors.Is(err, kerr.MessageTooLarge) {
		t.Fatalf("5000-byte record to a topic with max.message.bytes=2000: %v, want MESSAGE_TOO_LARGE", err)
	}
}

func TestAdminCreatePartitionsKadm(t *testing.T) {
	t.Parallel()
	a := StartAgent(t, "")
	ctx := testContext(t, 60*time.Second)
	adm := a.Admin()
	a.CreateTopic("grow", 2)
	count := func() int {
		t.Helper()
		td, err := adm.ListTopics(ctx, "grow")
		if err != nil || td["grow"].Err != nil {
			t.Fatalf("list topics: %v %v", err, td["grow"].Err)
		}
		return len(td["grow"].Partitions)
	}
	for _, n := range []int{1, 2} {
		rs, err := adm.UpdatePartitions(ctx, n, "grow")
		if err != nil || !errors.Is(rs["grow"].Err, kerr.InvalidPartitions) || rs["grow"].ErrMessage == "" {
			t.Fatalf("set %d partitions on 2: %+v, %v; want INVALID_PARTITIONS with a message", n, rs, err)
		}
	}
	if rs, err := adm.ValidateCreatePartitions(ctx, 2, "grow"); err != nil || rs["grow"].Err != nil {
		t.Fatalf("validate only: %+v, %v", rs, err)
	}
	if n := count(); n != 2 {
		t.Fatalf("%d partitions after failed and validate-only requests, want 2", n)
	}
	if rs, err := adm.UpdatePartitions(ctx, 3, "no-such-topic"); err != nil || !errors.Is(rs["no-such-topic"].Err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("missing topic: %+v, %v", rs, err)
	}
	if rs, err := adm.CreatePartitions(ctx, 2, "grow"); err != nil || rs["grow"].Err != nil {
		t.Fatalf("add 2: %+v, %v", rs, err)
	}
	if n := count(); n != 4 {
		t.Fatalf("%d partitions after adding 2, want 4", n)
	}
	// Every partition, old and new, takes records and serves them.
	cl := a.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for p := int32(0); p < 4; p++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "grow", Partition: p, Value: []byte{byte('a' + p)}}).FirstErr(); err != nil {
			t.Fatalf("produce to partition %d: %v", p, err)
		}
	}
	got := a.ConsumeAll(ctx, "grow")
	for p := int32(0); p < 4; p++ {
		if len(got[p]) != 1 || string(got[p][0].Value) != string([]byte{byte('a' + p)}) {
			t.Fatalf("partition %d holds %v", p, got[p])
		}
	}
}

func TestAdminClusterKadm(t *testing.T) {
	t.Parallel()
	a := StartAgent(t, "")
	ctx := testContext(t, 60*time.Second)
	adm := a.Admin()
	a.CreateTopic("lead", 2)
	cl := a.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for i := 0; i < 5; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "lead", Partition: 1, Value: []byte("0123456789")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	describeCluster := func() *kmsg.DescribeClusterResponse {
		t.Helper()
		req := kmsg.NewPtrDescribeClusterRequest()
		resp, err := req.RequestWith(ctx, a.Client())
		if err != nil || resp.ErrorCode != 0 {
			t.Fatalf("DescribeCluster: %+v, %v", resp, err)
		}
		return resp
	}
	dc := describeCluster()
	md, err := adm.BrokerMetadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if dc.ClusterID == "" || dc.ClusterID != md.Cluster || dc.ControllerID != 1 || len(dc.Brokers) != 1 || dc.Brokers[0].NodeID != 1 {
		t.Fatalf("DescribeCluster = %+v; metadata cluster %q", dc, md.Cluster)
	}

	var req kadm.OffsetForLeaderEpochRequest
	req.Add("lead", 0, 0)
	req.Add("lead", 1, 0)
	oe, err := adm.OffsetForLeaderEpoch(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if o := oe["lead"][1]; o.Err != nil || o.LeaderEpoch != 0 || o.EndOffset != 5 {
		t.Fatalf("OffsetForLeaderEpoch(p1, epoch 0) = %+v, want end offset 5", o)
	}
	if o := oe["lead"][0]; o.Err != nil || o.EndOffset != 0 {
		t.Fatalf("OffsetForLeaderEpoch(p0, epoch 0) = %+v, want end offset 0", o)
	}
	req = nil
	req.Add("lead", 1, 7)
	oe, err = adm.OffsetForLeaderEpoch(ctx, req)
	if o := oe["lead"][1]; err != nil || o.Err != nil || o.LeaderEpoch != -1 || o.EndOffset != -1 {
		t.Fatalf("OffsetForLeaderEpoch(epoch 7) = %+v, %v; want -1/-1", o, err)
	}

	dirs, err := adm.DescribeAllLogDirs(ctx, nil)
	if err != nil || len(dirs) != 1 || dirs[1].Error() != nil {
		t.Fatalf("DescribeAllLogDirs: %+v, %v", dirs, err)
	}
	var sizes = map[int32]int64{}
	var dirNames []string
	dirs.Each(func(d kadm.DescribedLogDir) {
		dirNames = append(dirNames, d.Dir)
		for p, dp := range d.Topics["lead"] {
			sizes[p] = dp.Size
		}
	})
	// Five batches of one 10-byte record: each batch is 61 + 10 + 8 bytes.
	if len(dirNames) != 1 || !strings.HasPrefix(dirNames[0], "file://") || sizes[0] != 0 || sizes[1] < 5*70 || len(sizes) != 2 {
		t.Fatalf("log dirs %v, sizes %v", dirNames, sizes)
	}

	set := kadm.TopicsSet{}
	set.Add("lead", 0, 1)
	set.Add("no-such-topic", 0)
	el, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, set)
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(el["lead"][0].Err, kerr.ElectionNotNeeded) || !errors.Is(el["lead"][1].Err, kerr.ElectionNotNeeded) || !errors.Is(el["no-such-topic"][0].Err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("ElectLeaders = %+v", el)
	}
	ra, err := adm.ListPartitionReassignments(ctx, nil)
	if err != nil || len(ra) != 0 {
		t.Fatalf("ListPartitionReassignments = %+v, %v", ra, err)
	}

	a.Restart()
	if again := describeCluster(); again.ClusterID != dc.ClusterID {
		t.Fatalf("cluster ID changed across restart: %q → %q", dc.ClusterID, again.ClusterID)
	}
}

// TestAdminConfluent drives confluent-kafka's AdminClient (librdkafka):
// describe and alter configs, create partitions, with their error paths.
func TestAdminConfluent(t *testing.T) {
	t.Parallel()
	cliRequirePython(t, "import confluent_kafka")
	a := StartAgent(t, "")
	ctx := testContext(t, 60*time.Second)
	a.CreateTopic("pycfg", 2)
	out, err := cliRun(ctx, nil, cliPython, "py/admin_confluent.py", a.KafkaAddr, "pycfg")
	if err != nil {
		t.Fatal(err)
	}
	var res map[string]any
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("script output %q: %v", out, err)
	}
	want := map[string]any{
		"default_retention":          "604800000",
		"default_retention_source":   "DEFAULT_CONFIG",
		"default_retention_isdef":    true,
		"altered_retention":          "1234",
		"altered_retention_source":   "DYNAMIC_TOPIC_CONFIG",
		"replaced_segment_ms":        "604800000", // AlterConfigs replaced the whole set
		"alter1_error":               nil,
		"alter2_error":               nil,
		"invalid_value_error":        float64(kerr.InvalidConfig.Code),
		"missing_topic_error":        float64(kerr.UnknownTopicOrPartition.Code),
		"validate_only_error":        nil,
		"validate_only_retention":    "1234",
		"broker_auto_create":         "true",
		"broker_auto_create_ro":      false, // dynamic in Sluice (read-only in Kafka)
		"decrease_error":             float64(kerr.InvalidPartitions.Code),
		"validate_only_create_error": nil,
		"validate_only_partitions":   float64(2),
		"increase_error":             nil,
		"increased_partitions":       float64(5),
	}
	for k, v := range want {
		if res[k] != v {
			t.Errorf("%s = %v, want %v (all: %v)", k, res[k], v, res)
		}
	}
	// What the script saw must be what the agent stored.
	rcs, err := a.Admin().DescribeTopicConfigs(ctx, "pycfg")
	if c := describedConfig(t, rcs, err, "retention.ms"); c.MaybeValue() != "1234" || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
		t.Fatalf("retention.ms as franz-go sees it = %+v", c)
	}
	td, err := a.Admin().ListTopics(ctx, "pycfg")
	if err != nil || len(td["pycfg"].Partitions) != 5 {
		t.Fatalf("partitions after the script = %d, %v", len(td["pycfg"].Partitions), err)
	}
}

// TestAdminCluster checks the admin APIs across two `sluice agent`s sharing
// PostgreSQL and S3: a config altered through one agent is seen by the
// other (after its topic cache TTL), partitions added through one are
// produceable through both, and both agents describe the same cluster.
func TestAdminCluster(t *testing.T) {
	t.Parallel()
	c := StartCluster(t, clusterOpts{zones: []string{"", ""}, extra: []string{"--batch-timeout", "20ms"}})
	ctx := testContext(t, 90*time.Second)
	a0, a1 := c.Agents[0], c.Agents[1]
	a0.CreateTopic("shared", 2)

	rs, err := a0.Admin().AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: kmsg.StringPtr("4321")}}, "shared")
	if err := alterErr(t, rs, err); err != nil {
		t.Fatal(err)
	}
	// Ask agent 1 itself (node 2), not whichever broker kadm picks.
	cl1 := a1.Client()
	deadline := time.Now().Add(15 * time.Second)
	for {
		req := kmsg.NewPtrDescribeConfigsRequest()
		req.Resources = []kmsg.DescribeConfigsRequestResource{{ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: "shared", ConfigNames: []string{"retention.ms"}}}
		resp, err := req.RequestWith(ctx, cl1.Broker(2))
		if err != nil {
			t.Fatal(err)
		}
		r := resp.Resources[0]
		if r.ErrorCode == 0 && len(r.Configs) == 1 && *r.Configs[0].Value == "4321" && r.Configs[0].Source == kmsg.ConfigSourceDynamicTopicConfig {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent 2 still describes %+v", r)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Both agents: same cluster ID, both brokers, controller node 1 (each
	// agent sees the other once its registry refreshes).
	var ids []string
	for _, node := range []int32{1, 2} {
		deadline := time.Now().Add(15 * time.Second)
		for {
			resp, err := kmsg.NewPtrDescribeClusterRequest().RequestWith(ctx, cl1.Broker(int(node)))
			if err == nil && resp.ErrorCode == 0 && len(resp.Brokers) == 2 && resp.ControllerID == 1 {
				ids = append(ids, resp.ClusterID)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("DescribeCluster on node %d = %+v, %v", node, resp, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	if ids[0] == "" || ids[0] != ids[1] {
		t.Fatalf("cluster IDs %q", ids)
	}

	// Partitions added through agent 2 take records through both agents.
	if rs, err := a1.Admin().UpdatePartitions(ctx, 4, "shared"); err != nil || rs["shared"].Err != nil {
		t.Fatalf("UpdatePartitions(4) via agent 2: %+v, %v", rs, err)
	}
	if rs, err := a0.Admin().UpdatePartitions(ctx, 3, "shared"); err != nil || !errors.Is(rs["shared"].Err, kerr.InvalidPartitions) {
		t.Fatalf("UpdatePartitions(3) via agent 1 after 4: %+v, %v", rs, err)
	}
	// Each agent's topic cache may be up to its TTL (1s) stale: wait until
	// both report the new count before producing through them.
	for node := 1; node <= 2; node++ {
		deadline := time.Now().Add(15 * time.Second)
		for {
			req := kmsg.NewPtrMetadataRequest()
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr("shared")
			req.Topics = append(req.Topics, rt)
			resp, err := req.RequestWith(ctx, cl1.Broker(node))
			if err == nil && len(resp.Topics) == 1 && len(resp.Topics[0].Partitions) == 4 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node %d never reported 4 partitions: %v", node, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	for i, a := range []*ClusterAgent{a0, a1} {
		cl := a.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.MetadataMinAge(50*time.Millisecond))
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "shared", Partition: int32(2 + i), Value: []byte("new")}).FirstErr(); err != nil {
			t.Fatalf("produce to partition %d via agent %d: %v", 2+i, i+1, err)
		}
	}
	got := a0.ConsumeAll(ctx, "shared")
	if len(got[2]) != 1 || len(got[3]) != 1 {
		t.Fatalf("new partitions hold %v and %v", got[2], got[3])
	}
	dirs, err := a0.Admin().DescribeAllLogDirs(ctx, nil)
	if err != nil || len(dirs) != 2 {
		t.Fatalf("DescribeAllLogDirs = %+v, %v", dirs, err)
	}
	for node, d := range dirs {
		if p, ok := d.LookupPartition("shared", 3); !ok || p.Size <= 0 {
			t.Fatalf("node %d: partition 3 = %+v, %v", node, p, ok)
		}
	}
}
