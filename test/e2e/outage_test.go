package e2e

// Dependency outages end in retries, not failures: producers of every kind
// keep their records through a PostgreSQL outage and deliver them after it.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"
)

// metricsText returns the agent's /metrics page.
func metricsText(t *testing.T, httpAddr string) string {
	t.Helper()
	resp, err := http.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestProduceThroughMetadataStoreOutage: with PostgreSQL stopped, new
// franz-go, kcat (librdkafka), kafka-python, sarama, kafkajs and `sluice
// produce` producers are answered with retriable errors (never
// UNKNOWN_SERVER_ERROR), keep their records, and deliver every one once
// PostgreSQL is back. kafka-python, sarama and kafkajs are given retries
// (kafka-python 2.0 does not retry by default; sarama and kafkajs give
// up after a few seconds), as a user who wants to ride out an outage
// configures them.
func TestProduceThroughMetadataStoreOutage(t *testing.T) {
	t.Parallel()
	cliRequireKcat(t)
	cliRequirePython(t, "import kafka")
	node := requireKafkajs(t)
	c := StartCluster(t, clusterOpts{zones: []string{""}})
	a := c.Agents[0]
	const topic = "outage"
	a.CreateTopic(topic, 1)
	// A listing before the outage, as a regex consumer makes every
	// metadata refresh: the agent lists what it saw during the outage.
	ctx := testContext(t, 3*time.Minute)
	if _, err := a.Admin().ListTopics(ctx); err != nil {
		t.Fatal(err)
	}

	c.PG.Stop()
	type result struct {
		who string
		err error
	}
	const producers = 6
	results := make(chan result, producers)
	go func() {
		cl, err := kgo.NewClient(kgo.SeedBrokers(a.KafkaAddr), kgo.DefaultProduceTopic(topic))
		if err != nil {
			results <- result{"franz-go", err}
			return
		}
		defer cl.Close()
		var recs []*kgo.Record
		for i := 0; i < 5; i++ {
			recs = append(recs, kgo.StringRecord(fmt.Sprintf("franz-%d", i)))
		}
		results <- result{"franz-go", cl.ProduceSync(ctx, recs...).FirstErr()}
	}()
	go func() {
		var in bytes.Buffer
		for i := 0; i < 5; i++ {
			fmt.Fprintf(&in, "kcat-%d\n", i)
		}
		cmd := exec.CommandContext(ctx, "kcat", "-b", a.KafkaAddr, "-P", "-t", topic, "-X", "message.timeout.ms=120000")
		cmd.Stdin = &in
		out, err := cmd.CombinedOutput()
		if err == nil && strings.Contains(string(out), "ERROR") {
			err = fmt.Errorf("kcat reported errors")
		}
		if err != nil {
			err = fmt.Errorf("%w: %s", err, out)
		}
		results <- result{"kcat", err}
	}()
	go func() {
		cmd := exec.CommandContext(ctx, sluiceBin, "produce", "--brokers", a.KafkaAddr, "-t", topic)
		cmd.Stdin = strings.NewReader("cli-0\ncli-1\ncli-2\ncli-3\ncli-4\n")
		out, err := cmd.CombinedOutput()
		if err != nil {
			err = fmt.Errorf("%w: %s", err, out)
		}
		results <- result{"sluice produce", err}
	}()
	go func() {
		req := cliProduceReq{Bootstrap: a.KafkaAddr, Topic: topic, Compression: "none", Timeout: 150, Retries: 1000}
		for i := 0; i < 5; i++ {
			req.Records = append(req.Records, cliRec{I: i, Value: fmt.Sprintf("kafka-python-%d", i)})
		}
		lines, err := cliScript(ctx, "kafka_python.py", "produce", req)
		for _, l := range lines {
			if err == nil && l.Kind == "delivery" && l.Error != nil {
				err = fmt.Errorf("record %d: %s", l.I, *l.Error)
			}
		}
		results <- result{"kafka-python", err}
	}()
	go func() {
		cfg := saramaConfig(sarama.V2_8_0_0)
		cfg.Metadata.Retry.Max = 1000
		cfg.Producer.Retry.Max = 1000
		p, err := sarama.NewSyncProducer([]string{a.KafkaAddr}, cfg)
		if err == nil {
			var msgs []*sarama.ProducerMessage
			for i := 0; i < 5; i++ {
				msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder(fmt.Sprintf("sarama-%d", i))})
			}
			err = p.SendMessages(msgs)
			p.Close()
		}
		results <- result{"sarama", err}
	}()
	go func() {
		cfg, _ := json.Marshal(map[string]any{"broker": a.KafkaAddr, "topic": topic, "n": 5, "partitions": 1,
			"batch": 5, "acks": -1, "codec": "none", "prefix": "kafkajs", "retries": 1000})
		cmd := exec.CommandContext(ctx, node, "produce.js", string(cfg))
		cmd.Dir = kafkajsDir
		cmd.Env = append(os.Environ(), "KAFKAJS_NO_PARTITIONER_WARNING=1")
		out, err := cmd.CombinedOutput()
		if err == nil && !strings.Contains(string(out), `"kind":"done"`) {
			err = fmt.Errorf("no done line")
		}
		if err != nil {
			err = fmt.Errorf("%w: %s", err, out)
		}
		results <- result{"kafkajs", err}
	}()

	// The outage lasts until the agent has answered Produce requests
	// with errors and at least five seconds have passed; no producer may
	// give up meanwhile. (Metadata is answered from the agent's topic
	// cache and need not fail.)
	start := time.Now()
	for {
		m := metricsText(t, a.HTTPAddr)
		if strings.Contains(m, `sluice_kafka_errors_total{api="Produce"`) && time.Since(start) > 5*time.Second {
			break
		}
		if time.Since(start) > time.Minute {
			t.Fatalf("no Produce errors counted during the outage:\n%s", m)
		}
		select {
		case r := <-results:
			t.Fatalf("%s finished during the outage: %v", r.who, r.err)
		case <-time.After(200 * time.Millisecond):
		}
	}
	// A request for every topic still lists the topic: an empty list
	// would tell clients every topic was deleted.
	listed, err := a.Admin().ListTopics(ctx)
	if err != nil || !listed.Has(topic) {
		t.Errorf("all-topics Metadata during the outage = %v, %v; want %q listed", listed.Names(), err, topic)
	}
	c.PG.Start()
	for i := 0; i < producers; i++ {
		select {
		case r := <-results:
			if r.err != nil {
				t.Errorf("%s failed: %v", r.who, r.err)
			}
		case <-ctx.Done():
			t.Fatal("producers did not finish after PostgreSQL came back")
		}
	}
	if m := metricsText(t, a.HTTPAddr); strings.Contains(m, `code="-1"`) {
		t.Errorf("UNKNOWN_SERVER_ERROR was returned during the outage:\n%s", grepLines(m, "sluice_kafka_errors_total"))
	}
	got := a.ConsumeAll(testContext(t, time.Minute), topic)
	seen := map[string]int{}
	for _, r := range got[0] {
		seen[string(r.Value)]++
	}
	for _, p := range []string{"franz", "kcat", "cli", "kafka-python", "sarama", "kafkajs"} {
		for i := 0; i < 5; i++ {
			if v := fmt.Sprintf("%s-%d", p, i); seen[v] == 0 {
				t.Errorf("record %q was not delivered", v)
			}
		}
	}
}

func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestDevDataDirLocked: a second `sluice dev` on a data directory another
// one is serving exits at once with a clear error, instead of starting as
// the same node on the same store.
func TestDevDataDirLocked(t *testing.T) {
	t.Parallel()
	a := StartAgent(t, "")
	ctx := testContext(t, time.Minute)
	out, err := exec.CommandContext(ctx, sluiceBin, "dev", "--data-dir", a.DataDir,
		"--kafka-addr", freeAddr(t), "--http-addr", freeAddr(t)).CombinedOutput()
	if err == nil {
		t.Fatalf("second sluice dev on %s started:\n%s", a.DataDir, out)
	}
	if !strings.Contains(string(out), "data directory in use by another sluice process") {
		t.Fatalf("second sluice dev failed without the lock error: %v\n%s", err, out)
	}
}

// TestSIGTERMAcknowledgesBufferedProduce: `sluice dev` told to stop with a
// produce still buffered (its file not yet written) flushes it and sends
// the acknowledgement before closing the connection, then exits cleanly.
func TestSIGTERMAcknowledgesBufferedProduce(t *testing.T) {
	t.Parallel()
	a := StartAgent(t, "", "--batch-timeout", "1m", "--batch-early-seal=false")
	a.CreateTopic("term", 1)
	// No retries: the record's outcome is the first answer it gets.
	cl := a.Client(kgo.DefaultProduceTopic("term"), kgo.RecordRetries(0), kgo.RecordDeliveryTimeout(30*time.Second),
		kgo.DisableIdempotentWrite(), kgo.ProducerLinger(0))
	done := make(chan error, 1)
	var offset int64 = -1
	cl.Produce(testContext(t, time.Minute), kgo.StringRecord("buffered"), func(r *kgo.Record, err error) {
		offset = r.Offset
		done <- err
	})
	deadline := time.Now().Add(30 * time.Second)
	for a.metric("sluice_produce_buffered_bytes") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the record was never buffered")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil || offset != 0 {
			t.Fatalf("buffered record at SIGTERM: offset %d, %v; want acknowledged at offset 0", offset, err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no answer for the buffered record")
	}
	select {
	case <-a.exited:
		if code := a.cmd.ProcessState.ExitCode(); code != 0 {
			t.Fatalf("agent exited with %d after SIGTERM", code)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("agent did not exit after SIGTERM")
	}
}
