package e2e

import (
	"os/exec"
	"strings"
	"testing"
	"time"
)

func (a *Agent) cli(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(sluiceBin, append(args, "--brokers", a.KafkaAddr)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (a *Agent) mustCLI(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, err := a.cli(t, stdin, args...)
	if err != nil {
		t.Fatalf("sluice %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// TestCLI drives the user-facing commands against a running agent.
func TestCLI(t *testing.T) {
	t.Parallel()
	a := StartAgent(t, "", "--batch-timeout", "5ms")

	out := a.mustCLI(t, "", "topics", "create", "orders", "--partitions", "3", "--config", "retention.ms=60000")
	if !strings.Contains(out, "created topic orders with 3 partitions") {
		t.Fatalf("create said: %s", out)
	}
	if out, err := a.cli(t, "", "topics", "create", "orders"); err == nil || !strings.Contains(out, "TOPIC_ALREADY_EXISTS") {
		t.Fatalf("duplicate create: err %v, output %s", err, out)
	}
	if out, err := a.cli(t, "", "topics", "create", "huge", "--partitions", "20000"); err == nil || !strings.Contains(out, "INVALID_PARTITIONS") {
		t.Fatalf("partition count over --max-partitions: err %v, output %s", err, out)
	}
	if out, err := a.cli(t, "", "topics", "create", "bad", "--config", "retention.ms=abc"); err == nil || !strings.Contains(out, "INVALID_CONFIG") {
		t.Fatalf("invalid config: err %v, output %s", err, out)
	}

	out = a.mustCLI(t, "alice:1\nbob:2\nalice:3\nnokey\n", "produce", "-t", "orders", "-k", ":", "-p", "1")
	if strings.Count(out, "partition 1 offset") != 4 || !strings.Contains(out, "offset 3") {
		t.Fatalf("produce said: %s", out)
	}

	out = a.mustCLI(t, "", "consume", "-t", "orders")
	want := "1\t0\talice\t1\n1\t1\tbob\t2\n1\t2\talice\t3\n1\t3\t\tnokey\n"
	if out != want {
		t.Fatalf("consume printed:\n%q\nwant\n%q", out, want)
	}
	if out := a.mustCLI(t, "", "consume", "-t", "orders", "-n", "2"); strings.Count(out, "\n") != 2 {
		t.Fatalf("consume -n 2 printed %q", out)
	}

	// The operator's views of the same records: the connection path, and
	// where offset 2 of partition 1 is stored, read straight from the
	// data directory.
	if out := a.mustCLI(t, "", "diagnose", "connection"); !strings.Contains(out, "FindCoordinator (transaction") || !strings.Contains(out, "all checks passed") {
		t.Fatalf("diagnose connection said: %s", out)
	}
	if out, err := exec.Command(sluiceBin, "diagnose", "connection", "--brokers", freeAddr(t), "--timeout", "5s").CombinedOutput(); err == nil || !strings.Contains(string(out), "FAIL  tcp") {
		t.Fatalf("diagnose connection to a closed port: err %v, output %s", err, out)
	}
	rec, err := exec.Command(sluiceBin, "diagnose", "record", "--data-dir", a.DataDir, "-t", "orders", "-p", "1", "-o", "2").CombinedOutput()
	if err != nil || !strings.Contains(string(rec), `key "alice" value "3"`) || !strings.Contains(string(rec), "crc ok") || !strings.Contains(string(rec), "file checksum: ok") {
		t.Fatalf("diagnose record: %v\n%s", err, rec)
	}
	file := strings.TrimSuffix(strings.Fields(strings.Split(string(rec), "\nfile ")[1])[0], ":")
	if out, err := exec.Command(sluiceBin, "files", "read", "--data-dir", a.DataDir, file).CombinedOutput(); err != nil || !strings.Contains(string(out), `value "nokey"`) {
		t.Fatalf("files read %s: %v\n%s", file, err, out)
	}
	if out, err := exec.Command(sluiceBin, "files", "scrub", "--data-dir", a.DataDir).CombinedOutput(); err != nil || !strings.Contains(string(out), "index errors: 0") {
		t.Fatalf("files scrub: %v\n%s", err, out)
	}

	out = a.mustCLI(t, "", "topics", "list")
	if !strings.Contains(out, "orders") || !strings.Contains(out, "3") {
		t.Fatalf("list said: %s", out)
	}
	out = a.mustCLI(t, "", "topics", "describe", "orders")
	if !strings.Contains(out, "partitions 3") || !strings.Contains(out, "1          1       0      4") {
		t.Fatalf("describe said: %s", out)
	}

	// Where to start, and the format.
	if out := a.mustCLI(t, "", "consume", "-t", "orders", "--partition", "1", "--offset", "2"); out != "1\t2\talice\t3\n1\t3\t\tnokey\n" {
		t.Fatalf("consume --partition 1 --offset 2 printed %q", out)
	}
	if out := a.mustCLI(t, "", "consume", "-t", "orders", "--partition", "1", "--offset", "-1"); out != "1\t3\t\tnokey\n" {
		t.Fatalf("consume --offset -1 printed %q", out)
	}
	if out := a.mustCLI(t, "", "consume", "-t", "orders", "--format", `%t:%p:%o:%k=%v;`); out != "orders:1:0:alice=1;orders:1:1:bob=2;orders:1:2:alice=3;orders:1:3:=nokey;" {
		t.Fatalf("consume --format printed %q", out)
	}
	if out := a.mustCLI(t, "", "consume", "-t", "orders", "--from-time", "1h"); strings.Count(out, "\n") != 4 {
		t.Fatalf("consume --from-time 1h printed %q, want the 4 records", out)
	}
	if out := a.mustCLI(t, "", "consume", "-t", "orders", "--from-time", "2099-01-01T00:00:00Z"); out != "" {
		t.Fatalf("consume --from-time in the future printed %q", out)
	}
	if out, err := a.cli(t, "", "consume", "-t", "orders", "--offset", "1"); err == nil || !strings.Contains(out, "--offset needs --partition") {
		t.Fatalf("consume --offset without --partition: err %v, output %s", err, out)
	}

	// Headers go in with produce --header and come out with %h.
	// (A topic of their own: the group below reads all of orders.)
	a.mustCLI(t, "v\n", "produce", "-t", "headers", "--header", "source=cli", "--header", "n=1")
	if out := a.mustCLI(t, "", "consume", "-t", "headers", "--format", `%v %h\n`); out != "v source=cli,n=1\n" {
		t.Fatalf("consume of a record with headers printed %q", out)
	}
	if out, err := a.cli(t, "x\n", "produce", "-t", "headers", "--header", "novalue"); err == nil || !strings.Contains(out, "want key=value") {
		t.Fatalf("produce --header without '=': err %v, output %s", err, out)
	}

	// A group member commits what it printed; groups lag shows the rest.
	if out := a.mustCLI(t, "", "consume", "-t", "orders", "-g", "cli-group", "-n", "1"); out != "1\t0\talice\t1\n" {
		t.Fatalf("consume -g -n 1 printed %q", out)
	}
	out = a.mustCLI(t, "", "groups", "lag", "cli-group")
	if !strings.Contains(out, "total lag 3") {
		t.Fatalf("groups lag after one record said: %s", out)
	}
	if out := a.mustCLI(t, "", "consume", "-t", "orders", "-g", "cli-group"); out != "1\t1\tbob\t2\n1\t2\talice\t3\n1\t3\t\tnokey\n" {
		t.Fatalf("consume -g resumed with %q", out)
	}
	if out := a.mustCLI(t, "", "groups", "lag", "cli-group"); !strings.Contains(out, "total lag 0") {
		t.Fatalf("groups lag after all records said: %s", out)
	}

	// Configs: describe shows what is set; alter-config sets and removes.
	if out := a.mustCLI(t, "", "topics", "describe", "orders"); !strings.Contains(out, "retention.ms  60000  DYNAMIC_TOPIC_CONFIG") {
		t.Fatalf("describe did not show the topic's config: %s", out)
	}
	a.mustCLI(t, "", "topics", "alter-config", "orders", "--set", "retention.ms=120000", "--set", "cleanup.policy=compact")
	a.mustCLI(t, "", "topics", "alter-config", "orders", "--delete", "cleanup.policy")
	out = a.mustCLI(t, "", "topics", "describe", "orders")
	if !strings.Contains(out, "retention.ms  120000") || strings.Contains(out, "cleanup.policy") {
		t.Fatalf("describe after alter-config said: %s", out)
	}
	if out, err := a.cli(t, "", "topics", "alter-config", "orders", "--set", "retention.ms=abc"); err == nil || !strings.Contains(out, "INVALID_CONFIG") {
		t.Fatalf("alter-config with a bad value: err %v, output %s", err, out)
	}

	// consume --follow sees a record produced after it started.
	follow := exec.Command(sluiceBin, "consume", "-t", "orders", "--from", "end", "--follow", "-n", "1", "--brokers", a.KafkaAddr)
	var buf syncBuffer
	follow.Stdout = &buf
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- follow.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for buf.String() == "" && time.Now().Before(deadline) {
		a.mustCLI(t, "late\n", "produce", "-t", "orders", "-p", "2")
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("follow: %v", err)
			}
		case <-time.After(500 * time.Millisecond):
		}
	}
	if !strings.HasPrefix(buf.String(), "2\t") || !strings.Contains(buf.String(), "late") {
		t.Fatalf("follow printed %q", buf.String())
	}

	a.mustCLI(t, "", "topics", "delete", "orders")
	if out, err := a.cli(t, "", "topics", "delete", "orders"); err == nil || !strings.Contains(out, "UNKNOWN_TOPIC_OR_PARTITION") {
		t.Fatalf("second delete: err %v, output %s", err, out)
	}
}
