package schemaregistry_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/sluicehq/sluice/internal/schemaregistry"
)

// auditLog is an Auditor that keeps what it is told. mu guards writes.
type auditLog struct {
	mu     sync.Mutex
	writes []schemaregistry.Write
}

func (l *auditLog) Audit(_ context.Context, w schemaregistry.Write) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writes = append(l.writes, w)
}

func (l *auditLog) take() []schemaregistry.Write {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.writes
	l.writes = nil
	return out
}

// TestAuditedWrites checks that every write request, and only those, is
// reported to the Auditor with its outcome.
func TestAuditedWrites(t *testing.T) {
	log := &auditLog{}
	srv := httptest.NewServer(schemaregistry.Handler(schemaregistry.New(backend(t), false), schemaregistry.ServerConfig{Auditor: log}))
	t.Cleanup(srv.Close)
	r := &registry{t: t, srv: srv}

	type want struct {
		action, method, subject string
		status                  int
		errorCode               int
	}
	for _, c := range []struct {
		method, path string
		body         any
		want         *want // nil: a read, not audited
	}{
		{"POST", "/subjects/orders-value/versions", map[string]any{"schema": `"string"`}, &want{schemaregistry.ActionRegister, "POST", "orders-value", 200, 0}},
		{"POST", "/subjects/orders-value/versions", map[string]any{"schema": `{"type":`}, &want{schemaregistry.ActionRegister, "POST", "orders-value", 422, 42201}},
		{"GET", "/subjects", nil, nil},
		{"POST", "/subjects/orders-value", map[string]any{"schema": `"string"`}, nil}, // lookup
		{"POST", "/compatibility/subjects/orders-value/versions/latest", map[string]any{"schema": `"string"`}, nil},
		{"PUT", "/config/orders-value", map[string]any{"compatibility": "FULL"}, &want{schemaregistry.ActionConfig, "PUT", "orders-value", 200, 0}},
		{"DELETE", "/config/orders-value", nil, &want{schemaregistry.ActionConfig, "DELETE", "orders-value", 200, 0}},
		{"PUT", "/mode", map[string]any{"mode": "READONLY"}, &want{schemaregistry.ActionMode, "PUT", "", 200, 0}},
		{"DELETE", "/mode", nil, &want{schemaregistry.ActionMode, "DELETE", "", 200, 0}},
		{"DELETE", "/subjects/orders-value/versions/1", nil, &want{schemaregistry.ActionDelete, "DELETE", "orders-value", 200, 0}},
		{"DELETE", "/subjects/missing", nil, &want{schemaregistry.ActionDelete, "DELETE", "missing", 404, 40401}},
	} {
		r.do(c.method, c.path, c.body)
		got := log.take()
		if c.want == nil {
			if len(got) != 0 {
				t.Errorf("%s %s: audited %+v", c.method, c.path, got)
			}
			continue
		}
		if len(got) != 1 {
			t.Fatalf("%s %s: %d writes audited", c.method, c.path, len(got))
		}
		w := got[0]
		if w.Action != c.want.action || w.HTTPMethod != c.want.method || w.Subject != c.want.subject || w.HTTPStatus != c.want.status ||
			w.ErrorCode != c.want.errorCode || w.Path != c.path || w.RemoteAddr == "" {
			t.Errorf("%s %s: audited %+v", c.method, c.path, w)
		}
		if (w.Error == "") != (c.want.status == http.StatusOK) || (w.Result == nil) != (c.want.status != http.StatusOK) {
			t.Errorf("%s %s: error %q, result %v", c.method, c.path, w.Error, w.Result)
		}
	}
}

// TestAuditedWritesWithAuth: the user a write authenticated as is
// reported; a write refused for its credentials is reported without one.
func TestAuditedWritesWithAuth(t *testing.T) {
	file := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(file, []byte("bob:plain\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	authn, err := schemaregistry.LoadBasicAuth(file)
	if err != nil {
		t.Fatal(err)
	}
	log := &auditLog{}
	srv := httptest.NewServer(schemaregistry.Handler(schemaregistry.New(backend(t), false), schemaregistry.ServerConfig{Auth: authn, Auditor: log}))
	t.Cleanup(srv.Close)
	for _, c := range []struct {
		user, pass string
		status     int
		wantUser   string
	}{
		{"bob", "plain", 200, "bob"},
		{"bob", "wrong", 401, ""},
	} {
		req, err := http.NewRequest("PUT", srv.URL+"/config", strings.NewReader(`{"compatibility":"NONE"}`))
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth(c.user, c.pass)
		req.Header.Set("Content-Type", schemaregistry.ContentType)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got := log.take()
		if resp.StatusCode != c.status || len(got) != 1 || got[0].User != c.wantUser || got[0].HTTPStatus != c.status || got[0].Action != schemaregistry.ActionConfig {
			t.Errorf("%s/%s: status %d, audited %+v", c.user, c.pass, resp.StatusCode, got)
		}
	}
}
