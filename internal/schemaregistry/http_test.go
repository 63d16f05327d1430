package schemaregistry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/metadata/postgres"
	"github.com/sluicehq/sluice/internal/metadata/sqlite"
	"github.com/sluicehq/sluice/internal/schemaregistry"
	"github.com/sluicehq/sluice/internal/schemaregistry/srstore"
	"github.com/sluicehq/sluice/internal/testutil"
)

// registry serves a registry over a fresh SQLite metadata store.
type registry struct {
	t   *testing.T
	srv *httptest.Server
}

// backend opens the store newRegistry serves: SQLite, or PostgreSQL while
// TestRESTOnPostgres runs the same tests (no test here runs in parallel).
var backend = func(t *testing.T) srstore.Store {
	store, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return store
}

// TestRESTOnPostgres runs the REST tests against the PostgreSQL backend.
func TestRESTOnPostgres(t *testing.T) {
	pg := testutil.StartPostgres(t)
	prev := backend
	backend = func(t *testing.T) srstore.Store {
		store, err := postgres.Open(context.Background(), pg.NewDatabase(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { store.Close() })
		return store
	}
	defer func() { backend = prev }()
	for _, tc := range []struct {
		name string
		fn   func(*testing.T)
	}{
		{"RegisterLookupAndRead", TestRegisterLookupAndRead},
		{"TwoStepDeletes", TestTwoStepDeletes},
		{"BadInput", TestBadInput},
		{"ConfigAndMode", TestConfigAndMode},
		{"ContextsAndReferences", TestContextsAndReferences},
		{"Compatibility", TestCompatibility},
		{"SchemaTypes", TestSchemaTypes},
		{"ProtobufAndJSONReferences", TestProtobufAndJSONReferences},
	} {
		t.Run(tc.name, tc.fn)
	}
}

func newRegistry(t *testing.T) *registry {
	t.Helper()
	store := backend(t)
	srv := httptest.NewServer(schemaregistry.Handler(schemaregistry.New(store, false), schemaregistry.ServerConfig{}))
	t.Cleanup(srv.Close)
	return &registry{t: t, srv: srv}
}

// do sends a request with a JSON body (a string is sent as-is) and returns
// the status and the decoded answer.
func (r *registry) do(method, path string, body any) (int, any) {
	r.t.Helper()
	return r.doType(method, path, schemaregistry.ContentType, body)
}

func (r *registry) doType(method, path, contentType string, body any) (int, any) {
	r.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			r.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, r.srv.URL+path, rd)
	if err != nil {
		r.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != schemaregistry.ContentType {
		r.t.Errorf("%s %s: Content-Type %q", method, path, ct)
	}
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		r.t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(raw, &out); err != nil {
		r.t.Fatalf("%s %s: answer %q is not JSON: %v", method, path, raw, err)
	}
	return resp.StatusCode, out
}

// ok expects a 200 and returns the answer re-encoded as JSON, for
// comparisons.
func (r *registry) ok(method, path string, body any) string {
	r.t.Helper()
	status, out := r.do(method, path, body)
	if status != http.StatusOK {
		r.t.Fatalf("%s %s: status %d: %v", method, path, status, out)
	}
	b, _ := json.Marshal(out)
	return string(b)
}

// fails expects Confluent's error body with the status and error code.
func (r *registry) fails(method, path string, body any, status, code int) string {
	r.t.Helper()
	return r.failsType(method, path, schemaregistry.ContentType, body, status, code)
}

func (r *registry) failsType(method, path, contentType string, body any, status, code int) string {
	r.t.Helper()
	got, out := r.doType(method, path, contentType, body)
	m, _ := out.(map[string]any)
	if got != status || m == nil || m["error_code"] != float64(code) {
		r.t.Fatalf("%s %s: got status %d %v, want %d error_code %d", method, path, got, out, status, code)
	}
	msg, _ := m["message"].(string)
	if msg == "" {
		r.t.Fatalf("%s %s: error without a message: %v", method, path, out)
	}
	return msg
}

func avro(name string, fields ...string) map[string]any {
	fs := []map[string]any{}
	for _, f := range fields {
		n, typ, _ := strings.Cut(f, ":")
		fs = append(fs, map[string]any{"name": n, "type": typ})
	}
	b, _ := json.Marshal(map[string]any{"type": "record", "name": name, "fields": fs})
	return map[string]any{"schema": string(b)}
}

func eq(t *testing.T, what, got, want string) {
	t.Helper()
	if got != want {
		t.Fatalf("%s = %s, want %s", what, got, want)
	}
}

func TestRegisterLookupAndRead(t *testing.T) {
	r := newRegistry(t)
	eq(t, "GET /", r.ok("GET", "/", nil), `{}`)
	eq(t, "subjects", r.ok("GET", "/subjects", nil), `[]`)
	a := avro("A", "f1:string")
	eq(t, "register", r.ok("POST", "/subjects/s1/versions", a), `{"id":1}`)
	// Whitespace does not make a new schema, nor does registering again.
	spaced := map[string]any{"schema": strings.ReplaceAll(a["schema"].(string), ",", " , ")}
	eq(t, "again", r.ok("POST", "/subjects/s1/versions", spaced), `{"id":1}`)
	eq(t, "versions", r.ok("GET", "/subjects/s1/versions", nil), `[1]`)
	// The same schema in another subject has the same ID.
	eq(t, "other subject", r.ok("POST", "/subjects/s2/versions", a), `{"id":1}`)
	r.ok("PUT", "/config/s1", map[string]string{"compatibility": "NONE"})
	eq(t, "second", r.ok("POST", "/subjects/s1/versions", avro("B", "g:int")), `{"id":2}`)
	eq(t, "versions", r.ok("GET", "/subjects/s1/versions", nil), `[1,2]`)
	eq(t, "subjects", r.ok("GET", "/subjects", nil), `["s1","s2"]`)
	eq(t, "prefix", r.ok("GET", "/subjects?subjectPrefix=s2", nil), `["s2"]`)

	var v schemaregistry.SubjectVersion
	json.Unmarshal([]byte(r.ok("GET", "/subjects/s1/versions/latest", nil)), &v)
	if v.Subject != "s1" || v.Version != 2 || v.ID != 2 || !strings.Contains(v.Schema, `"B"`) || v.SchemaType != "" {
		t.Fatalf("latest = %+v", v)
	}
	eq(t, "-1", r.ok("GET", "/subjects/s1/versions/-1", nil), r.ok("GET", "/subjects/s1/versions/2", nil))
	eq(t, "version schema", r.ok("GET", "/subjects/s1/versions/1/schema", nil), r.ok("GET", "/schemas/ids/1/schema", nil))
	if got := r.ok("GET", "/schemas/ids/1/schema", nil); !strings.HasPrefix(got, `{"fields"`) && !strings.HasPrefix(got, `{"type"`) && !strings.HasPrefix(got, `{"name"`) {
		t.Fatalf("GET /schemas/ids/1/schema = %s, want the schema document", got)
	}
	eq(t, "ids/1/subjects", r.ok("GET", "/schemas/ids/1/subjects", nil), `["s1","s2"]`)
	eq(t, "ids/1/versions", r.ok("GET", "/schemas/ids/1/versions", nil), `[{"subject":"s1","version":1},{"subject":"s2","version":1}]`)
	r.ok("GET", "/schemas/ids/2?subject=s1", nil)
	r.fails("GET", "/schemas/ids/2?subject=s2", nil, 404, 40403)
	eq(t, "types", r.ok("GET", "/schemas/types", nil), `["JSON","PROTOBUF","AVRO"]`)

	json.Unmarshal([]byte(r.ok("POST", "/subjects/s1", a)), &v)
	if v.Version != 1 || v.ID != 1 {
		t.Fatalf("lookup = %+v", v)
	}
	r.fails("POST", "/subjects/s1", avro("C", "x:long"), 404, 40403)
	r.fails("POST", "/subjects/nope", a, 404, 40401)

	var all []schemaregistry.SubjectVersion
	json.Unmarshal([]byte(r.ok("GET", "/schemas", nil)), &all)
	if len(all) != 3 {
		t.Fatalf("GET /schemas = %+v", all)
	}
	json.Unmarshal([]byte(r.ok("GET", "/schemas?latestOnly=true&subjectPrefix=s1", nil)), &all)
	if len(all) != 1 || all[0].Version != 2 {
		t.Fatalf("GET /schemas latestOnly = %+v", all)
	}
}

func TestTwoStepDeletes(t *testing.T) {
	r := newRegistry(t)
	r.ok("PUT", "/config", map[string]string{"compatibility": "NONE"})
	r.ok("POST", "/subjects/s/versions", avro("A", "a:string"))
	r.ok("POST", "/subjects/s/versions", avro("B", "b:string"))

	r.fails("DELETE", "/subjects/s/versions/1?permanent=true", nil, 404, 40407)
	eq(t, "soft", r.ok("DELETE", "/subjects/s/versions/1", nil), `1`)
	r.fails("DELETE", "/subjects/s/versions/1", nil, 404, 40406)
	r.fails("GET", "/subjects/s/versions/1", nil, 404, 40402)
	r.ok("GET", "/subjects/s/versions/1?deleted=true", nil)
	eq(t, "versions", r.ok("GET", "/subjects/s/versions", nil), `[2]`)
	eq(t, "deleted versions", r.ok("GET", "/subjects/s/versions?deleted=true", nil), `[1,2]`)
	eq(t, "deletedOnly", r.ok("GET", "/subjects/s/versions?deletedOnly=true", nil), `[1]`)
	// A soft-deleted schema is still served by ID.
	r.ok("GET", "/schemas/ids/1", nil)
	eq(t, "hard", r.ok("DELETE", "/subjects/s/versions/1?permanent=true", nil), `1`)
	r.fails("GET", "/subjects/s/versions/1?deleted=true", nil, 404, 40402)
	r.fails("GET", "/schemas/ids/1", nil, 404, 40403)

	r.fails("DELETE", "/subjects/s?permanent=true", nil, 404, 40405)
	eq(t, "soft subject", r.ok("DELETE", "/subjects/s", nil), `[2]`)
	r.fails("DELETE", "/subjects/s", nil, 404, 40404)
	r.fails("GET", "/subjects/s/versions", nil, 404, 40401)
	eq(t, "subjects", r.ok("GET", "/subjects", nil), `[]`)
	eq(t, "deleted subjects", r.ok("GET", "/subjects?deleted=true", nil), `["s"]`)
	eq(t, "deletedOnly subjects", r.ok("GET", "/subjects?deletedOnly=true", nil), `["s"]`)
	eq(t, "hard subject", r.ok("DELETE", "/subjects/s?permanent=true", nil), `[2]`)
	r.fails("DELETE", "/subjects/s", nil, 404, 40401)
	// IDs are never reused: a new schema after every delete gets a new one.
	eq(t, "new", r.ok("POST", "/subjects/s/versions", avro("C", "c:string")), `{"id":3}`)
	// And a schema registered before gets its old ID back.
	eq(t, "old", r.ok("POST", "/subjects/s/versions", avro("A", "a:string")), `{"id":1}`)
}

func TestBadInput(t *testing.T) {
	r := newRegistry(t)
	r.fails("POST", "/subjects/s/versions", `{"schema": `, 400, 400)
	r.fails("POST", "/subjects/s/versions", `{"schema": 5}`, 422, 422)
	r.fails("POST", "/subjects/s/versions", map[string]string{"schema": `{"type":"record"`}, 422, 42201)
	r.fails("POST", "/subjects/s/versions", map[string]string{"schema": ``}, 422, 42201)
	r.fails("POST", "/subjects/s/versions", map[string]string{"schema": `"string"`, "schemaType": "XML"}, 422, 42201)
	r.fails("POST", "/subjects/s/versions", map[string]any{"schema": `"string"`,
		"references": []map[string]any{{"name": "x", "subject": "missing", "version": 1}}}, 422, 42201)
	r.failsType("POST", "/subjects/s/versions", "text/plain", avro("A", "a:int"), 415, 415)
	huge := `{"schema": "` + strings.Repeat("x", schemaregistry.MaxBodyBytes+1) + `"}`
	r.fails("POST", "/subjects/s/versions", huge, 422, 42209)
	r.fails("GET", "/subjects/s/versions/abc", nil, 422, 42202)
	r.fails("GET", "/subjects/s/versions/0", nil, 422, 42202)
	r.fails("GET", "/subjects/s/versions/2147483648", nil, 422, 42202)
	r.fails("GET", "/subjects/a%01b/versions", nil, 422, 42208)
	r.fails("POST", "/subjects/a%01b/versions", avro("A", "a:int"), 422, 42208)
	r.fails("PUT", "/config", map[string]string{"compatibility": "SIDEWAYS"}, 422, 42203)
	r.fails("PUT", "/mode", map[string]string{"mode": "WRITEONLY"}, 422, 42204)
	r.fails("GET", "/schemas/ids/999", nil, 404, 40403)
	r.fails("GET", "/schemas/ids/x", nil, 404, 40403)
	r.fails("GET", "/subjects/nope/versions/1", nil, 404, 40401)
	r.fails("GET", "/nowhere", nil, 404, 404)
	r.fails("PUT", "/subjects", "{}", 405, 405)
	r.fails("PATCH", "/subjects/s/versions/1", nil, 405, 405)
	// Nothing was half-written.
	eq(t, "subjects", r.ok("GET", "/subjects?deleted=true", nil), `[]`)
	eq(t, "schemas", r.ok("GET", "/schemas?deleted=true", nil), `[]`)
	// The accepted content types.
	for _, ct := range []string{"application/vnd.schemaregistry.v1+json", "application/vnd.schemaregistry+json", "application/json; charset=utf-8"} {
		if st, out := r.doType("POST", "/subjects/ct/versions", ct, avro("A", "a:int")); st != 200 {
			t.Fatalf("Content-Type %s: %d %v", ct, st, out)
		}
	}
}

func TestConfigAndMode(t *testing.T) {
	r := newRegistry(t)
	eq(t, "global", r.ok("GET", "/config", nil), `{"compatibilityLevel":"BACKWARD"}`)
	eq(t, "put", r.ok("PUT", "/config/s", map[string]string{"compatibility": "full"}), `{"compatibility":"FULL"}`)
	eq(t, "subject", r.ok("GET", "/config/s", nil), `{"compatibilityLevel":"FULL"}`)
	r.fails("GET", "/config/other", nil, 404, 40408)
	eq(t, "defaultToGlobal", r.ok("GET", "/config/other?defaultToGlobal=true", nil), `{"compatibilityLevel":"BACKWARD"}`)
	eq(t, "delete", r.ok("DELETE", "/config/s", nil), `{"compatibilityLevel":"FULL"}`)
	r.fails("DELETE", "/config/s", nil, 404, 40408)
	r.ok("PUT", "/config", map[string]string{"compatibility": "NONE"})
	eq(t, "global", r.ok("GET", "/config", nil), `{"compatibilityLevel":"NONE"}`)

	eq(t, "mode", r.ok("GET", "/mode", nil), `{"mode":"READWRITE"}`)
	r.ok("POST", "/subjects/s/versions", avro("A", "a:string"))
	eq(t, "readonly", r.ok("PUT", "/mode/s", map[string]string{"mode": "READONLY"}), `{"mode":"READONLY"}`)
	r.fails("POST", "/subjects/s/versions", avro("B", "b:string"), 422, 42205)
	r.fails("DELETE", "/subjects/s", nil, 422, 42205)
	r.fails("GET", "/mode/other", nil, 404, 40409)
	eq(t, "mode default", r.ok("GET", "/mode/other?defaultToGlobal=true", nil), `{"mode":"READWRITE"}`)
	eq(t, "reset", r.ok("DELETE", "/mode/s", nil), `{"mode":"READONLY"}`)

	// IMPORT: refused while subjects exist unless forced; then IDs and
	// versions come from the request.
	r.fails("PUT", "/mode", map[string]string{"mode": "IMPORT"}, 422, 42205)
	r.fails("POST", "/subjects/imp/versions", map[string]any{"schema": `"string"`, "id": 100, "version": 5}, 422, 42205)
	eq(t, "import", r.ok("PUT", "/mode?force=true", map[string]string{"mode": "IMPORT"}), `{"mode":"IMPORT"}`)
	eq(t, "imported", r.ok("POST", "/subjects/imp/versions", map[string]any{"schema": `"string"`, "id": 100, "version": 5}), `{"id":100}`)
	r.fails("POST", "/subjects/imp2/versions", map[string]any{"schema": `"int"`, "id": 100, "version": 1}, 422, 42205)
	eq(t, "imported again", r.ok("POST", "/subjects/imp/versions", map[string]any{"schema": `"string"`, "id": 100, "version": 5}), `{"id":100}`)
	var v schemaregistry.SubjectVersion
	json.Unmarshal([]byte(r.ok("GET", "/subjects/imp/versions/latest", nil)), &v)
	if v.ID != 100 || v.Version != 5 {
		t.Fatalf("imported version = %+v", v)
	}
	r.ok("PUT", "/mode", map[string]string{"mode": "READWRITE"})
	eq(t, "after import", r.ok("POST", "/subjects/imp/versions", map[string]any{"schema": `"long"`}), `{"id":101}`)
	eq(t, "versions", r.ok("GET", "/subjects/imp/versions", nil), `[5,6]`)
}

func TestContextsAndReferences(t *testing.T) {
	r := newRegistry(t)
	r.ok("POST", "/contexts/.team/subjects/a/versions", avro("A", "a:string"))
	r.ok("POST", "/subjects/:.team:b/versions", avro("B", "b:string"))
	r.ok("POST", "/subjects/c/versions", avro("C", "c:string"))
	eq(t, "subjects", r.ok("GET", "/subjects", nil), `[":.team:a",":.team:b","c"]`)
	eq(t, "in context", r.ok("GET", "/contexts/.team/subjects", nil), `[":.team:a",":.team:b"]`)
	eq(t, "contexts", r.ok("GET", "/contexts", nil), `[".",".team"]`)
	r.ok("GET", "/contexts/.team/subjects/a/versions/1", nil)
	// Context-level config applies to its subjects.
	r.ok("PUT", "/contexts/.team/config", map[string]string{"compatibility": "FULL"})
	eq(t, "ctx config", r.ok("GET", "/config/:.team:a?defaultToGlobal=true", nil), `{"compatibilityLevel":"FULL"}`)
	eq(t, "global", r.ok("GET", "/config", nil), `{"compatibilityLevel":"BACKWARD"}`)
	r.fails("DELETE", "/contexts/.team", nil, 422, 42211)

	// References: an Avro record using another subject's record.
	base := avro("Base", "x:int")
	r.ok("POST", "/subjects/base/versions", base)
	user := map[string]any{
		"schema":     `{"type":"record","name":"User","fields":[{"name":"b","type":"Base"}]}`,
		"references": []map[string]any{{"name": "Base", "subject": "base", "version": 1}},
	}
	var id struct{ ID int64 }
	json.Unmarshal([]byte(r.ok("POST", "/subjects/user/versions", user)), &id)
	eq(t, "referencedby", r.ok("GET", "/subjects/base/versions/1/referencedby", nil), fmt.Sprintf("[%d]", id.ID))
	var byID schemaregistry.SchemaByID
	json.Unmarshal([]byte(r.ok("GET", fmt.Sprintf("/schemas/ids/%d", id.ID), nil)), &byID)
	if len(byID.References) != 1 || byID.References[0].Subject != "base" {
		t.Fatalf("references = %+v", byID)
	}
	r.fails("DELETE", "/subjects/base/versions/1", nil, 422, 42206)
	r.fails("DELETE", "/subjects/base", nil, 422, 42206)
	r.ok("DELETE", "/subjects/user", nil)
	r.ok("DELETE", "/subjects/base", nil)
}

func TestCompatibility(t *testing.T) {
	r := newRegistry(t)
	r.ok("POST", "/subjects/s/versions", avro("A", "a:string"))
	// BACKWARD (the default): a new field without a default cannot read
	// old data.
	incompatible := map[string]any{"schema": `{"type":"record","name":"A","fields":[{"name":"a","type":"string"},{"name":"b","type":"int"}]}`}
	compatible := map[string]any{"schema": `{"type":"record","name":"A","fields":[{"name":"a","type":"string"},{"name":"b","type":"int","default":0}]}`}
	eq(t, "check", r.ok("POST", "/compatibility/subjects/s/versions/latest", incompatible), `{"is_compatible":false}`)
	var res schemaregistry.CompatibilityResult
	json.Unmarshal([]byte(r.ok("POST", "/compatibility/subjects/s/versions?verbose=true", incompatible)), &res)
	if res.IsCompatible || len(res.Messages) == 0 {
		t.Fatalf("verbose check = %+v", res)
	}
	eq(t, "compatible", r.ok("POST", "/compatibility/subjects/s/versions/1", compatible), `{"is_compatible":true}`)
	eq(t, "no subject", r.ok("POST", "/compatibility/subjects/new/versions", compatible), `{"is_compatible":true}`)
	r.fails("POST", "/compatibility/subjects/new/versions/latest", compatible, 404, 40401)
	msg := r.fails("POST", "/subjects/s/versions", incompatible, 409, 409)
	if !strings.Contains(msg, "incompatible") {
		t.Fatalf("409 message %q", msg)
	}
	eq(t, "versions", r.ok("GET", "/subjects/s/versions", nil), `[1]`)
	eq(t, "register", r.ok("POST", "/subjects/s/versions", compatible), `{"id":2}`)
}

func TestSchemaTypes(t *testing.T) {
	r := newRegistry(t)
	proto := map[string]any{"schemaType": "PROTOBUF", "schema": "syntax = \"proto3\";\nmessage M { string a = 1; }\n"}
	js := map[string]any{"schemaType": "JSON", "schema": `{"type":"object","properties":{"a":{"type":"string"}}}`}
	r.ok("POST", "/subjects/p/versions", proto)
	r.ok("POST", "/subjects/j/versions", js)
	var v schemaregistry.SubjectVersion
	json.Unmarshal([]byte(r.ok("GET", "/subjects/p/versions/1", nil)), &v)
	if v.SchemaType != "PROTOBUF" {
		t.Fatalf("protobuf version = %+v", v)
	}
	if got := r.ok("GET", "/subjects/p/versions/1/schema", nil); !strings.HasPrefix(got, `"`) {
		t.Fatalf("protobuf …/schema = %s, want a JSON string", got)
	}
	json.Unmarshal([]byte(r.ok("GET", "/subjects/j/versions/1", nil)), &v)
	if v.SchemaType != "JSON" {
		t.Fatalf("json version = %+v", v)
	}
	var ids []map[string]any
	json.Unmarshal([]byte(r.ok("GET", "/schemas", nil)), &ids)
	if got := []any{ids[0]["schemaType"], ids[1]["schemaType"]}; !reflect.DeepEqual(got, []any{"JSON", "PROTOBUF"}) {
		t.Fatalf("types = %v", got)
	}
}

func TestProtobufAndJSONReferences(t *testing.T) {
	r := newRegistry(t)
	r.ok("POST", "/subjects/common/versions", map[string]any{"schemaType": "PROTOBUF",
		"schema": "syntax = \"proto3\";\npackage common;\nmessage Money { int64 units = 1; string currency = 2; }\n"})
	order := map[string]any{"schemaType": "PROTOBUF",
		"schema":     "syntax = \"proto3\";\npackage shop;\nimport \"common.proto\";\nmessage Order { string id = 1; common.Money total = 2; }\n",
		"references": []map[string]any{{"name": "common.proto", "subject": "common", "version": 1}}}
	r.ok("POST", "/subjects/order/versions", order)
	eq(t, "proto referencedby", r.ok("GET", "/subjects/common/versions/1/referencedby", nil), `[2]`)
	// Without the reference the import cannot be resolved.
	delete(order, "references")
	r.fails("POST", "/subjects/order2/versions", order, 422, 42201)

	r.ok("POST", "/subjects/address/versions", map[string]any{"schemaType": "JSON",
		"schema": `{"type":"object","properties":{"city":{"type":"string"}}}`})
	person := map[string]any{"schemaType": "JSON",
		"schema":     `{"type":"object","properties":{"home":{"$ref":"address.json"}}}`,
		"references": []map[string]any{{"name": "address.json", "subject": "address", "version": 1}}}
	r.ok("POST", "/subjects/person/versions", person)
	eq(t, "json referencedby", r.ok("GET", "/subjects/address/versions/1/referencedby", nil), `[4]`)
}
