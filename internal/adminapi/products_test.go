package adminapi_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/avro"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/acl"
	"github.com/sluicehq/sluice/internal/adminapi"
	"github.com/sluicehq/sluice/internal/agent"
	"github.com/sluicehq/sluice/internal/produce"
	"github.com/sluicehq/sluice/internal/schemaregistry"
)

// startProductAgent runs an agent with ACLs in shadow mode, the audit and
// ACL event streams on, and the schema registry's listener.
func startProductAgent(t *testing.T) *testAgent {
	t.Helper()
	cfg := agent.Config{
		BucketURL:         "mem://",
		MetadataURL:       "sqlite://" + filepath.Join(t.TempDir(), "metadata.db"),
		KafkaAddr:         "127.0.0.1:0",
		HTTPAddr:          "127.0.0.1:0",
		NodeID:            1,
		Produce:           produce.Config{BatchTimeout: 5 * time.Millisecond},
		ReadinessInterval: 50 * time.Millisecond,
		ACL:               acl.Config{Mode: acl.ModeShadow},
		Events:            agent.EventsConfig{Audit: true, ACL: true},
		SchemaRegistry:    agent.SchemaRegistryConfig{Addr: "127.0.0.1:0"},
	}
	a, err := agent.Start(context.Background(), cfg)
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

// TestACLsUsersAndAudit creates and deletes ACLs and SCRAM users through
// the API, sees them with a Kafka admin client, and finds the audit
// records and shadow-mode denials the requests left.
func TestACLsUsersAndAudit(t *testing.T) {
	t.Parallel()
	ta := startProductAgent(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(ta.KafkaAddr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)

	var list adminapi.ACLList
	ta.mustOK(t, "GET", "/api/v1/acls", nil, 200, &list)
	if len(list.ACLs) != 0 {
		t.Fatalf("fresh cluster has ACLs %+v", list)
	}
	bind := adminapi.ACL{ResourceType: "TOPIC", ResourceName: "orders", PatternType: "PREFIXED", Principal: "User:bob", Operation: "READ"}
	var created adminapi.ACL
	ta.mustOK(t, "POST", "/api/v1/acls", bind, 201, &created)
	if created.Host != "*" || created.Permission != "ALLOW" {
		t.Fatalf("defaults not filled: %+v", created)
	}
	// Bad input: the API's own checks, then the Kafka handler's.
	ta.wantError(t, "POST", "/api/v1/acls", adminapi.ACL{ResourceType: "TOPIC", ResourceName: "x", Principal: "User:bob", Operation: "FLY"}, 400, "BAD_REQUEST")
	ta.wantError(t, "POST", "/api/v1/acls", adminapi.ACL{ResourceType: "TOPIC", Principal: "User:bob", Operation: "READ"}, 400, "BAD_REQUEST")
	ta.wantError(t, "POST", "/api/v1/acls", adminapi.ACL{ResourceType: "TOPIC", ResourceName: "x", Principal: "bob", Operation: "READ"}, 400, "INVALID_REQUEST")
	ta.wantError(t, "POST", "/api/v1/acls", map[string]any{"resource": "x"}, 400, "BAD_REQUEST")
	ta.wantError(t, "GET", "/api/v1/acls?operation=FLY", nil, 400, "BAD_REQUEST")

	// A Kafka client sees what the API created.
	described, err := adm.DescribeACLs(ctx, kadm.NewACLs().AnyResource().ResourcePatternType(kadm.ACLPatternAny).Operations(kadm.OpAny).Allow().AllowHosts().Deny().DenyHosts())
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	for _, d := range described {
		if d.Err != nil {
			t.Fatal(d.Err)
		}
		for _, a := range d.Described {
			seen = append(seen, fmt.Sprintf("%s %s %s %s %s", a.Type, a.Name, a.Pattern, a.Principal, a.Operation))
		}
	}
	if len(seen) != 1 || seen[0] != "TOPIC orders PREFIXED User:bob READ" {
		t.Fatalf("kadm DescribeACLs: %q", seen)
	}
	// The filter: MATCH finds the prefixed binding for a topic under it.
	ta.mustOK(t, "GET", "/api/v1/acls?resource_type=TOPIC&resource_name=orders.eu&pattern_type=MATCH", nil, 200, &list)
	if len(list.ACLs) != 1 || list.ACLs[0].ResourceName != "orders" {
		t.Fatalf("MATCH filter: %+v", list)
	}
	ta.mustOK(t, "GET", "/api/v1/acls?principal=User:alice", nil, 200, &list)
	if len(list.ACLs) != 0 {
		t.Fatalf("principal filter: %+v", list)
	}
	var deleted map[string]int
	ta.mustOK(t, "POST", "/api/v1/acls/delete", created, 200, &deleted)
	if deleted["deleted"] != 1 {
		t.Fatalf("deleted %v", deleted)
	}
	ta.wantError(t, "POST", "/api/v1/acls/delete", created, 404, "NOT_FOUND")

	// SCRAM users: never a secret in an answer.
	var u adminapi.ScramUser
	ta.mustOK(t, "PUT", "/api/v1/users/carol", adminapi.UpsertUserRequest{Password: "carol-pw"}, 200, &u)
	if u.Name != "carol" || len(u.Credentials) != 1 {
		t.Fatalf("upserted user: %+v", u)
	}
	ta.mustOK(t, "PUT", "/api/v1/users/carol", adminapi.UpsertUserRequest{Password: "carol-pw", Mechanism: "SCRAM-SHA-512", Iterations: 4096}, 200, nil)
	var raw json.RawMessage
	ta.mustOK(t, "GET", "/api/v1/users", nil, 200, &raw)
	var users adminapi.UserList
	json.Unmarshal(raw, &users)
	if len(users.Users) != 1 || users.Users[0].Name != "carol" || len(users.Users[0].Credentials) != 2 ||
		users.Users[0].Credentials[0].Mechanism != "SCRAM-SHA-256" || users.Users[0].Credentials[0].Iterations != 8192 {
		t.Fatalf("users: %s", raw)
	}
	for _, secret := range []string{"carol-pw", "salt", "key"} {
		if bytes.Contains(bytes.ToLower(raw), []byte(secret)) {
			t.Fatalf("users answer shows %q: %s", secret, raw)
		}
	}
	described2, err := adm.DescribeUserSCRAMs(ctx, "carol")
	if err != nil || len(described2["carol"].CredInfos) != 2 {
		t.Fatalf("kadm DescribeUserSCRAMs: %v %+v", err, described2)
	}
	ta.wantError(t, "PUT", "/api/v1/users/carol", adminapi.UpsertUserRequest{Password: "x", Iterations: 100}, 400, "BAD_REQUEST")
	ta.wantError(t, "PUT", "/api/v1/users/carol", adminapi.UpsertUserRequest{Password: "x", Mechanism: "MD5"}, 400, "BAD_REQUEST")
	ta.wantError(t, "PUT", "/api/v1/users/carol", adminapi.UpsertUserRequest{}, 400, "BAD_REQUEST")
	ta.mustOK(t, "DELETE", "/api/v1/users/carol?mechanism=SCRAM-SHA-512", nil, 200, &u)
	if len(u.Credentials) != 1 || u.Credentials[0].Mechanism != "SCRAM-SHA-256" {
		t.Fatalf("after deleting one mechanism: %+v", u)
	}
	ta.mustOK(t, "DELETE", "/api/v1/users/carol", nil, 200, &u)
	if len(u.Credentials) != 0 {
		t.Fatalf("after deleting the user: %+v", u)
	}
	ta.wantError(t, "DELETE", "/api/v1/users/carol", nil, 404, "RESOURCE_NOT_FOUND")

	// The changes left the audit records a Kafka client's would.
	for _, typ := range []string{"io.sluice.audit.acl.created", "io.sluice.audit.acl.deleted", "io.sluice.audit.scram.altered"} {
		q := "/api/v1/events?q=" + url.QueryEscape(`from audit type == "`+typ+`" and data.client_id == "sluice-console"`)
		waitFor(t, typ+" audit record", func() bool {
			var ans adminapi.EventsAnswer
			ta.mustOK(t, "GET", q, nil, 200, &ans)
			return len(ans.Result.Events) > 0
		})
	}
	// In shadow mode the anonymous console's requests are would-be
	// denials: the denials endpoint counts them.
	waitFor(t, "shadow denials", func() bool {
		var d adminapi.Denials
		ta.mustOK(t, "GET", "/api/v1/acl-denials?since=1h", nil, 200, &d)
		for _, g := range d.Groups.Groups {
			if g.Key["data.principal"] == "User:ANONYMOUS" && g.Key["data.operation"] == "ALTER" {
				return len(d.Recent.Events) > 0
			}
		}
		return false
	})
	// A query that does not parse is a 400 naming the position.
	if e := ta.wantError(t, "GET", "/api/v1/events?q="+url.QueryEscape("type = 1"), nil, 400, "BAD_REQUEST"); !strings.Contains(e.Message, "position") {
		t.Fatalf("syntax error without position: %+v", e)
	}
	ta.wantError(t, "GET", "/api/v1/acl-denials?since=yesterday", nil, 400, "BAD_REQUEST")
	// The timeline comes with a list.
	var ans adminapi.EventsAnswer
	ta.mustOK(t, "GET", "/api/v1/events?q=from+audit&since=15m", nil, 200, &ans)
	if ans.Result.Kind != "events" || ans.Timeline == nil || len(ans.Timeline.Timeline) == 0 {
		t.Fatalf("events answer without a timeline: %+v", ans)
	}
}

const (
	avroV1 = `{"type":"record","name":"Order","fields":[{"name":"id","type":"long"}]}`
	avroV2 = `{"type":"record","name":"Order","fields":[{"name":"id","type":"long"},{"name":"note","type":"string","default":""}]}`
	avroV3 = `{"type":"record","name":"Order","fields":[{"name":"id","type":"string"}]}`
)

// register registers schema under subject through the registry's REST
// API and returns its ID.
func register(t *testing.T, addr, subject, schema string) int64 {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"schema": schema})
	resp, err := http.Post("http://"+addr+"/subjects/"+subject+"/versions", "application/vnd.schemaregistry.v1+json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ ID int64 }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
		t.Fatalf("register: %d %v", resp.StatusCode, err)
	}
	return out.ID
}

// TestSchemas lists subjects and versions, diffs two versions, checks
// pasted schemas for compatibility, and browses a value in the Confluent
// wire format decoded through the registry.
func TestSchemas(t *testing.T) {
	t.Parallel()
	ta := startProductAgent(t)
	addr := ta.SchemaRegistryAddr()
	register(t, addr, "orders-value", avroV1)
	id2 := register(t, addr, "orders-value", avroV2)
	register(t, addr, "payments-value", avroV1)

	var pg adminapi.SubjectPage
	ta.mustOK(t, "GET", "/api/v1/schemas/subjects?q=orders", nil, 200, &pg)
	if pg.Total != 1 || pg.Subjects[0].Name != "orders-value" || pg.Subjects[0].Versions != 2 || pg.Subjects[0].Latest != 2 || pg.Subjects[0].SchemaType != "AVRO" || pg.Subjects[0].ID != id2 {
		t.Fatalf("subjects: %+v", pg)
	}
	ta.mustOK(t, "GET", "/api/v1/schemas/subjects?limit=1", nil, 200, &pg)
	if pg.Total != 2 || len(pg.Subjects) != 1 || pg.NextPageToken == "" {
		t.Fatalf("paged subjects: %+v", pg)
	}
	var d adminapi.SubjectDetail
	ta.mustOK(t, "GET", "/api/v1/schemas/subjects/orders-value?version=1", nil, 200, &d)
	if d.Version.Version != 1 || len(d.Versions) != 2 || !strings.Contains(d.Pretty, "\n      \"name\": \"id\"") {
		t.Fatalf("subject: %+v", d)
	}
	ta.wantError(t, "GET", "/api/v1/schemas/subjects/nope", nil, 404, "NOT_FOUND")
	ta.wantError(t, "GET", "/api/v1/schemas/subjects/orders-value?version=9", nil, 404, "NOT_FOUND")

	var diff adminapi.SchemaDiff
	ta.mustOK(t, "GET", "/api/v1/schemas/subjects/orders-value/diff?from=1&to=2", nil, 200, &diff)
	var added []string
	for _, l := range diff.Lines {
		if l.Op == "+" {
			added = append(added, strings.TrimSpace(l.Text))
		}
	}
	if diff.Removed != 0 || diff.Added != 5 || !strings.Contains(strings.Join(added, " "), `"name": "note"`) {
		t.Fatalf("diff: %+v", diff)
	}
	ta.wantError(t, "GET", "/api/v1/schemas/subjects/orders-value/diff?from=1", nil, 400, "BAD_REQUEST")

	var res schemaregistry.CompatibilityResult
	ta.mustOK(t, "POST", "/api/v1/schemas/subjects/orders-value/compatibility", adminapi.CompatibilityRequest{Schema: avroV3}, 200, &res)
	if res.IsCompatible || len(res.Messages) == 0 {
		t.Fatalf("incompatible schema: %+v", res)
	}
	ta.mustOK(t, "POST", "/api/v1/schemas/subjects/orders-value/compatibility", adminapi.CompatibilityRequest{Schema: avroV2, Version: "1"}, 200, &res)
	if !res.IsCompatible {
		t.Fatalf("compatible schema: %+v", res)
	}
	ta.wantError(t, "POST", "/api/v1/schemas/subjects/orders-value/compatibility", adminapi.CompatibilityRequest{Schema: "{nope"}, 422, "INVALID_SCHEMA")
	ta.wantError(t, "POST", "/api/v1/schemas/subjects/orders-value/compatibility", adminapi.CompatibilityRequest{}, 400, "BAD_REQUEST")

	// A value in the wire format is decoded with its schema.
	s, err := avro.Parse(avroV2)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := s.Encode(map[string]any{"id": int64(42), "note": "rush"})
	if err != nil {
		t.Fatal(err)
	}
	value := binary.BigEndian.AppendUint32([]byte{0}, uint32(id2))
	value = append(value, payload...)
	ta.mustOK(t, "POST", "/api/v1/topics", map[string]any{"name": "orders"}, 201, nil)
	v64 := base64.StdEncoding.EncodeToString(value)
	ta.mustOK(t, "POST", "/api/v1/topics/orders/messages", adminapi.ProduceRequest{Value: &v64, Encoding: "base64"}, 201, nil)
	var msgs adminapi.Messages
	ta.mustOK(t, "GET", "/api/v1/topics/orders/messages?offset=0", nil, 200, &msgs)
	if len(msgs.Messages) != 1 {
		t.Fatalf("messages: %+v", msgs)
	}
	got := msgs.Messages[0].Value
	if got.SchemaID != id2 || got.SchemaType != "AVRO" || got.Format != "json" || !strings.Contains(got.Text, `"note": "rush"`) || got.Size != len(value) {
		t.Fatalf("decoded value: %+v", got)
	}
	// The topic list shows the topic's throughput (the agent samples its
	// metrics when asked).
	var tp adminapi.TopicPage
	ta.mustOK(t, "GET", "/api/v1/topics?q=orders", nil, 200, &tp)
	if len(tp.Topics) != 1 || tp.Topics[0].ProduceBytesPerSec <= 0 || tp.Topics[0].FetchBytesPerSec <= 0 {
		t.Fatalf("topic throughput: %+v", tp)
	}
	// Asked for hex, the bytes are shown as they are.
	var hexMsgs adminapi.Messages
	ta.mustOK(t, "GET", "/api/v1/topics/orders/messages?offset=0&format=hex", nil, 200, &hexMsgs)
	if v := hexMsgs.Messages[0].Value; v.SchemaID != 0 || v.Text != fmt.Sprintf("%x", value) {
		t.Fatalf("hex value: %+v", v)
	}
}
