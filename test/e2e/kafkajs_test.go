package e2e

// kafkajs (Node.js) against Sluice. The scenarios are small scripts in
// kafkajs/ (see kafkajs/lib.js for their JSON protocol), run with node;
// scripts/install-test-deps.sh installs their modules with `npm ci`. What
// they produce is read back with franz-go, what they consume is produced
// with franz-go, and what they commit is checked with kadm.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

const kafkajsDir = "kafkajs"

// requireKafkajs returns the node binary, or skips the test when node or
// the kafkajs modules are missing. Under CI (CI=true) it fails instead: a
// broken install must not pass as skipped tests.
func requireKafkajs(t *testing.T) string {
	t.Helper()
	missing := func(what string) {
		t.Helper()
		msg := what + "; run scripts/install-test-deps.sh (npm ci in test/e2e/kafkajs)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node is not installed")
	}
	if _, err := os.Stat(filepath.Join(kafkajsDir, "node_modules", "kafkajs", "package.json")); err != nil {
		missing("the kafkajs modules are not installed")
	}
	return node
}

// kafkajsLine is one JSON line of a scenario's output; Raw keeps the whole
// line for the fields a check needs.
type kafkajsLine struct {
	Kind string `json:"kind"`
	Raw  json.RawMessage
}

// runKafkajs runs kafkajs/<script>.js with cfg and returns its output lines
// by kind (in order). The scenario must exit 0 and end with "done".
func runKafkajs(t *testing.T, script string, cfg map[string]any) map[string][]json.RawMessage {
	t.Helper()
	node := requireKafkajs(t)
	arg, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 180*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script+".js", string(arg))
	cmd.Dir = kafkajsDir
	// The scenarios set partitions explicitly; kafkajs's notice about its
	// v2 default partitioner is noise.
	cmd.Env = append(os.Environ(), "KAFKAJS_NO_PARTITIONER_WARNING=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	out := map[string][]json.RawMessage{}
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var l kafkajsLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("%s: bad output line %q: %v", script, sc.Text(), err)
		}
		out[l.Kind] = append(out[l.Kind], append(json.RawMessage(nil), sc.Bytes()...))
	}
	if runErr != nil || len(out["done"]) != 1 || len(out["error"]) > 0 {
		t.Fatalf("kafkajs %s: %v\nerrors: %s\nstderr:\n%s", script, runErr, out["error"], stderr.String())
	}
	if s := stderr.String(); s != "" {
		t.Logf("kafkajs %s stderr:\n%s", script, s)
	}
	return out
}

// one decodes the single line of kind k into v.
func one(t *testing.T, lines map[string][]json.RawMessage, k string, v any) {
	t.Helper()
	if len(lines[k]) != 1 {
		t.Fatalf("%d %q lines, want 1", len(lines[k]), k)
	}
	if err := json.Unmarshal(lines[k][0], v); err != nil {
		t.Fatalf("%s: %v", k, err)
	}
}

func TestKafkajsProduce(t *testing.T) {
	t.Parallel()
	requireKafkajs(t)
	a := StartAgent(t, "", "--batch-timeout", "20ms")
	const partitions, n = 3, 200
	cases := []struct {
		name, codec string
		acks        int
		idempotent  bool
	}{
		{"none-idempotent", "none", -1, true},
		{"gzip-idempotent", "gzip", -1, true},
		{"snappy-idempotent", "snappy", -1, true},
		{"lz4-idempotent", "lz4", -1, true},
		{"zstd-idempotent", "zstd", -1, true},
		{"gzip-acks1", "gzip", 1, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			topic := "kafkajs-produce-" + c.name
			a.CreateTopic(topic, partitions)
			// Record i is stamped base + i seconds, so ListOffsets by time
			// below must look inside kafkajs's compressed batches.
			base := time.Now().Add(-time.Hour).Truncate(time.Second).UnixMilli()
			lines := runKafkajs(t, "produce", map[string]any{
				"broker": a.KafkaAddr, "topic": topic, "partitions": partitions, "n": n, "batch": 25,
				"acks": c.acks, "codec": c.codec, "idempotent": c.idempotent, "prefix": c.name, "baseTs": base,
			})
			type ack struct {
				I         int    `json:"i"`
				Partition int32  `json:"partition"`
				Offset    string `json:"offset"`
			}
			acked := map[int32]map[int64]int{}
			for _, raw := range lines["ack"] {
				var a ack
				if err := json.Unmarshal(raw, &a); err != nil {
					t.Fatal(err)
				}
				off, err := strconv.ParseInt(a.Offset, 10, 64)
				if err != nil {
					t.Fatalf("ack %d: offset %q", a.I, a.Offset)
				}
				if acked[a.Partition] == nil {
					acked[a.Partition] = map[int64]int{}
				}
				if prev, dup := acked[a.Partition][off]; dup {
					t.Fatalf("records %d and %d both acknowledged at [%d]@%d", prev, a.I, a.Partition, off)
				}
				acked[a.Partition][off] = a.I
			}
			if len(lines["ack"]) != n {
				t.Fatalf("%d acks, want %d", len(lines["ack"]), n)
			}
			got := a.ConsumeAll(testContext(t, 60*time.Second), topic)
			total := 0
			for p, rs := range got {
				for _, r := range rs {
					total++
					i, ok := acked[p][r.Offset]
					if !ok {
						t.Fatalf("[%d]@%d: %q was not acknowledged there", p, r.Offset, r.Value)
					}
					if want := fmt.Sprintf("%s-%d", c.name, i); string(r.Value) != want || string(r.Key) != fmt.Sprintf("k%d", i%7) {
						t.Fatalf("[%d]@%d: %q=%q, want record %d (%q)", p, r.Offset, r.Key, r.Value, i, want)
					}
					hs := map[string]string{}
					for _, h := range r.Headers {
						hs[h.Key] = string(h.Value)
					}
					if hs["i"] != strconv.Itoa(i) || hs["kind"] != "kafkajs" || len(hs) != 2 {
						t.Fatalf("[%d]@%d: headers %v", p, r.Offset, hs)
					}
					if c.idempotent && r.ProducerID < 0 {
						t.Fatalf("[%d]@%d: idempotent batch without a producer ID", p, r.Offset)
					}
					if want := base + int64(i)*1000; r.Timestamp.UnixMilli() != want {
						t.Fatalf("[%d]@%d: timestamp %d, want %d", p, r.Offset, r.Timestamp.UnixMilli(), want)
					}
				}
			}
			if total != n {
				t.Fatalf("read %d records, produced %d", total, n)
			}
			// Sends of 25 (records 100-124 in one) make one batch per
			// partition; from record 110 on, each partition's first record
			// is the 4th or 5th of its batch: ListOffsets by the time of
			// record 110 must look inside kafkajs's compressed batches.
			offs, err := a.Admin().ListOffsetsAfterMilli(testContext(t, 30*time.Second), base+110*1000-500, topic)
			if err != nil {
				t.Fatal(err)
			}
			for p := int32(0); p < partitions; p++ {
				first := 110
				for first%partitions != int(p) {
					first++
				}
				var want int64 = -1
				for off, i := range acked[p] {
					if i == first {
						want = off
					}
				}
				o, ok := offs.Lookup(topic, p)
				if !ok || o.Err != nil || o.Offset != want || o.Timestamp != base+int64(first)*1000 {
					t.Fatalf("ListOffsets [%d] by the time of record 110: %+v, want offset %d (record %d)", p, o, want, first)
				}
			}
		})
	}
}

func TestKafkajsConsumerGroup(t *testing.T) {
	t.Parallel()
	requireKafkajs(t)
	a := StartAgent(t, "", "--batch-timeout", "20ms")
	const topic, group, partitions, before, after = "kafkajs-group", "kafkajs-g", 4, 40, 40
	a.CreateTopic(topic, partitions)
	// The records the group starts with come from franz-go in batches of
	// several records, lz4 in partitions 0 and 1, zstd in 2 and 3: kafkajs
	// decodes another client's batches.
	for _, codec := range []kgo.CompressionCodec{kgo.Lz4Compression(), kgo.ZstdCompression()} {
		cl := a.Client(kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()),
			kgo.ProducerBatchCompression(codec), kgo.ProducerLinger(20*time.Millisecond))
		var rs []*kgo.Record
		for i := 0; i < before; i++ {
			p := int32(i % partitions)
			if (p < 2) == (codec == kgo.Lz4Compression()) {
				rs = append(rs, &kgo.Record{Partition: p, Value: []byte(fmt.Sprintf("v-%d", i))})
			}
		}
		if err := cl.ProduceSync(testContext(t, 30*time.Second), rs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	lines := runKafkajs(t, "group", map[string]any{
		"broker": a.KafkaAddr, "topic": topic, "group": group, "partitions": partitions, "before": before, "after": after,
	})
	var done struct {
		Seen      map[string][]string `json:"seen"`
		Assigned  map[string][]int32  `json:"assigned"` // after m2 joined
		Committed map[string]string   `json:"committed"`
	}
	one(t, lines, "done", &done)
	isBefore := func(v string) bool {
		i, err := strconv.Atoi(strings.TrimPrefix(v, "v-"))
		if err != nil {
			t.Fatalf("unexpected value %q", v)
		}
		return i < before
	}
	count := map[string]int{}
	for _, v := range done.Seen["m1"] {
		count[v]++
	}
	for i := 0; i < before; i++ {
		if v := fmt.Sprintf("v-%d", i); count[v] != 1 {
			t.Fatalf("m1 read %s %d times", v, count[v])
		}
	}
	for _, v := range done.Seen["m2"] {
		if isBefore(v) {
			t.Fatalf("m2 read %s, which m1 had committed before m2 joined", v)
		}
		count[v]++
	}
	for i := before; i < before+after; i++ {
		if v := fmt.Sprintf("v-%d", i); count[v] != 1 {
			t.Fatalf("the group read %s %d times", v, count[v])
		}
	}
	if len(done.Seen["m2"]) == 0 {
		t.Fatal("m2 read nothing after the rebalance")
	}
	all := append(append([]int32(nil), done.Assigned["m1"]...), done.Assigned["m2"]...)
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	if fmt.Sprint(all) != "[0 1 2 3]" {
		t.Fatalf("assignments after m2 joined: m1 %v, m2 %v", done.Assigned["m1"], done.Assigned["m2"])
	}
	var desc struct {
		State, Protocol, ProtocolType string
		Members                       int
	}
	one(t, lines, "described", &desc)
	if desc.State != "Stable" || desc.Members != 2 || desc.ProtocolType != "consumer" || desc.Protocol == "" {
		t.Fatalf("describeGroups while both were in: %+v", desc)
	}
	for p := 0; p < partitions; p++ {
		if got := done.Committed[strconv.Itoa(p)]; got != "20" {
			t.Fatalf("kafkajs saw partition %d committed at %q, want 20", p, got)
		}
	}

	// The commits are the agent's, and survive its restart.
	check := func(when string) {
		t.Helper()
		offs, err := a.Admin().FetchOffsets(testContext(t, 30*time.Second), group)
		if err != nil {
			t.Fatalf("%s: fetch offsets: %v", when, err)
		}
		for p := int32(0); p < partitions; p++ {
			o, ok := offs.Lookup(topic, p)
			if !ok || o.Err != nil || o.At != 20 {
				t.Fatalf("%s: committed [%d] = %+v", when, p, o)
			}
		}
	}
	check("before restart")
	a.Restart()
	check("after restart")
}

func TestKafkajsAdmin(t *testing.T) {
	t.Parallel()
	requireKafkajs(t)
	a := StartAgent(t, "", "--batch-timeout", "20ms")
	const topic, group = "kafkajs-admin", "kafkajs-admin-g"
	lines := runKafkajs(t, "admin", map[string]any{"broker": a.KafkaAddr, "topic": topic, "group": group})

	var created struct{ Created bool }
	one(t, lines, "createTopics", &created)
	if !created.Created {
		t.Fatal("createTopics reported nothing created")
	}
	one(t, lines, "createTopicsAgain", &created)
	if created.Created {
		t.Fatal("createTopics of an existing topic reported it created")
	}
	var failed struct{ Error *string }
	errOf := func() string {
		if failed.Error == nil {
			return "no error"
		}
		return *failed.Error
	}
	one(t, lines, "createTopicsBad", &failed)
	if failed.Error == nil || *failed.Error != "INVALID_CONFIG" {
		t.Fatalf("createTopics with a bad config: %v", errOf())
	}
	var listed struct{ Topics []string }
	one(t, lines, "listTopics", &listed)
	// kafkajs lists internal topics too (Kafka's __consumer_offsets,
	// Sluice's __sluice_* event topics, written as the agent works).
	userTopics := func() []string {
		var out []string
		for _, n := range listed.Topics {
			if !strings.HasPrefix(n, "__") {
				out = append(out, n)
			}
		}
		return out
	}
	if fmt.Sprint(userTopics()) != "["+topic+"]" {
		t.Fatalf("listTopics: %v", listed.Topics)
	}
	var md struct {
		Topics []struct {
			Name       string
			Partitions []struct{ ID, Leader, Error int32 }
		}
	}
	one(t, lines, "fetchTopicMetadata", &md)
	if len(md.Topics) != 1 || md.Topics[0].Name != topic || len(md.Topics[0].Partitions) != 3 {
		t.Fatalf("fetchTopicMetadata: %+v", md)
	}
	for _, p := range md.Topics[0].Partitions {
		if p.Error != 0 || p.Leader < 0 {
			t.Fatalf("fetchTopicMetadata partition %+v", p)
		}
	}
	var ok struct{ Ok bool }
	one(t, lines, "createPartitions", &ok)
	if !ok.Ok {
		t.Fatal("createPartitions returned false")
	}
	one(t, lines, "createPartitionsShrink", &failed)
	if failed.Error == nil || *failed.Error != "INVALID_PARTITIONS" {
		t.Fatalf("createPartitions to fewer: %v", errOf())
	}
	type topicOffset struct {
		Partition int32
		Offset    string
		High, Low string
	}
	var tos struct{ Offsets []topicOffset }
	one(t, lines, "fetchTopicOffsets", &tos)
	if len(tos.Offsets) != 4 {
		t.Fatalf("fetchTopicOffsets: %+v", tos.Offsets)
	}
	for _, o := range tos.Offsets {
		if o.High != "5" || o.Low != "0" || o.Offset != "5" {
			t.Fatalf("fetchTopicOffsets: %+v", o)
		}
	}
	one(t, lines, "fetchTopicOffsetsByTimestamp", &tos)
	if len(tos.Offsets) != 4 {
		t.Fatalf("fetchTopicOffsetsByTimestamp: %+v", tos.Offsets)
	}
	for _, o := range tos.Offsets {
		if o.Offset != "0" {
			t.Fatalf("fetchTopicOffsetsByTimestamp a minute before the records: %+v", o)
		}
	}
	type entry struct {
		Name, Value string
		IsDefault   bool
	}
	var cfgs struct{ Entries []entry }
	one(t, lines, "describeConfigs", &cfgs)
	sort.Slice(cfgs.Entries, func(i, j int) bool { return cfgs.Entries[i].Name < cfgs.Entries[j].Name })
	if fmt.Sprint(cfgs.Entries) != "[{cleanup.policy delete true} {retention.ms 3600000 false}]" {
		t.Fatalf("describeConfigs: %v", cfgs.Entries)
	}
	one(t, lines, "alterConfigs", &cfgs)
	if fmt.Sprint(cfgs.Entries) != "[{retention.ms 7200000 false}]" {
		t.Fatalf("after alterConfigs: %v", cfgs.Entries)
	}
	type groupOffsets struct {
		Topics []struct {
			Topic      string
			Partitions []struct {
				Partition int32
				Offset    string
			}
		}
	}
	offsetsOf := func(kind string) string {
		var g groupOffsets
		one(t, lines, kind, &g)
		if len(g.Topics) != 1 || g.Topics[0].Topic != topic {
			t.Fatalf("%s: %+v", kind, g)
		}
		ps := g.Topics[0].Partitions
		sort.Slice(ps, func(i, j int) bool { return ps[i].Partition < ps[j].Partition })
		var s []string
		for _, p := range ps {
			s = append(s, fmt.Sprintf("%d:%s", p.Partition, p.Offset))
		}
		return strings.Join(s, " ")
	}
	if got := offsetsOf("fetchOffsetsEmpty"); got != "0:-1 1:-1 2:-1 3:-1" {
		t.Fatalf("fetchOffsets before any commit: %s", got)
	}
	if got := offsetsOf("fetchOffsets"); got != "0:3 1:-1 2:5 3:-1" {
		t.Fatalf("fetchOffsets after setOffsets: %s", got)
	}
	// resetOffsets(earliest) commits kafkajs's sentinel -2 itself (not
	// the earliest offset), and Kafka stores and returns it as committed;
	// kafkajs's own test against Kafka expects '-2' back.
	if got := offsetsOf("fetchOffsetsReset"); got != "0:-2 1:-2 2:-2 3:-2" {
		t.Fatalf("fetchOffsets after resetOffsets(earliest): %s", got)
	}
	var groups struct {
		Groups []struct{ GroupID, ProtocolType string }
	}
	one(t, lines, "listGroups", &groups)
	if len(groups.Groups) != 1 || groups.Groups[0].GroupID != group {
		t.Fatalf("listGroups: %+v", groups.Groups)
	}
	var dg struct {
		Groups []struct {
			GroupID, State string
			ErrorCode      int
			Members        int
		}
	}
	one(t, lines, "describeGroups", &dg)
	if fmt.Sprint(dg.Groups) != fmt.Sprintf("[{%s Empty 0 0} {%s-none Dead 0 0}]", group, group) {
		t.Fatalf("describeGroups: %+v", dg.Groups)
	}
	var dc struct {
		Brokers, Controller, NodeID int
		ClusterID                   string
	}
	one(t, lines, "describeCluster", &dc)
	if dc.Brokers != 1 || dc.Controller != dc.NodeID || dc.ClusterID == "" {
		t.Fatalf("describeCluster: %+v", dc)
	}
	one(t, lines, "listGroupsAfterDelete", &groups)
	if len(groups.Groups) != 0 {
		t.Fatalf("listGroups after deleteGroups: %+v", groups.Groups)
	}
	one(t, lines, "listTopicsAfterDelete", &listed)
	if len(userTopics()) != 0 {
		t.Fatalf("listTopics after deleteTopics: %v", listed.Topics)
	}
	one(t, lines, "deleteTopicsAgain", &failed)
	if failed.Error == nil || *failed.Error != "UNKNOWN_TOPIC_OR_PARTITION" {
		t.Fatalf("deleteTopics of a deleted topic: %v", errOf())
	}
}

func TestKafkajsConsumerFeatures(t *testing.T) {
	t.Parallel()
	requireKafkajs(t)
	a := StartAgent(t, "", "--batch-timeout", "20ms")
	const prefix, group = "kjs-extra", "kjs-extra-g"
	a.CreateTopic(prefix+"-a", 1)
	a.CreateTopic(prefix+"-b", 2)
	lines := runKafkajs(t, "consume", map[string]any{"broker": a.KafkaAddr, "prefix": prefix, "group": group})
	type read struct {
		Phase, Topic string
		Partition    int32
		Offset       string
		Key, Value   *string
		Size         int
	}
	byPhase := map[string][]read{}
	for _, raw := range lines["read"] {
		var r read
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatal(err)
		}
		byPhase[r.Phase] = append(byPhase[r.Phase], r)
	}
	str := func(p *string) string {
		if p == nil {
			return "<null>"
		}
		return *p
	}
	describe := func(rs []read) string {
		var out []string
		for _, r := range rs {
			out = append(out, fmt.Sprintf("%s/%d@%s:%s=%s(%d)", r.Topic, r.Partition, r.Offset, str(r.Key), str(r.Value), r.Size))
		}
		sort.Strings(out)
		return strings.Join(out, " ")
	}
	big := strings.Repeat("x", 16)
	want := "kjs-extra-a/0@0:k0=a0(2) kjs-extra-a/0@1:<null>=a1(2) kjs-extra-a/0@2:k2=<null>(-1) " +
		"kjs-extra-a/0@3:big3=" + big + "(10240) kjs-extra-a/0@4:big4=" + big + "(10240) kjs-extra-a/0@5:big5=" + big + "(10240) " +
		"kjs-extra-a/0@6:k6=a6(2) kjs-extra-b/0@0:<null>=b0(2) kjs-extra-b/1@0:<null>=b1(2)"
	if got := describe(byPhase["read"]); got != want {
		t.Fatalf("first read:\n got %s\nwant %s", got, want)
	}
	var hw struct{ Hwm map[string]string }
	one(t, lines, "highWatermarks", &hw)
	if hw.Hwm["kjs-extra-a/0"] != "7" {
		t.Fatalf("high watermarks %v", hw.Hwm)
	}
	seek := byPhase["seek"]
	if len(seek) < 5 || seek[0].Topic != "kjs-extra-a" || seek[0].Offset != "2" || seek[4].Offset != "6" {
		t.Fatalf("after seek to 2: %s", describe(seek))
	}
	if got := describe(byPhase["paused"]); got != "kjs-extra-a/0@7:<null>=a-while-b-paused(16)" {
		t.Fatalf("while paused: %s", got)
	}
	if got := describe(byPhase["resumed"]); got != "kjs-extra-b/0@1:<null>=b-paused(8)" {
		t.Fatalf("after resume: %s", got)
	}
	if got := describe(byPhase["latest"]); got != "kjs-extra-a/0@8:<null>=a-latest(8)" {
		t.Fatalf("group from the latest offset: %s", got)
	}
	var all struct {
		Topics []struct {
			Topic      string
			Partitions [][2]json.RawMessage
		}
	}
	one(t, lines, "fetchOffsetsAllTopics", &all)
	var got []string
	for _, tp := range all.Topics {
		for _, p := range tp.Partitions {
			got = append(got, fmt.Sprintf("%s/%s=%s", tp.Topic, p[0], p[1]))
		}
	}
	sort.Strings(got)
	if s := strings.Join(got, " "); s != `kjs-extra-a/0="8" kjs-extra-b/0="2" kjs-extra-b/1="1"` {
		t.Fatalf("fetchOffsets without topics: %s", s)
	}
	var md struct{ Topics []string }
	one(t, lines, "fetchTopicMetadataAll", &md)
	// Sluice's own __sluice_* topics (the audit stream) are listed too, as
	// Kafka lists its internal topics; only the test's are compared.
	md.Topics = slices.DeleteFunc(md.Topics, func(n string) bool { return strings.HasPrefix(n, "__") })
	if fmt.Sprint(md.Topics) != "[kjs-extra-a kjs-extra-b]" {
		t.Fatalf("fetchTopicMetadata of all topics: %v", md.Topics)
	}
}
