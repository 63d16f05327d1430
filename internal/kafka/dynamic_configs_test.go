package kafka

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/dynconfig"
)

func newAdmin(t *testing.T, addr string, opts ...kgo.Opt) (*kgo.Client, *kadm.Client) {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl, kadm.NewClient(cl)
}

func brokerConfig(t *testing.T, adm *kadm.Client, name string, brokers ...int32) kadm.Config {
	t.Helper()
	rcs, err := adm.DescribeBrokerConfigs(context.Background(), brokers...)
	if err != nil || len(rcs) != 1 || rcs[0].Err != nil {
		t.Fatalf("DescribeBrokerConfigs(%v) = %+v, %v", brokers, rcs, err)
	}
	for _, c := range rcs[0].Configs {
		if c.Key == name {
			return c
		}
	}
	return kadm.Config{Key: name}
}

func alterBroker(adm *kadm.Client, configs []kadm.AlterConfig, brokers ...int32) error {
	rs, err := adm.AlterBrokerConfigs(context.Background(), configs, brokers...)
	if err != nil {
		return err
	}
	for _, r := range rs {
		if r.Err != nil {
			return r.Err
		}
	}
	return nil
}

// TestDynamicBrokerConfigs sets broker configs on the cluster default and
// on the agent's own resource through kadm and checks their sources and
// that they apply.
func TestDynamicBrokerConfigs(t *testing.T) {
	ts := startServer(t, Config{MaxMessageBytes: 2000000, DefaultPartitions: 3})
	ts.createTopic("t", 1, nil)
	cl, adm := newAdmin(t, ts.addr, kgo.DefaultProduceTopic("t"), kgo.ProducerBatchMaxBytes(4<<20), kgo.RecordRetries(0))
	ctx := context.Background()
	set := func(name, value string) kadm.AlterConfig {
		return kadm.AlterConfig{Name: name, Value: kadm.StringPtr(value)}
	}

	if c := brokerConfig(t, adm, "message.max.bytes", 1); c.MaybeValue() != "2000000" || c.Source != kmsg.ConfigSourceStaticBrokerConfig {
		t.Fatalf("before: %+v", c)
	}
	if err := alterBroker(adm, []kadm.AlterConfig{set("message.max.bytes", "5000"), set("num.partitions", "7")}); err != nil {
		t.Fatal(err)
	}
	c := brokerConfig(t, adm, "message.max.bytes", 1)
	if c.MaybeValue() != "5000" || c.Source != kmsg.ConfigSourceDynamicDefaultBrokerConfig || len(c.Synonyms) != 3 ||
		c.Synonyms[1].Source != kmsg.ConfigSourceStaticBrokerConfig || c.Synonyms[2].Source != kmsg.ConfigSourceDefaultConfig {
		t.Fatalf("after the cluster default: %+v", c)
	}
	// The cluster default resource lists what is set on it.
	rcs, err := adm.DescribeBrokerConfigs(ctx)
	if err != nil || len(rcs[0].Configs) != 2 || rcs[0].Configs[0].Key != "message.max.bytes" || rcs[0].Configs[0].Source != kmsg.ConfigSourceDynamicDefaultBrokerConfig {
		t.Fatalf("describe \"\": %+v, %v", rcs, err)
	}
	// Applied: a 10 KB record is too large now, and num.partitions names
	// the partition count of topics created with -1.
	err = cl.ProduceSync(ctx, &kgo.Record{Value: randomBytes(10000)}).FirstErr()
	if !errors.Is(err, kerr.MessageTooLarge) {
		t.Fatalf("10 KB record under message.max.bytes=5000: %v", err)
	}
	if _, err := adm.CreateTopic(ctx, -1, -1, nil, "auto"); err != nil {
		t.Fatal(err)
	}
	if tp, _ := ts.store.Topic(ctx, "auto"); tp.Partitions != 7 {
		t.Fatalf("created with %d partitions, want 7", tp.Partitions)
	}
	// The topic's max.message.bytes default shows where it comes from.
	trs, err := adm.DescribeTopicConfigs(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range trs[0].Configs {
		if tc.Key == "max.message.bytes" && (tc.MaybeValue() != "5000" || tc.Source != kmsg.ConfigSourceDynamicDefaultBrokerConfig) {
			t.Fatalf("topic max.message.bytes = %+v", tc)
		}
	}

	// The agent's own resource overrides the default.
	if err := alterBroker(adm, []kadm.AlterConfig{set("message.max.bytes", "50000")}, 1); err != nil {
		t.Fatal(err)
	}
	if c := brokerConfig(t, adm, "message.max.bytes", 1); c.MaybeValue() != "50000" || c.Source != kmsg.ConfigSourceDynamicBrokerConfig {
		t.Fatalf("after the agent's own: %+v", c)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: randomBytes(10000)}).FirstErr(); err != nil {
		t.Fatalf("10 KB record under message.max.bytes=50000: %v", err)
	}
	// Deleting goes back to the layer below.
	if err := alterBroker(adm, []kadm.AlterConfig{{Op: kadm.DeleteConfig, Name: "message.max.bytes"}}, 1); err != nil {
		t.Fatal(err)
	}
	if c := brokerConfig(t, adm, "message.max.bytes", 1); c.MaybeValue() != "5000" {
		t.Fatalf("after delete: %+v", c)
	}

	// Kafka's errors.
	for _, tt := range []struct {
		configs []kadm.AlterConfig
		brokers []int32
		want    error
		msg     string
	}{
		{[]kadm.AlterConfig{set("broker.id", "9")}, nil, kerr.InvalidConfig, "Cannot update these configs dynamically"},
		{[]kadm.AlterConfig{set("socket.request.max.bytes", "9")}, []int32{1}, kerr.InvalidConfig, "Cannot update these configs dynamically"},
		{[]kadm.AlterConfig{set("no.such.config", "1")}, nil, kerr.InvalidConfig, "unknown broker config"},
		{[]kadm.AlterConfig{set("log.retention.ms", "soon")}, nil, kerr.InvalidConfig, ""},
		{[]kadm.AlterConfig{{Op: kadm.AppendConfig, Name: "message.max.bytes", Value: kadm.StringPtr("1")}}, nil, kerr.InvalidConfig, "not a list"},
	} {
		rs, err := adm.AlterBrokerConfigs(ctx, tt.configs, tt.brokers...)
		if err != nil || len(rs) != 1 || !errors.Is(rs[0].Err, tt.want) || !strings.Contains(rs[0].ErrMessage, tt.msg) {
			t.Errorf("alter %+v on %v = %+v, %v; want %v with %q", tt.configs, tt.brokers, rs, err, tt.want, tt.msg)
		}
	}
	// Another node ID, by hand (kadm would route it to a broker that does
	// not exist).
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	rr := kmsg.NewIncrementalAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeBroker, "7"
	rr.Configs = []kmsg.IncrementalAlterConfigsRequestResourceConfig{{Name: "num.partitions", Value: kmsg.StringPtr("2")}}
	req.Resources = append(req.Resources, rr)
	if resp := ts.dial().roundTrip(req).(*kmsg.IncrementalAlterConfigsResponse); resp.Resources[0].ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("another node: %+v", resp.Resources[0])
	}
	// validate_only changes nothing; list configs append.
	vrs, err := adm.ValidateAlterBrokerConfigs(ctx, []kadm.AlterConfig{set("num.partitions", "2")})
	if err != nil || vrs[0].Err != nil {
		t.Fatalf("validate: %+v, %v", vrs, err)
	}
	if c := brokerConfig(t, adm, "num.partitions", 1); c.MaybeValue() != "7" {
		t.Fatalf("validate-only changed num.partitions: %+v", c)
	}
	if err := alterBroker(adm, []kadm.AlterConfig{{Op: kadm.AppendConfig, Name: "log.cleanup.policy", Value: kadm.StringPtr("compact")}}); err != nil {
		t.Fatal(err)
	}
	if c := brokerConfig(t, adm, "log.cleanup.policy", 1); c.MaybeValue() != "delete,compact" {
		t.Fatalf("appended log.cleanup.policy = %+v", c)
	}
	// Legacy AlterConfigs replaces the resource's whole set.
	srs, err := adm.AlterBrokerConfigsState(ctx, []kadm.AlterConfig{set("log.retention.ms", "60000")})
	if err != nil || srs[0].Err != nil {
		t.Fatalf("AlterConfigs: %+v, %v", srs, err)
	}
	if got := ts.srv.dyn.Snapshot().Broker(""); len(got) != 1 || got["log.retention.ms"] != "60000" {
		t.Fatalf("after replacement: %v", got)
	}
	if d := ts.srv.dyn.TopicDefaults(); d["retention.ms"] != "60000" {
		t.Fatalf("topic defaults %v", d)
	}
}

// TestClientQuotasAdmin drives AlterClientQuotas and DescribeClientQuotas
// through kadm: entities, filters, validation and validate_only.
func TestClientQuotasAdmin(t *testing.T) {
	ts := startServer(t, Config{})
	_, adm := newAdmin(t, ts.addr)
	ctx := context.Background()
	user := func(name *string) kadm.ClientQuotaEntityComponent {
		return kadm.ClientQuotaEntityComponent{Type: "user", Name: name}
	}
	client := func(name *string) kadm.ClientQuotaEntityComponent {
		return kadm.ClientQuotaEntityComponent{Type: "client-id", Name: name}
	}
	alice, c1 := kadm.StringPtr("alice"), kadm.StringPtr("c1")
	rs, err := adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{
		{Entity: kadm.ClientQuotaEntity{user(alice)}, Ops: []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: 1024}, {Key: "request_percentage", Value: 50}}},
		{Entity: kadm.ClientQuotaEntity{client(nil)}, Ops: []kadm.AlterClientQuotaOp{{Key: "consumer_byte_rate", Value: 2048}}},
		{Entity: kadm.ClientQuotaEntity{user(alice), client(c1)}, Ops: []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: 4096}}},
		{Entity: kadm.ClientQuotaEntity{user(nil)}, Ops: []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: 10.5}}},
		{Entity: kadm.ClientQuotaEntity{{Type: "ip", Name: kadm.StringPtr("1.2.3.4")}}, Ops: []kadm.AlterClientQuotaOp{{Key: "connection_creation_rate", Value: 1}}},
		{Entity: kadm.ClientQuotaEntity{user(alice)}, Ops: []kadm.AlterClientQuotaOp{{Key: "bogus", Value: 1}}},
	})
	if err != nil || len(rs) != 6 {
		t.Fatalf("AlterClientQuotas = %+v, %v", rs, err)
	}
	for i, want := range []error{nil, nil, nil, kerr.InvalidRequest, kerr.InvalidRequest, kerr.InvalidRequest} {
		if !errors.Is(rs[i].Err, want) && !(want == nil && rs[i].Err == nil) {
			t.Errorf("entry %d (%v): %v, want %v", i, rs[i].Entity, rs[i].Err, want)
		}
	}
	vrs, err := adm.ValidateAlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{
		{Entity: kadm.ClientQuotaEntity{user(kadm.StringPtr("bob"))}, Ops: []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: 1}}},
	})
	if err != nil || vrs[0].Err != nil {
		t.Fatalf("validate: %+v, %v", vrs, err)
	}

	describe := func(strict bool, comps ...kadm.DescribeClientQuotaComponent) []string {
		t.Helper()
		qs, err := adm.DescribeClientQuotas(ctx, strict, comps)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, q := range qs {
			var parts []string
			for _, c := range q.Entity {
				parts = append(parts, c.String())
			}
			for _, v := range q.Values {
				parts = append(parts, v.String())
			}
			out = append(out, strings.Join(parts, " "))
		}
		return out
	}
	check := func(got []string, want ...string) {
		t.Helper()
		if strings.Join(got, "; ") != strings.Join(want, "; ") {
			t.Fatalf("described %q, want %q", got, want)
		}
	}
	check(describe(false), "client-id=<default> consumer_byte_rate=2048.000000", "user=alice producer_byte_rate=1024.000000 request_percentage=50.000000",
		"user=alice client-id=c1 producer_byte_rate=4096.000000")
	check(describe(false, kadm.DescribeClientQuotaComponent{Type: "user", MatchName: alice, MatchType: kmsg.QuotasMatchTypeExact}),
		"user=alice producer_byte_rate=1024.000000 request_percentage=50.000000", "user=alice client-id=c1 producer_byte_rate=4096.000000")
	check(describe(true, kadm.DescribeClientQuotaComponent{Type: "user", MatchName: alice, MatchType: kmsg.QuotasMatchTypeExact}),
		"user=alice producer_byte_rate=1024.000000 request_percentage=50.000000")
	check(describe(true, kadm.DescribeClientQuotaComponent{Type: "client-id", MatchType: kmsg.QuotasMatchTypeDefault}),
		"client-id=<default> consumer_byte_rate=2048.000000")
	check(describe(false, kadm.DescribeClientQuotaComponent{Type: "client-id", MatchType: kmsg.QuotasMatchTypeAny}),
		"client-id=<default> consumer_byte_rate=2048.000000", "user=alice client-id=c1 producer_byte_rate=4096.000000")
	if _, err := adm.DescribeClientQuotas(ctx, false, []kadm.DescribeClientQuotaComponent{{Type: "group", MatchType: kmsg.QuotasMatchTypeAny}}); !errors.Is(err, kerr.InvalidRequest) {
		t.Fatalf("unknown entity type: %v", err)
	}

	// Removing a key; an entity without keys is gone.
	if rs, err := adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{Entity: kadm.ClientQuotaEntity{client(nil)},
		Ops: []kadm.AlterClientQuotaOp{{Key: "consumer_byte_rate", Remove: true}}}}); err != nil || rs[0].Err != nil {
		t.Fatalf("remove: %+v, %v", rs, err)
	}
	check(describe(false, kadm.DescribeClientQuotaComponent{Type: "client-id", MatchType: kmsg.QuotasMatchTypeDefault}))
}

// TestProduceQuotaThrottles: a client over its producer_byte_rate gets
// throttle_time_ms in its produce responses (seen through kgo's throttle
// hook) while a client without a quota does not.
func TestProduceQuotaThrottles(t *testing.T) {
	ts := startServer(t, Config{})
	ts.createTopic("q", 1, nil)
	ctx := context.Background()
	_, adm := newAdmin(t, ts.addr)
	rs, err := adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{Entity: kadm.ClientQuotaEntity{{Type: "client-id", Name: kadm.StringPtr("slow")}},
		Ops: []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: 1024}}}})
	if err != nil || rs[0].Err != nil {
		t.Fatal(rs, err)
	}
	produce := func(clientID string) *throttleHook {
		h := &throttleHook{}
		cl, _ := newAdmin(t, ts.addr, kgo.ClientID(clientID), kgo.DefaultProduceTopic("q"), kgo.WithHooks(h))
		// 64 KB in a fresh window measures 6.4 KB/s against 1 KB/s: the
		// first response already carries a throttle time.
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: randomBytes(64 << 10)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		return h
	}
	if h := produce("slow"); h.max() <= 0 {
		t.Fatalf("the client over its quota saw throttle %v", h.max())
	} else if h.max() > ts.srv.quotas.MaxThrottle() {
		t.Fatalf("throttle %v above the cap", h.max())
	}
	if h := produce("fast"); h.max() != 0 {
		t.Fatalf("the client without a quota was throttled %v", h.max())
	}
	rate := ts.srv.quotas.Rate(dynconfig.Entity{ClientID: dynconfig.Part{Kind: dynconfig.Named, Name: "slow"}}, dynconfig.ProducerByteRate, time.Now())
	if rate <= 1024 {
		t.Fatalf("measured rate %v, want above the quota", rate)
	}
}

// randomBytes is incompressible data, so compression does not shrink a
// record under a size limit.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// throttleHook records the longest throttle time kgo reports
// (OnBrokerThrottle).
type throttleHook struct {
	mu     sync.Mutex // guards maxVal
	maxVal time.Duration
}

func (h *throttleHook) OnBrokerThrottle(_ kgo.BrokerMetadata, d time.Duration, _ bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.maxVal = max(h.maxVal, d)
}

func (h *throttleHook) max() time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.maxVal
}

// TestFetchQuotaThrottles: a consumer over its consumer_byte_rate gets
// throttle_time_ms in its fetch responses.
func TestFetchQuotaThrottles(t *testing.T) {
	ts := startServer(t, Config{})
	ts.createTopic("fq", 1, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, adm := newAdmin(t, ts.addr, kgo.DefaultProduceTopic("fq"))
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: randomBytes(64 << 10)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	rs, err := adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{Entity: kadm.ClientQuotaEntity{{Type: "client-id", Name: kadm.StringPtr("reader")}},
		Ops: []kadm.AlterClientQuotaOp{{Key: "consumer_byte_rate", Value: 1024}}}})
	if err != nil || rs[0].Err != nil {
		t.Fatal(rs, err)
	}
	h := &throttleHook{}
	consumer, _ := newAdmin(t, ts.addr, kgo.ClientID("reader"), kgo.ConsumeTopics("fq"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.WithHooks(h))
	fs := consumer.PollFetches(ctx)
	if err := fs.Err0(); err != nil || fs.NumRecords() != 1 {
		t.Fatalf("poll: %d records, %v", fs.NumRecords(), err)
	}
	// The hook runs when the response is read, before the records are
	// handed out: the throttle is known by now.
	if h.max() <= 0 {
		t.Fatalf("the consumer over its quota saw throttle %v", h.max())
	}
}

// countingThrottleHook counts the responses kgo saw a throttle time in.
type countingThrottleHook struct {
	mu sync.Mutex // guards n
	n  int
}

func (h *countingThrottleHook) OnBrokerThrottle(_ kgo.BrokerMetadata, d time.Duration, _ bool) {
	if d <= 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.n++
}

func (h *countingThrottleHook) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n
}

// TestRequestQuotaThrottles: a client with a tiny request_percentage gets
// throttle_time_ms on its responses (Metadata answered on the read loop,
// Produce answered after its flush) while a client without a quota never
// does. A short quota window keeps the throttle times, which kgo waits
// out, short.
func TestRequestQuotaThrottles(t *testing.T) {
	ts := startServer(t, Config{QuotaWindow: 50 * time.Millisecond, QuotaWindowSamples: 2})
	ts.createTopic("rq", 1, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, adm := newAdmin(t, ts.addr)
	rs, err := adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{Entity: kadm.ClientQuotaEntity{{Type: "client-id", Name: kadm.StringPtr("busy")}},
		Ops: []kadm.AlterClientQuotaOp{{Key: "request_percentage", Value: 0.000001}}}})
	if err != nil || rs[0].Err != nil {
		t.Fatal(rs, err)
	}
	run := func(clientID string) int {
		h := &countingThrottleHook{}
		cl, adm := newAdmin(t, ts.addr, kgo.ClientID(clientID), kgo.DefaultProduceTopic("rq"), kgo.WithHooks(h))
		// Any handler time is far above a millionth of a percent of the
		// window: every counted response is throttled.
		if _, err := adm.ListTopics(ctx, "rq"); err != nil {
			t.Fatal(err)
		}
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		return h.count()
	}
	if n := run("busy"); n == 0 {
		t.Fatal("the client over its request quota saw no throttle time")
	}
	bucket := dynconfig.Entity{ClientID: dynconfig.Part{Kind: dynconfig.Named, Name: "busy"}}
	if rate := ts.srv.quotas.Rate(bucket, dynconfig.RequestPercentage, time.Now()); rate <= 0 {
		t.Fatalf("measured request time %v, want some", rate)
	}
	if n := run("idle"); n != 0 {
		t.Fatalf("the client without a quota saw %d throttled responses", n)
	}
}

// TestRequestQuotaExcludesLongPoll: a fetch's long poll is waiting, not
// handler time. A consumer long-polling an empty topic for about two
// seconds under a quota of 2% (200ms of handler time in the 10s window)
// would be far over it if the waits counted; it is never throttled.
func TestRequestQuotaExcludesLongPoll(t *testing.T) {
	ts := startServer(t, Config{})
	ts.createTopic("lp", 1, nil)
	ctx := context.Background()
	_, adm := newAdmin(t, ts.addr)
	rs, err := adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{Entity: kadm.ClientQuotaEntity{{Type: "client-id", Name: kadm.StringPtr("poller")}},
		Ops: []kadm.AlterClientQuotaOp{{Key: "request_percentage", Value: 2}}}})
	if err != nil || rs[0].Err != nil {
		t.Fatal(rs, err)
	}
	h := &countingThrottleHook{}
	consumer, _ := newAdmin(t, ts.addr, kgo.ClientID("poller"), kgo.ConsumeTopics("lp"), kgo.FetchMaxWait(time.Second), kgo.WithHooks(h))
	pctx, cancel := context.WithTimeout(ctx, 2500*time.Millisecond)
	defer cancel()
	if fs := consumer.PollFetches(pctx); fs.NumRecords() != 0 {
		t.Fatalf("polled %d records from an empty topic", fs.NumRecords())
	}
	bucket := dynconfig.Entity{ClientID: dynconfig.Part{Kind: dynconfig.Named, Name: "poller"}}
	rate := ts.srv.quotas.Rate(bucket, dynconfig.RequestPercentage, time.Now())
	if rate <= 0 || rate > 2 {
		t.Fatalf("measured request time %v%%, want some, under the quota", rate)
	}
	if n := h.count(); n != 0 {
		t.Fatalf("the long-polling consumer saw %d throttled responses", n)
	}
}
