package e2e

// IBM/sarama's transactional producer and DeleteRecords against Sluice:
// committed and aborted transactions read back with read_committed and
// read_uncommitted partition consumers, a read_committed consumer held at
// an open transaction, consume-transform-produce with the consumed offsets
// in the transaction (AddMessageToTxn, from a partition consumer and from
// a group member with its generation), and ClusterAdmin.DeleteRecords
// moving the log start offset.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// saramaTxnConfig is a transactional producer config for transactional
// ID id: idempotent, one request in flight, Version 3.9.
func saramaTxnConfig(id string) *sarama.Config {
	cfg := saramaConfig(sarama.V3_9_0_0)
	cfg.Producer.Idempotent = true
	cfg.Producer.Transaction.ID = id
	cfg.Producer.Transaction.Timeout = 30 * time.Second
	cfg.Net.MaxOpenRequests = 1
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	return cfg
}

// saramaValues reads n messages of topic[p] from the oldest offset with
// isolation level iso and returns their values and offsets.
func saramaValues(t *testing.T, addr, topic string, p int32, iso sarama.IsolationLevel, n int) ([]string, []int64) {
	t.Helper()
	cfg := saramaConfig(sarama.V3_9_0_0)
	cfg.Consumer.IsolationLevel = iso
	var vs []string
	var offs []int64
	for _, m := range saramaReadPartition(t, addr, cfg, topic, p, sarama.OffsetOldest, n) {
		vs = append(vs, string(m.Value))
		offs = append(offs, m.Offset)
	}
	return vs, offs
}

func TestSaramaTxnCommitAbort(t *testing.T) {
	t.Parallel()
	a := StartAgent(t, "", "--batch-timeout", "20ms")
	const topic = "sarama-txn"
	a.CreateTopic(topic, 2)
	sp, err := sarama.NewSyncProducer([]string{a.KafkaAddr}, saramaTxnConfig("sarama-txn-1"))
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	if !sp.IsTransactional() {
		t.Fatal("producer is not transactional")
	}
	// Three transactions: committed, aborted, committed; each writes 3
	// records to each partition, so the aborted one sits between two
	// committed ones in both partitions.
	run := func(name string, commit bool) {
		t.Helper()
		if err := sp.BeginTxn(); err != nil {
			t.Fatalf("%s: begin: %v", name, err)
		}
		for i := 0; i < 6; i++ {
			p := int32(i % 2)
			m := &sarama.ProducerMessage{Topic: topic, Partition: p, Value: sarama.StringEncoder(fmt.Sprintf("%s-%d-%d", name, p, i/2))}
			if _, _, err := sp.SendMessage(m); err != nil {
				t.Fatalf("%s: send %d: %v", name, i, err)
			}
		}
		if commit {
			err = sp.CommitTxn()
		} else {
			err = sp.AbortTxn()
		}
		if err != nil {
			t.Fatalf("%s: end (commit %v): %v", name, commit, err)
		}
		if s := sp.TxnStatus(); s&sarama.ProducerTxnFlagReady == 0 {
			t.Fatalf("%s: producer status %v after ending the transaction", name, s)
		}
	}
	run("c1", true)
	run("a1", false)
	run("c2", true)

	for p := int32(0); p < 2; p++ {
		want := func(names ...string) []string {
			var out []string
			for _, n := range names {
				for i := 0; i < 3; i++ {
					out = append(out, fmt.Sprintf("%s-%d-%d", n, p, i))
				}
			}
			return out
		}
		// read_committed: the committed records only, the aborted ones
		// skipped although later committed data follows them.
		vs, _ := saramaValues(t, a.KafkaAddr, topic, p, sarama.ReadCommitted, 6)
		if fmt.Sprint(vs) != fmt.Sprint(want("c1", "c2")) {
			t.Fatalf("[%d] read_committed: %v, want %v", p, vs, want("c1", "c2"))
		}
		// read_uncommitted: every data record, no control record as a
		// message: each transaction's commit/abort marker takes the offset
		// after its 3 records.
		vs, offs := saramaValues(t, a.KafkaAddr, topic, p, sarama.ReadUncommitted, 9)
		if fmt.Sprint(vs) != fmt.Sprint(want("c1", "a1", "c2")) {
			t.Fatalf("[%d] read_uncommitted: %v, want %v", p, vs, want("c1", "a1", "c2"))
		}
		if fmt.Sprint(offs) != "[0 1 2 4 5 6 8 9 10]" {
			t.Fatalf("[%d] read_uncommitted offsets %v, want the markers at 3, 7 and 11 skipped", p, offs)
		}
	}
	end, err := a.Admin().ListEndOffsets(testContext(t, 30*time.Second), topic)
	if err != nil {
		t.Fatal(err)
	}
	for p := int32(0); p < 2; p++ {
		if o, _ := end.Lookup(topic, p); o.Offset != 12 {
			t.Fatalf("[%d] end offset %+v, want 12 (9 records and 3 markers)", p, o)
		}
	}
}

// TestSaramaTxnConsumeTransformProduce reads an input topic, writes
// transformed records to an output topic and puts the consumed offsets in
// the same transaction with AddMessageToTxn: a committed transaction moves
// the group's offset and shows its output, an aborted one does neither.
func TestSaramaTxnConsumeTransformProduce(t *testing.T) {
	t.Parallel()
	a := StartAgent(t, "", "--batch-timeout", "20ms")
	const in, out, group = "sarama-ctp-in", "sarama-ctp-out", "sarama-ctp-g"
	a.CreateTopic(in, 1)
	a.CreateTopic(out, 1)
	var rs []*kgo.Record
	for i := 0; i < 5; i++ {
		rs = append(rs, &kgo.Record{Topic: in, Value: []byte(fmt.Sprintf("in-%d", i))})
	}
	if err := a.Client().ProduceSync(testContext(t, 30*time.Second), rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	msgs := saramaReadPartition(t, a.KafkaAddr, saramaConfig(sarama.V3_9_0_0), in, 0, sarama.OffsetOldest, 5)

	sp, err := sarama.NewSyncProducer([]string{a.KafkaAddr}, saramaTxnConfig("sarama-ctp-1"))
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	transform := func(ms []*sarama.ConsumerMessage, commit bool) {
		t.Helper()
		if err := sp.BeginTxn(); err != nil {
			t.Fatalf("begin: %v", err)
		}
		for _, m := range ms {
			if _, _, err := sp.SendMessage(&sarama.ProducerMessage{Topic: out, Value: sarama.StringEncoder("out-" + string(m.Value))}); err != nil {
				t.Fatalf("send: %v", err)
			}
			if err := sp.AddMessageToTxn(m, group, nil); err != nil {
				t.Fatalf("add message %d to the transaction: %v", m.Offset, err)
			}
		}
		if commit {
			err = sp.CommitTxn()
		} else {
			err = sp.AbortTxn()
		}
		if err != nil {
			t.Fatalf("end (commit %v): %v", commit, err)
		}
	}
	committed := func() int64 {
		t.Helper()
		offs, err := a.Admin().FetchOffsets(testContext(t, 30*time.Second), group)
		if err != nil {
			t.Fatal(err)
		}
		o, ok := offs.Lookup(in, 0)
		if !ok {
			return -1
		}
		if o.Err != nil {
			t.Fatalf("committed offset: %v", o.Err)
		}
		return o.At
	}
	transform(msgs[:3], true)
	if got := committed(); got != 3 {
		t.Fatalf("after the committed transaction the group is at %d, want 3", got)
	}
	transform(msgs[3:], false)
	if got := committed(); got != 3 {
		t.Fatalf("after the aborted transaction the group is at %d, want still 3", got)
	}
	// A committed transaction after the abort, for the read_committed
	// reader to pass over the aborted output.
	transform(msgs[3:], true)
	if got := committed(); got != 5 {
		t.Fatalf("after the second committed transaction the group is at %d, want 5", got)
	}
	vs, _ := saramaValues(t, a.KafkaAddr, out, 0, sarama.ReadCommitted, 5)
	if fmt.Sprint(vs) != "[out-in-0 out-in-1 out-in-2 out-in-3 out-in-4]" {
		t.Fatalf("read_committed output: %v", vs)
	}
	// A sarama group consumer resumes where the transactions left it.
	offs, err := sarama.NewOffsetManagerFromClient(group, mustSaramaClient(t, a.KafkaAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer offs.Close()
	pom, err := offs.ManagePartition(in, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer pom.Close()
	if off, _ := pom.NextOffset(); off != 5 {
		t.Fatalf("sarama's offset manager reads the group at %d, want 5", off)
	}
}

func mustSaramaClient(t *testing.T, addr string) sarama.Client {
	t.Helper()
	c, err := sarama.NewClient([]string{addr}, saramaConfig(sarama.V3_9_0_0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestSaramaDeleteRecords moves the log start offset with
// ClusterAdmin.DeleteRecords: a consumer from the oldest offset starts
// there, and deleting past the end is refused with OFFSET_OUT_OF_RANGE.
func TestSaramaDeleteRecords(t *testing.T) {
	t.Parallel()
	a := StartAgent(t, "", "--batch-timeout", "20ms")
	const topic = "sarama-delete-records"
	a.CreateTopic(topic, 2)
	var rs []*kgo.Record
	for i := 0; i < 20; i++ {
		rs = append(rs, &kgo.Record{Topic: topic, Partition: int32(i % 2), Value: []byte(fmt.Sprintf("v-%d-%d", i%2, i/2))})
	}
	cl := a.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := cl.ProduceSync(testContext(t, 30*time.Second), rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	adm, err := sarama.NewClusterAdmin([]string{a.KafkaAddr}, saramaConfig(sarama.V3_9_0_0))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	if err := adm.DeleteRecords(topic, map[int32]int64{0: 4, 1: 7}); err != nil {
		t.Fatalf("delete records: %v", err)
	}
	client := mustSaramaClient(t, a.KafkaAddr)
	for p, start := range map[int32]int64{0: 4, 1: 7} {
		if off, err := client.GetOffset(topic, p, sarama.OffsetOldest); err != nil || off != start {
			t.Fatalf("[%d] oldest offset %d, %v; want %d", p, off, err, start)
		}
		ms := saramaReadPartition(t, a.KafkaAddr, saramaConfig(sarama.V3_9_0_0), topic, p, sarama.OffsetOldest, int(10-start))
		for i, m := range ms {
			if m.Offset != start+int64(i) || string(m.Value) != fmt.Sprintf("v-%d-%d", p, start+int64(i)) {
				t.Fatalf("[%d] message %d: %q at %d, want offset %d", p, i, m.Value, m.Offset, start+int64(i))
			}
		}
	}
	// Past the high watermark: refused, nothing moves.
	err = adm.DeleteRecords(topic, map[int32]int64{0: 11})
	if !errors.Is(err, sarama.ErrOffsetOutOfRange) {
		t.Fatalf("delete records past the end: %v, want OFFSET_OUT_OF_RANGE", err)
	}
	if off, err := client.GetOffset(topic, 0, sarama.OffsetOldest); err != nil || off != 4 {
		t.Fatalf("[0] oldest offset after the refused delete %d, %v; want 4", off, err)
	}
}

// saramaTxnHandler is a consume-transform-produce sarama group member:
// each message read is written to out and its offset added to the
// producer's transaction with the session's generation and member ID
// (TxnOffsetCommit v3, checked by the agent as KIP-447 says), one
// transaction per message.
type saramaTxnHandler struct {
	sp    sarama.SyncProducer
	group string
	out   string

	mu   sync.Mutex // guards sp's transactions and the fields below
	done int
	errs []error
}

func (h *saramaTxnHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *saramaTxnHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h *saramaTxnHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for m := range claim.Messages() {
		if err := h.transform(sess, m); err != nil {
			h.mu.Lock()
			h.errs = append(h.errs, err)
			h.mu.Unlock()
			return err
		}
	}
	return nil
}

func (h *saramaTxnHandler) transform(sess sarama.ConsumerGroupSession, m *sarama.ConsumerMessage) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.sp.BeginTxn(); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	out := &sarama.ProducerMessage{Topic: h.out, Value: sarama.StringEncoder("out-" + string(m.Value))}
	if _, _, err := h.sp.SendMessage(out); err != nil {
		_ = h.sp.AbortTxn()
		return fmt.Errorf("send: %w", err)
	}
	meta := &sarama.ConsumerGroupMetadata{GroupID: h.group, GenerationID: sess.GenerationID(), MemberID: sess.MemberID()}
	if err := h.sp.AddMessageToTxnWithGroupMetadata(m, meta, nil); err != nil {
		_ = h.sp.AbortTxn()
		return fmt.Errorf("add message: %w", err)
	}
	if err := h.sp.CommitTxn(); err != nil {
		return fmt.Errorf("commit [%d]@%d: %w", m.Partition, m.Offset, err)
	}
	h.done++
	return nil
}

func (h *saramaTxnHandler) progress() (int, []error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.done, append([]error(nil), h.errs...)
}

// TestSaramaTxnGroupMember runs consume-transform-produce from a sarama
// consumer group member, with its generation and member ID in each
// transactional offset commit: every input record is transformed exactly
// once and the group's offsets end at the input's end.
func TestSaramaTxnGroupMember(t *testing.T) {
	t.Parallel()
	a := StartAgent(t, "", "--batch-timeout", "20ms")
	const in, out, group, n = "sarama-ctpg-in", "sarama-ctpg-out", "sarama-ctpg-g", 12
	a.CreateTopic(in, 2)
	a.CreateTopic(out, 1)
	var rs []*kgo.Record
	for i := 0; i < n; i++ {
		rs = append(rs, &kgo.Record{Topic: in, Partition: int32(i % 2), Value: []byte(fmt.Sprintf("in-%d", i))})
	}
	if err := a.Client(kgo.RecordPartitioner(kgo.ManualPartitioner())).ProduceSync(testContext(t, 30*time.Second), rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	sp, err := sarama.NewSyncProducer([]string{a.KafkaAddr}, saramaTxnConfig("sarama-ctpg-1"))
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	cfg := saramaConfig(sarama.V3_9_0_0)
	cfg.Consumer.IsolationLevel = sarama.ReadCommitted
	cfg.Consumer.Offsets.AutoCommit.Enable = false
	cfg.Consumer.Group.Session.Timeout = 10 * time.Second
	cfg.Consumer.Group.Heartbeat.Interval = 500 * time.Millisecond
	cg, err := sarama.NewConsumerGroup([]string{a.KafkaAddr}, group, cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := &saramaTxnHandler{sp: sp, group: group, out: out}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		var err error
		for ctx.Err() == nil && err == nil {
			err = cg.Consume(ctx, []string{in}, h)
		}
		done <- err
	}()
	waitFor(t, 60*time.Second, "every input record to be transformed", func() bool {
		d, errs := h.progress()
		return d >= n || len(errs) > 0
	})
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("consume: %v", err)
	}
	if err := cg.Close(); err != nil {
		t.Errorf("close group: %v", err)
	}
	d, errs := h.progress()
	for _, err := range errs {
		t.Errorf("transform: %v", err)
	}
	if d != n {
		t.Fatalf("%d transactions committed, want %d", d, n)
	}
	offs, err := a.Admin().FetchOffsets(testContext(t, 30*time.Second), group)
	if err != nil {
		t.Fatal(err)
	}
	for p := int32(0); p < 2; p++ {
		if o, ok := offs.Lookup(in, p); !ok || o.Err != nil || o.At != n/2 {
			t.Fatalf("group offset [%d] %+v, want %d", p, o, n/2)
		}
	}
	vs, _ := saramaValues(t, a.KafkaAddr, out, 0, sarama.ReadCommitted, n)
	seen := map[string]int{}
	for _, v := range vs {
		seen[v]++
	}
	for i := 0; i < n; i++ {
		if v := fmt.Sprintf("out-in-%d", i); seen[v] != 1 {
			t.Fatalf("%s in the output %d times: %v", v, seen[v], vs)
		}
	}
}

// TestSaramaTxnReadCommittedWaitsForOpen checks that a sarama
// read_committed consumer stops at an open transaction's first offset
// (the last stable offset), even when non-transactional records follow
// it, and gets everything, in order, once the transaction commits; a
// read_uncommitted consumer reads past it at once.
func TestSaramaTxnReadCommittedWaitsForOpen(t *testing.T) {
	t.Parallel()
	a := StartAgent(t, "", "--batch-timeout", "20ms")
	const topic = "sarama-txn-lso"
	a.CreateTopic(topic, 1)
	sp, err := sarama.NewSyncProducer([]string{a.KafkaAddr}, saramaTxnConfig("sarama-lso-1"))
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	if err := sp.BeginTxn(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := sp.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder("open-0")}); err != nil {
		t.Fatal(err)
	}
	if err := a.Client().ProduceSync(testContext(t, 30*time.Second), &kgo.Record{Topic: topic, Value: []byte("plain-1")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// read_uncommitted: both, at once.
	if vs, offs := saramaValues(t, a.KafkaAddr, topic, 0, sarama.ReadUncommitted, 2); fmt.Sprint(vs, offs) != "[open-0 plain-1] [0 1]" {
		t.Fatalf("read_uncommitted while the transaction is open: %v %v", vs, offs)
	}
	cfg := saramaConfig(sarama.V3_9_0_0)
	cfg.Consumer.IsolationLevel = sarama.ReadCommitted
	c, err := sarama.NewConsumer([]string{a.KafkaAddr}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pc, err := c.ConsumePartition(topic, 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	// Nothing below the last stable offset (0) while the transaction is
	// open: over a few long polls, no message may arrive.
	select {
	case m := <-pc.Messages():
		t.Fatalf("read_committed got %q at %d while the transaction at 0 is open", m.Value, m.Offset)
	case err := <-pc.Errors():
		t.Fatal(err)
	case <-time.After(2 * time.Second):
	}
	if err := sp.CommitTxn(); err != nil {
		t.Fatal(err)
	}
	var got []string
	deadline := time.After(60 * time.Second)
	for len(got) < 2 {
		select {
		case m := <-pc.Messages():
			got = append(got, fmt.Sprintf("%s@%d", m.Value, m.Offset))
		case err := <-pc.Errors():
			t.Fatal(err)
		case <-deadline:
			t.Fatalf("read_committed after the commit: %v after 60s", got)
		}
	}
	if fmt.Sprint(got) != "[open-0@0 plain-1@1]" {
		t.Fatalf("read_committed after the commit: %v", got)
	}
}

// TestSaramaTxnCluster runs sarama's transactional producer on a
// three-agent cluster (PostgreSQL, S3), bootstrapped from one agent, with
// a transaction coordinator and a group coordinator on different agents:
// committed and aborted transactions over partitions led by every agent,
// with consumed offsets in them, read back through a third agent.
func TestSaramaTxnCluster(t *testing.T) {
	t.Parallel()
	c := StartCluster(t, clusterOpts{zones: []string{"", "", ""}, extra: []string{"--batch-timeout", "20ms"}})
	ctx := testContext(t, 150*time.Second)
	const topic, in, id, partitions = "sarama-cluster-txn", "sarama-cluster-txn-in", "sarama-cluster-txn-1", 6
	c.Agents[0].CreateTopic(topic, partitions)
	c.Agents[0].CreateTopic(in, 1)
	probe := c.Client()
	txnNode := txnCoordinator(t, ctx, c, probe, id)
	group := ""
	for i := 0; i < 100 && group == ""; i++ {
		g := fmt.Sprintf("sarama-cluster-txn-g%d", i)
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.CoordinatorKey, req.CoordinatorKeys = g, []string{g}
		resp, err := req.RequestWith(ctx, probe)
		if err != nil || len(resp.Coordinators) != 1 || resp.Coordinators[0].ErrorCode != 0 {
			t.Fatalf("find coordinator of %s: %v %+v", g, err, resp)
		}
		if resp.Coordinators[0].NodeID != txnNode {
			group = g
		}
	}
	if group == "" {
		t.Fatal("every group hashed to the transaction coordinator")
	}
	var rs []*kgo.Record
	for i := 0; i < 3; i++ {
		rs = append(rs, &kgo.Record{Topic: in, Value: []byte(fmt.Sprintf("in-%d", i))})
	}
	if err := probe.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	msgs := saramaReadPartition(t, c.Agents[2].KafkaAddr, saramaConfig(sarama.V3_9_0_0), in, 0, sarama.OffsetOldest, 3)

	sp, err := sarama.NewSyncProducer([]string{c.Agents[1].KafkaAddr}, saramaTxnConfig(id))
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	for ti, commit := range []bool{true, false, true} {
		if err := sp.BeginTxn(); err != nil {
			t.Fatal(err)
		}
		for p := int32(0); p < partitions; p++ {
			v := fmt.Sprintf("t%d-%d", ti, p)
			if _, _, err := sp.SendMessage(&sarama.ProducerMessage{Topic: topic, Partition: p, Value: sarama.StringEncoder(v)}); err != nil {
				t.Fatalf("send %s: %v", v, err)
			}
		}
		if err := sp.AddMessageToTxn(msgs[ti], group, nil); err != nil {
			t.Fatal(err)
		}
		if commit {
			err = sp.CommitTxn()
		} else {
			err = sp.AbortTxn()
		}
		if err != nil {
			t.Fatalf("transaction %d (commit %v): %v", ti, commit, err)
		}
	}
	for p := int32(0); p < partitions; p++ {
		vs, offs := saramaValues(t, c.Agents[2].KafkaAddr, topic, p, sarama.ReadCommitted, 2)
		if want := fmt.Sprintf("[t0-%d t2-%d] [0 4]", p, p); fmt.Sprint(vs, " ", offs) != want {
			t.Fatalf("[%d] read_committed %v %v, want %s", p, vs, offs, want)
		}
	}
	// The last committed transaction added in-2: offset 3; the aborted
	// one's offset (2) never showed.
	offs, err := kadm.NewClient(probe).FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := offs.Lookup(in, 0); !ok || o.Err != nil || o.At != 3 {
		t.Fatalf("group %s committed %+v, want 3", group, o)
	}
}
