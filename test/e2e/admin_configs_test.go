package e2e

// Topic configs that have no meaning in Sluice (replica placement,
// min.insync.replicas, segment files, flushing, tiering) set the way
// Terraform providers and Kafka UI consoles set them, and the admin error
// paths, through franz-go's kadm, confluent-kafka's AdminClient
// (py/admin_configs_confluent.py) and kafka-python's KafkaAdminClient
// (py/admin_kafka_python.py).

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// noEffectConfigs are configs a tool may set that Sluice accepts and
// reports but does not act on.
var noEffectConfigs = map[string]string{
	"min.insync.replicas":                   "2",
	"unclean.leader.election.enable":        "true",
	"segment.bytes":                         "104857600",
	"segment.ms":                            "3600000",
	"segment.jitter.ms":                     "10",
	"segment.index.bytes":                   "1048576",
	"flush.messages":                        "1000",
	"flush.ms":                              "1000",
	"index.interval.bytes":                  "8192",
	"preallocate":                           "true",
	"file.delete.delay.ms":                  "1000",
	"leader.replication.throttled.replicas": "*",
	"remote.storage.enable":                 "true",
	"local.retention.bytes":                 "1000000",
	"message.downconversion.enable":         "false",
}

// TestAdminNoEffectConfigsKadm: kadm creates a topic with every config
// that has no meaning here, DescribeConfigs reports each back as a
// DYNAMIC_TOPIC_CONFIG with documentation saying so, the topic works, and
// invalid values of those configs get INVALID_CONFIG without changing
// anything.
func TestAdminNoEffectConfigsKadm(t *testing.T) {
	t.Parallel()
	a := StartAgent(t, "")
	ctx := testContext(t, 60*time.Second)
	adm := a.Admin()
	configs := map[string]*string{}
	for k, v := range noEffectConfigs {
		configs[k] = kmsg.StringPtr(v)
	}
	res, err := adm.CreateTopic(ctx, 2, 3, configs, "tf")
	if err != nil || res.Err != nil {
		t.Fatalf("create with no-effect configs: %v %v", err, res.Err)
	}

	// Raw DescribeConfigs v4 for the documentation field kadm leaves out.
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.Version = 4
	req.IncludeDocumentation = true
	rr := kmsg.NewDescribeConfigsRequestResource()
	rr.ResourceType = kmsg.ConfigResourceTypeTopic
	rr.ResourceName = "tf"
	req.Resources = append(req.Resources, rr)
	resp, err := req.RequestWith(ctx, a.Client())
	if err != nil || len(resp.Resources) != 1 || resp.Resources[0].ErrorCode != 0 {
		t.Fatalf("describe: %+v, %v", resp, err)
	}
	seen := 0
	for _, c := range resp.Resources[0].Configs {
		want, ok := noEffectConfigs[c.Name]
		if !ok {
			continue
		}
		seen++
		if c.Value == nil || *c.Value != want || c.Source != kmsg.ConfigSourceDynamicTopicConfig || c.ReadOnly ||
			c.Documentation == nil || !strings.Contains(*c.Documentation, "accepted, no effect here") {
			t.Errorf("%s = %v (source %v, read-only %v, doc %v), want %s, dynamic, documented as without effect", c.Name, deref(c.Value), c.Source, c.ReadOnly, deref(c.Documentation), want)
		}
	}
	if seen != len(noEffectConfigs) {
		t.Fatalf("described %d of %d configs", seen, len(noEffectConfigs))
	}

	set := func(name, value string) kadm.AlterConfig {
		return kadm.AlterConfig{Op: kadm.SetConfig, Name: name, Value: kmsg.StringPtr(value)}
	}
	for _, bad := range []kadm.AlterConfig{
		set("min.insync.replicas", "0"),
		set("segment.bytes", "10"), // below Kafka 3.x's minimum of 14
		set("unclean.leader.election.enable", "maybe"),
		set("leader.replication.throttled.replicas", "0-1"),
		set("compression.lz4.level", "18"),
		set("message.timestamp.type", "Sometime"),
		set("no.such.config", "1"),
	} {
		rs, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{set("preallocate", "false"), bad}, "tf")
		if err := alterErr(t, rs, err); !errors.Is(err, kerr.InvalidConfig) || !strings.Contains(rs[0].ErrMessage, bad.Name) {
			t.Fatalf("%s=%s: %v (%q), want INVALID_CONFIG naming it", bad.Name, *bad.Value, err, rs[0].ErrMessage)
		}
	}
	rs, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{set("min.compaction.lag.ms", "100"), set("max.compaction.lag.ms", "10")}, "tf")
	if err := alterErr(t, rs, err); !errors.Is(err, kerr.InvalidConfig) {
		t.Fatalf("min.compaction.lag.ms above max.compaction.lag.ms: %v", err)
	}
	rs, err = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{set("min.insync.replicas", "3")}, "no-such-topic")
	if err := alterErr(t, rs, err); !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("missing topic: %v", err)
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, "tf")
	if c := describedConfig(t, rcs, err, "preallocate"); c.MaybeValue() != "true" {
		t.Fatalf("preallocate after refused alterations = %+v", c)
	}

	// The topic works as any other (min.insync.replicas=2 does not refuse acks=all).
	cl := a.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for p := int32(0); p < 2; p++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "tf", Partition: p, Value: []byte(fmt.Sprint(p))}).FirstErr(); err != nil {
			t.Fatalf("produce to partition %d: %v", p, err)
		}
	}
	got := a.ConsumeAll(ctx, "tf")
	if len(got[0]) != 1 || len(got[1]) != 1 {
		t.Fatalf("read back %v", got)
	}
}

// TestAdminNoEffectConfigsConfluent: confluent-kafka's AdminClient creates
// a topic with Terraform-style configs, alters and describes them, and gets
// INVALID_CONFIG for invalid values and UNKNOWN_TOPIC_OR_PARTITION for a
// missing topic, with nothing changed by the refused requests.
func TestAdminNoEffectConfigsConfluent(t *testing.T) {
	t.Parallel()
	cliRequirePython(t, "import confluent_kafka")
	a := StartAgent(t, "")
	ctx := testContext(t, 60*time.Second)
	out, err := cliRun(ctx, nil, cliPython, "py/admin_configs_confluent.py", a.KafkaAddr)
	if err != nil {
		t.Fatal(err)
	}
	var res map[string]any
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("script output %q: %v", out, err)
	}
	invalid := float64(kerr.InvalidConfig.Code)
	want := map[string]any{
		"create_error":             nil,
		"alter_error":              nil,
		"altered_min_isr":          "3",
		"altered_index_interval":   "1024",
		"invalid_min_isr_error":    invalid,
		"invalid_throttled_error":  invalid,
		"invalid_zstd_level_error": invalid,
		"lag_conflict_error":       invalid,
		"missing_topic_error":      float64(kerr.UnknownTopicOrPartition.Code),
		"invalid_create_error":     invalid,
		"after_errors_min_isr":     "3",
	}
	for k, v := range want {
		if res[k] != v {
			t.Errorf("%s = %v, want %v (all: %v)", k, res[k], v, res)
		}
	}
	echo, _ := res["created_echo"].(map[string]any)
	if len(echo) != 12 {
		t.Fatalf("created_echo = %v", res["created_echo"])
	}
	for k, v := range echo {
		if v == nil || v == "" {
			t.Errorf("%s not reported after create: %v", k, v)
		}
	}
	if fmt.Sprint(res["created_sources"]) != "[DYNAMIC_TOPIC_CONFIG]" {
		t.Errorf("created_sources = %v", res["created_sources"])
	}
	td, err := a.Admin().ListTopics(ctx, "tf-bad")
	if err != nil || td["tf-bad"].Err == nil {
		t.Fatalf("tf-bad was created despite an invalid config: %+v, %v", td["tf-bad"], err)
	}
}

// TestAdminKafkaPython drives kafka-python's KafkaAdminClient:
// describe_configs, alter_configs (configs without meaning here, invalid
// values, a missing topic) and create_partitions (decrease, same count,
// missing topic, validate_only, increase).
func TestAdminKafkaPython(t *testing.T) {
	t.Parallel()
	cliRequirePython(t, "import kafka")
	a := StartAgent(t, "")
	ctx := testContext(t, 60*time.Second)
	a.CreateTopic("kp", 2)
	out, err := cliRun(ctx, nil, cliPython, "py/admin_kafka_python.py", a.KafkaAddr, "kp")
	if err != nil {
		t.Fatal(err)
	}
	var res map[string]any
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("script output %q: %v", out, err)
	}
	invalid := float64(kerr.InvalidConfig.Code)
	missing := float64(kerr.UnknownTopicOrPartition.Code)
	want := map[string]any{
		"describe_error":                 float64(0),
		"default_retention":              "604800000",
		"default_min_isr":                "1",
		"no_effect_error":                float64(0),
		"invalid_min_isr_error":          invalid,
		"invalid_segment_bytes_error":    invalid,
		"invalid_timestamp_type_error":   invalid,
		"unknown_config_error":           invalid,
		"missing_topic_alter_error":      missing,
		"missing_topic_describe_error":   missing,
		"after_errors_min_isr":           "2",
		"decrease_error":                 float64(kerr.InvalidPartitions.Code),
		"same_count_error":               float64(kerr.InvalidPartitions.Code),
		"missing_topic_partitions_error": missing,
		"validate_only_error":            float64(0),
		"increase_error":                 float64(0),
	}
	for k, v := range want {
		if res[k] != v {
			t.Errorf("%s = %v, want %v (all: %v)", k, res[k], v, res)
		}
	}
	echo, _ := res["no_effect_echo"].(map[string]any)
	for k, v := range map[string]string{"min.insync.replicas": "2", "segment.bytes": "104857600", "leader.replication.throttled.replicas": "*", "retention.ms": "1234"} {
		if echo[k] != v {
			t.Errorf("%s = %v after alter_configs, want %s", k, echo[k], v)
		}
	}
	// What the script did is what franz-go sees.
	td, err := a.Admin().ListTopics(ctx, "kp")
	if err != nil || len(td["kp"].Partitions) != 3 {
		t.Fatalf("partitions after the script: %d, %v", len(td["kp"].Partitions), err)
	}
	rcs, err := a.Admin().DescribeTopicConfigs(ctx, "kp")
	if c := describedConfig(t, rcs, err, "min.insync.replicas"); c.MaybeValue() != "2" || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
		t.Fatalf("min.insync.replicas as franz-go sees it = %+v", c)
	}
}
