package dynconfig

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/topics"
)

func TestResolveLayers(t *testing.T) {
	ctx := context.Background()
	store := NewMemStore()
	m := New(Config{NodeID: 2}, store)
	if err := m.Load(ctx); err != nil {
		t.Fatal(err)
	}
	static := map[string]string{"message.max.bytes": "2000000"}
	if vs := m.Snapshot().Resolve("2", "message.max.bytes", static); len(vs) != 2 || vs[0].Source != kmsg.ConfigSourceStaticBrokerConfig || vs[1].Source != kmsg.ConfigSourceDefaultConfig {
		t.Fatalf("no dynamic layer: %+v", vs)
	}
	set := func(resource, name, value string) {
		t.Helper()
		if _, err := m.AlterBroker(ctx, resource, false, func(cur map[string]string) (map[string]string, error) {
			cur[name] = value
			return cur, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	set("", "message.max.bytes", "500")
	set("2", "message.max.bytes", "700")
	vs := m.Snapshot().Resolve("2", "message.max.bytes", static)
	want := []Value{{"700", kmsg.ConfigSourceDynamicBrokerConfig}, {"500", kmsg.ConfigSourceDynamicDefaultBrokerConfig},
		{"2000000", kmsg.ConfigSourceStaticBrokerConfig}, {"1048588", kmsg.ConfigSourceDefaultConfig}}
	if len(vs) != len(want) {
		t.Fatalf("layers %+v, want %+v", vs, want)
	}
	for i := range want {
		if vs[i] != want[i] {
			t.Fatalf("layers %+v, want %+v", vs, want)
		}
	}
	// Another agent sees only the cluster default.
	if vs := m.Snapshot().Resolve("3", "message.max.bytes", static); vs[0] != (Value{"500", kmsg.ConfigSourceDynamicDefaultBrokerConfig}) {
		t.Fatalf("agent 3 = %+v", vs)
	}
	set("", "log.retention.ms", "1000")
	if d := m.TopicDefaults(); d["retention.ms"] != "1000" || d["max.message.bytes"] != "700" || len(d) != 2 {
		t.Fatalf("TopicDefaults = %v", d)
	}
	// A second manager on the same store follows through Run's poll.
	other := New(Config{NodeID: 3, RefreshInterval: time.Millisecond}, store)
	if err := other.Load(ctx); err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); other.Run(runCtx) }()
	set("", "num.partitions", "4")
	for other.Snapshot().Broker("")["num.partitions"] != "4" {
		select {
		case <-time.After(5 * time.Second):
			t.Fatal("the other manager never saw the change")
		case <-time.After(time.Millisecond):
		}
	}
	cancel()
	<-done
}

func TestValidateBroker(t *testing.T) {
	for _, tt := range []struct {
		name, value string
		ok          bool
	}{
		{"message.max.bytes", "100", true},
		{"message.max.bytes", "-5", false},
		{"log.retention.ms", "-1", true},
		{"log.retention.ms", "x", false},
		{"log.cleanup.policy", "compact,delete", true},
		{"log.cleanup.policy", "shred", false},
		{"auto.create.topics.enable", "false", true},
		{"auto.create.topics.enable", "maybe", false},
		{"num.partitions", "0", false},
		{"broker.id", "3", false},
		{"no.such.config", "1", false},
	} {
		err := ValidateBroker(tt.name, tt.value)
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, topics.ErrInvalidConfig)) {
			t.Errorf("ValidateBroker(%s, %s) = %v, want ok=%v", tt.name, tt.value, err, tt.ok)
		}
	}
	// validate_only changes nothing.
	m := New(Config{NodeID: 1}, nil)
	if _, err := m.AlterBroker(context.Background(), "", true, func(map[string]string) (map[string]string, error) {
		return map[string]string{"num.partitions": "3"}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := m.Load(context.Background()); err != nil || len(m.Snapshot().Broker("")) != 0 {
		t.Fatalf("validate-only stored %v (%v)", m.Snapshot().Broker(""), err)
	}
}

// TestQuotaPrecedence is KIP-257's table: the most specific entity with the
// key wins, and the bucket is per user/client under defaults.
func TestQuotaPrecedence(t *testing.T) {
	ctx := context.Background()
	m := New(Config{}, nil)
	n := func(s string) Part { return Part{Kind: Named, Name: s} }
	d, a := Part{Kind: Default}, Part{}
	set := func(e Entity, v float64) {
		t.Helper()
		if err := m.AlterQuotas(ctx, e, []QuotaOp{{Key: ProducerByteRate, Value: v}}, false); err != nil {
			t.Fatal(err)
		}
	}
	check := func(user, client string, want float64, wantBucket Entity) {
		t.Helper()
		got, bucket, ok := m.Snapshot().QuotaFor(user, client, ProducerByteRate)
		if !ok || got != want || bucket != wantBucket {
			t.Fatalf("QuotaFor(%s, %s) = %v %+v %v, want %v %+v", user, client, got, bucket, ok, want, wantBucket)
		}
	}
	if _, _, ok := m.Snapshot().QuotaFor("u", "c", ProducerByteRate); ok {
		t.Fatal("a quota applies before any is set")
	}
	set(Entity{a, d}, 8)
	check("u", "c", 8, Entity{a, n("c")})
	set(Entity{a, n("c")}, 7)
	check("u", "c", 7, Entity{a, n("c")})
	set(Entity{d, a}, 6)
	check("u", "c", 6, Entity{n("u"), a})
	set(Entity{d, d}, 5)
	check("u", "c", 5, Entity{n("u"), n("c")})
	set(Entity{d, n("c")}, 4)
	check("u", "c", 4, Entity{n("u"), n("c")})
	set(Entity{n("u"), a}, 3)
	check("u", "c", 3, Entity{n("u"), a})
	check("v", "c", 4, Entity{n("v"), n("c")})
	set(Entity{n("u"), d}, 2)
	check("u", "c", 2, Entity{n("u"), n("c")})
	set(Entity{n("u"), n("c")}, 1)
	check("u", "c", 1, Entity{n("u"), n("c")})
	// Removing goes back down the order; other keys are independent.
	if err := m.AlterQuotas(ctx, Entity{n("u"), n("c")}, []QuotaOp{{Key: ProducerByteRate, Remove: true}}, false); err != nil {
		t.Fatal(err)
	}
	check("u", "c", 2, Entity{n("u"), n("c")})
	if _, _, ok := m.Snapshot().QuotaFor("u", "c", ConsumerByteRate); ok {
		t.Fatal("consumer_byte_rate applies without being set")
	}
	// Entities round-trip through the store encoding, odd names included.
	odd := Entity{n("a|b=<default>"), n("%2F")}
	set(odd, 9)
	check("a|b=<default>", "%2F", 9, odd)
}

func TestValidateQuotaOps(t *testing.T) {
	e := Entity{User: Part{Kind: Named, Name: "u"}}
	for _, tt := range []struct {
		e   Entity
		ops []QuotaOp
		ok  bool
	}{
		{e, []QuotaOp{{Key: ProducerByteRate, Value: 1024}}, true},
		{e, []QuotaOp{{Key: RequestPercentage, Value: 12.5}}, true},
		{e, []QuotaOp{{Key: ProducerByteRate, Value: 10.5}}, false},
		{e, []QuotaOp{{Key: ProducerByteRate, Value: 0}}, false},
		{e, []QuotaOp{{Key: "connection_creation_rate", Value: 1}}, false},
		{e, []QuotaOp{{Key: ProducerByteRate, Value: 1}, {Key: ProducerByteRate, Remove: true}}, false},
		{Entity{}, []QuotaOp{{Key: ProducerByteRate, Value: 1}}, false},
	} {
		err := ValidateQuotaOps(tt.e, tt.ops)
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrInvalidQuota)) {
			t.Errorf("ValidateQuotaOps(%+v, %+v) = %v, want ok=%v", tt.e, tt.ops, err, tt.ok)
		}
	}
}

func TestThrottler(t *testing.T) {
	th := NewThrottler(time.Second, 11)
	b := Entity{ClientID: Part{Kind: Named, Name: "c"}}
	now := time.Unix(1000, 0)
	// 10 KB in a young window counts over 10s: 1 KB/s, at a 1 KB/s quota.
	if d := th.Record(b, ProducerByteRate, 1024, 10*1024, now); d != 0 {
		t.Fatalf("at the quota: throttled %v", d)
	}
	// 20 KB more: 3 KB/s over 10s against 1 KB/s: (3-1)/1 × 10s = 20s,
	// capped at 11 windows.
	if d := th.Record(b, ProducerByteRate, 1024, 20*1024, now); d != 11*time.Second {
		t.Fatalf("3x over: throttled %v, want the 11s cap", d)
	}
	// 1.5 KB/s: (1.5-1)/1 × 10s = 5s.
	th2 := NewThrottler(time.Second, 11)
	if d := th2.Record(b, ProducerByteRate, 1024, 15*1024, now); d != 5*time.Second {
		t.Fatalf("1.5x over: throttled %v, want 5s", d)
	}
	// Once the samples age out of the window, the rate is back to 0.
	later := now.Add(12 * time.Second)
	if d := th2.Throttle(b, ProducerByteRate, 1024, later); d != 0 {
		t.Fatalf("after the window: throttled %v", d)
	}
	if r := th2.Rate(b, ProducerByteRate, later); r != 0 {
		t.Fatalf("rate after the window = %v", r)
	}
	// Buckets are independent.
	if d := th.Throttle(Entity{ClientID: Part{Kind: Named, Name: "other"}}, ProducerByteRate, 1024, now); d != 0 {
		t.Fatalf("another bucket throttled %v", d)
	}
}
