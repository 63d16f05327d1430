package e2e

// Non-Go clients against Sluice: kcat and confluent-kafka (both librdkafka)
// and kafka-python, each with every compression codec, in both directions:
// records a client produces are read back with franz-go and must all be
// there once, in place, in order; records franz-go produces are read with
// the client and must come back identical, at the offsets franz-go was
// given. The Python clients run the small scripts in py/ (see py/common.py
// for their JSON protocol) under Debian's /usr/bin/python3, which is where
// scripts/install-test-deps.sh installs them.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// cliPython is the interpreter with the Kafka modules installed (the
// python3 on PATH may be another one).
const cliPython = "/usr/bin/python3"

const (
	cliPartitions = 3
	cliRecordsN   = 200
	// cliProcTimeout bounds one client process; the scripts give up a
	// little earlier on their own and say why.
	cliProcTimeout   = 45 * time.Second
	cliScriptTimeout = 30
)

var cliCodecs = []struct {
	name  string // as librdkafka and kafka-python spell it
	codec kgo.CompressionCodec
}{
	{"none", kgo.NoCompression()},
	{"gzip", kgo.GzipCompression()},
	{"snappy", kgo.SnappyCompression()},
	{"lz4", kgo.Lz4Compression()},
	{"zstd", kgo.ZstdCompression()},
}

// cliRec is one record a test writes, as sent to the client scripts.
type cliRec struct {
	I         int         `json:"i"`
	Key       *string     `json:"key"`
	Value     string      `json:"value"` // unique within a topic: it identifies the record
	Partition int32       `json:"partition"`
	Headers   [][2]string `json:"headers"`
	Timestamp int64       `json:"timestamp"` // ms; 0 lets the client stamp it
	// want is where the record must land: Partition, or for -1 the
	// partition Java's murmur2 key hash picks.
	want int32
}

// cliLine is one line a client script (or parsed kcat output) reports.
type cliLine struct {
	Kind      string      `json:"kind"`
	I         int         `json:"i"`
	Partition int32       `json:"partition"`
	Offset    int64       `json:"offset"`
	Error     *string     `json:"error"`
	Key       *string     `json:"key"`
	Value     *string     `json:"value"`
	Headers   [][2]string `json:"headers"`
	Timestamp int64       `json:"timestamp"`
	Low       int64       `json:"low"`
	High      int64       `json:"high"`
	Info      string      `json:"info"`
}

// cliPos is where a record was found.
type cliPos struct {
	Partition int32
	Offset    int64
}

func cliStr(s string) *string { return &s }

// cliRecords returns n records for topic: key "key-NNNN", a value naming
// tag and the index (every 40th padded to about 30 KB, so batches vary in
// size), a header naming the index, and a timestamp base+i when base is
// non-zero. Every 4th record names its partition; the rest are placed by
// their key's murmur2 hash, as Java, franz-go and (configured so)
// librdkafka and kafka-python do.
func cliRecords(topic, tag string, n int, base int64) []cliRec {
	hash := kgo.StickyKeyPartitioner(nil).ForTopic(topic)
	recs := make([]cliRec, n)
	for i := range recs {
		r := cliRec{I: i, Key: cliStr(fmt.Sprintf("key-%04d", i)), Partition: -1,
			Value:   fmt.Sprintf("%s-value-%04d", tag, i),
			Headers: [][2]string{{"i", strconv.Itoa(i)}}}
		if i%40 == 7 {
			r.Value += "-" + strings.Repeat(fmt.Sprintf("pad%d.", i), 30<<10/8)
		}
		if base != 0 {
			r.Timestamp = base + int64(i)
		}
		if i%4 == 3 {
			r.Partition = int32(i/4) % cliPartitions
			r.want = r.Partition
		} else {
			r.want = int32(hash.Partition(&kgo.Record{Key: []byte(*r.Key)}, cliPartitions))
		}
		recs[i] = r
	}
	return recs
}

// cliAgentFor returns a view of a for use in subtest t, so that the
// franz-go clients it makes close with t and its failures are reported in
// t rather than in the (parent) test that started the agent.
func cliAgentFor(t *testing.T, a *Agent) *Agent {
	sub := *a
	sub.t = t
	return &sub
}

func cliRequireKcat(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("kcat"); err != nil {
		t.Fatalf("kcat is not installed (%v); run scripts/install-test-deps.sh", err)
	}
}

func cliRequirePython(t *testing.T, check string) {
	t.Helper()
	if out, err := exec.Command(cliPython, "-c", check).CombinedOutput(); err != nil {
		t.Fatalf("%s cannot run %q: %v\n%s\nrun scripts/install-test-deps.sh", cliPython, check, err, out)
	}
}

// cliRun runs a client process with stdin, returning its stdout, or an
// error carrying its stderr.
func cliRun(ctx context.Context, stdin []byte, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, cliProcTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	cmd.WaitDelay = 5 * time.Second
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("%s %s after %v: %v\nstderr:\n%s\nstdout:\n%s",
			name, strings.Join(args, " "), time.Since(start).Round(time.Millisecond), err, stderr.String(), stdout.String())
	}
	return stdout.Bytes(), nil
}

// cliScript runs py/<script> <mode> with req as JSON on stdin and parses
// its JSON lines.
func cliScript(ctx context.Context, script, mode string, req any) ([]cliLine, error) {
	in, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	out, err := cliRun(ctx, in, cliPython, "py/"+script, mode)
	if err != nil {
		return nil, err
	}
	var lines []cliLine
	for _, l := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		var line cliLine
		if err := json.Unmarshal(l, &line); err != nil {
			return nil, fmt.Errorf("py/%s %s printed %q: %v", script, mode, l, err)
		}
		lines = append(lines, line)
	}
	return lines, nil
}

type cliProduceReq struct {
	Bootstrap   string   `json:"bootstrap"`
	Topic       string   `json:"topic"`
	Compression string   `json:"compression"`
	Records     []cliRec `json:"records"`
	FlushEvery  int      `json:"flush_every,omitempty"`
	Timeout     int      `json:"timeout"`
	Retries     int      `json:"retries,omitempty"`
}

type cliConsumeReq struct {
	Bootstrap  string `json:"bootstrap"`
	Topic      string `json:"topic"`
	Partitions int    `json:"partitions"`
	Timeout    int    `json:"timeout"`
}

// cliErrors reports the first few of many similar problems and counts the
// rest, so one broken batch does not bury the log.
type cliErrors struct {
	t    *testing.T
	what string
	n    int
}

func (e *cliErrors) add(format string, args ...any) {
	e.t.Helper()
	e.n++
	if e.n <= 10 {
		e.t.Errorf(e.what+": "+format, args...)
	}
}

func (e *cliErrors) done() {
	e.t.Helper()
	if e.n > 10 {
		e.t.Errorf("%s: %d problems in all", e.what, e.n)
	}
}

func cliHeaders(hs []kgo.RecordHeader) [][2]string {
	var out [][2]string
	for _, h := range hs {
		out = append(out, [2]string{h.Key, string(h.Value)})
	}
	return out
}

func cliEqualHeaders(a, b [][2]string) bool {
	return len(a) == len(b) && fmt.Sprint(a) == fmt.Sprint(b)
}

func cliKey(k *string) string {
	if k == nil {
		return "<null>"
	}
	return strconv.Quote(*k)
}

// cliCheckLog reads topic with franz-go and checks that it holds exactly
// the records of streams, each stream being the records one producer sent,
// in the order it sent them: every record once, in its want partition,
// with its key, headers and timestamp (between stampedFrom and stampedTo
// for records the client stamped); offsets 0..n-1 in every partition; and
// each stream's records in send order within each partition. It returns
// where each record is, by value.
func cliCheckLog(t *testing.T, a *Agent, topic string, streams [][]cliRec, stampedFrom, stampedTo time.Time) map[string]cliPos {
	t.Helper()
	got := cliAgentFor(t, a).ConsumeAll(testContext(t, 30*time.Second), topic)
	errs := &cliErrors{t: t, what: "franz-go reading " + topic}
	found := map[string]*kgo.Record{}
	for p, rs := range got {
		if p < 0 || p >= cliPartitions {
			errs.add("records in partition %d of a %d-partition topic", p, cliPartitions)
		}
		for i, r := range rs {
			if r.Offset != int64(i) {
				errs.add("partition %d: record %d of the partition has offset %d", p, i, r.Offset)
			}
			if prev, dup := found[string(r.Value)]; dup {
				errs.add("value %.40q at %d/%d and again at %d/%d", r.Value, prev.Partition, prev.Offset, p, r.Offset)
			}
			found[string(r.Value)] = r
		}
	}
	pos := map[string]cliPos{}
	for si, stream := range streams {
		last := map[int32]int64{}
		for _, want := range stream {
			r, ok := found[want.Value]
			if !ok {
				errs.add("record %d (stream %d, %.40q) missing", want.I, si, want.Value)
				continue
			}
			delete(found, want.Value)
			pos[want.Value] = cliPos{r.Partition, r.Offset}
			if r.Partition != want.want {
				errs.add("record %d in partition %d, want %d", want.I, r.Partition, want.want)
			}
			if r.Key == nil || want.Key == nil || string(r.Key) != *want.Key {
				errs.add("record %d has key %q, want %s", want.I, r.Key, cliKey(want.Key))
			}
			if h := cliHeaders(r.Headers); !cliEqualHeaders(h, want.Headers) {
				errs.add("record %d has headers %q, want %q", want.I, h, want.Headers)
			}
			ts := r.Timestamp.UnixMilli()
			if want.Timestamp != 0 && ts != want.Timestamp {
				errs.add("record %d has timestamp %d, want %d", want.I, ts, want.Timestamp)
			}
			if want.Timestamp == 0 && (ts < stampedFrom.UnixMilli() || ts > stampedTo.UnixMilli()) {
				errs.add("record %d has timestamp %d, not within the producer's run [%d, %d]", want.I, ts, stampedFrom.UnixMilli(), stampedTo.UnixMilli())
			}
			if prev, ok := last[r.Partition]; ok && r.Offset <= prev {
				errs.add("stream %d: record %d at offset %d of partition %d, after a record sent before it at offset %d", si, want.I, r.Offset, r.Partition, prev)
			}
			last[r.Partition] = r.Offset
		}
	}
	for v, r := range found {
		errs.add("unexpected record %.40q at %d/%d", v, r.Partition, r.Offset)
	}
	errs.done()
	return pos
}

// cliCheckDeliveries checks that the client reported every record of recs
// delivered exactly once, at the partition and offset franz-go found it.
func cliCheckDeliveries(t *testing.T, lines []cliLine, recs []cliRec, pos map[string]cliPos) {
	t.Helper()
	errs := &cliErrors{t: t, what: "delivery reports"}
	reports := map[int][]cliLine{}
	for _, l := range lines {
		if l.Kind == "delivery" {
			reports[l.I] = append(reports[l.I], l)
		}
	}
	for _, r := range recs {
		rep := reports[r.I]
		delete(reports, r.I)
		if len(rep) != 1 {
			errs.add("record %d reported %d times, want once", r.I, len(rep))
			continue
		}
		if rep[0].Error != nil {
			errs.add("record %d failed: %s", r.I, *rep[0].Error)
			continue
		}
		got, want := cliPos{rep[0].Partition, rep[0].Offset}, pos[r.Value]
		if got != want {
			errs.add("record %d reported at %d/%d, franz-go read it at %d/%d", r.I, got.Partition, got.Offset, want.Partition, want.Offset)
		}
	}
	for i := range reports {
		errs.add("report for record %d, which was not sent", i)
	}
	errs.done()
}

// cliProduceFranz writes recs to topic with franz-go (no idempotence, the
// given codec, each record to its want partition) in four rounds, so each
// partition holds several batches, and returns where each record went and
// each partition's end offset.
func cliProduceFranz(t *testing.T, a *Agent, topic string, codec kgo.CompressionCodec, recs []cliRec) (map[string]cliPos, map[int32]int64) {
	t.Helper()
	cl := cliAgentFor(t, a).Client(kgo.DisableIdempotentWrite(), kgo.ProducerBatchCompression(codec),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.DefaultProduceTopic(topic))
	ctx := testContext(t, 30*time.Second)
	pos := map[string]cliPos{}
	ends := map[int32]int64{}
	round := (len(recs) + 3) / 4
	for start := 0; start < len(recs); start += round {
		var krs []*kgo.Record
		for _, r := range recs[start:min(start+round, len(recs))] {
			kr := &kgo.Record{Value: append([]byte{}, r.Value...), Partition: r.want, Timestamp: time.UnixMilli(r.Timestamp)}
			if r.Key != nil {
				kr.Key = []byte(*r.Key)
			}
			for _, h := range r.Headers {
				kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: h[0], Value: []byte(h[1])})
			}
			krs = append(krs, kr)
		}
		if err := cl.ProduceSync(ctx, krs...).FirstErr(); err != nil {
			t.Fatalf("franz-go produce to %s: %v", topic, err)
		}
		for _, kr := range krs {
			pos[string(kr.Value)] = cliPos{kr.Partition, kr.Offset}
			ends[kr.Partition] = max(ends[kr.Partition], kr.Offset+1)
		}
	}
	return pos, ends
}

// cliFranzRecords is what franz-go writes for a client to read: the usual
// records, each with a timestamp and sent to the partition its key hashes
// to, plus a null key and an empty value.
func cliFranzRecords(topic string) []cliRec {
	recs := cliRecords(topic, "franz", cliRecordsN, time.Now().Add(-time.Hour).UnixMilli())
	recs[10].Key = nil
	recs[10].want = 1
	recs[11].Value = ""
	return recs
}

// cliCheckConsumed checks what a client read from a topic franz-go wrote
// (recs at pos, partitions ending at ends): every record exactly once, at
// its offset, with its key, value, headers and timestamp; and, when the
// client reports them, low watermarks 0 and high watermarks the ends.
func cliCheckConsumed(t *testing.T, lines []cliLine, recs []cliRec, pos map[string]cliPos, ends map[int32]int64) {
	t.Helper()
	errs := &cliErrors{t: t, what: "client reading"}
	byValue := map[string]cliRec{}
	for _, r := range recs {
		byValue[r.Value] = r
	}
	seen := map[string]bool{}
	for _, l := range lines {
		switch l.Kind {
		case "watermark":
			if l.Low != 0 || l.High != ends[l.Partition] {
				errs.add("partition %d watermarks [%d, %d], want [0, %d]", l.Partition, l.Low, l.High, ends[l.Partition])
			}
		case "record":
			if l.Value == nil {
				errs.add("null value at %d/%d", l.Partition, l.Offset)
				continue
			}
			want, ok := byValue[*l.Value]
			if !ok {
				errs.add("unexpected record %.40q at %d/%d", *l.Value, l.Partition, l.Offset)
				continue
			}
			if seen[want.Value] {
				errs.add("record %d read twice (again at %d/%d)", want.I, l.Partition, l.Offset)
			}
			seen[want.Value] = true
			if got := (cliPos{l.Partition, l.Offset}); got != pos[want.Value] {
				errs.add("record %d read at %d/%d, franz-go wrote it at %d/%d", want.I, got.Partition, got.Offset, pos[want.Value].Partition, pos[want.Value].Offset)
			}
			if cliKey(l.Key) != cliKey(want.Key) {
				errs.add("record %d has key %s, want %s", want.I, cliKey(l.Key), cliKey(want.Key))
			}
			if !cliEqualHeaders(l.Headers, want.Headers) {
				errs.add("record %d has headers %q, want %q", want.I, l.Headers, want.Headers)
			}
			if l.Timestamp != want.Timestamp {
				errs.add("record %d has timestamp %d, want %d", want.I, l.Timestamp, want.Timestamp)
			}
		}
	}
	for _, r := range recs {
		if !seen[r.Value] {
			errs.add("record %d (%d/%d) never read", r.I, pos[r.Value].Partition, pos[r.Value].Offset)
		}
	}
	errs.done()
}

// cliRoundTrip runs, for every codec in parallel, the two directions
// against one agent: produce (the client writes, franz-go checks, and the
// client's delivery reports must match when reportsOffsets) and consume
// (franz-go writes, the client reads).
func cliRoundTrip(t *testing.T, client string, reportsOffsets bool,
	produce func(t *testing.T, a *Agent, topic, codec string) (streams [][]cliRec, deliveries []cliLine),
	consume func(t *testing.T, a *Agent, topic string) []cliLine) {
	a := StartAgent(t, "")
	for _, c := range cliCodecs {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			t.Run("produce", func(t *testing.T) {
				t.Parallel()
				topic := client + "-produce-" + c.name
				cliAgentFor(t, a).CreateTopic(topic, cliPartitions)
				from := time.Now()
				streams, deliveries := produce(t, a, topic, c.name)
				to := time.Now()
				pos := cliCheckLog(t, a, topic, streams, from, to)
				if reportsOffsets {
					var all []cliRec
					for _, s := range streams {
						all = append(all, s...)
					}
					cliCheckDeliveries(t, deliveries, all, pos)
				}
			})
			t.Run("consume", func(t *testing.T) {
				t.Parallel()
				topic := client + "-consume-" + c.name
				cliAgentFor(t, a).CreateTopic(topic, cliPartitions)
				recs := cliFranzRecords(topic)
				pos, ends := cliProduceFranz(t, a, topic, c.codec, recs)
				cliCheckConsumed(t, consume(t, a, topic), recs, pos, ends)
			})
		})
	}
}

// TestKcatRoundTrip: kcat -P with each codec, explicit partitions (-p) and
// key-hashed ones; kcat -C per partition reads what franz-go wrote. kcat
// cannot report delivery offsets, so those are not checked.
func TestKcatRoundTrip(t *testing.T) {
	t.Parallel()
	cliRequireKcat(t)
	cliRoundTrip(t, "kcat", false, kcatProduce, kcatConsume)
}

// kcatProduce sends the records in four kcat runs, each one line per
// record "key:value": first the key-hashed ones, then those for partition
// 0, 1 and 2 with -p. kcat stamps the records itself and sends no headers.
func kcatProduce(t *testing.T, a *Agent, topic, codec string) ([][]cliRec, []cliLine) {
	recs := cliRecords(topic, "kcat", cliRecordsN, 0)
	runs := map[int32][]cliRec{}
	for i := range recs {
		recs[i].Headers = nil
		runs[recs[i].Partition] = append(runs[recs[i].Partition], recs[i])
	}
	var order []cliRec
	for p := int32(-1); p < cliPartitions; p++ {
		var in bytes.Buffer
		for _, r := range runs[p] {
			fmt.Fprintf(&in, "%s:%s\n", *r.Key, r.Value)
		}
		args := []string{"-b", a.KafkaAddr, "-P", "-t", topic, "-K", ":", "-p", strconv.Itoa(int(p)),
			"-X", "compression.codec=" + codec, "-X", "partitioner=murmur2_random"}
		out, err := cliRun(context.Background(), in.Bytes(), "kcat", args...)
		if err != nil {
			t.Fatal(err)
		}
		if len(out) != 0 {
			t.Logf("kcat %s printed %q", strings.Join(args, " "), out)
		}
		order = append(order, runs[p]...)
	}
	return [][]cliRec{order}, nil
}

// kcatConsume reads each partition from the beginning to its end with one
// kcat -C -e -p N run, printing partition, offset, timestamp, key length
// (-1 for null), key, headers, value length and value.
func kcatConsume(t *testing.T, a *Agent, topic string) []cliLine {
	var lines []cliLine
	for p := range cliPartitions {
		out, err := cliRun(context.Background(), nil, "kcat", "-b", a.KafkaAddr, "-C", "-t", topic,
			"-p", strconv.Itoa(p), "-o", "beginning", "-e", "-q", "-f", `%p\t%o\t%T\t%K\t%k\t%h\t%S\t%s\n`)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range strings.SplitAfter(string(out), "\n") {
			if s == "" {
				continue
			}
			f := strings.SplitN(strings.TrimSuffix(s, "\n"), "\t", 8)
			if len(f) != 8 || !strings.HasSuffix(s, "\n") {
				t.Fatalf("kcat printed %q", s)
			}
			var n [5]int64
			for i, field := range []string{f[0], f[1], f[2], f[3], f[6]} {
				if n[i], err = strconv.ParseInt(field, 10, 64); err != nil {
					t.Fatalf("kcat printed %q", s)
				}
			}
			l := cliLine{Kind: "record", Partition: int32(n[0]), Offset: n[1], Timestamp: n[2], Key: &f[4], Value: &f[7]}
			if n[3] < 0 {
				l.Key = nil
			}
			if n[4] < 0 {
				l.Value = nil
			}
			for _, h := range strings.Split(f[5], ",") {
				if name, value, ok := strings.Cut(h, "="); ok {
					l.Headers = append(l.Headers, [2]string{name, value})
				}
			}
			lines = append(lines, l)
		}
	}
	return lines
}

// cliLogInfo logs what a script says about itself (kafka-python: the
// broker version it detected).
func cliLogInfo(t *testing.T, script string, lines []cliLine) {
	for _, l := range lines {
		if l.Kind == "info" {
			t.Logf("%s: %s", script, l.Info)
		}
	}
}

// pyProduce sends recs with a Python client script in index order, with
// explicit timestamps, and returns its delivery reports.
func pyProduce(script string) func(t *testing.T, a *Agent, topic, codec string) ([][]cliRec, []cliLine) {
	return func(t *testing.T, a *Agent, topic, codec string) ([][]cliRec, []cliLine) {
		recs := cliRecords(topic, script, cliRecordsN, time.Now().Add(-time.Minute).UnixMilli())
		lines, err := cliScript(context.Background(), script, "produce", cliProduceReq{
			Bootstrap: a.KafkaAddr, Topic: topic, Compression: codec, Records: recs, Timeout: cliScriptTimeout})
		if err != nil {
			t.Fatal(err)
		}
		cliLogInfo(t, script, lines)
		return [][]cliRec{recs}, lines
	}
}

func pyConsume(script string) func(t *testing.T, a *Agent, topic string) []cliLine {
	return func(t *testing.T, a *Agent, topic string) []cliLine {
		lines, err := cliScript(context.Background(), script, "consume", cliConsumeReq{
			Bootstrap: a.KafkaAddr, Topic: topic, Partitions: cliPartitions, Timeout: cliScriptTimeout})
		if err != nil {
			t.Fatal(err)
		}
		cliLogInfo(t, script, lines)
		var marks int
		for _, l := range lines {
			if l.Kind == "watermark" {
				marks++
			}
		}
		if marks != cliPartitions {
			t.Errorf("%s reported %d watermarks, want %d", script, marks, cliPartitions)
		}
		return lines
	}
}

// TestConfluentKafkaRoundTrip: confluent-kafka with each codec; delivery
// reports must name the offsets franz-go then reads.
func TestConfluentKafkaRoundTrip(t *testing.T) {
	t.Parallel()
	cliRequirePython(t, "import confluent_kafka")
	cliRoundTrip(t, "confluent", true, pyProduce("confluent.py"), pyConsume("confluent.py"))
}

// TestKafkaPythonRoundTrip: kafka-python with each codec; the offsets its
// send futures resolve to must be the ones franz-go then reads.
func TestKafkaPythonRoundTrip(t *testing.T) {
	t.Parallel()
	cliRequirePython(t, "import kafka; from kafka.codec import has_snappy, has_lz4, has_zstd; "+
		"assert has_snappy() and has_lz4() and has_zstd(), 'kafka-python codec modules missing'")
	cliRoundTrip(t, "kafka-python", true, pyProduce("kafka_python.py"), pyConsume("kafka_python.py"))
}

// TestClientsConcurrentProducers runs three confluent-kafka producers (each
// its own codec) and one kafka-python producer at once into the same three
// partitions, each flushing every 25 records so their requests interleave.
// Every record must be there once, each producer's records in its order in
// each partition, offsets contiguous, and every delivery report right.
func TestClientsConcurrentProducers(t *testing.T) {
	t.Parallel()
	cliRequirePython(t, "import confluent_kafka, kafka")
	a := StartAgent(t, "")
	const topic = "concurrent"
	a.CreateTopic(topic, cliPartitions)
	producers := []struct{ script, codec string }{
		{"confluent.py", "gzip"}, {"confluent.py", "lz4"}, {"confluent.py", "zstd"}, {"kafka_python.py", "snappy"},
	}
	streams := make([][]cliRec, len(producers))
	reports := make([][]cliLine, len(producers))
	errs := make([]error, len(producers))
	base := time.Now().Add(-time.Minute).UnixMilli()
	var wg sync.WaitGroup
	for n, p := range producers {
		recs := cliRecords(topic, fmt.Sprintf("producer%d", n), 300, base)
		for i := range recs {
			recs[i].I = n*1000 + i // report IDs unique across producers
		}
		streams[n] = recs
		wg.Add(1)
		go func() {
			defer wg.Done()
			reports[n], errs[n] = cliScript(context.Background(), p.script, "produce", cliProduceReq{
				Bootstrap: a.KafkaAddr, Topic: topic, Compression: p.codec, Records: recs, FlushEvery: 25, Timeout: cliScriptTimeout})
		}()
	}
	wg.Wait()
	for n, err := range errs {
		if err != nil {
			t.Fatalf("producer %d: %v", n, err)
		}
	}
	pos := cliCheckLog(t, a, topic, streams, time.Time{}, time.Time{})
	for n := range producers {
		cliCheckDeliveries(t, reports[n], streams[n], pos)
	}
	// How much the producers' records are mixed; a sanity note, not an
	// assertion, since scheduling decides it.
	owner := map[cliPos]int{}
	for n, s := range streams {
		for _, r := range s {
			owner[pos[r.Value]] = n
		}
	}
	switches := 0
	for p := range int32(cliPartitions) {
		for o := int64(1); ; o++ {
			prev, ok1 := owner[cliPos{p, o - 1}]
			cur, ok2 := owner[cliPos{p, o}]
			if !ok1 || !ok2 {
				break
			}
			if prev != cur {
				switches++
			}
		}
	}
	t.Logf("producer changes along the partitions: %d", switches)
}
