package e2e

import (
	"bytes"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestAuditSchemaAdminAndAutoCreate: a schema registration, an admin API
// mutation and a topic auto-created by a produce each leave their audit
// event in __sluice_audit, found by a query and by `sluice audit`.
func TestAuditSchemaAdminAndAutoCreate(t *testing.T) {
	t.Parallel()
	a := StartAgent(t, "")
	ctx := testContext(t, 45*time.Second)

	post := func(url, contentType, body string) int {
		t.Helper()
		resp, err := http.Post(url, contentType, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := post("http://"+a.SchemaRegistryAddr+"/subjects/audit-value/versions", "application/vnd.schemaregistry.v1+json", `{"schema":"\"string\""}`); s != 200 {
		t.Fatalf("register: %d", s)
	}
	if s := post("http://"+a.HTTPAddr+"/api/v1/topics", "application/json", `{"name":"audit-http","partitions":2}`); s != 201 && s != 200 {
		t.Fatalf("create topic over HTTP: %d", s)
	}
	cl := a.Client(kgo.AllowAutoTopicCreation())
	defer cl.Close()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "audit-auto", Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	ev := a.awaitEvent(t, `from audit type == "io.sluice.audit.schema.registered"`)
	d := ev.Data
	if ev.Subject != "audit-value" || d["status"] != "SUCCESS" || d["http_method"] != "POST" || d["path"] != "/subjects/audit-value/versions" ||
		d["principal"] != "User:ANONYMOUS" || d["remote_addr"] == "" || d["method"] != "schema_registry.register" {
		t.Errorf("schema event: %+v", ev)
	}
	ev = a.awaitEvent(t, `from audit type == "io.sluice.audit.http.admin_call"`)
	d = ev.Data
	if d["http_method"] != "POST" || d["path"] != "/api/v1/topics" || d["status"] != "SUCCESS" || d["principal"] != "User:ANONYMOUS" ||
		d["remote_addr"] == "" || d["method"] != "http.POST /api/v1/topics" {
		t.Errorf("admin call event: %+v", ev)
	}
	ev = a.awaitEvent(t, `from audit type == "io.sluice.audit.topic.created" and data.auto_created == true`)
	if ev.Subject != "audit-auto" || ev.Data["method"] != "kafka.Metadata" || ev.Data["status"] != "SUCCESS" {
		t.Errorf("auto-create event: %+v", ev)
	}

	// The admin API's creation also went through CreateTopics, audited
	// as such; `sluice audit` finds both kinds.
	out, err := exec.Command(sluiceBin, "audit", `type in ("io.sluice.audit.schema.registered", "io.sluice.audit.http.admin_call")`, "--http-addr", a.HTTPAddr, "-o", "json").CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("audit-value")) || !bytes.Contains(out, []byte("/api/v1/topics")) {
		t.Errorf("sluice audit: %v\n%s", err, out)
	}
}
