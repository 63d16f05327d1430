package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"
)

// queryAnswer is the part of a query answer the tests read.
type queryAnswer struct {
	Kind   string `json:"kind"`
	Count  int64  `json:"count"`
	Events []struct {
		Topic string          `json:"topic"`
		Event json.RawMessage `json:"event"`
	} `json:"events"`
	Groups []struct {
		Key   map[string]string `json:"key"`
		Count int64             `json:"count"`
	} `json:"groups"`
	Stats struct {
		TasksScanned int  `json:"tasks_scanned"`
		MetadataOnly bool `json:"metadata_only"`
	} `json:"stats"`
	ErrorCode string `json:"error_code"`
	Message   string `json:"message"`
	Position  int    `json:"position"`
}

// cloudEvent is an event as the tests read it.
type cloudEvent struct {
	SpecVersion string         `json:"specversion"`
	ID          string         `json:"id"`
	Source      string         `json:"source"`
	Type        string         `json:"type"`
	Time        time.Time      `json:"time"`
	ContentType string         `json:"datacontenttype"`
	Subject     string         `json:"subject"`
	Data        map[string]any `json:"data"`
}

// query posts a query to the agent's HTTP API.
func (a *Agent) query(t *testing.T, q string) (int, queryAnswer) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": q})
	req, err := http.NewRequest("POST", "http://"+a.HTTPAddr+"/api/v1/events/query", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if a.APIUser != "" {
		req.SetBasicAuth(a.APIUser, a.APIPassword)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ans queryAnswer
	if err := json.NewDecoder(resp.Body).Decode(&ans); err != nil {
		t.Fatalf("query %s: %v", q, err)
	}
	return resp.StatusCode, ans
}

// awaitEvent runs q until it returns an event (events are written off the
// request path, within a linger of their action) and returns the first.
func (a *Agent) awaitEvent(t *testing.T, q string) cloudEvent {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		status, ans := a.query(t, q)
		if status != http.StatusOK {
			t.Fatalf("query %s: %d %s", q, status, ans.Message)
		}
		if len(ans.Events) > 0 {
			var ev cloudEvent
			if err := json.Unmarshal(ans.Events[0].Event, &ev); err != nil {
				t.Fatal(err)
			}
			return ev
		}
		if time.Now().After(deadline) {
			t.Fatalf("no event for %s", q)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestEvents: every event type the agent emits today is produced by the
// action it records and found by a query, in CloudEvents form; internal
// topics are flagged internal and hidden from plain listings; wrong
// queries are answered with their position.
func TestEvents(t *testing.T) {
	t.Parallel()
	a := StartAgent(t, "", "--retention-interval", "300ms", "--compaction-interval", "300ms", "--events-log-level", "info")
	ctx := testContext(t, 90*time.Second)
	adm := a.Admin()
	cl := a.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()))

	// Topic, partition, config and record changes.
	if _, err := adm.CreateTopic(ctx, 2, 1, map[string]*string{"retention.ms": kadm.StringPtr("3600000")}, "ev-orders"); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreatePartitions(ctx, 3, "ev-orders"); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: kadm.StringPtr("7200000")}}, "ev-orders"); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "ev-orders", Partition: 0, Value: []byte(fmt.Sprint(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: "ev-orders", Partition: 0, At: 2})
	if _, err := adm.DeleteRecords(ctx, offs); err != nil {
		t.Fatal(err)
	}
	// Group offsets: an admin commit (a reset), an offset deletion, the
	// group's deletion.
	if _, err := adm.CommitOffsets(ctx, "ev-group", offs); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.DeleteOffsets(ctx, "ev-group", kadm.TopicsSet{"ev-orders": {0: {}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CommitOffsets(ctx, "ev-group", offs); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.DeleteGroup(ctx, "ev-group"); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.DeleteTopic(ctx, "ev-orders"); err != nil {
		t.Fatal(err)
	}
	res, _ := adm.DeleteTopic(ctx, "ev-no-such-topic")
	if res.Err == nil {
		t.Fatal("deleting an unknown topic succeeded")
	}

	for _, c := range []struct {
		typ, resource string
		check         func(t *testing.T, d map[string]any)
	}{
		{"io.sluice.audit.topic.created", "ev-orders", func(t *testing.T, d map[string]any) {
			req, _ := d["request"].(map[string]any)
			cfg, _ := req["configs"].(map[string]any)
			if req["partitions"] != 2.0 || cfg["retention.ms"] != "3600000" {
				t.Errorf("request %v", req)
			}
		}},
		{"io.sluice.audit.topic.partitions_created", "ev-orders", func(t *testing.T, d map[string]any) {
			if req, _ := d["request"].(map[string]any); req["count"] != 5.0 {
				t.Errorf("request %v", req)
			}
		}},
		{"io.sluice.audit.topic.config_altered", "ev-orders", func(t *testing.T, d map[string]any) {
			if !strings.Contains(fmt.Sprint(d["request"]), "7200000") {
				t.Errorf("request %v", d["request"])
			}
		}},
		{"io.sluice.audit.records.deleted", "ev-orders", func(t *testing.T, d map[string]any) {
			req, _ := d["request"].(map[string]any)
			if lw, _ := req["low_watermarks"].(map[string]any); lw["0"] != 2.0 {
				t.Errorf("request %v", req)
			}
		}},
		{"io.sluice.audit.group.offsets_reset", "ev-group", nil},
		{"io.sluice.audit.group.offsets_deleted", "ev-group", nil},
		{"io.sluice.audit.group.deleted", "ev-group", nil},
		{"io.sluice.audit.topic.deleted", "ev-orders", nil},
	} {
		ev := a.awaitEvent(t, fmt.Sprintf(`type == %q and data.resource == %q from audit`, c.typ, c.resource))
		if ev.SpecVersion != "1.0" || ev.ID == "" || !strings.HasPrefix(ev.Source, "sluice://") || ev.ContentType != "application/json" ||
			ev.Subject != c.resource || time.Since(ev.Time) > time.Minute {
			t.Errorf("%s: envelope %+v", c.typ, ev)
		}
		if ev.Data["status"] != "SUCCESS" || ev.Data["principal"] != "User:ANONYMOUS" || ev.Data["remote_addr"] == "" ||
			!strings.HasPrefix(fmt.Sprint(ev.Data["method"]), "kafka.") {
			t.Errorf("%s: data %v", c.typ, ev.Data)
		}
		if c.check != nil {
			c.check(t, ev.Data)
		}
	}
	failed := a.awaitEvent(t, `data.resource == "ev-no-such-topic" and data.status == "FAILURE" from audit`)
	if failed.Type != "io.sluice.audit.topic.deleted" || !strings.Contains(fmt.Sprint(failed.Data["error"]), "UNKNOWN_TOPIC_OR_PARTITION") {
		t.Errorf("failed deletion: %+v", failed)
	}

	// Job runs with their figures, and agent logs at or above info.
	for _, job := range []string{"compaction", "retention", "file-deletion"} {
		ev := a.awaitEvent(t, fmt.Sprintf(`from jobs data.job == %q`, job))
		if ev.Type != "io.sluice.job.run" || ev.Data["status"] != "SUCCESS" || ev.Data["figures"] == nil {
			t.Errorf("%s run: %+v", job, ev)
		}
	}
	logEv := a.awaitEvent(t, `from agent_logs data.message == "deleted topic" and data.attrs.topic == "ev-orders"`)
	if logEv.Data["log_level"] != "info" {
		t.Errorf("log event %+v", logEv)
	}

	// Counts by group, answered from record metadata alone.
	status, ans := a.query(t, `from audit group by type`)
	if status != 200 || ans.Kind != "groups" || len(ans.Groups) < 8 || !ans.Stats.MetadataOnly {
		t.Errorf("group by type: %d %+v", status, ans)
	}

	// Wrong queries: a clear error with the position.
	status, ans = a.query(t, `data.log_level = "error"`)
	if status != 400 || ans.ErrorCode != "syntax_error" || ans.Position != 16 || !strings.Contains(ans.Message, "'=='") {
		t.Errorf("syntax error answer: %d %+v", status, ans)
	}
	status, ans = a.query(t, `count since 48h`)
	if status != 400 || ans.ErrorCode != "invalid_query" {
		t.Errorf("range too long: %d %+v", status, ans)
	}

	// Internal topics: flagged in Metadata, hidden from plain listings.
	all, err := adm.ListTopicsWithInternal(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, topic := range []string{"__sluice_audit", "__sluice_events_jobs", "__sluice_events_agent_logs"} {
		if d, ok := all[topic]; !ok || !d.IsInternal {
			t.Errorf("%s: listed %v, internal %v", topic, ok, d.IsInternal)
		}
	}
	plain, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if plain.Has("__sluice_audit") {
		t.Error("plain listing shows __sluice_audit")
	}
	if out := a.mustCLI(t, "", "topics", "list"); strings.Contains(out, "__sluice") {
		t.Errorf("topics list shows internal topics:\n%s", out)
	}
	if out := a.mustCLI(t, "", "topics", "list", "--internal"); !strings.Contains(out, "__sluice_audit") {
		t.Errorf("topics list --internal:\n%s", out)
	}

	// A client's Metadata does not auto-create an internal topic: its
	// writer creates it, with its own partitions and retention.
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr("__sluice_events_acl")
	req.Topics = append(req.Topics, rt)
	req.AllowAutoTopicCreation = true
	mresp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(mresp.Topics) != 1 || mresp.Topics[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("metadata for __sluice_events_acl: %+v", mresp.Topics)
	}

	// The CLI: sluice audit and sluice events query.
	out, err := exec.Command(sluiceBin, "audit", `type == "io.sluice.audit.topic.deleted"`, "--http-addr", a.HTTPAddr).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ev-orders") || !strings.Contains(string(out), "ev-no-such-topic") {
		t.Errorf("sluice audit: %v\n%s", err, out)
	}
	out, err = exec.Command(sluiceBin, "events", "query", `from jobs count`, "--since", "1h", "-o", "json", "--http-addr", a.HTTPAddr).CombinedOutput()
	var counted queryAnswer
	if err != nil || json.Unmarshal(out, &counted) != nil || counted.Kind != "count" || counted.Count < 3 {
		t.Errorf("sluice events query -o json: %v\n%s", err, out)
	}
	out, err = exec.Command(sluiceBin, "events", "query", `data.x == `, "--http-addr", a.HTTPAddr).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "position 11") {
		t.Errorf("sluice events query with a wrong query: %v\n%s", err, out)
	}
}

// TestSecurityEvents: under --acl-mode enforce with no ACLs, a denied
// CreateTopics is found in the acl stream and a failed and a successful
// SASL login in the audit stream; the events themselves are written
// although nobody is allowed anything (the writer is not a Kafka client).
func TestSecurityEvents(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	if out, err := exec.Command(sluiceBin, "users", "create", "alice", "--password", "alice-pw", "--data-dir", dataDir).CombinedOutput(); err != nil {
		t.Fatalf("users create: %v\n%s", err, out)
	}
	kafkaAddr, saslAddr := freeAddr(t), freeAddr(t)
	// Reading the events topics takes READ on them: the queries log in
	// as a super user.
	if out, err := exec.Command(sluiceBin, "users", "create", "reader", "--password", "reader-pw", "--data-dir", dataDir).CombinedOutput(); err != nil {
		t.Fatalf("users create: %v\n%s", err, out)
	}
	a := StartAgent(t, dataDir, "--acl-mode", "enforce", "--auth-failure-delay", "10ms", "--peer-cache=false",
		"--console-auth", "scram", "--super-users", "User:reader",
		"--listener", "name=PLAINTEXT,addr="+kafkaAddr+",protocol=PLAINTEXT",
		"--listener", "name=SASL_PLAINTEXT,addr="+saslAddr+",protocol=SASL_PLAINTEXT")
	a.KafkaAddr, a.APIUser, a.APIPassword = kafkaAddr, "reader", "reader-pw"
	ctx := testContext(t, 60*time.Second)

	resp, err := a.Admin().CreateTopic(ctx, 1, 1, nil, "sec-denied")
	if err == nil {
		err = resp.Err
	}
	if !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("create topic without ACLs: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	ev := a.awaitEvent(t, `from acl data.resource == "sec-denied"`)
	if ev.Type != "io.sluice.acl.decision" || ev.Data["principal"] != "User:ANONYMOUS" || ev.Data["operation"] != "CREATE" ||
		ev.Data["resource_type"] != "TOPIC" || ev.Data["listener"] != "PLAINTEXT" || ev.Data["allowed"] != false || ev.Data["remote_addr"] == "" {
		t.Fatalf("ACL event %+v", ev)
	}

	if err := requestOnce(t, saslAddr, kgo.SASL(plain.Auth{User: "alice", Pass: "bad-pw-123"}.AsMechanism())); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Fatalf("wrong password: %v, want SASL_AUTHENTICATION_FAILED", err)
	}
	ev = a.awaitEvent(t, `from audit type == "io.sluice.audit.authentication.failure"`)
	if ev.Data["principal"] != "User:alice" || ev.Data["mechanism"] != "PLAIN" || ev.Data["listener"] != "SASL_PLAINTEXT" || strings.Contains(fmt.Sprint(ev.Data), "bad-pw-123") {
		t.Fatalf("failure event %+v", ev)
	}
	// Authenticated, then denied Metadata topics: the login is recorded.
	_ = requestOnce(t, saslAddr, kgo.SASL(plain.Auth{User: "alice", Pass: "alice-pw"}.AsMechanism()))
	ev = a.awaitEvent(t, `from audit type == "io.sluice.audit.authentication.success"`)
	if ev.Data["principal"] != "User:alice" || ev.Data["status"] != "SUCCESS" {
		t.Fatalf("success event %+v", ev)
	}
}
