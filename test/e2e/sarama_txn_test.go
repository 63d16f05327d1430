package e2e

// IBM/sarama's transactional producer and DeleteRecords against Sluice:
// committed and aborted transactions read back with read_committed and
// read_uncommitted partition consumers, consume-transform-produce with the
// consumed offsets in the transaction (AddMessageToTxn), and
// ClusterAdmin.DeleteRecords moving the log start offset.

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"
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
