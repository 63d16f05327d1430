package schemaregistry_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/sluicehq/sluice/internal/auth"
	"github.com/sluicehq/sluice/internal/metadata/sqlite"
	"github.com/sluicehq/sluice/internal/schemaregistry"
)

func TestBasicAuthAndReadOnly(t *testing.T) {
	dir := t.TempDir()
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "users")
	if err := os.WriteFile(file, []byte("# registry users\nalice:"+string(hash)+"\nbob:plain\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	auth, err := schemaregistry.LoadBasicAuth(file)
	if err != nil {
		t.Fatal(err)
	}
	store, err := sqlite.Open(context.Background(), filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	// A read-write registry writes a subject; a read-only one over the same
	// store serves it and refuses writes.
	if _, err := schemaregistry.New(store, false).Register(context.Background(), "s", schemaregistry.RegisterRequest{Schema: `"string"`}, false); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(schemaregistry.Handler(schemaregistry.New(store, true), schemaregistry.ServerConfig{Auth: auth}))
	defer srv.Close()
	for _, tc := range []struct {
		user, pass, method, path string
		status                   int
	}{
		{"", "", "GET", "/subjects", 401},
		{"alice", "wrong", "GET", "/subjects", 401},
		{"carol", "s3cret", "GET", "/subjects", 401},
		{"alice", "s3cret", "GET", "/subjects", 200},
		{"bob", "plain", "GET", "/subjects/s/versions/1", 200},
		{"bob", "plain", "GET", "/mode", 200},
		{"bob", "plain", "POST", "/subjects/s/versions", 422},
		{"bob", "plain", "DELETE", "/subjects/s", 422},
		{"bob", "plain", "PUT", "/config", 422},
	} {
		var body *strings.Reader
		switch tc.path {
		case "/config":
			body = strings.NewReader(`{"compatibility":"NONE"}`)
		default:
			body = strings.NewReader(`{"schema":"\"int\""}`)
		}
		req, _ := http.NewRequest(tc.method, srv.URL+tc.path, body)
		if tc.user != "" {
			req.SetBasicAuth(tc.user, tc.pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s %s as %q: status %d, want %d", tc.method, tc.path, tc.user, resp.StatusCode, tc.status)
		}
	}
	if _, err := schemaregistry.LoadBasicAuth(filepath.Join(dir, "missing")); err == nil {
		t.Error("LoadBasicAuth of a missing file succeeded")
	}
	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, []byte("no-colon\n"), 0o600)
	if _, err := schemaregistry.LoadBasicAuth(bad); err == nil {
		t.Error("LoadBasicAuth of a malformed file succeeded")
	}
}

// TestAllowsUser: a user logged in elsewhere (the console) is allowed
// what the listener's basic auth would allow: anyone without it, the
// file's users with a file, users with a SCRAM credential with scram,
// and never the anonymous principal.
func TestAllowsUser(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "users")
	if err := os.WriteFile(path, []byte("alice:pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	file, err := schemaregistry.LoadBasicAuth(path)
	if err != nil {
		t.Fatal(err)
	}
	store, err := sqlite.Open(ctx, filepath.Join(dir, "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	c, err := auth.NewScramCredential("carol", auth.ScramSHA256, "pw", auth.MinScramIterations)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.UpsertScramCredential(ctx, c); err != nil {
		t.Fatal(err)
	}
	scram := schemaregistry.ScramAuth{Store: store}
	for _, c := range []struct {
		name string
		a    schemaregistry.Authenticator
		user string
		want bool
	}{
		{"none", nil, "ANONYMOUS", true},
		{"none", nil, "bob", true},
		{"file", file, "alice", true},
		{"file", file, "bob", false},
		{"file", file, "ANONYMOUS", false},
		{"scram", scram, "carol", true},
		{"scram", scram, "alice", false},
		{"scram", scram, "ANONYMOUS", false},
	} {
		got, err := schemaregistry.AllowsUser(ctx, c.a, c.user)
		if err != nil || got != c.want {
			t.Errorf("%s, %s: %v %v, want %v", c.name, c.user, got, err, c.want)
		}
	}
}
