package console_test

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
