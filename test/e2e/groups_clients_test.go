package e2e

// Consumer groups with non-Go clients: confluent-kafka (manual and
// automatic commits), kcat's balanced consumer (-G) and kafka-python, one
// after another in the same group. Each must read exactly the records
// produced since the previous one stopped, and leave the group's committed
// offsets at the end offsets. The Python clients run py/groups_*.py under
// /usr/bin/python3 (see py/common.py for the JSON lines they print).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// grpPython is the interpreter with the Kafka modules (the python3 on
// PATH may be another one).
const grpPython = "/usr/bin/python3"

// grpLine is one line a group client script prints.
type grpLine struct {
	Kind      string  `json:"kind"`
	Partition int32   `json:"partition"`
	Offset    int64   `json:"offset"`
	Value     *string `json:"value"`
	Info      string  `json:"info"`
}

// grpRun runs a client process for at most 60s, returning its stdout or an
// error carrying its output.
func grpRun(ctx context.Context, stdin []byte, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
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

type grpScriptReq struct {
	Bootstrap string `json:"bootstrap"`
	Topic     string `json:"topic"`
	Group     string `json:"group"`
	Expect    int    `json:"expect"`
	Commit    string `json:"commit,omitempty"`
	Timeout   int    `json:"timeout"`
}

// grpScript runs py/<script> consume with req and returns the records it
// read, in order.
func grpScript(t *testing.T, ctx context.Context, script string, req grpScriptReq) []grpLine {
	t.Helper()
	in, _ := json.Marshal(req)
	out, err := grpRun(ctx, in, grpPython, "py/"+script, "consume")
	if err != nil {
		t.Fatal(err)
	}
	var recs []grpLine
	for _, l := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
		var line grpLine
		if err := json.Unmarshal(l, &line); err != nil {
			t.Fatalf("py/%s printed %q: %v", script, l, err)
		}
		switch line.Kind {
		case "record":
			recs = append(recs, line)
		case "info":
			t.Logf("py/%s: %s", script, line.Info)
		}
	}
	return recs
}

// grpCheckRead asserts that read holds exactly the records of want
// (value → position): each once, at its position.
func grpCheckRead(t *testing.T, who string, read []grpLine, want map[string]grpPos) {
	t.Helper()
	errs := &grpErrs{t: t, what: who}
	seen := map[string]bool{}
	for _, r := range read {
		if r.Value == nil {
			errs.add("null value at %d/%d", r.Partition, r.Offset)
			continue
		}
		v := *r.Value
		pos, ok := want[v]
		switch {
		case !ok:
			errs.add("read %q at %d/%d, which is not among the records to read (redelivered?)", v, r.Partition, r.Offset)
		case seen[v]:
			errs.add("read %q twice", v)
		case pos != grpPos{r.Partition, r.Offset}:
			errs.add("read %q at %d/%d, produced at %v", v, r.Partition, r.Offset, pos)
		}
		seen[v] = true
	}
	for v := range want {
		if !seen[v] {
			errs.add("did not read %q", v)
		}
	}
	errs.done()
}

// grpProduceBatch writes n records with values prefix-NNNNNN over parts
// partitions and returns where they landed.
func grpProduceBatch(t *testing.T, ctx context.Context, cl *kgo.Client, topic, prefix string, n int, parts int32) map[string]grpPos {
	t.Helper()
	rs := make([]*kgo.Record, n)
	for i := range rs {
		rs[i] = &kgo.Record{Topic: topic, Partition: int32(i) % parts, Key: []byte(strconv.Itoa(i)), Value: []byte(fmt.Sprintf("%s-%06d", prefix, i))}
	}
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	out := map[string]grpPos{}
	for _, r := range rs {
		out[string(r.Value)] = grpPos{r.Partition, r.Offset}
	}
	return out
}

// TestGroupOtherClients has confluent-kafka (manual, then automatic
// commits), kcat -G and kafka-python take turns in one group; each reads
// exactly the records produced since the previous one, and leaves the
// committed offsets at the end offsets.
func TestGroupOtherClients(t *testing.T) {
	t.Parallel()
	if out, err := exec.Command(grpPython, "-c", "import confluent_kafka, kafka").CombinedOutput(); err != nil {
		t.Fatalf("%s lacks the Kafka modules: %v\n%s\nrun scripts/install-test-deps.sh", grpPython, err, out)
	}
	if _, err := exec.LookPath("kcat"); err != nil {
		t.Fatalf("kcat is not installed (%v); run scripts/install-test-deps.sh", err)
	}
	a := StartAgent(t, "", "--batch-timeout", "5ms")
	ctx := testContext(t, 150*time.Second)
	adm := a.Admin()
	prod := grpProducer(a)
	const topic, group, parts = "py-group", "g-py", 3
	a.CreateTopic(topic, parts)
	req := func(expect int, commit string) grpScriptReq {
		return grpScriptReq{Bootstrap: a.KafkaAddr, Topic: topic, Group: group, Expect: expect, Commit: commit, Timeout: 45}
	}

	want := grpProduceBatch(t, ctx, prod, topic, "confluent-manual", 90, parts)
	grpCheckRead(t, "confluent-kafka, manual commits", grpScript(t, ctx, "groups_confluent.py", req(90, "manual")), want)
	grpCheckCommitted(t, ctx, adm, group, topic)

	want = grpProduceBatch(t, ctx, prod, topic, "confluent-auto", 60, parts)
	grpCheckRead(t, "confluent-kafka, auto commits", grpScript(t, ctx, "groups_confluent.py", req(60, "auto")), want)
	grpCheckCommitted(t, ctx, adm, group, topic)

	want = grpProduceBatch(t, ctx, prod, topic, "kcat", 60, parts)
	// -G: balanced consumer; -e: exit once every assigned partition is
	// read to its end; it commits on exit (librdkafka's auto-commit).
	out, err := grpRun(ctx, nil, "kcat", "-b", a.KafkaAddr, "-G", group, "-e", "-q",
		"-X", "auto.offset.reset=earliest", "-X", "client.id=groups-kcat", "-f", "%p\t%o\t%s\n", topic)
	if err != nil {
		t.Fatal(err)
	}
	var kcat []grpLine
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.SplitN(l, "\t", 3)
		if len(f) != 3 {
			t.Fatalf("kcat printed %q", l)
		}
		p, _ := strconv.Atoi(f[0])
		o, _ := strconv.ParseInt(f[1], 10, 64)
		kcat = append(kcat, grpLine{Kind: "record", Partition: int32(p), Offset: o, Value: &f[2]})
	}
	grpCheckRead(t, "kcat -G", kcat, want)
	grpCheckCommitted(t, ctx, adm, group, topic)

	want = grpProduceBatch(t, ctx, prod, topic, "kafka-python", 60, parts)
	grpCheckRead(t, "kafka-python", grpScript(t, ctx, "groups_kafka_python.py", req(60, "")), want)
	grpCheckCommitted(t, ctx, adm, group, topic)

	// Every client left: the group is empty, with its offsets.
	g, _ := grpDescribe(t, ctx, adm, group, topic)
	committed, _ := grpOffsets(t, ctx, adm, group, topic)
	ps := make([]int32, 0, len(committed))
	for p := range committed {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	if g.State != "Empty" || len(ps) != parts {
		t.Errorf("group at the end: state %s, committed partitions %v", g.State, ps)
	}
}
