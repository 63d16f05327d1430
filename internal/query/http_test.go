package query

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestHandler: the HTTP answers of POST /api/v1/events/query, one per
// outcome.
func TestHandler(t *testing.T) {
	e := newEnv(t, 100)
	e.fill(t, 100)
	en := e.engine(Limits{MaxConcurrent: 1})
	srv := httptest.NewServer(Handler(en))
	defer srv.Close()
	post := func(body string) (int, map[string]any) {
		t.Helper()
		resp, err := http.Post(srv.URL, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, out
	}
	rows := []struct {
		body   string
		status int
		code   string
	}{
		{`{"query": "count", "since": "2026-12-04T23:59:00Z", "until": "2026-12-05T23:59:00Z"}`, 200, ""},
		{`{"query": "data.x = 1"}`, 400, "syntax_error"},
		{`{"query": "count", "since": "yesterday"}`, 400, "invalid_request"},
		{`{"query": "count", "bogus": 1}`, 400, "invalid_request"},
		{`not json`, 400, "invalid_request"},
		{`{"query": "count since 30h"}`, 400, "invalid_query"},
		{`{"query": "count", "page_token": "x"}`, 400, "invalid_query"},
	}
	for _, r := range rows {
		status, out := post(r.body)
		if status != r.status || (r.code != "" && out["error_code"] != r.code) {
			t.Errorf("%s: %d %v, want %d %s", r.body, status, out, r.status, r.code)
		}
	}
	if _, out := post(rows[0].body); out["count"] != 100.0 || out["kind"] != "count" {
		t.Errorf("count answer %v", out)
	}
	if _, out := post(`{"query": "data.x == and"}`); out["position"] != 11.0 {
		t.Errorf("syntax error position %v, want 11", out["position"])
	}
	en.sem <- struct{}{} // one query running
	status, out := post(`{"query": "count"}`)
	<-en.sem
	if status != http.StatusTooManyRequests || out["error_code"] != "too_many_queries" {
		t.Errorf("busy: %d %v", status, out)
	}
}
