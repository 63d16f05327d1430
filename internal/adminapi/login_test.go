package adminapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/acl"
	"github.com/sluicehq/sluice/internal/adminapi"
	"github.com/sluicehq/sluice/internal/agent"
	"github.com/sluicehq/sluice/internal/auth"
	"github.com/sluicehq/sluice/internal/metadata/sqlite"
	"github.com/sluicehq/sluice/internal/produce"
)

const failureDelay = 200 * time.Millisecond

// startSecuredAgent runs an agent with --console-auth scram and
// --acl-mode enforce over a SQLite store holding two SCRAM users: admin
// (a super user) and alice, whom ACLs let do everything but CREATE.
func startSecuredAgent(t *testing.T) string {
	t.Helper()
	return startSecuredAgentWith(t, nil, nil, nil)
}

// startSecuredAgentWith is startSecuredAgent with more SCRAM users
// (name → password), more ACLs and a change to the agent's config.
func startSecuredAgentWith(t *testing.T, users map[string]string, more []acl.Binding, change func(*agent.Config)) string {
	t.Helper()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "metadata.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	all := map[string]string{"admin": "admin-pw", "alice": "alice-pw"}
	for u, pw := range users {
		all[u] = pw
	}
	for user, pw := range all {
		c, err := auth.NewScramCredential(user, auth.ScramSHA512, pw, auth.MinScramIterations)
		if err != nil {
			t.Fatal(err)
		}
		if err := store.UpsertScramCredential(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	var bs []acl.Binding
	for _, rt := range []kmsg.ACLResourceType{kmsg.ACLResourceTypeTopic, kmsg.ACLResourceTypeCluster, kmsg.ACLResourceTypeGroup} {
		name := "*"
		if rt == kmsg.ACLResourceTypeCluster {
			name = acl.ClusterName
		}
		bs = append(bs,
			acl.Binding{ResourceType: rt, ResourceName: name, PatternType: kmsg.ACLResourcePatternTypeLiteral, Principal: "User:alice", Host: "*", Operation: kmsg.ACLOperationAll, Permission: kmsg.ACLPermissionTypeAllow},
			acl.Binding{ResourceType: rt, ResourceName: name, PatternType: kmsg.ACLResourcePatternTypeLiteral, Principal: "User:alice", Host: "*", Operation: kmsg.ACLOperationCreate, Permission: kmsg.ACLPermissionTypeDeny})
	}
	if err := store.AddACLs(ctx, append(bs, more...)); err != nil {
		t.Fatal(err)
	}
	cfg := agent.Config{
		BucketURL:         "mem://",
		Store:             store,
		KafkaAddr:         "127.0.0.1:0",
		HTTPAddr:          "127.0.0.1:0",
		NodeID:            1,
		Produce:           produce.Config{BatchTimeout: 5 * time.Millisecond},
		ReadinessInterval: 50 * time.Millisecond,
		ConsoleAuth:       agent.ConsoleAuthScram,
		ACL:               acl.Config{Mode: acl.ModeEnforce, SuperUsers: []auth.Principal{auth.User("admin")}},
	}
	cfg.Kafka.AuthFailureDelay = failureDelay
	if change != nil {
		change(&cfg)
	}
	a, err := agent.Start(ctx, cfg)
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

// noRedirects is a client that returns redirects instead of following
// them.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// send sends a request, with basic auth when user is not empty and the
// cookie when not nil, and returns the response with its body read.
func send(t *testing.T, method, u, user, password string, cookie *http.Cookie, contentType, body string) (*http.Response, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := noRedirects.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(data)
}

func wantAPIError(t *testing.T, resp *http.Response, body string, status int, code string) {
	t.Helper()
	var e adminapi.Error
	if err := json.Unmarshal([]byte(body), &e); err != nil || resp.StatusCode != status || e.Code != code || e.Message == "" {
		t.Fatalf("%s %s: got %d %s, want %d %s", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, body, status, code)
	}
}

func TestBasicAuth(t *testing.T) {
	t.Parallel()
	base := startSecuredAgent(t)

	resp, body := send(t, "GET", base+"/api/v1/cluster", "", "", nil, "", "")
	wantAPIError(t, resp, body, 401, "UNAUTHENTICATED")
	if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
		t.Errorf("401 without a Basic challenge: %q", resp.Header.Get("WWW-Authenticate"))
	}

	for _, c := range []struct{ user, pw string }{{"alice", "wrong"}, {"nobody", "alice-pw"}} {
		start := time.Now()
		resp, body = send(t, "GET", base+"/api/v1/cluster", c.user, c.pw, nil, "", "")
		wantAPIError(t, resp, body, 401, "UNAUTHENTICATED")
		if d := time.Since(start); d < failureDelay {
			t.Errorf("failed login for %q answered after %v, before the %v failure delay", c.user, d, failureDelay)
		}
		if !strings.Contains(body, "wrong user name or password") {
			t.Errorf("failed login for %q: %s, want the one message for every cause", c.user, body)
		}
	}

	resp, body = send(t, "GET", base+"/api/v1/cluster", "alice", "alice-pw", nil, "", "")
	if resp.StatusCode != 200 {
		t.Fatalf("alice with her password: %d %s", resp.StatusCode, body)
	}

	// The principal reaches the Kafka handler: alice is denied CREATE by
	// an ACL, the super user admin is not.
	create := `{"name":"orders","partitions":1}`
	resp, body = send(t, "POST", base+"/api/v1/topics", "alice", "alice-pw", nil, "application/json", create)
	wantAPIError(t, resp, body, 403, "TOPIC_AUTHORIZATION_FAILED")
	resp, body = send(t, "POST", base+"/api/v1/topics", "admin", "admin-pw", nil, "application/json", create)
	if resp.StatusCode != 201 {
		t.Fatalf("admin creating a topic: %d %s", resp.StatusCode, body)
	}
	// alice may still write to it: ALLOW ALL covers WRITE.
	resp, body = send(t, "POST", base+"/api/v1/topics/orders/messages", "alice", "alice-pw", nil, "application/json", `{"value":"v"}`)
	if resp.StatusCode != 201 {
		t.Fatalf("alice producing: %d %s", resp.StatusCode, body)
	}
	resp, body = send(t, "DELETE", base+"/api/v1/topics/orders", "alice", "alice-pw", nil, "", "")
	if resp.StatusCode/100 != 2 {
		t.Fatalf("alice deleting: %d %s", resp.StatusCode, body)
	}
}

func TestConsoleLogin(t *testing.T) {
	t.Parallel()
	base := startSecuredAgent(t)

	resp, _ := send(t, "GET", base+"/topics?q=a", "", "", nil, "", "")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login?next="+url.QueryEscape("/topics?q=a") {
		t.Fatalf("page without a login: %d to %q, want 303 to the login form", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, body := send(t, "GET", base+"/login?next=/groups", "", "", nil, "", "")
	if resp.StatusCode != 200 || !strings.Contains(body, `id="login-form"`) || !strings.Contains(body, `value="/groups"`) {
		t.Fatalf("login form: %d %s", resp.StatusCode, body)
	}

	form := func(user, pw, next string) string {
		return url.Values{"user": {user}, "password": {pw}, "next": {next}}.Encode()
	}
	const formType = "application/x-www-form-urlencoded"
	start := time.Now()
	resp, body = send(t, "POST", base+"/login", "", "", nil, formType, form("alice", "wrong", "/groups"))
	if resp.StatusCode != 401 || !strings.Contains(body, `id="login-error"`) || len(resp.Cookies()) != 0 {
		t.Fatalf("wrong password: %d, cookies %v, %s", resp.StatusCode, resp.Cookies(), body)
	}
	if d := time.Since(start); d < failureDelay {
		t.Errorf("failed login answered after %v, before the %v failure delay", d, failureDelay)
	}

	// Never redirected off the site.
	resp, _ = send(t, "POST", base+"/login", "", "", nil, formType, form("alice", "alice-pw", "//evil.example/"))
	if resp.Header.Get("Location") != "/" {
		t.Errorf("next //evil.example/ redirected to %q, want /", resp.Header.Get("Location"))
	}

	resp, _ = send(t, "POST", base+"/login", "", "", nil, formType, form("alice", "alice-pw", "/groups"))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/groups" {
		t.Fatalf("login: %d to %q, want 303 to /groups", resp.StatusCode, resp.Header.Get("Location"))
	}
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == adminapi.SessionCookie {
			session = c
		}
	}
	if session == nil || len(session.Value) < 40 || !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || session.Secure {
		t.Fatalf("session cookie %+v: want a random value, HttpOnly, SameSite=Strict, not Secure over plain HTTP", session)
	}

	resp, body = send(t, "GET", base+"/groups", "", "", session, "", "")
	if resp.StatusCode != 200 || !strings.Contains(body, `id="logout"`) {
		t.Fatalf("page with the session: %d %s", resp.StatusCode, body)
	}
	// The console's JavaScript calls the API with the same cookie, as
	// alice: her ACLs apply.
	resp, body = send(t, "POST", base+"/api/v1/topics", "", "", session, "application/json", `{"name":"t"}`)
	wantAPIError(t, resp, body, 403, "TOPIC_AUTHORIZATION_FAILED")
	resp, body = send(t, "GET", base+"/api/v1/cluster", "", "", &http.Cookie{Name: adminapi.SessionCookie, Value: "forged"}, "", "")
	wantAPIError(t, resp, body, 401, "UNAUTHENTICATED")

	resp, _ = send(t, "POST", base+"/logout", "", "", session, "", "")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	resp, body = send(t, "GET", base+"/api/v1/cluster", "", "", session, "", "")
	wantAPIError(t, resp, body, 401, "UNAUTHENTICATED")
	resp, _ = send(t, "GET", base+"/groups", "", "", session, "", "")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("page after logout: %d, want 303 to the login form", resp.StatusCode)
	}
}

func TestConsoleAuthValue(t *testing.T) {
	t.Parallel()
	_, err := agent.Start(context.Background(), agent.Config{
		BucketURL:   "mem://",
		MetadataURL: "sqlite://" + filepath.Join(t.TempDir(), "metadata.db"),
		KafkaAddr:   "127.0.0.1:0",
		ConsoleAuth: "ldap",
	})
	if err == nil || !strings.Contains(err.Error(), "--console-auth") {
		t.Fatalf("--console-auth ldap: %v, want a refusal naming the flag", err)
	}
}

// TestSecurityAdminLoggedIn manages users and ACLs as logged-in users:
// the Kafka handlers' CLUSTER checks apply to each one, the new user logs
// in with the password set through the API, and pages need a login.
func TestSecurityAdminLoggedIn(t *testing.T) {
	t.Parallel()
	base := startSecuredAgent(t)

	resp, body := send(t, "GET", base+"/api/v1/users", "", "", nil, "", "")
	wantAPIError(t, resp, body, 401, "UNAUTHENTICATED")
	for _, page := range []string{"/acls", "/users", "/acls/denials", "/events", "/schemas"} {
		if resp, _ := send(t, "GET", base+page, "", "", nil, "", ""); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login?next=") {
			t.Errorf("%s without a login: %d %q", page, resp.StatusCode, resp.Header.Get("Location"))
		}
	}

	resp, body = send(t, "PUT", base+"/api/v1/users/bob", "admin", "admin-pw", nil, "application/json", `{"password":"bob-pw"}`)
	if resp.StatusCode != 200 {
		t.Fatalf("admin creating bob: %d %s", resp.StatusCode, body)
	}
	// bob logs in with that password; no ACL lets him see or change ACLs.
	resp, body = send(t, "GET", base+"/api/v1/acls", "bob", "bob-pw", nil, "", "")
	wantAPIError(t, resp, body, 403, "CLUSTER_AUTHORIZATION_FAILED")
	resp, body = send(t, "POST", base+"/api/v1/acls", "bob", "bob-pw", nil, "application/json",
		`{"resource_type":"TOPIC","resource_name":"x","principal":"User:bob","operation":"ALL"}`)
	wantAPIError(t, resp, body, 403, "CLUSTER_AUTHORIZATION_FAILED")
	resp, body = send(t, "PUT", base+"/api/v1/users/bob", "bob", "bob-pw", nil, "application/json", `{"password":"mine"}`)
	wantAPIError(t, resp, body, 403, "CLUSTER_AUTHORIZATION_FAILED")
	// alice is allowed ALL on the cluster: she lists the ACLs, and sees
	// her own.
	resp, body = send(t, "GET", base+"/api/v1/acls?principal=User:alice&resource_type=CLUSTER", "alice", "alice-pw", nil, "", "")
	var list adminapi.ACLList
	if err := json.Unmarshal([]byte(body), &list); err != nil || resp.StatusCode != 200 || len(list.ACLs) != 2 {
		t.Fatalf("alice listing ACLs: %d %s", resp.StatusCode, body)
	}
	if resp, body := send(t, "GET", base+"/acls", "alice", "alice-pw", nil, "", ""); resp.StatusCode != 200 || !strings.Contains(body, "User:alice") {
		t.Fatalf("alice's ACL page: %d\n%s", resp.StatusCode, body)
	}
	resp, body = send(t, "DELETE", base+"/api/v1/users/bob", "admin", "admin-pw", nil, "", "")
	if resp.StatusCode != 200 {
		t.Fatalf("admin deleting bob: %d %s", resp.StatusCode, body)
	}
	resp, body = send(t, "GET", base+"/api/v1/cluster", "bob", "bob-pw", nil, "", "")
	wantAPIError(t, resp, body, 401, "UNAUTHENTICATED")
}
