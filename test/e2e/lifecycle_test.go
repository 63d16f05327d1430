package e2e

// Storage lifecycle end to end: DeleteRecords through kadm and its effect
// on franz-go and kcat consumers, retention by commit time, compaction and
// key compaction of a running `sluice dev`, with `sluice files verify`
// checking the bucket against the metadata afterwards.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fastJobs are flags that make the background jobs run every second. The
// event streams are off, so the bucket holds only the tests' own data
// (bucketFiles counts every file).
var fastJobs = []string{"--retention-interval", "1s", "--compaction-interval", "1s", "--file-grace-period", "2s",
	"--events-jobs=false", "--audit=false", "--events-agent-logs=false"}

// bucketFiles counts the data files in a dev agent's bucket directory.
func (a *Agent) bucketFiles() int {
	a.t.Helper()
	n := 0
	err := filepath.WalkDir(filepath.Join(a.DataDir, "bucket"), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(path, ".slc") {
			n++
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		a.t.Fatal(err)
	}
	return n
}

// metric reads one unlabelled metric from the agent's /metrics.
func (a *Agent) metric(name string) float64 {
	a.t.Helper()
	resp, err := http.Get("http://" + a.HTTPAddr + "/metrics")
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f
		}
	}
	return 0
}

// verifyFiles runs `sluice files verify` on the agent's data directory.
func (a *Agent) verifyFiles() string {
	a.t.Helper()
	out, err := exec.Command(sluiceBin, "files", "verify", "--data-dir", a.DataDir).CombinedOutput()
	if err != nil {
		a.t.Fatalf("sluice files verify: %v\n%s", err, out)
	}
	return string(out)
}

// eventually polls cond every 100ms for up to 30s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// produceEach produces values one at a time, each acknowledged before the
// next, so each lands in its own file.
func produceEach(t *testing.T, cl *kgo.Client, topic string, partition int32, recs ...[2]string) {
	t.Helper()
	ctx := testContext(t, 60*time.Second)
	for _, kv := range recs {
		r := &kgo.Record{Topic: topic, Partition: partition, Value: []byte(kv[1])}
		if kv[0] != "" {
			r.Key = []byte(kv[0])
		}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

func vals(prefix string, n int) [][2]string {
	out := make([][2]string, n)
	for i := range out {
		out[i] = [2]string{"", fmt.Sprintf("%s%d", prefix, i)}
	}
	return out
}

func TestDeleteRecords(t *testing.T) {
	t.Parallel()
	a := StartAgent(t, "", fastJobs...)
	ctx := testContext(t, 90*time.Second)
	adm := a.Admin()
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, "dr"); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, "dr-compact"); err != nil {
		t.Fatal(err)
	}
	cl := a.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produceEach(t, cl, "dr", 1, vals("p1-", 3)...)
	produceEach(t, cl, "dr", 0, vals("v", 10)...)
	filesBefore := a.bucketFiles()

	os := kadm.Offsets{}
	os.Add(kadm.Offset{Topic: "dr", Partition: 0, At: 4})
	os.Add(kadm.Offset{Topic: "dr", Partition: 1, At: -1})
	res, err := adm.DeleteRecords(ctx, os)
	if err != nil {
		t.Fatal(err)
	}
	r0, _ := res.Lookup("dr", 0)
	r1, _ := res.Lookup("dr", 1)
	if r0.Err != nil || r0.LowWatermark != 4 || r1.Err != nil || r1.LowWatermark != 3 {
		t.Fatalf("DeleteRecords = %+v, %+v; want low watermarks 4 and 3 (-1 = high watermark)", r0, r1)
	}
	starts, err := adm.ListStartOffsets(ctx, "dr")
	if err != nil {
		t.Fatal(err)
	}
	if s0, _ := starts.Lookup("dr", 0); s0.Offset != 4 {
		t.Fatalf("ListOffsets earliest p0 = %+v, want 4", s0)
	}
	if s1, _ := starts.Lookup("dr", 1); s1.Offset != 3 {
		t.Fatalf("ListOffsets earliest p1 = %+v, want 3", s1)
	}

	// Errors as Kafka answers them.
	check := func(topic string, p int32, at int64, want error, wantLow int64) {
		t.Helper()
		o := kadm.Offsets{}
		o.Add(kadm.Offset{Topic: topic, Partition: p, At: at})
		res, err := adm.DeleteRecords(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		r, ok := res.Lookup(topic, p)
		if !ok || !errors.Is(r.Err, want) && !(want == nil && r.Err == nil) {
			t.Fatalf("DeleteRecords(%s/%d at %d) = %+v, want %v", topic, p, at, r, want)
		}
		if want == nil && r.LowWatermark != wantLow {
			t.Fatalf("DeleteRecords(%s/%d at %d) low watermark %d, want %d", topic, p, at, r.LowWatermark, wantLow)
		}
	}
	check("dr", 0, 11, kerr.OffsetOutOfRange, 0)
	check("dr", 0, 2, nil, 4) // below the start: nothing changes
	// kadm refuses unknown partitions itself; ask the agent directly.
	for _, tp := range []struct {
		topic string
		p     int32
	}{{"dr", 5}, {"no-such-topic", 0}} {
		req := kmsg.NewPtrDeleteRecordsRequest()
		req.Version = 2
		rt := kmsg.NewDeleteRecordsRequestTopic()
		rt.Topic = tp.topic
		rp := kmsg.NewDeleteRecordsRequestTopicPartition()
		rp.Partition, rp.Offset = tp.p, 0
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		// Straight to the agent (node 1): kgo would shard by leader.
		raw, err := cl.Broker(1).Request(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		resp := raw.(*kmsg.DeleteRecordsResponse)
		if code := resp.Topics[0].Partitions[0].ErrorCode; code != kerr.UnknownTopicOrPartition.Code {
			t.Fatalf("DeleteRecords(%s/%d) error %d, want UNKNOWN_TOPIC_OR_PARTITION", tp.topic, tp.p, code)
		}
	}
	check("dr-compact", 0, 0, kerr.PolicyViolation, 0)

	// A fetch below the new start: OFFSET_OUT_OF_RANGE with the log start.
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.MaxWaitMillis, req.MaxBytes = 11, 100, 1<<20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "dr"
	td, err := adm.ListTopics(ctx, "dr")
	if err != nil {
		t.Fatal(err)
	}
	ft.TopicID = td["dr"].ID // kgo sends the newest version, which names topics by ID
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.FetchOffset, fp.PartitionMaxBytes, fp.CurrentLeaderEpoch = 2, 1<<20, -1
	ft.Partitions = append(ft.Partitions, fp)
	req.Topics = append(req.Topics, ft)
	rawf, err := cl.Broker(1).Request(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	fresp := rawf.(*kmsg.FetchResponse)
	if p := fresp.Topics[0].Partitions[0]; p.ErrorCode != kerr.OffsetOutOfRange.Code || p.LogStartOffset != 4 {
		t.Fatalf("fetch at 2 after DeleteRecords: error %d, log start %d", p.ErrorCode, p.LogStartOffset)
	}

	// franz-go, asked for offset 0, resets to the new start.
	got := consumePartition(t, a, "dr", 0, 0, 6)
	if got[0].Offset != 4 || string(got[0].Value) != "v4" || got[5].Offset != 9 {
		t.Fatalf("franz-go consumes p0 from %d (%s) to %d", got[0].Offset, got[0].Value, got[5].Offset)
	}
	// librdkafka (kcat) too.
	out, err := cliRun(ctx, nil, "kcat", "-C", "-b", a.KafkaAddr, "-t", "dr", "-p", "0", "-o", "beginning", "-e", "-q", "-f", "%o:%s\n")
	if err != nil {
		t.Fatal(err)
	}
	if want := "4:v4\n5:v5\n6:v6\n7:v7\n8:v8\n9:v9\n"; string(out) != want {
		t.Fatalf("kcat read %q, want %q", out, want)
	}

	// The files that held only deleted records leave the bucket once the
	// grace period has passed: p1's three and p0's first four.
	eventually(t, "deleted records' files to leave the bucket", func() bool { return a.bucketFiles() <= filesBefore-7 })
	if out := a.verifyFiles(); !strings.Contains(out, "missing: 0") {
		t.Fatalf("verify: %s", out)
	}
	// The log goes on from the same offsets.
	produceEach(t, cl, "dr", 1, [2]string{"", "after"})
	if got := consumePartition(t, a, "dr", 1, 0, 1); got[0].Offset != 3 || string(got[0].Value) != "after" {
		t.Fatalf("p1 after deleting everything: offset %d %q", got[0].Offset, got[0].Value)
	}
}

func TestRetentionByCommitTimeE2E(t *testing.T) {
	t.Parallel()
	a := StartAgent(t, "", fastJobs...)
	ctx := testContext(t, 90*time.Second)
	adm := a.Admin()
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"retention.ms": kadm.StringPtr("2000")}, "ret"); err != nil {
		t.Fatal(err)
	}
	cl := a.Client()
	// Record timestamps far in the future would keep data forever if
	// retention went by them; it goes by commit time.
	future := time.Now().Add(24 * time.Hour)
	for i := 0; i < 5; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "ret", Value: []byte(strconv.Itoa(i)), Timestamp: future}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "retention to move the log start to 5", func() bool {
		starts, err := adm.ListStartOffsets(ctx, "ret")
		if err != nil {
			return false
		}
		s, _ := starts.Lookup("ret", 0)
		return s.Offset == 5
	})
	eventually(t, "expired files to leave the bucket", func() bool { return a.bucketFiles() == 0 })
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "ret", Value: []byte("new")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if got := a.ConsumeAll(ctx, "ret"); len(got[0]) != 1 || got[0][0].Offset != 5 {
		t.Fatalf("after retention: %v", got[0])
	}
}

func TestCompactionE2E(t *testing.T) {
	t.Parallel()
	a := StartAgent(t, "", fastJobs...)
	ctx := testContext(t, 120*time.Second)
	a.CreateTopic("cmp", 1)
	cl := a.Client()
	const n = 40
	produceEach(t, cl, "cmp", 0, vals("m", n)...)
	eventually(t, "compaction to replace extents", func() bool { return a.metric("sluice_compaction_extents_replaced_total") >= n/2 })
	got := a.ConsumeAll(ctx, "cmp")
	if len(got[0]) != n {
		t.Fatalf("consumed %d records, want %d", len(got[0]), n)
	}
	for i, r := range got[0] {
		if r.Offset != int64(i) || string(r.Value) != fmt.Sprintf("m%d", i) {
			t.Fatalf("record %d: offset %d value %q", i, r.Offset, r.Value)
		}
	}
	eventually(t, "replaced files to leave the bucket", func() bool { return a.bucketFiles() < n/2 })
	if out := a.verifyFiles(); !strings.Contains(out, "missing: 0") || !strings.Contains(out, "corrupt: 0") {
		t.Fatalf("verify: %s", out)
	}
	// `sluice files inspect` shows a compacted file: one chunk of topic cmp
	// holding many batches with their final base offsets.
	var compacted string
	filepath.WalkDir(filepath.Join(a.DataDir, "bucket"), func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".slc") {
			rel, _ := filepath.Rel(filepath.Join(a.DataDir, "bucket"), path)
			out, ierr := exec.Command(sluiceBin, "files", "inspect", "--data-dir", a.DataDir, filepath.ToSlash(rel)).CombinedOutput()
			if ierr != nil && strings.Contains(string(out), "not found") {
				return nil // deleted meanwhile: its grace period ran out
			}
			if ierr != nil {
				t.Fatalf("sluice files inspect %s: %v\n%s", rel, ierr, out)
			}
			if o := string(out); strings.Contains(o, "batch 1 at") && strings.Contains(o, "checksum ok") && strings.Contains(o, "topic cmp (") {
				compacted = o
			}
		}
		return nil
	})
	if compacted == "" {
		t.Fatal("no inspected file shows a merged chunk of cmp")
	}
	// kcat reads the compacted log the same way.
	out, err := cliRun(ctx, nil, "kcat", "-C", "-b", a.KafkaAddr, "-t", "cmp", "-p", "0", "-o", "beginning", "-e", "-q", "-f", "%o:%s\n")
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(string(out)), "\n"); len(lines) != n || lines[n-1] != fmt.Sprintf("%d:m%d", n-1, n-1) {
		t.Fatalf("kcat read %d lines, last %q", len(lines), lines[len(lines)-1])
	}
}

func TestCompactedTopicE2E(t *testing.T) {
	t.Parallel()
	a := StartAgent(t, "", fastJobs...)
	ctx := testContext(t, 120*time.Second)
	adm := a.Admin()
	// A low dirty ratio so a pass runs once the last record is in.
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"cleanup.policy": kadm.StringPtr("compact"),
		"min.cleanable.dirty.ratio": kadm.StringPtr("0.01")}, "ct"); err != nil {
		t.Fatal(err)
	}
	cl := a.Client()
	var recs [][2]string
	for round := 0; round < 3; round++ {
		for k := 0; k < 5; k++ {
			recs = append(recs, [2]string{fmt.Sprintf("k%d", k), fmt.Sprintf("r%d", round)})
		}
	}
	produceEach(t, cl, "ct", 0, recs...)
	// Key compaction passes run while the data arrives; wait for the one
	// that has seen it all, reading with kcat (librdkafka).
	want := "10:k0=r2\n11:k1=r2\n12:k2=r2\n13:k3=r2\n14:k4=r2\n"
	var last string
	deadline := time.Now().Add(30 * time.Second)
	for last != want {
		if time.Now().After(deadline) {
			t.Fatalf("kcat reads %q, want %q", last, want)
		}
		time.Sleep(200 * time.Millisecond)
		out, err := cliRun(ctx, nil, "kcat", "-C", "-b", a.KafkaAddr, "-t", "ct", "-p", "0", "-o", "beginning", "-e", "-q", "-f", "%o:%k=%s\n")
		if err != nil {
			t.Fatal(err)
		}
		last = string(out)
	}
	got := a.ConsumeAll(ctx, "ct")
	if len(got[0]) != 5 || got[0][0].Offset != 10 {
		t.Fatalf("franz-go consumed %v", got[0])
	}
	// Offsets are unchanged: the high watermark and log start stay.
	ends, _ := adm.ListEndOffsets(ctx, "ct")
	starts, _ := adm.ListStartOffsets(ctx, "ct")
	e, _ := ends.Lookup("ct", 0)
	s, _ := starts.Lookup("ct", 0)
	if e.Offset != 15 || s.Offset != 0 {
		t.Fatalf("offsets after key compaction: start %d end %d, want 0 and 15", s.Offset, e.Offset)
	}
}

// consumePartition reads n records of one partition with franz-go,
// starting at offset from (reset to the log start if out of range).
func consumePartition(t *testing.T, a *Agent, topic string, p int32, from int64, n int) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := a.Client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {p: kgo.NewOffset().At(from)}}),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	defer cl.Close()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consuming %s/%d: got %d of %d records", topic, p, len(out), n)
		}
		fs.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, kerr.OffsetOutOfRange) {
				t.Fatalf("fetch %s/%d: %v", topic, p, err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	return out
}
