package adminapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/adminapi"
	"github.com/sluicehq/sluice/internal/agent"
	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/metadata/sqlite"
	"github.com/sluicehq/sluice/internal/objstore"
	"github.com/sluicehq/sluice/internal/produce"
)

// The tests run a real agent (SQLite metadata store, in-memory bucket)
// with its HTTP listener and call the API over HTTP, as scripts and the
// console do.

type testAgent struct {
	*agent.Agent
	base string
}

func startAgent(t *testing.T, readOnly bool) *testAgent {
	t.Helper()
	a, err := agent.Start(context.Background(), agent.Config{
		BucketURL:         "mem://",
		MetadataURL:       "sqlite://" + filepath.Join(t.TempDir(), "metadata.db"),
		KafkaAddr:         "127.0.0.1:0",
		HTTPAddr:          "127.0.0.1:0",
		NodeID:            1,
		Zone:              "zone-a",
		Produce:           produce.Config{BatchTimeout: 5 * time.Millisecond},
		ReadinessInterval: 50 * time.Millisecond,
		ConsoleReadOnly:   readOnly,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		a.Close(ctx)
	})
	return &testAgent{Agent: a, base: "http://" + a.HTTPAddr()}
}

// call sends a request with a JSON body (nil for none) and decodes the
// JSON answer into out (if not nil); it returns the status.
func (ta *testAgent) call(t *testing.T, method, path string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	return ta.raw(t, method, path, "application/json", rd, out)
}

func (ta *testAgent) raw(t *testing.T, method, path, contentType string, body io.Reader, out any) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, ta.base+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s %s: Content-Type %q, body %s", method, path, ct, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, data)
		}
	}
	return resp.StatusCode
}

// wantError checks a 4xx/5xx answer's status and code.
func (ta *testAgent) wantError(t *testing.T, method, path string, body any, status int, code string) adminapi.Error {
	t.Helper()
	var e adminapi.Error
	got := ta.call(t, method, path, body, &e)
	if got != status || e.Code != code || e.Message == "" {
		t.Fatalf("%s %s: got %d %+v, want %d %s with a message", method, path, got, e, status, code)
	}
	return e
}

func (ta *testAgent) mustOK(t *testing.T, method, path string, body any, status int, out any) {
	t.Helper()
	var raw json.RawMessage
	if got := ta.call(t, method, path, body, &raw); got != status {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, got, status, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatal(err)
		}
	}
}

// waitFor polls cond until it holds or 20s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestCluster(t *testing.T) {
	t.Parallel()
	ta := startAgent(t, false)
	var c adminapi.Cluster
	waitFor(t, "readiness", func() bool {
		ta.mustOK(t, "GET", "/api/v1/cluster", nil, 200, &c)
		return c.Readiness.Ready
	})
	if c.ClusterID == "" || c.NodeID != 1 || c.Version == "" || c.ReadOnly {
		t.Fatalf("cluster: %+v", c)
	}
	if len(c.Agents) != 1 || !c.Agents[0].Self || c.Agents[0].Zone != "zone-a" || c.Agents[0].Readiness == nil || c.Agents[0].Version == "" {
		t.Fatalf("agents: %+v", c.Agents)
	}
	if c.Readiness.Bucket.State != "ok" || c.Readiness.Metadata.State != "ok" {
		t.Fatalf("readiness: %+v", c.Readiness)
	}
	ta.mustOK(t, "POST", "/api/v1/topics", map[string]any{"name": "c1", "partitions": 2}, 201, nil)
	ta.mustOK(t, "POST", "/api/v1/topics/c1/messages", map[string]any{"value": "v"}, 201, nil)
	ta.mustOK(t, "GET", "/api/v1/cluster", nil, 200, &c)
	if c.Topics != 1 || c.Partitions != 2 || c.OpenTransactions != 0 {
		t.Fatalf("counts: %+v", c)
	}
}

func TestTopics(t *testing.T) {
	t.Parallel()
	ta := startAgent(t, false)

	var top adminapi.Topic
	ta.mustOK(t, "POST", "/api/v1/topics", map[string]any{"name": "orders", "partitions": 3, "configs": map[string]string{"retention.ms": "86400000"}}, 201, &top)
	if top.Name != "orders" || len(top.Partitions) != 3 || top.ID == "" {
		t.Fatalf("created: %+v", top)
	}
	if v, src := configOf(top, "retention.ms"); v != "86400000" || src != "topic" {
		t.Fatalf("retention.ms = %q (%s)", v, src)
	}
	ta.mustOK(t, "POST", "/api/v1/topics", map[string]any{"name": "checked", "validate_only": true}, 200, nil)
	ta.wantError(t, "GET", "/api/v1/topics/checked", nil, 404, "UNKNOWN_TOPIC_OR_PARTITION")

	// Bad input: the Kafka handler's own errors, as JSON.
	ta.wantError(t, "POST", "/api/v1/topics", map[string]any{"name": "orders"}, 409, "TOPIC_ALREADY_EXISTS")
	ta.wantError(t, "POST", "/api/v1/topics", map[string]any{"name": "bad name"}, 400, "INVALID_TOPIC_EXCEPTION")
	ta.wantError(t, "POST", "/api/v1/topics", map[string]any{"name": "x", "configs": map[string]string{"retention.ms": "soon"}}, 400, "INVALID_CONFIG")
	ta.wantError(t, "POST", "/api/v1/topics", map[string]any{"name": "x", "configs": map[string]string{"no.such.config": "1"}}, 400, "INVALID_CONFIG")
	ta.wantError(t, "POST", "/api/v1/topics", map[string]any{"name": "x", "partitions": 1000000}, 400, "INVALID_PARTITIONS")
	ta.wantError(t, "POST", "/api/v1/topics", map[string]any{"name": "x", "partitions": -1}, 400, "BAD_REQUEST")
	ta.wantError(t, "POST", "/api/v1/topics", map[string]any{}, 400, "BAD_REQUEST")
	ta.wantError(t, "POST", "/api/v1/topics", map[string]any{"name": "x", "replicas": 3}, 400, "BAD_REQUEST")
	var e adminapi.Error
	if got := ta.raw(t, "POST", "/api/v1/topics", "application/json", strings.NewReader(`{"name":`), &e); got != 400 || e.Code != "BAD_REQUEST" {
		t.Fatalf("truncated JSON: %d %+v", got, e)
	}
	if got := ta.raw(t, "POST", "/api/v1/topics", "application/x-www-form-urlencoded", strings.NewReader(`name=x`), &e); got != 415 || e.Code != "BAD_REQUEST" {
		t.Fatalf("form body: %d %+v", got, e)
	}

	// Paging and search on the server.
	for i := 0; i < 5; i++ {
		ta.mustOK(t, "POST", "/api/v1/topics", map[string]any{"name": fmt.Sprintf("logs.%d", i)}, 201, nil)
	}
	var names []string
	token := ""
	for pages := 0; ; pages++ {
		var pg adminapi.TopicPage
		ta.mustOK(t, "GET", "/api/v1/topics?q=LOGS&limit=2&page_token="+url.QueryEscape(token), nil, 200, &pg)
		if pg.Total != 5 || len(pg.Topics) > 2 {
			t.Fatalf("page: %+v", pg)
		}
		for _, tp := range pg.Topics {
			names = append(names, tp.Name)
		}
		if token = pg.NextPageToken; token == "" {
			break
		}
		if pages > 5 {
			t.Fatal("paging does not end")
		}
	}
	if want := []string{"logs.0", "logs.1", "logs.2", "logs.3", "logs.4"}; !slices.Equal(names, want) {
		t.Fatalf("paged names %v, want %v", names, want)
	}
	var all adminapi.TopicPage
	ta.mustOK(t, "GET", "/api/v1/topics", nil, 200, &all)
	if all.Total != 6 || len(all.Topics) != 6 || all.NextPageToken != "" {
		t.Fatalf("all topics: %+v", all)
	}
	ta.wantError(t, "GET", "/api/v1/topics?limit=0", nil, 400, "BAD_REQUEST")
	ta.wantError(t, "GET", "/api/v1/topics?limit=many", nil, 400, "BAD_REQUEST")
	ta.wantError(t, "GET", "/api/v1/topics?page_token=%25%25", nil, 400, "BAD_REQUEST")

	ta.mustOK(t, "GET", "/api/v1/topics/orders", nil, 200, &top)
	if len(top.Partitions) != 3 || len(top.Configs) < 10 {
		t.Fatalf("topic: %+v", top)
	}
	ta.wantError(t, "GET", "/api/v1/topics/missing", nil, 404, "UNKNOWN_TOPIC_OR_PARTITION")

	// Configs: set and delete in one change, validated as Kafka does.
	ta.mustOK(t, "PATCH", "/api/v1/topics/orders/configs", map[string]any{"set": map[string]string{"cleanup.policy": "compact"}, "delete": []string{"retention.ms"}}, 200, &top)
	if v, src := configOf(top, "cleanup.policy"); v != "compact" || src != "topic" {
		t.Fatalf("cleanup.policy = %q (%s)", v, src)
	}
	if _, src := configOf(top, "retention.ms"); src != "default" {
		t.Fatalf("retention.ms source %s after delete", src)
	}
	ta.wantError(t, "PATCH", "/api/v1/topics/orders/configs", map[string]any{"set": map[string]string{"cleanup.policy": "shred"}}, 400, "INVALID_CONFIG")
	ta.wantError(t, "PATCH", "/api/v1/topics/orders/configs", map[string]any{"set": map[string]string{"min.compaction.lag.ms": "10", "max.compaction.lag.ms": "5"}}, 400, "INVALID_CONFIG")
	ta.wantError(t, "PATCH", "/api/v1/topics/orders/configs", map[string]any{}, 400, "BAD_REQUEST")
	ta.wantError(t, "PATCH", "/api/v1/topics/missing/configs", map[string]any{"set": map[string]string{"retention.ms": "1"}}, 404, "UNKNOWN_TOPIC_OR_PARTITION")
	ta.mustOK(t, "GET", "/api/v1/topics/orders", nil, 200, &top)
	if v, _ := configOf(top, "cleanup.policy"); v != "compact" {
		t.Fatalf("a refused change changed cleanup.policy to %q", v)
	}

	// Partitions only grow.
	ta.mustOK(t, "POST", "/api/v1/topics/orders/partitions", map[string]any{"count": 5}, 200, &top)
	if len(top.Partitions) != 5 {
		t.Fatalf("partitions after adding: %d", len(top.Partitions))
	}
	ta.wantError(t, "POST", "/api/v1/topics/orders/partitions", map[string]any{"count": 2}, 400, "INVALID_PARTITIONS")
	ta.wantError(t, "POST", "/api/v1/topics/orders/partitions", map[string]any{"count": 0}, 400, "BAD_REQUEST")
	ta.wantError(t, "POST", "/api/v1/topics/missing/partitions", map[string]any{"count": 2}, 404, "UNKNOWN_TOPIC_OR_PARTITION")

	ta.mustOK(t, "DELETE", "/api/v1/topics/orders", nil, 200, nil)
	ta.wantError(t, "DELETE", "/api/v1/topics/orders", nil, 404, "UNKNOWN_TOPIC_OR_PARTITION")
	ta.wantError(t, "GET", "/api/v1/topics/orders", nil, 404, "UNKNOWN_TOPIC_OR_PARTITION")
}

func configOf(t adminapi.Topic, name string) (value, source string) {
	for _, c := range t.Configs {
		if c.Name == name {
			return c.Value, c.Source
		}
	}
	return "", ""
}

func TestMessages(t *testing.T) {
	t.Parallel()
	ta := startAgent(t, false)
	ta.mustOK(t, "POST", "/api/v1/topics", map[string]any{"name": "events", "partitions": 2}, 201, nil)

	before := time.Now().Add(-time.Second).UnixMilli()
	var p adminapi.Produced
	for i := 0; i < 5; i++ {
		ta.mustOK(t, "POST", "/api/v1/topics/events/messages", map[string]any{"partition": 1, "key": fmt.Sprintf("k%d", i), "value": fmt.Sprintf(`{"n":%d}`, i),
			"headers": []map[string]string{{"key": "source", "value": "test"}}}, 201, &p)
		if p.Offset != int64(i) || p.Partition != 1 {
			t.Fatalf("produced %+v, want offset %d", p, i)
		}
	}
	ta.mustOK(t, "POST", "/api/v1/topics/events/messages", map[string]any{"partition": 1, "value": "AAEC/w==", "encoding": "base64"}, 201, &p)
	ta.mustOK(t, "POST", "/api/v1/topics/events/messages", map[string]any{"partition": 1, "value": "plain text"}, 201, &p)
	if p.Offset != 6 {
		t.Fatalf("last offset %d", p.Offset)
	}

	// The latest messages by default.
	var m adminapi.Messages
	var pg adminapi.TopicPage
	ta.mustOK(t, "GET", "/api/v1/topics?q=events", nil, 200, &pg)
	if len(pg.Topics) != 1 || pg.Topics[0].Bytes <= 0 {
		t.Fatalf("topic list after producing: %+v", pg)
	}
	ta.mustOK(t, "GET", "/api/v1/topics/events/messages?partition=1&limit=3", nil, 200, &m)
	if m.StartOffset != 4 || m.NextOffset != 7 || m.HighWatermark != 7 || len(m.Messages) != 3 {
		t.Fatalf("latest: %+v", m)
	}
	if v := m.Messages[1].Value; v.Format != "hex" || v.Text != "000102ff" || v.Size != 4 {
		t.Fatalf("binary value rendered %+v", v)
	}
	if v := m.Messages[2]; v.Value.Format != "text" || v.Value.Text != "plain text" || !v.Key.Null {
		t.Fatalf("text value rendered %+v", v)
	}
	// By offset, as JSON, with keys and headers.
	ta.mustOK(t, "GET", "/api/v1/topics/events/messages?partition=1&offset=1&limit=2", nil, 200, &m)
	if len(m.Messages) != 2 || m.Messages[0].Offset != 1 || m.NextOffset != 3 {
		t.Fatalf("by offset: %+v", m)
	}
	msg := m.Messages[0]
	if msg.Key.Text != "k1" || msg.Value.Format != "json" || !strings.Contains(msg.Value.Text, `"n": 1`) ||
		len(msg.Headers) != 1 || msg.Headers[0].Key != "source" || msg.Headers[0].Value.Text != "test" {
		t.Fatalf("message: %+v", msg)
	}
	// Formats chosen by the client.
	ta.mustOK(t, "GET", "/api/v1/topics/events/messages?partition=1&offset=0&limit=1&format=hex", nil, 200, &m)
	if v := m.Messages[0].Value; v.Format != "hex" || v.Text != fmt.Sprintf("%x", `{"n":0}`) {
		t.Fatalf("hex: %+v", v)
	}
	ta.mustOK(t, "GET", "/api/v1/topics/events/messages?partition=1&offset=0&limit=1&format=text", nil, 200, &m)
	if v := m.Messages[0].Value; v.Format != "text" || v.Text != `{"n":0}` {
		t.Fatalf("text: %+v", v)
	}
	// By time: everything was produced after before.
	ta.mustOK(t, "GET", fmt.Sprintf("/api/v1/topics/events/messages?partition=1&timestamp=%d", before), nil, 200, &m)
	if m.StartOffset != 0 || len(m.Messages) != 7 {
		t.Fatalf("by time: start %d, %d messages", m.StartOffset, len(m.Messages))
	}
	ta.mustOK(t, "GET", fmt.Sprintf("/api/v1/topics/events/messages?partition=1&timestamp=%d", time.Now().Add(time.Hour).UnixMilli()), nil, 200, &m)
	if len(m.Messages) != 0 || m.StartOffset != 7 {
		t.Fatalf("after the last message: %+v", m)
	}
	// An empty partition.
	ta.mustOK(t, "GET", "/api/v1/topics/events/messages", nil, 200, &m)
	if len(m.Messages) != 0 || m.Partition != 0 {
		t.Fatalf("empty partition: %+v", m)
	}

	for _, q := range []string{"partition=-1", "partition=x", "offset=-3", "limit=0", "limit=501", "format=xml", "offset=1&timestamp=2", "timestamp=yesterday"} {
		ta.wantError(t, "GET", "/api/v1/topics/events/messages?"+q, nil, 400, "BAD_REQUEST")
	}
	ta.wantError(t, "GET", "/api/v1/topics/events/messages?partition=2", nil, 404, "UNKNOWN_TOPIC_OR_PARTITION")
	ta.wantError(t, "GET", "/api/v1/topics/nope/messages", nil, 404, "UNKNOWN_TOPIC_OR_PARTITION")
	ta.wantError(t, "POST", "/api/v1/topics/nope/messages", map[string]any{"value": "v"}, 404, "UNKNOWN_TOPIC_OR_PARTITION")
	ta.wantError(t, "POST", "/api/v1/topics/events/messages", map[string]any{"partition": 9, "value": "v"}, 404, "UNKNOWN_TOPIC_OR_PARTITION")
	ta.wantError(t, "POST", "/api/v1/topics/events/messages", map[string]any{"value": "!!", "encoding": "base64"}, 400, "BAD_REQUEST")
	ta.wantError(t, "POST", "/api/v1/topics/events/messages", map[string]any{"value": "v", "encoding": "rot13"}, 400, "BAD_REQUEST")
	// The topic's max.message.bytes applies, as for a Kafka producer.
	ta.mustOK(t, "PATCH", "/api/v1/topics/events/configs", map[string]any{"set": map[string]string{"max.message.bytes": "100"}}, 200, nil)
	ta.wantError(t, "POST", "/api/v1/topics/events/messages", map[string]any{"value": strings.Repeat("x", 200)}, 400, "MESSAGE_TOO_LARGE")

	// The summary counts what was produced, in this minute.
	var s adminapi.SummaryReport
	waitFor(t, "summary", func() bool {
		ta.mustOK(t, "GET", "/api/v1/metrics/summary", nil, 200, &s)
		return s.ProduceRecords >= 7
	})
	last := s.Minutes[len(s.Minutes)-1]
	if len(s.Minutes) != adminapi.SummaryMinutes || s.Scope != "cluster" || !slices.Equal(s.Agents, []int32{1}) || s.NodeID != 1 || last.ProduceRequests == 0 || last.ProduceBytesPerSec <= 0 || last.ProduceLatencyAvgMs <= 0 {
		t.Fatalf("summary: %+v, last minute %+v", s, last)
	}
}

func TestGroups(t *testing.T) {
	t.Parallel()
	ta := startAgent(t, false)
	ta.mustOK(t, "POST", "/api/v1/topics", map[string]any{"name": "jobs", "partitions": 2}, 201, nil)
	for i := 0; i < 10; i++ {
		ta.mustOK(t, "POST", "/api/v1/topics/jobs/messages", map[string]any{"partition": i % 2, "value": fmt.Sprint(i)}, 201, nil)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(ta.KafkaAddr()), kgo.ConsumerGroup("workers"), kgo.ConsumeTopics("jobs"),
		kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for got := 0; got < 10; {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		got += fs.NumRecords()
	}
	if err := cl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}

	var g adminapi.Group
	waitFor(t, "a stable group with no lag", func() bool {
		ta.mustOK(t, "GET", "/api/v1/groups/workers", nil, 200, &g)
		return g.State == "Stable" && len(g.Offsets) == 2 && g.TotalLag == 0
	})
	if g.Type != "classic" || g.ProtocolType != "consumer" || len(g.Members) != 1 || len(g.Members[0].Assignment) != 1 ||
		g.Members[0].Assignment[0].Topic != "jobs" || len(g.Members[0].Assignment[0].Partitions) != 2 {
		t.Fatalf("group: %+v", g)
	}
	var pg adminapi.GroupPage
	ta.mustOK(t, "GET", "/api/v1/groups?q=work", nil, 200, &pg)
	if pg.Total != 1 || pg.Groups[0].GroupID != "workers" || pg.Groups[0].Type != "classic" || pg.Groups[0].State != "Stable" {
		t.Fatalf("groups: %+v", pg)
	}
	ta.mustOK(t, "GET", "/api/v1/groups?q=nobody", nil, 200, &pg)
	if pg.Total != 0 || len(pg.Groups) != 0 {
		t.Fatalf("search: %+v", pg)
	}

	// Lag grows with new messages.
	for i := 0; i < 3; i++ {
		ta.mustOK(t, "POST", "/api/v1/topics/jobs/messages", map[string]any{"partition": 0, "value": "more"}, 201, nil)
	}
	ta.mustOK(t, "GET", "/api/v1/groups/workers", nil, 200, &g)
	if g.TotalLag != 3 || *g.Offsets[0].Lag != 3 || g.Offsets[0].LogEndOffset != 8 || *g.Offsets[1].Lag != 0 {
		t.Fatalf("lag after producing 3: %+v", g)
	}

	// A group with members can be neither reset nor deleted.
	ta.wantError(t, "POST", "/api/v1/groups/workers/reset-offsets", map[string]any{"to": "earliest"}, 409, "NON_EMPTY_GROUP")
	ta.wantError(t, "DELETE", "/api/v1/groups/workers", nil, 409, "NON_EMPTY_GROUP")
	cl.Close()
	waitFor(t, "an empty group", func() bool {
		ta.mustOK(t, "GET", "/api/v1/groups/workers", nil, 200, &g)
		return g.State == "Empty"
	})

	ta.wantError(t, "POST", "/api/v1/groups/workers/reset-offsets", map[string]any{"to": "yesterday"}, 400, "BAD_REQUEST")
	ta.wantError(t, "POST", "/api/v1/groups/workers/reset-offsets", map[string]any{"to": "offset"}, 400, "BAD_REQUEST")
	ta.wantError(t, "POST", "/api/v1/groups/workers/reset-offsets", map[string]any{"to": "timestamp", "timestamp": -5}, 400, "BAD_REQUEST")
	ta.wantError(t, "POST", "/api/v1/groups/workers/reset-offsets", map[string]any{"to": "earliest", "topics": []string{"nope"}}, 404, "UNKNOWN_TOPIC_OR_PARTITION")

	// A dry run previews and changes nothing.
	var res adminapi.ResetResult
	ta.mustOK(t, "POST", "/api/v1/groups/workers/reset-offsets", map[string]any{"to": "earliest", "dry_run": true}, 200, &res)
	if !res.DryRun || len(res.Offsets) != 2 || res.Offsets[0] != (adminapi.OffsetChange{Topic: "jobs", Partition: 0, Current: 5, New: 0}) {
		t.Fatalf("dry run: %+v", res)
	}
	ta.mustOK(t, "GET", "/api/v1/groups/workers", nil, 200, &g)
	if g.TotalLag != 3 {
		t.Fatalf("a dry run changed the lag to %d", g.TotalLag)
	}
	ta.mustOK(t, "POST", "/api/v1/groups/workers/reset-offsets", map[string]any{"to": "earliest"}, 200, &res)
	ta.mustOK(t, "GET", "/api/v1/groups/workers", nil, 200, &g)
	if g.TotalLag != 13 {
		t.Fatalf("lag after reset to earliest: %d", g.TotalLag)
	}
	ta.mustOK(t, "POST", "/api/v1/groups/workers/reset-offsets", map[string]any{"to": "offset", "offset": 4, "topics": []string{"jobs"}}, 200, &res)
	ta.mustOK(t, "GET", "/api/v1/groups/workers", nil, 200, &g)
	if g.Offsets[0].Committed != 4 || g.Offsets[1].Committed != 4 || g.TotalLag != 4+1 {
		t.Fatalf("after reset to offset 4: %+v", g)
	}
	ta.mustOK(t, "POST", "/api/v1/groups/workers/reset-offsets", map[string]any{"to": "timestamp", "timestamp": time.Now().Add(time.Hour).UnixMilli()}, 200, &res)
	ta.mustOK(t, "GET", "/api/v1/groups/workers", nil, 200, &g)
	if g.TotalLag != 0 {
		t.Fatalf("after reset to a future time: %+v", g)
	}

	ta.mustOK(t, "DELETE", "/api/v1/groups/workers", nil, 200, nil)
	ta.wantError(t, "GET", "/api/v1/groups/workers", nil, 404, "GROUP_ID_NOT_FOUND")
	ta.wantError(t, "DELETE", "/api/v1/groups/workers", nil, 404, "GROUP_ID_NOT_FOUND")
	ta.wantError(t, "POST", "/api/v1/groups/workers/reset-offsets", map[string]any{"to": "earliest"}, 404, "GROUP_ID_NOT_FOUND")
}

// TestTwoAgents runs two agents on one store and bucket: the summary
// either answers merges both agents' traffic (scope=agent is its own), and
// either agent answers for every group, forwarding to its coordinator.
func TestTwoAgents(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "metadata.db"))
	if err != nil {
		t.Fatal(err)
	}
	shared := metadata.NewBroadcast(store)
	t.Cleanup(func() { store.Close() })
	bucket, err := objstore.Open(ctx, "mem://")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bucket.Close() })
	start := func(node int32) *testAgent {
		a, err := agent.Start(ctx, agent.Config{Store: shared, Bucket: bucket, KafkaAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", NodeID: node,
			Produce: produce.Config{BatchTimeout: 5 * time.Millisecond}, Cache: agent.CacheConfig{Peers: true}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			a.Close(ctx)
		})
		return &testAgent{Agent: a, base: "http://" + a.HTTPAddr()}
	}
	a1, a2 := start(1), start(2)
	a1.mustOK(t, "POST", "/api/v1/topics", map[string]any{"name": "m"}, 201, nil)
	for i := 0; i < 3; i++ {
		a1.mustOK(t, "POST", "/api/v1/topics/m/messages", map[string]any{"value": "from 1"}, 201, nil)
	}
	for i := 0; i < 5; i++ {
		a2.mustOK(t, "POST", "/api/v1/topics/m/messages", map[string]any{"value": "from 2"}, 201, nil)
	}
	var own adminapi.SummaryReport
	a2.mustOK(t, "GET", "/api/v1/metrics/summary?scope=agent", nil, 200, &own)
	if own.Scope != "agent" || own.ProduceRecords != 5 {
		t.Fatalf("agent 2's own summary: %+v", own)
	}
	var merged adminapi.SummaryReport
	waitFor(t, "both agents in the summary", func() bool {
		a1.mustOK(t, "GET", "/api/v1/metrics/summary", nil, 200, &merged)
		return slices.Equal(merged.Agents, []int32{1, 2})
	})
	if merged.Scope != "cluster" || merged.ProduceRecords != 8 || len(merged.Missing) != 0 {
		t.Fatalf("merged summary: %+v", merged)
	}
	last := merged.Minutes[len(merged.Minutes)-1]
	if last.ProduceRequests < 8 && merged.Minutes[len(merged.Minutes)-2].ProduceRequests+last.ProduceRequests < 8 {
		t.Fatalf("merged minutes count %d produce requests", last.ProduceRequests)
	}
	a1.wantError(t, "GET", "/api/v1/metrics/summary?scope=galaxy", nil, 400, "BAD_REQUEST")
	var c adminapi.Cluster
	a2.mustOK(t, "GET", "/api/v1/cluster", nil, 200, &c)
	if len(c.Agents) != 2 || c.Agents[0].Self || !c.Agents[1].Self || c.Agents[0].Version == "" || c.Agents[0].Readiness == nil || c.Agents[0].UptimeSeconds < 0 {
		t.Fatalf("agents seen by node 2: %+v", c.Agents)
	}
	var self adminapi.AgentInfo
	a1.mustOK(t, "GET", "/api/v1/agent", nil, 200, &self)
	if self.NodeID != 1 || !self.Self || self.Version == "" || self.Readiness == nil {
		t.Fatalf("agent 1 about itself: %+v", self)
	}

	// Groups: some coordinated by each agent; both agents answer for all.
	cl, err := kgo.NewClient(kgo.SeedBrokers(a1.KafkaAddr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	var offs kadm.Offsets
	offs.Add(kadm.Offset{Topic: "m", Partition: 0, At: 2, LeaderEpoch: -1})
	for i := 0; i < 6; i++ {
		if resp, err := adm.CommitOffsets(ctx, fmt.Sprint("g", i), offs); err != nil || resp.Error() != nil {
			t.Fatalf("commit: %v %v", err, resp.Error())
		}
	}
	// Each agent learns of the other at its next heartbeat; then the
	// groups are spread over both.
	waitFor(t, "groups coordinated by both agents", func() bool {
		owners := map[int32]bool{}
		for _, r := range adm.FindGroupCoordinators(ctx, "g0", "g1", "g2", "g3", "g4", "g5") {
			owners[r.NodeID] = true
		}
		return owners[1] && owners[2]
	})
	for i := 0; i < 6; i++ {
		id := fmt.Sprint("g", i)
		for _, a := range []*testAgent{a1, a2} {
			var g adminapi.Group
			a.mustOK(t, "GET", "/api/v1/groups/"+id, nil, 200, &g)
			if g.GroupID != id || g.State != "Empty" || len(g.Offsets) != 1 || g.Offsets[0].Committed != 2 || g.TotalLag != 6 {
				t.Fatalf("%s from %s: %+v", id, a.base, g)
			}
		}
		// A change through either agent reaches the coordinator.
		via := []*testAgent{a1, a2}[i%2]
		var res adminapi.ResetResult
		via.mustOK(t, "POST", "/api/v1/groups/"+id+"/reset-offsets", map[string]any{"to": "latest"}, 200, &res)
		if len(res.Offsets) != 1 || res.Offsets[0].New != 8 {
			t.Fatalf("reset %s: %+v", id, res)
		}
		var g adminapi.Group
		[]*testAgent{a1, a2}[(i+1)%2].mustOK(t, "GET", "/api/v1/groups/"+id, nil, 200, &g)
		if g.TotalLag != 0 {
			t.Fatalf("%s after reset: %+v", id, g)
		}
		via.mustOK(t, "DELETE", "/api/v1/groups/"+id, nil, 200, nil)
		a1.wantError(t, "GET", "/api/v1/groups/"+id, nil, 404, "GROUP_ID_NOT_FOUND")
		a2.wantError(t, "GET", "/api/v1/groups/"+id, nil, 404, "GROUP_ID_NOT_FOUND")
	}
}

// TestConsumerGroup848 describes a KIP-848 consumer group (franz-go's
// server-side balancer): type consumer, members with assignments, lag.
func TestConsumerGroup848(t *testing.T) {
	t.Parallel()
	ta := startAgent(t, false)
	ta.mustOK(t, "POST", "/api/v1/topics", map[string]any{"name": "q", "partitions": 2}, 201, nil)
	for i := 0; i < 4; i++ {
		ta.mustOK(t, "POST", "/api/v1/topics/q/messages", map[string]any{"partition": i % 2, "value": "v"}, 201, nil)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(ta.KafkaAddr()), kgo.ConsumerGroup("new-protocol"), kgo.ConsumeTopics("q"),
		kgo.ServerSideBalancer(), kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for got := 0; got < 3; {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		got += fs.NumRecords()
	}
	var g adminapi.Group
	waitFor(t, "a KIP-848 group with its member assigned", func() bool {
		if err := cl.CommitUncommittedOffsets(ctx); err != nil {
			t.Fatal(err)
		}
		ta.mustOK(t, "GET", "/api/v1/groups/new-protocol", nil, 200, &g)
		return len(g.Members) == 1 && len(g.Members[0].Assignment) == 1 && len(g.Members[0].Assignment[0].Partitions) == 2 && len(g.Offsets) == 2
	})
	if g.Type != "consumer" || g.ProtocolType != "consumer" || g.State != "Stable" || g.Members[0].Assignment[0].Topic != "q" {
		t.Fatalf("KIP-848 group: %+v", g)
	}
	var pg adminapi.GroupPage
	ta.mustOK(t, "GET", "/api/v1/groups", nil, 200, &pg)
	if len(pg.Groups) != 1 || pg.Groups[0].Type != "consumer" {
		t.Fatalf("groups: %+v", pg)
	}
	ta.wantError(t, "POST", "/api/v1/groups/new-protocol/reset-offsets", map[string]any{"to": "earliest"}, 409, "NON_EMPTY_GROUP")
}

// TestReadOnly checks that --console-read-only refuses every change
// (every write route) and still answers reads.
func TestReadOnly(t *testing.T) {
	t.Parallel()
	ta := startAgent(t, true)
	writes := 0
	for _, r := range adminapi.Routes() {
		method, path, _ := strings.Cut(r, " ")
		path = strings.NewReplacer("{name}", "t", "{id}", "g", "{subject}", "s").Replace(path)
		if method == "GET" {
			var e adminapi.Error
			if got := ta.call(t, method, path, nil, &e); got != statusFor(path) {
				t.Fatalf("GET %s: %d %+v, want %d", path, got, e, statusFor(path))
			}
			continue
		}
		if strings.HasSuffix(path, "/compatibility") {
			// A check, not a change: served in read-only mode.
			ta.wantError(t, method, path, map[string]any{}, 400, "BAD_REQUEST")
			continue
		}
		writes++
		ta.wantError(t, method, path, map[string]any{}, 403, "READ_ONLY")
	}
	if writes != 11 {
		t.Fatalf("%d write routes checked", writes)
	}
	var c adminapi.Cluster
	ta.mustOK(t, "GET", "/api/v1/cluster", nil, 200, &c)
	if !c.ReadOnly {
		t.Fatal("cluster does not say read-only")
	}
}

// statusFor is what a read of a missing topic or group answers.
func statusFor(path string) int {
	switch {
	case strings.HasPrefix(path, "/api/v1/topics/") || strings.HasPrefix(path, "/api/v1/groups/") || path == "/api/v1/schemas/subjects/s":
		return 404
	case strings.HasPrefix(path, "/api/v1/tables"):
		return 501 // no tableflow role
	case path == "/api/v1/acls" || path == "/api/v1/schemas/subjects/s/diff":
		// SECURITY_DISABLED under --acl-mode off; no versions to compare.
		return 400
	}
	return 200
}

// TestRoutesDocumented keeps docs/api.md's endpoint list equal to the
// registered routes.
func TestRoutesDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	// The "## Endpoints" section documents this package's routes; other
	// products' endpoints under /api/v1/ have sections of their own.
	section := string(doc)
	if i := strings.Index(section, "\n## Endpoints\n"); i >= 0 {
		section = section[i+1:]
	} else {
		t.Fatal(`docs/api.md has no "## Endpoints" section`)
	}
	if i := strings.Index(section[1:], "\n## "); i >= 0 {
		section = section[:i+1]
	}
	re := regexp.MustCompile("(?m)^### `((?:GET|POST|PATCH|DELETE|PUT) /api/v1/[^`]*)`")
	var documented []string
	for _, m := range re.FindAllStringSubmatch(section, -1) {
		documented = append(documented, string(m[1]))
	}
	if routes := adminapi.Routes(); !slices.Equal(documented, routes) {
		t.Fatalf("docs/api.md documents (### `METHOD /path` headings, in order)\n%s\nbut the API registers\n%s", strings.Join(documented, "\n"), strings.Join(routes, "\n"))
	}
}
