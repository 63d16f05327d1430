package e2e

// kafkajs transactions and deleteTopicRecords against Sluice: the
// scenarios are kafkajs/txn.js and kafkajs/records.js; what they commit
// is checked with kadm too.

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestKafkajsTransactions(t *testing.T) {
	t.Parallel()
	requireKafkajs(t)
	a := StartAgent(t, "", "--batch-timeout", "20ms")
	const topic, in, group, partitions = "kafkajs-txn", "kafkajs-txn-in", "kafkajs-txn-g", 2
	a.CreateTopic(topic, partitions)
	a.CreateTopic(in, 1)
	const ctpIn, ctpOut, ctpN = "kafkajs-txn-ctp-in", "kafkajs-txn-ctp-out", 6
	a.CreateTopic(ctpIn, 2)
	a.CreateTopic(ctpOut, 1)
	var rs []*kgo.Record
	for i := 0; i < ctpN; i++ {
		rs = append(rs, &kgo.Record{Topic: ctpIn, Partition: int32(i % 2), Value: []byte(fmt.Sprintf("in-%d", i))})
	}
	if err := a.Client(kgo.RecordPartitioner(kgo.ManualPartitioner())).ProduceSync(testContext(t, 30*time.Second), rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	lines := runKafkajs(t, "txn", map[string]any{
		"broker": a.KafkaAddr, "topic": topic, "in": in, "group": group, "partitions": partitions, "txnId": "kafkajs-txn-1",
		"ctpIn": ctpIn, "ctpOut": ctpOut, "ctpN": ctpN,
	})

	// Consume-transform-produce: every input record transformed once (a
	// record redelivered after a lost commit would show twice), the
	// group's offsets at the ends, the output complete under
	// read_committed.
	if len(lines["ctp"]) != ctpN {
		t.Fatalf("%d records transformed, want %d: %s", len(lines["ctp"]), ctpN, lines["ctp"])
	}
	ctpOffs, err := a.Admin().FetchOffsets(testContext(t, 30*time.Second), group+"-ctp")
	if err != nil {
		t.Fatal(err)
	}
	for p := int32(0); p < 2; p++ {
		if o, ok := ctpOffs.Lookup(ctpIn, p); !ok || o.Err != nil || o.At != ctpN/2 {
			t.Fatalf("group %s-ctp committed [%d] %+v, want %d", group, p, o, ctpN/2)
		}
	}
	rc := a.Client(kgo.ConsumeTopics(ctpOut), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	outSeen := map[string]int{}
	for n := 0; n < ctpN; {
		fs := rc.PollFetches(testContext(t, 30*time.Second))
		if err := fs.Err(); err != nil {
			t.Fatalf("read %s: %v", ctpOut, err)
		}
		fs.EachRecord(func(r *kgo.Record) { outSeen[string(r.Value)]++; n++ })
	}
	for i := 0; i < ctpN; i++ {
		if v := fmt.Sprintf("out-in-%d", i); outSeen[v] != 1 {
			t.Fatalf("%s in %s %d times: %v", v, ctpOut, outSeen[v], outSeen)
		}
	}

	// Every send acknowledged without error; each transaction's records
	// follow the previous transaction's marker.
	type sent struct {
		Txn       string `json:"txn"`
		Partition int32  `json:"partition"`
		Offset    string `json:"offset"`
		Error     int    `json:"error"`
	}
	base := map[string]map[int32]int64{}
	for _, raw := range lines["sent"] {
		var s sent
		if err := json.Unmarshal(raw, &s); err != nil {
			t.Fatal(err)
		}
		off, err := strconv.ParseInt(s.Offset, 10, 64)
		if err != nil || s.Error != 0 {
			t.Fatalf("send %+v", s)
		}
		if base[s.Txn] == nil {
			base[s.Txn] = map[int32]int64{}
		}
		base[s.Txn][s.Partition] = off
	}
	wantBase := map[string]int64{"c1": 0, "a1": 4, "c2": 8, "o1": 12, "o2": 14}
	for txn, want := range wantBase {
		for p := int32(0); p < partitions; p++ {
			if got, ok := base[txn][p]; !ok || got != want {
				t.Fatalf("transaction %s: [%d] base offset %d (sent %v), want %d", txn, p, got, ok, want)
			}
		}
	}

	// sendOffsets: the committed transaction's offset, kept through the
	// aborted one.
	type offsets struct {
		After      string   `json:"after"`
		Partitions [][2]any `json:"partitions"`
	}
	for _, raw := range lines["offsets"] {
		var o offsets
		if err := json.Unmarshal(raw, &o); err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(o.Partitions); got != "[[0 3]]" {
			t.Fatalf("kafkajs fetchOffsets after %s: %s, want partition 0 at 3", o.After, got)
		}
	}
	if len(lines["offsets"]) != 2 {
		t.Fatalf("%d offsets lines, want 2", len(lines["offsets"]))
	}
	offs, err := a.Admin().FetchOffsets(testContext(t, 30*time.Second), group)
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := offs.Lookup(in, 0); !ok || o.Err != nil || o.At != 3 {
		t.Fatalf("group %s committed %+v, want %s[0] at 3", group, o, in)
	}

	// What each reader saw, per partition, in order.
	type read struct {
		Reader    string `json:"reader"`
		Partition int32  `json:"partition"`
		Offset    string `json:"offset"`
		Value     string `json:"value"`
	}
	got := map[string]map[int32][]string{}
	for _, raw := range lines["read"] {
		var r read
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatal(err)
		}
		if got[r.Reader] == nil {
			got[r.Reader] = map[int32][]string{}
		}
		got[r.Reader][r.Partition] = append(got[r.Reader][r.Partition], r.Offset+":"+r.Value)
	}
	for p := int32(0); p < partitions; p++ {
		var committed, all []string
		add := func(txn string, n int, aborted bool) {
			for i := 0; i < n; i++ {
				v := fmt.Sprintf("%d:%s-%d-%d", wantBase[txn]+int64(i), txn, p, i)
				all = append(all, v)
				if !aborted {
					committed = append(committed, v)
				}
			}
		}
		add("c1", 3, false)
		add("a1", 3, true)
		add("c2", 3, false)
		add("o1", 1, false)
		add("o2", 1, true)
		if fmt.Sprint(got["committed"][p]) != fmt.Sprint(committed) {
			t.Fatalf("[%d] read_committed kafkajs consumer read %v, want %v", p, got["committed"][p], committed)
		}
		if fmt.Sprint(got["uncommitted"][p]) != fmt.Sprint(all) {
			t.Fatalf("[%d] read_uncommitted kafkajs consumer read %v, want %v (no control records)", p, got["uncommitted"][p], all)
		}
	}
}

func TestKafkajsDeleteTopicRecords(t *testing.T) {
	t.Parallel()
	requireKafkajs(t)
	a := StartAgent(t, "", "--batch-timeout", "20ms")
	const topic, group = "kafkajs-records", "kafkajs-records-g"
	a.CreateTopic(topic, 2)
	var rs []*kgo.Record
	for i := 0; i < 20; i++ {
		rs = append(rs, &kgo.Record{Topic: topic, Partition: int32(i % 2), Value: []byte(fmt.Sprintf("v-%d-%d", i%2, i/2))})
	}
	cl := a.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := cl.ProduceSync(testContext(t, 30*time.Second), rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	lines := runKafkajs(t, "records", map[string]any{"broker": a.KafkaAddr, "topic": topic, "group": group})

	type offset struct {
		Partition int32  `json:"partition"`
		Offset    string `json:"offset"`
		High      string `json:"high"`
		Low       string `json:"low"`
	}
	var o struct{ Offsets []offset }
	for _, kind := range []string{"offsets", "offsetsAfter"} {
		one(t, lines, kind, &o)
		if got := fmt.Sprint(o.Offsets); got != "[{0 10 10 4} {1 10 10 10}]" {
			t.Fatalf("%s: kafkajs fetchTopicOffsets %s, want partition 0 from 4 and partition 1 empty, both ending at 10", kind, got)
		}
	}
	var reads []string
	for _, raw := range lines["read"] {
		var r struct {
			Partition int32  `json:"partition"`
			Offset    string `json:"offset"`
			Value     string `json:"value"`
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatal(err)
		}
		reads = append(reads, fmt.Sprintf("%d@%s:%s", r.Partition, r.Offset, r.Value))
	}
	sort.Strings(reads)
	if got := fmt.Sprint(reads); got != "[0@4:v-0-4 0@5:v-0-5 0@6:v-0-6 0@7:v-0-7 0@8:v-0-8 0@9:v-0-9]" {
		t.Fatalf("consumer from the beginning read %s, want partition 0 from offset 4 only", got)
	}
	var past struct{ Error *string }
	one(t, lines, "pastEnd", &past)
	if past.Error == nil || *past.Error != "OFFSET_OUT_OF_RANGE" {
		t.Fatalf("deleteTopicRecords past the end: %s, want OFFSET_OUT_OF_RANGE", lines["pastEnd"][0])
	}
	// The agent agrees.
	start, err := a.Admin().ListStartOffsets(testContext(t, 30*time.Second), topic)
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[int32]int64{0: 4, 1: 10} {
		if so, _ := start.Lookup(topic, p); so.Err != nil || so.Offset != want {
			t.Fatalf("[%d] log start offset %+v, want %d", p, so, want)
		}
	}
}
