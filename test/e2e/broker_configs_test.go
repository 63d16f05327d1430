package e2e

import (
	"crypto/rand"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestDynamicBrokerConfigsCluster alters a cluster-wide default broker
// config through agent 1 with kadm and checks that agent 2 describes it
// with the DYNAMIC_DEFAULT_BROKER_CONFIG source and applies it: a record
// over the new message.max.bytes is refused on every partition, wherever
// its leader is. Then agent 2's own resource overrides the default on
// agent 2 only.
func TestDynamicBrokerConfigsCluster(t *testing.T) {
	t.Parallel()
	c := StartCluster(t, clusterOpts{zones: []string{"", ""}, extra: []string{"--batch-timeout", "20ms"}})
	ctx := testContext(t, 90*time.Second)
	a0, a1 := c.Agents[0], c.Agents[1]
	a0.CreateTopic("dyn", 2)

	big := make([]byte, 20000)
	rand.Read(big) // incompressible
	cl := c.Client(kgo.DefaultProduceTopic("dyn"), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RecordRetries(0))
	for p := int32(0); p < 2; p++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Partition: p, Value: big}).FirstErr(); err != nil {
			t.Fatalf("20 KB record before the change (partition %d): %v", p, err)
		}
	}

	rs, err := a0.Admin().AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "message.max.bytes", Value: kmsg.StringPtr("10000")}})
	if err := alterErr(t, rs, err); err != nil {
		t.Fatal(err)
	}

	// Agent 2 (node 2), asked itself, follows within its poll interval.
	describe := func(node int32) kmsg.DescribeConfigsResponseResourceConfig {
		t.Helper()
		req := kmsg.NewPtrDescribeConfigsRequest()
		req.IncludeSynonyms = true
		req.Resources = []kmsg.DescribeConfigsRequestResource{{ResourceType: kmsg.ConfigResourceTypeBroker, ResourceName: strconv.Itoa(int(node)), ConfigNames: []string{"message.max.bytes"}}}
		resp, err := req.RequestWith(ctx, a1.Client().Broker(int(node)))
		if err != nil || len(resp.Resources) != 1 || resp.Resources[0].ErrorCode != 0 || len(resp.Resources[0].Configs) != 1 {
			t.Fatalf("describe broker %d: %+v, %v", node, resp, err)
		}
		return resp.Resources[0].Configs[0]
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		cfg := describe(2)
		if cfg.Source == kmsg.ConfigSourceDynamicDefaultBrokerConfig && cfg.Value != nil && *cfg.Value == "10000" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent 2 never showed the dynamic default: %+v", cfg)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Both agents apply it (each partition's nominal leader is a
	// different agent, and each answers with its own view).
	for p := int32(0); p < 2; p++ {
		deadline := time.Now().Add(15 * time.Second)
		for {
			err := cl.ProduceSync(ctx, &kgo.Record{Partition: p, Value: big}).FirstErr()
			if errors.Is(err, kerr.MessageTooLarge) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("20 KB record under message.max.bytes=10000 (partition %d): %v", p, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	// Agent 2's own resource overrides the default on agent 2 only.
	rs, err = a1.Admin().AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "message.max.bytes", Value: kmsg.StringPtr("50000")}}, 2)
	if err := alterErr(t, rs, err); err != nil {
		t.Fatal(err)
	}
	if cfg := describe(2); cfg.Source != kmsg.ConfigSourceDynamicBrokerConfig || *cfg.Value != "50000" || len(cfg.ConfigSynonyms) < 2 ||
		cfg.ConfigSynonyms[1].Source != kmsg.ConfigSourceDynamicDefaultBrokerConfig {
		t.Fatalf("agent 2 after its own override: %+v", cfg)
	}
	if cfg := describe(1); cfg.Source != kmsg.ConfigSourceDynamicDefaultBrokerConfig || *cfg.Value != "10000" {
		t.Fatalf("agent 1 after agent 2's override: %+v", cfg)
	}
	// A read-only config is refused as Kafka refuses it.
	rs, err = a0.Admin().AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "broker.id", Value: kmsg.StringPtr("9")}})
	if err := alterErr(t, rs, err); !errors.Is(err, kerr.InvalidConfig) {
		t.Fatalf("read-only broker.id: %v, want INVALID_CONFIG", err)
	}
}
