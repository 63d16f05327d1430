package adminapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/acl"
	"github.com/sluicehq/sluice/internal/adminapi"
	"github.com/sluicehq/sluice/internal/agent"
	"github.com/sluicehq/sluice/internal/events"
)

// TestEventsAndSchemasAuthorized logs users in with --console-auth scram
// under --acl-mode enforce: an event query needs READ on every events
// topic it reads (alice may read every topic, carol only the audit
// topic, bob nothing), on the explorer's endpoint, the denials page and
// the query engine's own endpoint alike; the schema pages let in the
// users the schema registry's basic auth file lists (alice), as the
// registry's listener would, and refuse others (bob) with 403.
func TestEventsAndSchemasAuthorized(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	usersFile := filepath.Join(dir, "registry-users")
	if err := os.WriteFile(usersFile, []byte("alice:registry-pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	audit := events.StreamAudit.Topic()
	carolReads := acl.Binding{ResourceType: kmsg.ACLResourceTypeTopic, ResourceName: audit, PatternType: kmsg.ACLResourcePatternTypeLiteral,
		Principal: "User:carol", Host: "*", Operation: kmsg.ACLOperationRead, Permission: kmsg.ACLPermissionTypeAllow}
	base := startSecuredAgentWith(t, map[string]string{"bob": "bob-pw", "carol": "carol-pw"}, []acl.Binding{carolReads}, func(c *agent.Config) {
		c.Events = agent.EventsConfig{Audit: true, ACL: true}
		c.SchemaRegistry = agent.SchemaRegistryConfig{Addr: "127.0.0.1:0", BasicAuth: "file", BasicAuthFile: usersFile}
	})
	pw := map[string]string{"alice": "alice-pw", "bob": "bob-pw", "carol": "carol-pw"}

	eventsURL := func(q string) string { return base + "/api/v1/events?q=" + url.QueryEscape(q) }
	for _, c := range []struct {
		user, method, url, body string
		status                  int
	}{
		{"alice", "GET", eventsURL("from audit"), "", 200},
		{"alice", "GET", eventsURL("count"), "", 200},
		{"alice", "GET", base + "/api/v1/acl-denials", "", 200},
		{"alice", "POST", base + "/api/v1/events/query", `{"query": "from acl"}`, 200},
		{"carol", "GET", eventsURL("from audit"), "", 200},
		{"carol", "POST", base + "/api/v1/events/query", `{"query": "from audit count"}`, 200},
		{"carol", "GET", eventsURL("from acl"), "", 403},
		{"carol", "GET", eventsURL("count"), "", 403}, // every stream
		{"carol", "GET", base + "/api/v1/acl-denials", "", 403},
		{"carol", "POST", base + "/api/v1/events/query", `{"query": "from audit, jobs"}`, 403},
		{"bob", "GET", eventsURL("from audit"), "", 403},
		{"bob", "POST", base + "/api/v1/events/query", `{"query": "from audit"}`, 403},
	} {
		resp, body := send(t, c.method, c.url, c.user, pw[c.user], nil, "application/json", c.body)
		if c.status == 403 {
			wantAPIError(t, resp, body, 403, "TOPIC_AUTHORIZATION_FAILED")
			continue
		}
		var out map[string]any
		if resp.StatusCode != c.status || json.Unmarshal([]byte(body), &out) != nil {
			t.Fatalf("%s %s %s: %d %s", c.user, c.method, c.url, resp.StatusCode, body)
		}
	}
	// The engine's endpoint asks for a login as the API does.
	resp, body := send(t, "POST", base+"/api/v1/events/query", "", "", nil, "application/json", `{"query": "from audit"}`)
	wantAPIError(t, resp, body, 401, "UNAUTHENTICATED")
	// bob's refusals are ACL denials like a Kafka client's: alice finds
	// them.
	waitFor(t, "bob's denial in the ACL stream", func() bool {
		_, body := send(t, "GET", eventsURL(`from acl data.principal == "User:bob"`), "alice", "alice-pw", nil, "", "")
		return strings.Contains(body, audit)
	})

	// Schemas: alice is a registry user, bob is not.
	var subjects adminapi.SubjectPage
	resp, body = send(t, "GET", base+"/api/v1/schemas/subjects", "alice", "alice-pw", nil, "", "")
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &subjects) != nil {
		t.Fatalf("alice listing subjects: %d %s", resp.StatusCode, body)
	}
	for _, path := range []string{"/api/v1/schemas/subjects", "/api/v1/schemas/subjects/s", "/api/v1/schemas/subjects/s/diff?from=1&to=2"} {
		resp, body = send(t, "GET", base+path, "bob", "bob-pw", nil, "", "")
		wantAPIError(t, resp, body, 403, "SCHEMA_AUTHORIZATION_FAILED")
	}
	resp, body = send(t, "POST", base+"/api/v1/schemas/subjects/s/compatibility", "bob", "bob-pw", nil, "application/json", `{"schema": "\"int\""}`)
	wantAPIError(t, resp, body, 403, "SCHEMA_AUTHORIZATION_FAILED")
	// The console's page says why, in the page.
	if resp, body := send(t, "GET", base+"/schemas", "bob", "bob-pw", nil, "", ""); resp.StatusCode != 200 || !strings.Contains(body, "SCHEMA_AUTHORIZATION_FAILED") {
		t.Fatalf("bob's schema page: %d\n%s", resp.StatusCode, body)
	}
	if resp, body := send(t, "GET", base+"/events", "bob", "bob-pw", nil, "", ""); resp.StatusCode != 200 || !strings.Contains(body, "TOPIC_AUTHORIZATION_FAILED") {
		t.Fatalf("bob's events page: %d\n%s", resp.StatusCode, body)
	}
}

// TestPrincipalHeaderNeedsSecret: only another agent, proving itself
// with the cluster secret, may name the principal a request acts as;
// these agents have no secret, so a request naming one is refused
// whatever else it carries.
func TestPrincipalHeaderNeedsSecret(t *testing.T) {
	t.Parallel()
	for _, base := range []string{startSecuredAgent(t), startAgent(t, false).base} {
		for _, user := range []string{"", "alice"} {
			req, err := http.NewRequest("GET", base+"/api/v1/users", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("X-Sluice-Principal", "User:admin")
			req.Header.Set("X-Sluice-Cluster-Secret", "guess")
			if user != "" {
				req.SetBasicAuth(user, "alice-pw")
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			wantAPIError(t, resp, string(body), 401, "UNAUTHENTICATED")
		}
	}
}
