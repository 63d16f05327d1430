package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/acl"
	"github.com/sluicehq/sluice/internal/agent"
	"github.com/sluicehq/sluice/internal/produce"
)

func startAgent(t *testing.T, readOnly bool) string {
	t.Helper()
	a, err := agent.Start(context.Background(), agent.Config{
		BucketURL: "mem://", MetadataURL: "sqlite://" + filepath.Join(t.TempDir(), "m.db"),
		KafkaAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", NodeID: 1,
		Produce: produce.Config{BatchTimeout: 5 * time.Millisecond}, ConsoleReadOnly: readOnly,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		a.Close(ctx)
	})
	return "http://" + a.HTTPAddr()
}

func get(t *testing.T, url string) (int, string, http.Header) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b), resp.Header
}

func post(t *testing.T, url, body string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("POST %s: %d", url, resp.StatusCode)
	}
}

// TestPages renders every page over a real agent and checks what each
// must show, that data is escaped, and that errors are pages with their
// status.
func TestPages(t *testing.T) {
	t.Parallel()
	base := startAgent(t, false)
	post(t, base+"/api/v1/topics", `{"name":"orders","partitions":2}`)
	post(t, base+"/api/v1/topics/orders/messages", `{"key":"<script>alert(1)</script>","value":"v"}`)

	for _, c := range []struct {
		path   string
		status int
		want   []string
	}{
		{"/", 200, []string{`id="health"`, `id="throughput-chart"`, "<svg", `id="agents"`, "Open transactions"}},
		{"/topics", 200, []string{`href="/topics/orders"`, `id="create-topic"`, "1 topic"}},
		{"/topics?q=zzz", 200, []string{"0 topics matching", "No topics."}},
		{"/topics/orders", 200, []string{`id="partition-count">2<`, `id="browse"`, `id="produce"`, `data-config="retention.ms"`, `id="delete-topic"`}},
		{"/groups", 200, []string{"No consumer groups."}},
		{"/topics/missing", 404, []string{`id="page-error"`, "UNKNOWN_TOPIC_OR_PARTITION"}},
		{"/groups/missing", 404, []string{"GROUP_ID_NOT_FOUND"}},
		{"/groups/%3Cb%3Ex", 404, []string{"&lt;b&gt;x"}},
		{"/acls", 200, []string{`id="acl-error"`, "SECURITY_DISABLED", `id="create-acl"`}},
		{"/users", 200, []string{"No SCRAM users.", `id="upsert-user"`}},
		{"/acls/denials", 200, []string{`id="denial-groups"`, "No denials."}},
		{"/events", 200, []string{`id="events-query"`, "from audit", `id="events-summary"`}},
		{"/events?q=" + url.QueryEscape("type = 1"), 200, []string{`id="query-error"`, "position"}},
		{"/schemas", 200, []string{`id="subjects"`, "No subjects."}},
		{"/schemas/missing", 404, []string{`id="page-error"`, "NOT_FOUND"}},
		// No tableflow role: the page says so and the nav marks it.
		{"/tables", 200, []string{`id="tables-error"`, "does not run the tableflow role", `class="off active"`, "Tables (off)"}},
		{"/tables/shop.orders", 501, []string{`id="page-error"`, "NOT_AVAILABLE"}},
		{"/console/static/console.js", 200, []string{"/api/v1/"}},
		{"/console/static/console.css", 200, []string{"svg.chart"}},
	} {
		status, body, h := get(t, base+c.path)
		if status != c.status {
			t.Errorf("%s: status %d, want %d", c.path, status, c.status)
		}
		for _, w := range c.want {
			if !strings.Contains(body, w) {
				t.Errorf("%s: no %q in\n%s", c.path, w, body)
			}
		}
		if strings.HasPrefix(c.path, "/console/") {
			continue
		}
		if ct := h.Get("Content-Type"); ct != "text/html; charset=utf-8" || h.Get("Content-Security-Policy") == "" {
			t.Errorf("%s: Content-Type %q, CSP %q", c.path, ct, h.Get("Content-Security-Policy"))
		}
		if strings.Contains(body, "<b>x") {
			t.Errorf("%s: unescaped data", c.path)
		}
	}
}

// TestReadOnlyPages marks the page read-only, which hides every form that
// changes something.
func TestReadOnlyPages(t *testing.T) {
	t.Parallel()
	base := startAgent(t, true)
	_, body, _ := get(t, base+"/topics")
	if !strings.Contains(body, `data-read-only="true"`) || !strings.Contains(body, `id="read-only"`) {
		t.Fatalf("read-only page does not say so:\n%s", body)
	}
}

func startProductAgent(t *testing.T, readOnly bool) (*agent.Agent, string) {
	t.Helper()
	a, err := agent.Start(context.Background(), agent.Config{
		BucketURL: "mem://", MetadataURL: "sqlite://" + filepath.Join(t.TempDir(), "m.db"),
		KafkaAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", NodeID: 1,
		Produce: produce.Config{BatchTimeout: 5 * time.Millisecond}, ConsoleReadOnly: readOnly,
		ACL:            acl.Config{Mode: acl.ModeShadow},
		Events:         agent.EventsConfig{Audit: true, ACL: true},
		SchemaRegistry: agent.SchemaRegistryConfig{Addr: "127.0.0.1:0"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		a.Close(ctx)
	})
	return a, "http://" + a.HTTPAddr()
}

// TestProductPages renders the ACL, user, denial, events and schema
// pages with data in them; read-only, the forms that change something
// are marked to be hidden and their API calls refused.
func TestProductPages(t *testing.T) {
	t.Parallel()
	a, base := startProductAgent(t, false)
	post(t, base+"/api/v1/acls", `{"resource_type":"TOPIC","resource_name":"<i>orders","principal":"User:bob","operation":"READ"}`)
	req, _ := http.NewRequest("PUT", base+"/api/v1/users/carol", strings.NewReader(`{"password":"secret-pw"}`))
	req.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("PUT user: %v %v", err, resp)
	}
	sr := "http://" + a.SchemaRegistryAddr()
	for _, s := range []string{
		`{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}`,
		`{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":"string","default":"x"}]}`,
	} {
		b, _ := json.Marshal(map[string]string{"schema": s})
		resp, err := http.Post(sr+"/subjects/r-value/versions", "application/json", bytes.NewReader(b))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("register: %v %v", err, resp)
		}
		resp.Body.Close()
	}
	for _, c := range []struct {
		path string
		want []string
	}{
		{"/acls", []string{`<tr class="acl"><td>TOPIC</td><td class="mono">&lt;i&gt;orders</td><td>LITERAL</td><td class="mono">User:bob</td>`, `class="danger delete-acl"`, "1 ACL<"}},
		{"/acls?principal=User:alice", []string{"No ACLs.", "0 ACLs"}},
		{"/users", []string{`<td class="mono">carol</td>`, "SCRAM-SHA-256 (8192 iterations)"}},
		{"/schemas", []string{`href="/schemas/r-value"`, "1 subject"}},
		{"/schemas/r-value", []string{`id="subject-version">2<`, `id="diff-link"`, `id="compat"`, "&#34;name&#34;: &#34;b&#34;"}},
		{"/schemas/r-value/diff?from=1&to=2", []string{`id="diff-summary">Version 1 → 2: 5 lines added, 0 removed`, `<span class="dadd">&#43;       &#34;name&#34;: &#34;b&#34;,</span>`}},
		{"/schemas/r-value/diff", []string{`Version 1 → 2`}},
	} {
		status, body, _ := get(t, base+c.path)
		if status != 200 {
			t.Errorf("%s: status %d:\n%s", c.path, status, body)
		}
		for _, w := range c.want {
			if !strings.Contains(body, w) {
				t.Errorf("%s: no %q in\n%s", c.path, w, body)
			}
		}
		if strings.Contains(body, "secret-pw") || strings.Contains(body, "<i>") {
			t.Errorf("%s: a secret or unescaped data", c.path)
		}
	}
	// The audit record of the ACL's creation shows in the explorer, with
	// a timeline, and the console's own would-be denials on their page.
	waitPage(t, base+"/events?q="+url.QueryEscape(`from audit type == "io.sluice.audit.acl.created"`),
		`<details class="event">`, `id="events-timeline"`, "<rect class=\"bar\"", "io.sluice.audit.acl.created", "&#34;client_id&#34;: &#34;sluice-console&#34;")
	waitPage(t, base+"/acls/denials", `<tr class="denial"><td class="mono">User:ANONYMOUS</td><td>ALTER</td><td>CLUSTER</td>`)
	waitPage(t, base+"/events?q="+url.QueryEscape("from audit count"), `id="events-summary">count:`)

	// Read-only: the forms are hidden and the API refuses.
	_, ro := startProductAgent(t, true)
	_, body, _ := get(t, ro+"/acls")
	if !strings.Contains(body, `data-read-only="true"`) || !strings.Contains(body, `<section class="write">`) {
		t.Fatalf("read-only ACL page:\n%s", body)
	}
	resp, err := http.Post(ro+"/api/v1/acls", "application/json", strings.NewReader(`{"resource_type":"TOPIC","resource_name":"x","principal":"User:bob","operation":"READ"}`))
	if err != nil || resp.StatusCode != 403 {
		t.Fatalf("read-only create ACL: %v %v", err, resp)
	}
	resp.Body.Close()
}

// waitPage polls a page until it shows every one of want.
func waitPage(t *testing.T, u string, want ...string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, body, _ := get(t, u)
		missing := ""
		for _, w := range want {
			if !strings.Contains(body, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no %q in\n%s", u, missing, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
