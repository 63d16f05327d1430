package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/twmb/avro"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
)

const consoleDir = "console"

// requireBrowser returns node, or skips (fails under CI) when node,
// Debian's chromium or the playwright-core module is missing.
func requireBrowser(t *testing.T) string {
	t.Helper()
	missing := func(what string) {
		t.Helper()
		msg := what + "; run scripts/install-test-deps.sh (chromium, npm ci in test/e2e/console)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node is not installed")
	}
	if _, err := os.Stat("/usr/bin/chromium"); err != nil {
		missing("chromium is not installed")
	}
	if _, err := os.Stat(filepath.Join(consoleDir, "node_modules", "playwright-core", "package.json")); err != nil {
		missing("playwright-core is not installed")
	}
	return node
}

// TestConsoleBrowser drives the web console in headless Chromium: every
// page opens, a topic is created, configured, grown, produced to, browsed
// and deleted through the forms, a group's lag falls on the group page as
// a franz-go consumer catches up, offsets are reset with a preview, and
// the overview shows the traffic, and the tableflow role's table of the
// topic shows its schema, partition spec and snapshots. SLUICE_UPDATE_SCREENSHOTS=1 copies the
// screenshots into docs/img/ for docs/console.md.
func TestConsoleBrowser(t *testing.T) {
	t.Parallel()
	node := requireBrowser(t)
	// Shadow mode: ACLs can be created and the console's anonymous
	// requests become would-be denials, while everything is served.
	// The tableflow role makes a table of the jobs topic.
	tfDir, kafkaAddr := t.TempDir(), freeAddr(t)
	tfConfig := writeTableflowConfig(t, tfDir, fmt.Sprintf(`
source_clusters:
  - name: self
    bootstrap_servers: [%q]
destination_bucket_url: file://%s/warehouse
metadata_url: sqlite://%s/tableflow.db
target_freshness: 300ms
tables:
  - name: ops.jobs
    source_topic: jobs
    format: json
    partition_by: ["bucket(4, job)"]
    schema:
      fields:
        - {name: job, type: long, required: true}
`, kafkaAddr, tfDir, tfDir))
	a := startAgentAt(t, "", kafkaAddr, "--acl-mode", "shadow", "--roles", "proxy,jobs,tableflow", "--tableflow-config", tfConfig)
	ctx := testContext(t, 220*time.Second)

	const topic, group, records = "jobs", "workers", 40
	a.CreateTopic(topic, 2)
	producer := a.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	defer producer.Close()
	for i := 0; i < records; i++ {
		r := &kgo.Record{Topic: topic, Partition: int32(i % 2), Key: []byte(fmt.Sprint("k", i)), Value: []byte(fmt.Sprintf(`{"job":%d}`, i))}
		if err := producer.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	// The group starts with nothing consumed: offsets committed at 0.
	adm := kadm.NewClient(producer)
	var start kadm.Offsets
	start.Add(kadm.Offset{Topic: topic, Partition: 0, At: 0, LeaderEpoch: -1})
	start.Add(kadm.Offset{Topic: topic, Partition: 1, At: 0, LeaderEpoch: -1})
	if resp, err := adm.CommitOffsets(ctx, group, start); err != nil || resp.Error() != nil {
		t.Fatalf("commit starting offsets: %v %v", err, resp.Error())
	}

	// Two versions of a subject, and a message in the wire format.
	rc := srClient(t, a)
	if _, err := rc.CreateSchema(ctx, "orders-value", sr.Schema{Schema: consoleAvroV1}); err != nil {
		t.Fatal(err)
	}
	v2, err := rc.CreateSchema(ctx, "orders-value", sr.Schema{Schema: consoleAvroV2})
	if err != nil {
		t.Fatal(err)
	}
	typed := consoleWireValue(t, v2.ID)
	a.CreateTopic("typed", 1)
	if err := producer.ProduceSync(ctx, &kgo.Record{Topic: "typed", Partition: 0, Value: typed}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	shots := t.TempDir()
	arg, _ := json.Marshal(map[string]any{"base": "http://" + a.HTTPAddr, "group": group, "lag": records, "shots": shots, "schemaID": v2.ID})
	cmd := exec.CommandContext(ctx, node, "console.js", string(arg))
	cmd.Dir = consoleDir
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}

	var consumer *kgo.Client
	consumed := make(chan error, 1)
	defer func() {
		if consumer != nil {
			consumer.Close()
		}
	}()
	var steps []string
	done := false
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		var l struct {
			Kind, Name, Error string
			Ms                int64
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("bad line from the browser script %q: %v", sc.Text(), err)
		}
		switch l.Kind {
		case "step":
			steps = append(steps, fmt.Sprintf("%s@%dms", l.Name, l.Ms))
		case "error":
			t.Errorf("browser script failed after steps %v: %s", steps, l.Error)
		case "done":
			done = true
		case "signal":
			switch l.Name {
			case "consume":
				// A consumer joins and commits as it goes: the page's lag
				// falls to 0.
				consumer, err = kgo.NewClient(kgo.SeedBrokers(a.KafkaAddr), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
					kgo.FetchMaxWait(200*time.Millisecond), kgo.DisableAutoCommit(), kgo.FetchMaxPartitionBytes(512))
				if err != nil {
					t.Fatal(err)
				}
				go func() { consumed <- consumeAll(ctx, consumer, records) }()
			case "acl":
				// The ACL created in the page is the cluster's: a Kafka
				// admin client sees it.
				checkConsoleACL(ctx, t, adm)
			case "stop":
				if err := <-consumed; err != nil {
					t.Fatal(err)
				}
				consumer.Close() // leaves the group
				consumer = nil
			}
			if _, err := io.WriteString(stdin, "go:"+l.Name+"\n"); err != nil {
				t.Fatal(err)
			}
		}
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil || !done {
		t.Fatalf("browser script: %v after steps %v\nstderr:\n%s", err, steps, stderr.String())
	}
	t.Logf("browser steps: %v", steps)

	// The CLI lists the same table through the admin API, with what the
	// Iceberg catalog does not know: its source topic and lag.
	out, err := exec.CommandContext(ctx, sluiceBin, "tables", "list", "--http-addr", a.HTTPAddr).CombinedOutput()
	if err != nil || !regexp.MustCompile(`(?m)^ops\.jobs\s+self/jobs\s+json\s+active\s+\d+\s+`+fmt.Sprint(records)+`\s+\d+\s+\d+\s+0\s+\S+$`).Match(out) {
		t.Errorf("sluice tables list --http-addr: %v\n%s", err, out)
	}

	// The overview screenshot shows the page, not a blank one.
	shotNames := []string{"console-overview.png", "console-topic.png", "console-group.png", "console-schema-diff.png", "console-events.png", "console-table.png"}
	for _, name := range shotNames {
		checkScreenshot(t, filepath.Join(shots, name))
	}
	if os.Getenv("SLUICE_UPDATE_SCREENSHOTS") == "1" {
		for _, name := range shotNames {
			b, err := os.ReadFile(filepath.Join(shots, name))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join("..", "..", "docs", "img", name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// consumeAll polls until n records have been read, committing after each
// poll (small fetches: the lag falls in steps).
func consumeAll(ctx context.Context, cl *kgo.Client, n int) error {
	for got := 0; got < n; {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			return err
		}
		got += fs.NumRecords()
		if err := cl.CommitUncommittedOffsets(ctx); err != nil {
			return err
		}
	}
	return nil
}

// checkScreenshot decodes a PNG and checks it is a full page with
// content: wide, and far from one colour.
func checkScreenshot(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	b := img.Bounds()
	if b.Dx() < 1000 || b.Dy() < 600 {
		t.Fatalf("%s is %dx%d", path, b.Dx(), b.Dy())
	}
	colours := map[[4]uint32]bool{}
	for y := b.Min.Y; y < b.Max.Y; y += 4 {
		for x := b.Min.X; x < b.Max.X; x += 4 {
			r, g, bl, al := img.At(x, y).RGBA()
			colours[[4]uint32{r >> 8, g >> 8, bl >> 8, al >> 8}] = true
		}
	}
	if len(colours) < 20 {
		t.Fatalf("%s has %d colours: blank?", path, len(colours))
	}
}

const (
	consoleAvroV1 = `{"type":"record","name":"Order","fields":[{"name":"id","type":"long"}]}`
	consoleAvroV2 = `{"type":"record","name":"Order","fields":[{"name":"id","type":"long"},{"name":"note","type":"string","default":""}]}`
)

// consoleWireValue is an Order in the Confluent wire format: magic byte
// 0, the schema ID, the Avro payload.
func consoleWireValue(t *testing.T, id int) []byte {
	t.Helper()
	s, err := avro.Parse(consoleAvroV2)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := s.Encode(map[string]any{"id": int64(7), "note": "rush"})
	if err != nil {
		t.Fatal(err)
	}
	return append(binary.BigEndian.AppendUint32([]byte{0}, uint32(id)), payload...)
}

// checkConsoleACL checks that the ACL the browser created exists.
func checkConsoleACL(ctx context.Context, t *testing.T, adm *kadm.Client) {
	t.Helper()
	res, err := adm.DescribeACLs(ctx, kadm.NewACLs().Topics("jobs").ResourcePatternType(kadm.ACLPatternLiteral).Operations(kadm.OpRead).Allow("User:console-e2e").AllowHosts())
	if err != nil {
		t.Errorf("DescribeACLs: %v", err)
		return
	}
	n := 0
	for _, r := range res {
		if r.Err != nil {
			t.Errorf("DescribeACLs: %v", r.Err)
		}
		n += len(r.Described)
	}
	if n != 1 {
		t.Errorf("DescribeACLs found %d bindings for the console's ACL, want 1: %+v", n, res)
	}
}
