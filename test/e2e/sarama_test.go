package e2e

// IBM/sarama against Sluice: sync and async producers with every codec,
// the idempotent producer, partition consumers from oldest, newest and a
// given offset, consumer groups with two members and a rebalance under the
// range, sticky and cooperative-sticky strategies (offsets surviving an
// agent restart), the ClusterAdmin calls users run, and old and new
// protocol versions (sarama picks request versions from Config.Version,
// clamped to what ApiVersions advertises).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"
)

func init() {
	// sarama logs to io.Discard by default; SARAMA_LOG=1 shows its view of
	// a failing test.
	if os.Getenv("SARAMA_LOG") != "" {
		sarama.Logger = log.New(os.Stderr, "[sarama] ", log.Lmicroseconds)
	} else {
		sarama.Logger = log.New(io.Discard, "", 0)
	}
}

// saramaConfig is a sarama config for tests: Version v, bounded timeouts
// and retries, successes and errors returned.
func saramaConfig(v sarama.KafkaVersion) *sarama.Config {
	c := sarama.NewConfig()
	c.ClientID = "sluice-e2e-sarama"
	c.Version = v
	c.Net.DialTimeout = 10 * time.Second
	c.Net.ReadTimeout = 30 * time.Second
	c.Net.WriteTimeout = 10 * time.Second
	c.Metadata.Retry.Max = 10
	c.Metadata.Retry.Backoff = 200 * time.Millisecond
	c.Producer.Return.Successes = true
	c.Producer.Return.Errors = true
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Timeout = 30 * time.Second
	c.Producer.Retry.Max = 5
	c.Producer.Retry.Backoff = 200 * time.Millisecond
	c.Consumer.Return.Errors = true
	c.Consumer.MaxWaitTime = 500 * time.Millisecond
	c.Consumer.Offsets.Initial = sarama.OffsetOldest
	c.Admin.Timeout = 30 * time.Second
	c.Admin.Retry.Max = 10
	return c
}

// saramaMsg is what a test produced and where the broker put it.
type saramaMsg struct {
	key, value string
	headers    map[string]string
	partition  int32
	offset     int64
}

func newSaramaMsg(topic string, i int, m *saramaMsg) *sarama.ProducerMessage {
	pm := &sarama.ProducerMessage{
		Topic:    topic,
		Key:      sarama.StringEncoder(m.key),
		Value:    sarama.StringEncoder(m.value),
		Metadata: i,
	}
	for k, v := range m.headers {
		pm.Headers = append(pm.Headers, sarama.RecordHeader{Key: []byte(k), Value: []byte(v)})
	}
	sort.Slice(pm.Headers, func(a, b int) bool { return string(pm.Headers[a].Key) < string(pm.Headers[b].Key) })
	return pm
}

// saramaReadPartition reads partition p of topic from offset from with a
// sarama partition consumer until it has n messages.
func saramaReadPartition(t *testing.T, addr string, cfg *sarama.Config, topic string, p int32, from int64, n int) []*sarama.ConsumerMessage {
	t.Helper()
	c, err := sarama.NewConsumer([]string{addr}, cfg)
	if err != nil {
		t.Fatalf("new consumer: %v", err)
	}
	defer c.Close()
	pc, err := c.ConsumePartition(topic, p, from)
	if err != nil {
		t.Fatalf("consume %s[%d] from %d: %v", topic, p, from, err)
	}
	defer pc.Close()
	var out []*sarama.ConsumerMessage
	deadline := time.After(60 * time.Second)
	for len(out) < n {
		select {
		case m := <-pc.Messages():
			out = append(out, m)
		case err := <-pc.Errors():
			t.Fatalf("consume %s[%d]: %v", topic, p, err)
		case <-deadline:
			t.Fatalf("consume %s[%d]: %d of %d messages after 60s", topic, p, len(out), n)
		}
	}
	return out
}

// checkSaramaDelivered reads every partition back with a sarama consumer
// and checks each produced message is at the offset its producer was given,
// with its key, value and headers, and nothing else is there.
func checkSaramaDelivered(t *testing.T, addr string, cfg *sarama.Config, topic string, partitions int32, sent []*saramaMsg) {
	t.Helper()
	byPart := map[int32]map[int64]*saramaMsg{}
	for _, m := range sent {
		if byPart[m.partition] == nil {
			byPart[m.partition] = map[int64]*saramaMsg{}
		}
		if prev, dup := byPart[m.partition][m.offset]; dup {
			t.Fatalf("two messages acknowledged at %s[%d]@%d: %q and %q", topic, m.partition, m.offset, prev.value, m.value)
		}
		byPart[m.partition][m.offset] = m
	}
	for p := int32(0); p < partitions; p++ {
		want := byPart[p]
		if len(want) == 0 {
			continue
		}
		got := saramaReadPartition(t, addr, cfg, topic, p, sarama.OffsetOldest, len(want))
		for i, g := range got {
			if g.Offset != int64(i) {
				t.Fatalf("%s[%d]: message %d has offset %d", topic, p, i, g.Offset)
			}
			w, ok := want[g.Offset]
			if !ok {
				t.Fatalf("%s[%d]@%d: %q was never acknowledged there", topic, p, g.Offset, g.Value)
			}
			if string(g.Key) != w.key || string(g.Value) != w.value {
				t.Fatalf("%s[%d]@%d: got %q=%q, want %q=%q", topic, p, g.Offset, g.Key, g.Value, w.key, w.value)
			}
			hs := map[string]string{}
			for _, h := range g.Headers {
				hs[string(h.Key)] = string(h.Value)
			}
			if fmt.Sprint(hs) != fmt.Sprint(w.headers) {
				t.Fatalf("%s[%d]@%d: headers %v, want %v", topic, p, g.Offset, hs, w.headers)
			}
			if g.Timestamp.IsZero() || time.Since(g.Timestamp) > time.Hour {
				t.Fatalf("%s[%d]@%d: implausible timestamp %v", topic, p, g.Offset, g.Timestamp)
			}
		}
	}
}

var saramaCodecs = []struct {
	name  string
	codec sarama.CompressionCodec
}{
	{"none", sarama.CompressionNone},
	{"gzip", sarama.CompressionGZIP},
	{"snappy", sarama.CompressionSnappy},
	{"lz4", sarama.CompressionLZ4},
	{"zstd", sarama.CompressionZSTD},
}

func TestSaramaProducersCodecs(t *testing.T) {
	t.Parallel()
	// A short batch timeout: the sync producer waits for each message.
	a := StartAgent(t, "", "--batch-timeout", "20ms")
	const partitions, n = 3, 60
	for _, cc := range saramaCodecs {
		t.Run(cc.name, func(t *testing.T) {
			topic := "sarama-codec-" + cc.name
			a.CreateTopic(topic, partitions)
			cfg := saramaConfig(sarama.V3_9_0_0)
			cfg.Producer.Compression = cc.codec
			cfg.Producer.Flush.Messages = 10
			cfg.Producer.Flush.Frequency = 20 * time.Millisecond

			var sent []*saramaMsg
			mk := func(kind string, i int) *saramaMsg {
				return &saramaMsg{
					key:     fmt.Sprintf("key-%d", i%7),
					value:   fmt.Sprintf("%s-%s-%d", cc.name, kind, i),
					headers: map[string]string{"i": strconv.Itoa(i), "kind": kind},
				}
			}

			// SyncProducer: one message at a time; the hash partitioner
			// spreads keys over the partitions.
			sp, err := sarama.NewSyncProducer([]string{a.KafkaAddr}, cfg)
			if err != nil {
				t.Fatalf("sync producer: %v", err)
			}
			for i := 0; i < n; i++ {
				m := mk("sync", i)
				p, off, err := sp.SendMessage(newSaramaMsg(topic, i, m))
				if err != nil {
					t.Fatalf("sync send %d: %v", i, err)
				}
				m.partition, m.offset = p, off
				sent = append(sent, m)
			}
			// SendMessages: one call, many messages.
			var batch []*sarama.ProducerMessage
			var batchMsgs []*saramaMsg
			for i := n; i < 2*n; i++ {
				m := mk("syncbatch", i)
				batchMsgs = append(batchMsgs, m)
				batch = append(batch, newSaramaMsg(topic, i, m))
			}
			if err := sp.SendMessages(batch); err != nil {
				t.Fatalf("sync send batch: %v", err)
			}
			for i, pm := range batch {
				batchMsgs[i].partition, batchMsgs[i].offset = pm.Partition, pm.Offset
			}
			sent = append(sent, batchMsgs...)
			if err := sp.Close(); err != nil {
				t.Fatalf("close sync producer: %v", err)
			}

			// AsyncProducer: everything in flight at once.
			ap, err := sarama.NewAsyncProducer([]string{a.KafkaAddr}, cfg)
			if err != nil {
				t.Fatalf("async producer: %v", err)
			}
			async := map[int]*saramaMsg{}
			for i := 2 * n; i < 4*n; i++ {
				async[i] = mk("async", i)
			}
			go func() {
				for i := 2 * n; i < 4*n; i++ {
					ap.Input() <- newSaramaMsg(topic, i, async[i])
				}
			}()
			deadline := time.After(60 * time.Second)
			for got := 0; got < 2*n; got++ {
				select {
				case pm := <-ap.Successes():
					m := async[pm.Metadata.(int)]
					m.partition, m.offset = pm.Partition, pm.Offset
					sent = append(sent, m)
				case perr := <-ap.Errors():
					t.Fatalf("async send: %v", perr)
				case <-deadline:
					t.Fatalf("async: %d of %d acknowledged after 60s", got, 2*n)
				}
			}
			if err := ap.Close(); err != nil {
				t.Fatalf("close async producer: %v", err)
			}

			used := map[int32]bool{}
			for _, m := range sent {
				used[m.partition] = true
			}
			if len(used) != partitions {
				t.Fatalf("keys landed on %d of %d partitions", len(used), partitions)
			}
			checkSaramaDelivered(t, a.KafkaAddr, saramaConfig(sarama.V3_9_0_0), topic, partitions, sent)

			// franz-go reads the same records: the batches sarama wrote
			// in this codec are stored as sent and readable by others.
			all := a.ConsumeAll(testContext(t, 60*time.Second), topic)
			total := 0
			for _, rs := range all {
				total += len(rs)
			}
			if total != len(sent) {
				t.Fatalf("franz-go read %d records, sarama produced %d", total, len(sent))
			}
		})
	}
}

func TestSaramaIdempotentProducer(t *testing.T) {
	t.Parallel()
	a := StartAgent(t, "", "--batch-timeout", "20ms")
	const topic, partitions, n = "sarama-idem", 2, 300
	a.CreateTopic(topic, partitions)
	cfg := saramaConfig(sarama.V3_9_0_0)
	cfg.Producer.Idempotent = true
	cfg.Net.MaxOpenRequests = 1
	cfg.Producer.Compression = sarama.CompressionZSTD
	cfg.Producer.Flush.Messages = 25
	cfg.Producer.Flush.Frequency = 10 * time.Millisecond
	ap, err := sarama.NewAsyncProducer([]string{a.KafkaAddr}, cfg)
	if err != nil {
		t.Fatalf("idempotent producer: %v", err)
	}
	msgs := make([]*saramaMsg, n)
	for i := range msgs {
		msgs[i] = &saramaMsg{key: fmt.Sprintf("k%d", i), value: fmt.Sprintf("idem-%d", i), headers: map[string]string{}}
	}
	go func() {
		for i, m := range msgs {
			ap.Input() <- newSaramaMsg(topic, i, m)
		}
	}()
	var sent []*saramaMsg
	deadline := time.After(60 * time.Second)
	for len(sent) < n {
		select {
		case pm := <-ap.Successes():
			m := msgs[pm.Metadata.(int)]
			m.partition, m.offset = pm.Partition, pm.Offset
			sent = append(sent, m)
		case perr := <-ap.Errors():
			t.Fatalf("idempotent send: %v", perr)
		case <-deadline:
			t.Fatalf("idempotent: %d of %d acknowledged after 60s", len(sent), n)
		}
	}
	if err := ap.Close(); err != nil {
		t.Fatal(err)
	}
	// Per partition, offsets are exactly 0..count-1, in send order: the
	// idempotent producer keeps order with one request in flight.
	last := map[int32]int64{0: -1, 1: -1}
	for _, m := range msgs {
		if m.offset != last[m.partition]+1 {
			t.Fatalf("%s[%d]: %q at offset %d after %d", topic, m.partition, m.value, m.offset, last[m.partition])
		}
		last[m.partition] = m.offset
	}
	checkSaramaDelivered(t, a.KafkaAddr, saramaConfig(sarama.V3_9_0_0), topic, partitions, sent)

	// The agent handed out a producer ID: the batches franz-go reads back
	// carry it, with sequence numbers.
	recs := a.ConsumeAll(testContext(t, 60*time.Second), topic)
	for p, rs := range recs {
		for _, r := range rs {
			if r.ProducerID < 0 {
				t.Fatalf("%s[%d]@%d: no producer ID in an idempotent batch", topic, p, r.Offset)
			}
		}
	}
}

func TestSaramaPartitionConsumer(t *testing.T) {
	t.Parallel()
	a := StartAgent(t, "", "--batch-timeout", "20ms")
	const topic = "sarama-pc"
	a.CreateTopic(topic, 1)
	cfg := saramaConfig(sarama.V3_9_0_0)
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	sp, err := sarama.NewSyncProducer([]string{a.KafkaAddr}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	send := func(v string) int64 {
		t.Helper()
		_, off, err := sp.SendMessage(&sarama.ProducerMessage{Topic: topic, Partition: 0, Value: sarama.StringEncoder(v)})
		if err != nil {
			t.Fatalf("send %s: %v", v, err)
		}
		return off
	}
	for i := 0; i < 10; i++ {
		if off := send(fmt.Sprintf("v%d", i)); off != int64(i) {
			t.Fatalf("v%d at offset %d", i, off)
		}
	}

	// Oldest: everything from 0.
	got := saramaReadPartition(t, a.KafkaAddr, cfg, topic, 0, sarama.OffsetOldest, 10)
	if string(got[0].Value) != "v0" || got[9].Offset != 9 {
		t.Fatalf("oldest: first %q, last offset %d", got[0].Value, got[9].Offset)
	}
	// By offset: starts exactly there.
	got = saramaReadPartition(t, a.KafkaAddr, cfg, topic, 0, 7, 3)
	if got[0].Offset != 7 || string(got[0].Value) != "v7" {
		t.Fatalf("from 7: got %q at %d", got[0].Value, got[0].Offset)
	}
	// Newest: only what is produced after the consumer started.
	c, err := sarama.NewConsumer([]string{a.KafkaAddr}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pc, err := c.ConsumePartition(topic, 0, sarama.OffsetNewest)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if hwm := pc.HighWaterMarkOffset(); hwm != 0 && hwm != 10 {
		t.Fatalf("high watermark %d", hwm)
	}
	send("after")
	select {
	case m := <-pc.Messages():
		if m.Offset != 10 || string(m.Value) != "after" {
			t.Fatalf("newest: got %q at %d, want \"after\" at 10", m.Value, m.Offset)
		}
	case err := <-pc.Errors():
		t.Fatal(err)
	case <-time.After(30 * time.Second):
		t.Fatal("newest: nothing within 30s")
	}
	// Out of range: sarama refuses to start past the end.
	if _, err := c.ConsumePartition(topic, 0, 1000); !errors.Is(err, sarama.ErrOffsetOutOfRange) {
		t.Fatalf("consume from 1000: %v, want %v", err, sarama.ErrOffsetOutOfRange)
	}
	// Unknown partition.
	if _, err := c.ConsumePartition(topic, 5, 0); !errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
		t.Fatalf("consume partition 5: %v, want %v", err, sarama.ErrUnknownTopicOrPartition)
	}
}

// saramaGroupMember is one sarama consumer group member that records what
// it consumes and what it was assigned.
type saramaGroupMember struct {
	name string
	cg   sarama.ConsumerGroup
	done chan struct{}

	mu       sync.Mutex // guards the fields below
	claims   map[int32]bool
	seen     map[string]int // value → times consumed
	sessions int
	errs     []error
}

func startSaramaMember(t *testing.T, v sarama.KafkaVersion, addr, group, topic, name string, strategy sarama.BalanceStrategy) *saramaGroupMember {
	t.Helper()
	cfg := saramaConfig(v)
	cfg.ClientID = name
	cfg.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{strategy}
	cfg.Consumer.Group.Session.Timeout = 10 * time.Second
	cfg.Consumer.Group.Heartbeat.Interval = 500 * time.Millisecond
	cfg.Consumer.Group.Rebalance.Timeout = 10 * time.Second
	cfg.Consumer.Offsets.AutoCommit.Interval = 200 * time.Millisecond
	cg, err := sarama.NewConsumerGroup([]string{addr}, group, cfg)
	if err != nil {
		t.Fatalf("%s: new consumer group: %v", name, err)
	}
	m := &saramaGroupMember{name: name, cg: cg, done: make(chan struct{}), claims: map[int32]bool{}, seen: map[string]int{}}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for err := range cg.Errors() {
			m.mu.Lock()
			m.errs = append(m.errs, err)
			m.mu.Unlock()
		}
	}()
	go func() {
		defer close(m.done)
		for ctx.Err() == nil {
			if err := cg.Consume(ctx, []string{topic}, m); err != nil {
				if errors.Is(err, sarama.ErrClosedConsumerGroup) {
					return
				}
				m.mu.Lock()
				m.errs = append(m.errs, err)
				m.mu.Unlock()
				time.Sleep(100 * time.Millisecond)
			}
		}
	}()
	t.Cleanup(func() { cancel(); m.Close(t) })
	return m
}

func (m *saramaGroupMember) Setup(s sarama.ConsumerGroupSession) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sessions++
	return nil
}

func (m *saramaGroupMember) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (m *saramaGroupMember) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	m.mu.Lock()
	m.claims[c.Partition()] = true
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		delete(m.claims, c.Partition())
		m.mu.Unlock()
	}()
	for {
		select {
		case msg, ok := <-c.Messages():
			if !ok {
				return nil
			}
			m.mu.Lock()
			m.seen[string(msg.Value)]++
			m.mu.Unlock()
			s.MarkMessage(msg, "")
		case <-s.Context().Done():
			return nil
		}
	}
}

func (m *saramaGroupMember) Claims() []int32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ps []int32
	for p := range m.claims {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	return ps
}

func (m *saramaGroupMember) Seen() map[string]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]int{}
	for k, v := range m.seen {
		out[k] = v
	}
	return out
}

// Close leaves the group (committing marked offsets) and waits for the
// consume loop to end.
func (m *saramaGroupMember) Close(t *testing.T) {
	select {
	case <-m.done:
		return
	default:
	}
	if err := m.cg.Close(); err != nil {
		t.Errorf("%s: close: %v", m.name, err)
	}
	select {
	case <-m.done:
	case <-time.After(30 * time.Second):
		t.Errorf("%s: consume loop still running 30s after close", m.name)
	}
}

func (m *saramaGroupMember) Errs() []error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]error(nil), m.errs...)
}

// waitFor polls cond every 50ms for up to d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestSaramaConsumerGroup(t *testing.T) {
	t.Parallel()
	// The group protocol's request versions follow Config.Version too:
	// JoinGroup v2/SyncGroup v1 for Kafka 1.0, v3/v2 for 2.1.
	strategies := []struct {
		name string
		new  func() sarama.BalanceStrategy
		v    sarama.KafkaVersion
	}{
		{"range", sarama.NewBalanceStrategyRange, sarama.V3_9_0_0},
		{"sticky", sarama.NewBalanceStrategySticky, sarama.V3_9_0_0},
		{"cooperative-sticky", sarama.NewBalanceStrategyCooperativeSticky, sarama.V3_9_0_0},
		{"roundrobin-kafka-1.0", sarama.NewBalanceStrategyRoundRobin, sarama.V1_0_0_0},
		{"range-kafka-2.1", sarama.NewBalanceStrategyRange, sarama.V2_1_0_0},
	}
	for _, st := range strategies {
		t.Run(st.name, func(t *testing.T) {
			a := StartAgent(t, "", "--batch-timeout", "20ms")
			topic, group := "sarama-group-"+st.name, "sarama-g-"+st.name
			const partitions = 4
			a.CreateTopic(topic, partitions)
			cl := a.Client(kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
			produce := func(from, to int) {
				t.Helper()
				ctx := testContext(t, 30*time.Second)
				var rs []*kgo.Record
				for i := from; i < to; i++ {
					rs = append(rs, &kgo.Record{Partition: int32(i % partitions), Value: []byte(fmt.Sprintf("g%d", i))})
				}
				if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
					t.Fatalf("produce: %v", err)
				}
			}
			produce(0, 40)

			m1 := startSaramaMember(t, st.v, a.KafkaAddr, group, topic, "m1", st.new())
			waitFor(t, 30*time.Second, "m1 to own all partitions and read 40", func() bool {
				return len(m1.Claims()) == partitions && len(m1.Seen()) == 40
			})
			m2 := startSaramaMember(t, st.v, a.KafkaAddr, group, topic, "m2", st.new())
			waitFor(t, 45*time.Second, "the rebalance to split the partitions 2/2", func() bool {
				c1, c2 := m1.Claims(), m2.Claims()
				if len(c1) != 2 || len(c2) != 2 {
					return false
				}
				all := map[int32]bool{}
				for _, p := range append(c1, c2...) {
					all[p] = true
				}
				return len(all) == partitions
			})
			produce(40, 80)
			waitFor(t, 30*time.Second, "both members to read the 40 new records", func() bool {
				n := 0
				s1, s2 := m1.Seen(), m2.Seen()
				for i := 40; i < 80; i++ {
					v := fmt.Sprintf("g%d", i)
					if s1[v]+s2[v] > 0 {
						n++
					}
				}
				return n == 40
			})
			s2 := m2.Seen()
			if len(s2) == 0 {
				t.Fatal("m2 consumed nothing after the rebalance")
			}
			for v, c := range s2 {
				var i int
				fmt.Sscanf(v, "g%d", &i)
				if i < 40 {
					// m2 joined after m1 committed everything below 40
					// (autocommit each 200ms, and on revoke).
					t.Fatalf("m2 re-read %s, consumed and committed by m1 before the rebalance", v)
				}
				if c != 1 {
					t.Fatalf("m2 read %s %d times", v, c)
				}
			}

			// Describe while both are in: Stable, two members, the
			// strategy's protocol name.
			adm, err := sarama.NewClusterAdmin([]string{a.KafkaAddr}, saramaConfig(sarama.V3_9_0_0))
			if err != nil {
				t.Fatal(err)
			}
			defer adm.Close()
			descs, err := adm.DescribeConsumerGroups([]string{group})
			if err != nil || len(descs) != 1 {
				t.Fatalf("describe groups: %v %v", descs, err)
			}
			d := descs[0]
			if d.State != "Stable" || len(d.Members) != 2 || d.Protocol != st.new().Name() || d.ProtocolType != "consumer" {
				t.Fatalf("describe: state %q, %d members, protocol %q/%q", d.State, len(d.Members), d.ProtocolType, d.Protocol)
			}
			assigned := 0
			for id, mem := range d.Members {
				as, err := mem.GetMemberAssignment()
				if err != nil {
					t.Fatalf("member %s assignment: %v", id, err)
				}
				assigned += len(as.Topics[topic])
			}
			if assigned != partitions {
				t.Fatalf("described assignments cover %d partitions", assigned)
			}

			m1.Close(t)
			m2.Close(t)
			for _, m := range []*saramaGroupMember{m1, m2} {
				for _, err := range m.Errs() {
					t.Errorf("%s: group error: %v", m.name, err)
				}
			}

			// Committed offsets: the end of every partition, and they
			// survive an agent restart.
			check := func(when string) {
				t.Helper()
				adm, err := sarama.NewClusterAdmin([]string{a.KafkaAddr}, saramaConfig(sarama.V3_9_0_0))
				if err != nil {
					t.Fatal(err)
				}
				defer adm.Close()
				offs, err := adm.ListConsumerGroupOffsets(group, map[string][]int32{topic: {0, 1, 2, 3}})
				if err != nil {
					t.Fatalf("%s: list group offsets: %v", when, err)
				}
				for p := int32(0); p < partitions; p++ {
					b := offs.GetBlock(topic, p)
					if b == nil || b.Err != sarama.ErrNoError || b.Offset != 20 {
						t.Fatalf("%s: committed %s[%d] = %+v, want 20", when, topic, p, b)
					}
				}
			}
			check("before restart")
			a.Restart()
			check("after restart")

			// A new member resumes from the commits: it reads only what is
			// produced now.
			produce(80, 88)
			m3 := startSaramaMember(t, st.v, a.KafkaAddr, group, topic, "m3", st.new())
			waitFor(t, 45*time.Second, "m3 to read the 8 new records", func() bool { return len(m3.Seen()) >= 8 })
			time.Sleep(time.Second) // room for a wrong re-read to show up
			for v := range m3.Seen() {
				var i int
				fmt.Sscanf(v, "g%d", &i)
				if i < 80 {
					t.Fatalf("m3 re-read %s after the restart: the committed offsets were not used", v)
				}
			}
		})
	}
}

// TestSaramaClusterAdmin runs the ClusterAdmin calls with sarama set to
// old and new Kafka versions: sarama picks each admin request's version
// from Config.Version.
func TestSaramaClusterAdmin(t *testing.T) {
	t.Parallel()
	a := StartAgent(t, "", "--batch-timeout", "20ms")
	for _, v := range []sarama.KafkaVersion{sarama.V1_0_0_0, sarama.V2_1_0_0, sarama.V2_4_0_0, sarama.V2_8_0_0, sarama.V3_9_0_0, sarama.MaxVersion} {
		t.Run(v.String(), func(t *testing.T) { testSaramaClusterAdmin(t, a, v) })
	}
}

func testSaramaClusterAdmin(t *testing.T, a *Agent, v sarama.KafkaVersion) {
	adm, err := sarama.NewClusterAdmin([]string{a.KafkaAddr}, saramaConfig(v))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	topic := "sarama-admin-" + v.String()
	retention := "3600000"
	if err := adm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 2, ReplicationFactor: 1, ConfigEntries: map[string]*string{"retention.ms": &retention}}, false); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	err = adm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 2, ReplicationFactor: 1}, false)
	if !errors.Is(err, sarama.ErrTopicAlreadyExists) {
		t.Fatalf("create again: %v, want %v", err, sarama.ErrTopicAlreadyExists)
	}
	if err := adm.CreateTopic(topic+"-validate", &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, true); err != nil {
		t.Fatalf("validate-only create: %v", err)
	}
	bad := "nope"
	err = adm.CreateTopic(topic+"-bad", &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1, ConfigEntries: map[string]*string{"retention.ms": &bad}}, false)
	if !errors.Is(err, sarama.ErrInvalidConfig) {
		t.Fatalf("create with a bad config: %v, want %v", err, sarama.ErrInvalidConfig)
	}

	topics, err := adm.ListTopics()
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := topics[topic]; !ok || d.NumPartitions != 2 {
		t.Fatalf("list topics: %v", topics)
	}
	if _, ok := topics[topic+"-validate"]; ok {
		t.Fatal("validate-only create made the topic")
	}
	if _, ok := topics[topic+"-bad"]; ok {
		t.Fatal("create with a bad config made the topic")
	}
	if got := topics[topic].ConfigEntries["retention.ms"]; got == nil || *got != retention {
		t.Fatalf("list topics: retention.ms = %v", got)
	}
	md, err := adm.DescribeTopics([]string{topic, topic + "-missing"})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range md {
		switch m.Name {
		case topic:
			if m.Err != sarama.ErrNoError || len(m.Partitions) != 2 {
				t.Fatalf("describe %s: %v, %d partitions", topic, m.Err, len(m.Partitions))
			}
		case topic + "-missing":
			if m.Err != sarama.ErrUnknownTopicOrPartition {
				t.Fatalf("describe missing: %v", m.Err)
			}
		}
	}

	// Configs: describe, full replacement, incremental.
	entry := func(name string) *sarama.ConfigEntry {
		t.Helper()
		es, err := adm.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: topic})
		if err != nil {
			t.Fatalf("describe config: %v", err)
		}
		for i := range es {
			if es[i].Name == name {
				return &es[i]
			}
		}
		return nil
	}
	// DescribeConfigs v0 (before Kafka 1.1) has no config source, only
	// is_default.
	fromTopic := func(e *sarama.ConfigEntry) bool {
		return e.Source == sarama.SourceTopic || (!v.IsAtLeast(sarama.V1_1_0_0) && !e.Default)
	}
	if e := entry("retention.ms"); e == nil || e.Value != retention || !fromTopic(e) {
		t.Fatalf("retention.ms: %+v", e)
	}
	if e := entry("cleanup.policy"); e == nil || e.Value != "delete" || !e.Default {
		t.Fatalf("cleanup.policy: %+v", e)
	}
	mmb := "2000000"
	if err := adm.AlterConfig(sarama.TopicResource, topic, map[string]*string{"max.message.bytes": &mmb}, false); err != nil {
		t.Fatalf("alter config: %v", err)
	}
	if e := entry("max.message.bytes"); e == nil || e.Value != mmb {
		t.Fatalf("after alter, max.message.bytes: %+v", e)
	}
	if e := entry("retention.ms"); e == nil || !e.Default {
		t.Fatalf("alter replaces every config, but retention.ms is %+v", e)
	}
	if err := adm.AlterConfig(sarama.TopicResource, topic, map[string]*string{"max.message.bytes": &bad}, false); !errors.Is(err, sarama.ErrInvalidConfig) {
		t.Fatalf("alter with a bad value: %v, want %v", err, sarama.ErrInvalidConfig)
	}
	// IncrementalAlterConfigs exists from Kafka 2.3; sarama refuses it
	// for older versions itself.
	ret2 := "7200000"
	if !v.IsAtLeast(sarama.V2_3_0_0) {
		ret2 = mmb
		if err := adm.AlterConfig(sarama.TopicResource, topic, map[string]*string{"retention.ms": &ret2}, false); err != nil {
			t.Fatalf("alter config: %v", err)
		}
	} else if err := adm.IncrementalAlterConfig(sarama.TopicResource, topic, map[string]sarama.IncrementalAlterConfigsEntry{
		"retention.ms":      {Operation: sarama.IncrementalAlterConfigsOperationSet, Value: &ret2},
		"max.message.bytes": {Operation: sarama.IncrementalAlterConfigsOperationDelete},
	}, false); err != nil {
		t.Fatalf("incremental alter: %v", err)
	}
	if e := entry("retention.ms"); e == nil || e.Value != ret2 {
		t.Fatalf("after incremental alter, retention.ms: %+v", e)
	}
	if e := entry("max.message.bytes"); e == nil || fromTopic(e) {
		t.Fatalf("after incremental delete, max.message.bytes: %+v", e)
	}
	// Broker configs.
	brokers, controller, err := adm.DescribeCluster()
	if err != nil || len(brokers) != 1 {
		t.Fatalf("describe cluster: %v, %v", brokers, err)
	}
	if controller != brokers[0].ID() {
		t.Fatalf("controller %d, broker %d", controller, brokers[0].ID())
	}
	bes, err := adm.DescribeConfig(sarama.ConfigResource{Type: sarama.BrokerResource, Name: strconv.Itoa(int(brokers[0].ID()))})
	if err != nil || len(bes) == 0 {
		t.Fatalf("describe broker config: %d entries, %v", len(bes), err)
	}
	// Dynamic broker configs can be altered; read-only ones cannot.
	if err := adm.AlterConfig(sarama.BrokerResource, strconv.Itoa(int(brokers[0].ID())), map[string]*string{"message.max.bytes": &mmb}, false); err != nil {
		t.Fatalf("altering the dynamic broker config message.max.bytes: %v", err)
	}
	brokerID := "9"
	if err := adm.AlterConfig(sarama.BrokerResource, strconv.Itoa(int(brokers[0].ID())), map[string]*string{"broker.id": &brokerID}, false); err == nil {
		t.Fatal("altering the read-only broker.id succeeded")
	}

	// Partitions: increase only.
	if err := adm.CreatePartitions(topic, 4, nil, false); err != nil {
		t.Fatalf("create partitions: %v", err)
	}
	if err := adm.CreatePartitions(topic, 3, nil, false); !errors.Is(err, sarama.ErrInvalidPartitions) {
		t.Fatalf("shrink partitions: %v, want %v", err, sarama.ErrInvalidPartitions)
	}
	waitFor(t, 15*time.Second, "4 partitions in metadata", func() bool {
		md, err := adm.DescribeTopics([]string{topic})
		return err == nil && len(md) == 1 && len(md[0].Partitions) == 4
	})

	// Groups: one committed through a sarama offset manager.
	group := topic + "-group"
	cfg := saramaConfig(v)
	client, err := sarama.NewClient([]string{a.KafkaAddr}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	sp, err := sarama.NewSyncProducerFromClient(client)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if _, _, err := sp.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder("x")}); err != nil {
			t.Fatal(err)
		}
	}
	om, err := sarama.NewOffsetManagerFromClient(group, client)
	if err != nil {
		t.Fatal(err)
	}
	pom, err := om.ManagePartition(topic, 1)
	if err != nil {
		t.Fatal(err)
	}
	pom.MarkOffset(3, "meta")
	om.Commit()
	pom.Close()
	om.Close()

	groups, err := adm.ListConsumerGroups()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := groups[group]; !ok {
		t.Fatalf("list groups: %v", groups)
	}
	descs, err := adm.DescribeConsumerGroups([]string{group})
	if err != nil || len(descs) != 1 || descs[0].State != "Empty" {
		t.Fatalf("describe group: %+v %v", descs, err)
	}
	offs, err := adm.ListConsumerGroupOffsets(group, map[string][]int32{topic: {0, 1}})
	if err != nil {
		t.Fatal(err)
	}
	if b := offs.GetBlock(topic, 1); b == nil || b.Offset != 3 || b.Metadata != "meta" {
		t.Fatalf("committed offset of partition 1: %+v", b)
	}
	if b := offs.GetBlock(topic, 0); b == nil || b.Offset != -1 {
		t.Fatalf("uncommitted partition 0: %+v", b)
	}
	all, err := adm.ListConsumerGroupOffsets(group, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b := all.GetBlock(topic, 1); b == nil || b.Offset != 3 {
		t.Fatalf("all offsets: partition 1 %+v", b)
	}
	// DeleteGroups exists from Kafka 1.1; sarama refuses it for older
	// versions itself.
	if v.IsAtLeast(sarama.V1_1_0_0) {
		if err := adm.DeleteConsumerGroup(group); err != nil {
			t.Fatalf("delete group: %v", err)
		}
		if err := adm.DeleteConsumerGroup(topic + "-no-such-group"); !errors.Is(err, sarama.ErrGroupIDNotFound) {
			t.Fatalf("delete unknown group: %v, want %v", err, sarama.ErrGroupIDNotFound)
		}
	}

	if err := adm.DeleteTopic(topic); err != nil {
		t.Fatalf("delete topic: %v", err)
	}
	if err := adm.DeleteTopic(topic); !errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
		t.Fatalf("delete again: %v, want %v", err, sarama.ErrUnknownTopicOrPartition)
	}
}

// TestSaramaVersions runs a produce/consume/commit round trip with sarama
// configured for old and new Kafka versions. Sarama derives each request's
// version from Config.Version (then clamps it to ApiVersions), so an old
// Version sends old request versions: the agent serves them from Kafka
// 0.11 on (record batches v2), and refuses older ones without harming
// other connections.
func TestSaramaVersions(t *testing.T) {
	t.Parallel()
	a := StartAgent(t, "", "--batch-timeout", "20ms")
	versions := []sarama.KafkaVersion{
		sarama.V0_11_0_0, sarama.V1_0_0_0, sarama.V2_1_0_0, sarama.V2_8_0_0,
		sarama.V3_6_0_0, sarama.V4_0_0_0, sarama.MaxVersion,
	}
	for _, v := range versions {
		for _, apiVersions := range []bool{true, false} {
			// Without ApiVersions sarama sends exactly the versions its
			// Config.Version implies; the oldest and newest cover that.
			if !apiVersions && v != sarama.V0_11_0_0 && v != sarama.MaxVersion {
				continue
			}
			name := v.String()
			if !apiVersions {
				name += "-noapiversions"
			}
			t.Run(name, func(t *testing.T) {
				topic := "sarama-v-" + name
				group := "sarama-vg-" + name
				a.CreateTopic(topic, 1)
				cfg := saramaConfig(v)
				cfg.ApiVersionsRequest = apiVersions
				cfg.Producer.Partitioner = sarama.NewManualPartitioner
				if v.IsAtLeast(sarama.V2_1_0_0) {
					cfg.Producer.Compression = sarama.CompressionZSTD
				} else {
					cfg.Producer.Compression = sarama.CompressionLZ4
				}
				sp, err := sarama.NewSyncProducer([]string{a.KafkaAddr}, cfg)
				if err != nil {
					t.Fatal(err)
				}
				defer sp.Close()
				var sent []*saramaMsg
				for i := 0; i < 5; i++ {
					m := &saramaMsg{key: "k", value: fmt.Sprintf("%s-%d", name, i), headers: map[string]string{"h": "v"}}
					p, off, err := sp.SendMessage(newSaramaMsg(topic, i, m))
					if err != nil {
						t.Fatalf("send: %v", err)
					}
					m.partition, m.offset = p, off
					sent = append(sent, m)
				}
				checkSaramaDelivered(t, a.KafkaAddr, cfg, topic, 1, sent)

				// Offsets through the group coordinator at this version.
				client, err := sarama.NewClient([]string{a.KafkaAddr}, cfg)
				if err != nil {
					t.Fatal(err)
				}
				defer client.Close()
				om, err := sarama.NewOffsetManagerFromClient(group, client)
				if err != nil {
					t.Fatal(err)
				}
				pom, err := om.ManagePartition(topic, 0)
				if err != nil {
					t.Fatal(err)
				}
				if off, _ := pom.NextOffset(); off != sarama.OffsetOldest {
					t.Fatalf("next offset before any commit: %d", off)
				}
				pom.MarkOffset(4, "")
				om.Commit()
				if err := pom.Close(); err != nil {
					t.Fatal(err)
				}
				om.Close()
				om2, err := sarama.NewOffsetManagerFromClient(group, client)
				if err != nil {
					t.Fatal(err)
				}
				defer om2.Close()
				pom2, err := om2.ManagePartition(topic, 0)
				if err != nil {
					t.Fatal(err)
				}
				defer pom2.Close()
				if off, _ := pom2.NextOffset(); off != 4 {
					t.Fatalf("committed offset read back as %d, want 4", off)
				}
				// Newest/oldest through ListOffsets at this version.
				if off, err := client.GetOffset(topic, 0, sarama.OffsetNewest); err != nil || off != 5 {
					t.Fatalf("newest offset %d, %v", off, err)
				}
				if off, err := client.GetOffset(topic, 0, sarama.OffsetOldest); err != nil || off != 0 {
					t.Fatalf("oldest offset %d, %v", off, err)
				}
			})
		}
	}

	// Before 0.11 sarama writes message sets (magic 0/1) with Produce v0-v2,
	// which the agent does not serve: the request fails, nothing is
	// written, and the agent keeps serving everyone else.
	t.Run("V0_10_2_0-refused", func(t *testing.T) {
		const topic = "sarama-v-old"
		a.CreateTopic(topic, 1)
		cfg := saramaConfig(sarama.V0_10_2_0)
		cfg.Producer.Retry.Max = 1
		cfg.Producer.Partitioner = sarama.NewManualPartitioner
		sp, err := sarama.NewSyncProducer([]string{a.KafkaAddr}, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer sp.Close()
		done := make(chan error, 1)
		go func() {
			_, _, err := sp.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder("old")})
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil {
				t.Fatal("a Produce v2 message set was accepted")
			}
			t.Logf("old produce refused: %v", err)
		case <-time.After(90 * time.Second):
			t.Fatal("old produce neither failed nor succeeded in 90s")
		}
		if got := a.ConsumeAll(testContext(t, 30*time.Second), topic); len(got) != 0 {
			t.Fatalf("refused produce stored %d partitions of records", len(got))
		}
		// The agent still serves a current client.
		cl := a.Client(kgo.DefaultProduceTopic(topic))
		if err := cl.ProduceSync(testContext(t, 30*time.Second), &kgo.Record{Value: []byte("new")}).FirstErr(); err != nil {
			t.Fatalf("produce after the refused one: %v", err)
		}
	})
}

// TestSaramaEdgeCases covers what sarama users hit beyond the happy path:
// acks=0, null values, topic auto-creation, oversized and misaddressed
// messages, reads and time lookups from the middle of a compressed batch in
// every codec, read_committed consumers, and the admin calls for offsets,
// log dirs and leaders.
func TestSaramaEdgeCases(t *testing.T) {
	t.Parallel()
	a := StartAgent(t, "", "--batch-timeout", "20ms", "--max-message-bytes", "100000")
	addr := []string{a.KafkaAddr}

	t.Run("acks0-and-null-values", func(t *testing.T) {
		const topic = "sarama-acks0"
		a.CreateTopic(topic, 1)
		cfg := saramaConfig(sarama.V3_9_0_0)
		cfg.Producer.RequiredAcks = sarama.NoResponse
		cfg.Producer.Partitioner = sarama.NewManualPartitioner
		sp, err := sarama.NewSyncProducer(addr, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer sp.Close()
		for i := 0; i < 10; i++ {
			m := &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(fmt.Sprintf("k%d", i))}
			if i%2 == 0 {
				m.Value = sarama.StringEncoder(fmt.Sprintf("v%d", i))
			} // odd: a null value (tombstone)
			if _, _, err := sp.SendMessage(m); err != nil {
				t.Fatalf("acks=0 send %d: %v", i, err)
			}
		}
		got := saramaReadPartition(t, a.KafkaAddr, saramaConfig(sarama.V3_9_0_0), topic, 0, sarama.OffsetOldest, 10)
		for i, m := range got {
			if string(m.Key) != fmt.Sprintf("k%d", i) {
				t.Fatalf("@%d: key %q", m.Offset, m.Key)
			}
			if i%2 == 1 && m.Value != nil {
				t.Fatalf("@%d: null value read back as %q", m.Offset, m.Value)
			}
			if i%2 == 0 && string(m.Value) != fmt.Sprintf("v%d", i) {
				t.Fatalf("@%d: value %q", m.Offset, m.Value)
			}
		}
	})

	t.Run("auto-create-too-large-bad-partition", func(t *testing.T) {
		cfg := saramaConfig(sarama.V3_9_0_0)
		cfg.Producer.Partitioner = sarama.NewManualPartitioner
		cfg.Producer.Retry.Max = 1
		sp, err := sarama.NewSyncProducer(addr, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer sp.Close()
		// Metadata for an unknown topic creates it (auto.create.topics.enable).
		if _, off, err := sp.SendMessage(&sarama.ProducerMessage{Topic: "sarama-auto", Value: sarama.StringEncoder("x")}); err != nil || off != 0 {
			t.Fatalf("produce to a new topic: offset %d, %v", off, err)
		}
		big := make([]byte, 200000)
		_, _, err = sp.SendMessage(&sarama.ProducerMessage{Topic: "sarama-auto", Value: sarama.ByteEncoder(big)})
		if !errors.Is(err, sarama.ErrMessageSizeTooLarge) {
			t.Fatalf("oversized message: %v, want %v", err, sarama.ErrMessageSizeTooLarge)
		}
		_, _, err = sp.SendMessage(&sarama.ProducerMessage{Topic: "sarama-auto", Partition: 7, Value: sarama.StringEncoder("x")})
		if err == nil {
			t.Fatal("produce to partition 7 of a 1-partition topic succeeded")
		}
		if got := saramaReadPartition(t, a.KafkaAddr, cfg, "sarama-auto", 0, sarama.OffsetOldest, 1); string(got[0].Value) != "x" {
			t.Fatalf("read %q", got[0].Value)
		}
	})

	// Reads and time lookups that start inside a batch sarama compressed:
	// the consumer skips the batch's earlier records, and ListOffsets by
	// time decodes the batch with the codec sarama used.
	for _, cc := range saramaCodecs {
		t.Run("mid-batch-"+cc.name, func(t *testing.T) {
			topic := "sarama-midbatch-" + cc.name
			a.CreateTopic(topic, 1)
			cfg := saramaConfig(sarama.V3_9_0_0)
			cfg.Producer.Partitioner = sarama.NewManualPartitioner
			cfg.Producer.Compression = cc.codec
			sp, err := sarama.NewSyncProducer(addr, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer sp.Close()
			base := time.Now().Add(-time.Hour).Truncate(time.Second)
			var batch []*sarama.ProducerMessage
			for i := 0; i < 50; i++ {
				batch = append(batch, &sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder(fmt.Sprintf("m%d", i)),
					Timestamp: base.Add(time.Duration(i) * time.Second)})
			}
			if err := sp.SendMessages(batch); err != nil {
				t.Fatal(err)
			}
			if batch[23].Offset != 23 || batch[22].Offset != 22 {
				t.Fatalf("offsets %d, %d", batch[22].Offset, batch[23].Offset)
			}
			ccfg := saramaConfig(sarama.V3_9_0_0)
			ccfg.Consumer.IsolationLevel = sarama.ReadCommitted
			got := saramaReadPartition(t, a.KafkaAddr, ccfg, topic, 0, 23, 27)
			for i, m := range got {
				if m.Offset != int64(23+i) || string(m.Value) != fmt.Sprintf("m%d", 23+i) {
					t.Fatalf("read %q at %d, want m%d at %d", m.Value, m.Offset, 23+i, 23+i)
				}
				if !m.Timestamp.Equal(base.Add(time.Duration(23+i) * time.Second)) {
					t.Fatalf("@%d: timestamp %v", m.Offset, m.Timestamp)
				}
			}
			client, err := sarama.NewClient(addr, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			off, err := client.GetOffset(topic, 0, base.Add(23*time.Second-500*time.Millisecond).UnixMilli())
			if err != nil || off != 23 {
				t.Fatalf("offset by the time of m23: %d, %v", off, err)
			}
		})
	}

	t.Run("admin-offsets-logdirs-leaders", func(t *testing.T) {
		const topic, group = "sarama-adm2", "sarama-adm2-g"
		a.CreateTopic(topic, 2)
		cfg := saramaConfig(sarama.V3_9_0_0)
		cfg.Producer.Partitioner = sarama.NewManualPartitioner
		sp, err := sarama.NewSyncProducer(addr, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer sp.Close()
		before := time.Now().Add(-time.Minute)
		for i := 0; i < 6; i++ {
			if _, _, err := sp.SendMessage(&sarama.ProducerMessage{Topic: topic, Partition: int32(i % 2), Value: sarama.StringEncoder("x")}); err != nil {
				t.Fatal(err)
			}
		}
		adm, err := sarama.NewClusterAdmin(addr, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer adm.Close()

		lo, err := adm.ListOffsets(map[string]map[int32]int64{topic: {0: sarama.OffsetNewest, 1: before.UnixMilli()}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if r := lo[topic][0]; r == nil || !saramaOK(r.Err) || r.Offset != 3 {
			t.Fatalf("newest of partition 0: %+v", r)
		}
		if r := lo[topic][1]; r == nil || !saramaOK(r.Err) || r.Offset != 0 {
			t.Fatalf("partition 1 by a time before the records: %+v", r)
		}

		resp, err := adm.AlterConsumerGroupOffsets(group, map[string]map[int32]sarama.OffsetAndMetadata{topic: {0: {Offset: 2, Metadata: "m", LeaderEpoch: -1}, 1: {Offset: 1, LeaderEpoch: -1}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		for p, kerr := range resp.Errors[topic] {
			if kerr != sarama.ErrNoError {
				t.Fatalf("alter group offsets [%d]: %v", p, kerr)
			}
		}
		if err := adm.DeleteConsumerGroupOffset(group, topic, 1); err != nil {
			t.Fatalf("delete group offset: %v", err)
		}
		offs, err := adm.ListConsumerGroupOffsets(group, map[string][]int32{topic: {0, 1}})
		if err != nil {
			t.Fatal(err)
		}
		if b := offs.GetBlock(topic, 0); b == nil || b.Offset != 2 || b.Metadata != "m" {
			t.Fatalf("altered offset of partition 0: %+v", b)
		}
		if b := offs.GetBlock(topic, 1); b == nil || b.Offset != -1 {
			t.Fatalf("deleted offset of partition 1: %+v", b)
		}

		brokers, _, err := adm.DescribeCluster()
		if err != nil {
			t.Fatal(err)
		}
		dirs, err := adm.DescribeLogDirs([]int32{brokers[0].ID()})
		if err != nil {
			t.Fatalf("describe log dirs: %v", err)
		}
		found := false
		for _, d := range dirs[brokers[0].ID()] {
			for _, tp := range d.Topics {
				if tp.Topic == topic && len(tp.Partitions) == 2 && tp.Partitions[0].Size > 0 {
					found = true
				}
			}
		}
		if !found {
			t.Fatalf("describe log dirs: %s not there with its bytes: %+v", topic, dirs)
		}
		res, err := adm.ElectLeaders(sarama.PreferredElection, map[string][]int32{topic: {0}})
		if err != nil {
			t.Fatalf("elect leaders: %v", err)
		}
		if r := res[topic][0]; r == nil || r.ErrorCode != sarama.ErrElectionNotNeeded {
			t.Fatalf("elect leaders [0]: %+v", r)
		}
		re, err := adm.ListPartitionReassignments(topic, []int32{0, 1})
		if err != nil || len(re[topic]) != 0 {
			t.Fatalf("list reassignments: %v %v", re, err)
		}
		// ClusterAdmin.DeleteRecords: TestSaramaDeleteRecords
		// (sarama_txn_test.go).
	})

	t.Run("static-member", func(t *testing.T) {
		const topic, group = "sarama-static", "sarama-static-g"
		a.CreateTopic(topic, 2)
		cfg := saramaConfig(sarama.V3_9_0_0)
		cfg.Consumer.Group.InstanceId = "instance-1"
		cfg.Consumer.Group.Session.Timeout = 10 * time.Second
		cfg.Consumer.Group.Heartbeat.Interval = 500 * time.Millisecond
		m := &saramaGroupMember{name: "static", claims: map[int32]bool{}, seen: map[string]int{}, done: make(chan struct{})}
		cg, err := sarama.NewConsumerGroup(addr, group, cfg)
		if err != nil {
			t.Fatal(err)
		}
		m.cg = cg
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			defer close(m.done)
			for ctx.Err() == nil {
				if err := cg.Consume(ctx, []string{topic}, m); err != nil {
					m.mu.Lock()
					m.errs = append(m.errs, err)
					m.mu.Unlock()
					return
				}
			}
		}()
		defer func() { cancel(); m.Close(t) }()
		waitFor(t, 30*time.Second, "the static member to own both partitions", func() bool { return len(m.Claims()) == 2 })
		adm, err := sarama.NewClusterAdmin(addr, saramaConfig(sarama.V3_9_0_0))
		if err != nil {
			t.Fatal(err)
		}
		defer adm.Close()
		descs, err := adm.DescribeConsumerGroups([]string{group})
		if err != nil || len(descs) != 1 || len(descs[0].Members) != 1 {
			t.Fatalf("describe: %+v %v", descs, err)
		}
		for _, mem := range descs[0].Members {
			if mem.GroupInstanceId == nil || *mem.GroupInstanceId != "instance-1" {
				t.Fatalf("member instance ID %v", mem.GroupInstanceId)
			}
		}
		for _, err := range m.Errs() {
			t.Errorf("static member: %v", err)
		}
		// Removing the static member by its instance ID (KIP-345 admin
		// leave) is answered per member. (sarama's loop then rejoins.)
		lr, err := adm.RemoveMemberFromConsumerGroup(group, []string{"instance-1"})
		if err != nil {
			t.Fatalf("remove member: %v", err)
		}
		if lr.Err != sarama.ErrNoError || len(lr.Members) != 1 || lr.Members[0].Err != sarama.ErrNoError {
			t.Fatalf("remove member: %+v", lr)
		}
	})

	// Transactions (Producer.Transaction.ID): sarama_txn_test.go.
}

// saramaOK reports whether err means success: sarama reports some
// per-partition results as ErrNoError rather than nil.
func saramaOK(err error) bool { return err == nil || errors.Is(err, sarama.ErrNoError) }

// TestSaramaIdempotentAcrossRestart restarts the agent while an idempotent
// sarama producer has requests in flight: sarama retries with the same
// producer ID and sequence numbers, and every message must end up stored
// exactly once, in send order.
func TestSaramaIdempotentAcrossRestart(t *testing.T) {
	t.Parallel()
	a := StartAgent(t, "", "--batch-timeout", "20ms")
	const topic, n = "sarama-idem-restart", 400
	a.CreateTopic(topic, 1)
	cfg := saramaConfig(sarama.V3_9_0_0)
	cfg.Producer.Idempotent = true
	cfg.Net.MaxOpenRequests = 1
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Producer.Retry.Max = 50
	cfg.Producer.Retry.Backoff = 100 * time.Millisecond
	cfg.Producer.Flush.Messages = 10
	cfg.Producer.Flush.Frequency = 10 * time.Millisecond
	cfg.Metadata.Retry.Max = 50
	ap, err := sarama.NewAsyncProducer([]string{a.KafkaAddr}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	acked := make(chan *sarama.ProducerMessage, n)
	failed := make(chan *sarama.ProducerError, n)
	go func() {
		for m := range ap.Successes() {
			acked <- m
		}
	}()
	go func() {
		for e := range ap.Errors() {
			failed <- e
		}
	}()
	for i := 0; i < n; i++ {
		ap.Input() <- &sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder(fmt.Sprintf("r%d", i)), Metadata: i}
		if i == n/2 {
			a.Restart()
		}
	}
	offsets := map[int]int64{}
	deadline := time.After(90 * time.Second)
	for len(offsets) < n {
		select {
		case m := <-acked:
			offsets[m.Metadata.(int)] = m.Offset
		case e := <-failed:
			t.Fatalf("message %v failed: %v", e.Msg.Metadata, e.Err)
		case <-deadline:
			t.Fatalf("%d of %d acknowledged after 90s", len(offsets), n)
		}
	}
	if err := ap.Close(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if offsets[i] != int64(i) {
			t.Fatalf("r%d acknowledged at offset %d", i, offsets[i])
		}
	}
	got := saramaReadPartition(t, a.KafkaAddr, saramaConfig(sarama.V3_9_0_0), topic, 0, sarama.OffsetOldest, n)
	for i, m := range got {
		if string(m.Value) != fmt.Sprintf("r%d", i) {
			t.Fatalf("offset %d holds %q", m.Offset, m.Value)
		}
	}
	if end, err := a.Admin().ListEndOffsets(testContext(t, 30*time.Second), topic); err != nil || end[topic][0].Offset != n {
		t.Fatalf("end offset %+v, %v: duplicates were stored", end[topic][0], err)
	}
}
