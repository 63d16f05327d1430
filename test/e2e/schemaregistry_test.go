package e2e

// The schema registry every agent serves (docs/schema-registry.md), driven
// by franz-go's pkg/sr client through every call it has, and broker-side
// schema validation refusing records without a registered schema ID.

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
)

func srClient(t *testing.T, a *Agent) *sr.Client {
	t.Helper()
	cl, err := sr.NewClient(sr.URLs("http://" + a.SchemaRegistryAddr))
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// srStatus returns the HTTP status and Confluent error code of err.
func srStatus(err error) (int, int) {
	var re *sr.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode, re.ErrorCode
	}
	return 0, 0
}

const srOrderV1 = `{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"string"},{"name":"qty","type":"int"}]}`
const srOrderV2 = `{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"string"},{"name":"qty","type":"int"},{"name":"note","type":"string","default":""}]}`

func TestSchemaRegistryFranzSR(t *testing.T) {
	t.Parallel()
	a := StartAgent(t, "")
	ctx := testContext(t, 60e9)
	cl := srClient(t, a)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	types, err := cl.SupportedTypes(ctx)
	must(err)
	if !slices.Equal(types, []sr.SchemaType{sr.TypeAvro, sr.TypeProtobuf, sr.TypeJSON}) {
		t.Fatalf("SupportedTypes = %v", types)
	}

	v1, err := cl.CreateSchema(ctx, "orders-value", sr.Schema{Schema: srOrderV1})
	must(err)
	if v1.Version != 1 || v1.ID <= 0 || v1.Subject != "orders-value" {
		t.Fatalf("CreateSchema = %+v", v1)
	}
	again, err := cl.CreateSchema(ctx, "orders-value", sr.Schema{Schema: srOrderV1})
	must(err)
	if again.ID != v1.ID || again.Version != 1 {
		t.Fatalf("re-registering made %+v, want %+v", again, v1)
	}
	looked, err := cl.LookupSchema(ctx, "orders-value", sr.Schema{Schema: srOrderV1})
	must(err)
	if looked.ID != v1.ID || looked.Version != 1 {
		t.Fatalf("LookupSchema = %+v", looked)
	}

	// Compatibility: the default BACKWARD refuses a field without default.
	bad := sr.Schema{Schema: `{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"string"},{"name":"qty","type":"int"},{"name":"x","type":"long"}]}`}
	res, err := cl.CheckCompatibility(sr.WithParams(ctx, sr.Verbose), "orders-value", -1, bad)
	must(err)
	if res.Is || len(res.Messages) == 0 {
		t.Fatalf("CheckCompatibility(bad) = %+v", res)
	}
	if _, err := cl.CreateSchema(ctx, "orders-value", bad); !isStatus(err, http.StatusConflict) {
		t.Fatalf("registering an incompatible schema: %v, want 409", err)
	}
	res, err = cl.CheckCompatibility(ctx, "orders-value", -2, sr.Schema{Schema: srOrderV2})
	must(err)
	if !res.Is {
		t.Fatalf("CheckCompatibility(v2) = %+v", res)
	}
	v2, err := cl.CreateSchema(ctx, "orders-value", sr.Schema{Schema: srOrderV2})
	must(err)
	if v2.Version != 2 || v2.ID == v1.ID {
		t.Fatalf("v2 = %+v", v2)
	}

	// Reads by ID, subject and version.
	byID, err := cl.SchemaByID(ctx, v1.ID)
	must(err)
	if byID.Type != sr.TypeAvro {
		t.Fatalf("SchemaByID = %+v", byID)
	}
	text, err := cl.SchemaTextByID(ctx, v1.ID)
	must(err)
	if text == "" {
		t.Fatal("SchemaTextByID is empty")
	}
	subjects, err := cl.SubjectsByID(ctx, v1.ID)
	must(err)
	if !slices.Equal(subjects, []string{"orders-value"}) {
		t.Fatalf("SubjectsByID = %v", subjects)
	}
	svs, err := cl.SchemaVersionsByID(ctx, v2.ID)
	must(err)
	if len(svs) != 1 || svs[0].Version != 2 {
		t.Fatalf("SchemaVersionsByID = %v", svs)
	}
	versions, err := cl.SubjectVersions(ctx, "orders-value")
	must(err)
	if !slices.Equal(versions, []int{1, 2}) {
		t.Fatalf("SubjectVersions = %v", versions)
	}
	latest, err := cl.SchemaByVersion(ctx, "orders-value", -1)
	must(err)
	if latest.ID != v2.ID {
		t.Fatalf("SchemaByVersion(latest) = %+v", latest)
	}
	if _, err := cl.SchemaTextByVersion(ctx, "orders-value", 1); err != nil {
		t.Fatal(err)
	}
	all, err := cl.AllSchemas(ctx)
	must(err)
	if len(all) != 2 {
		t.Fatalf("AllSchemas = %v", all)
	}
	ofSubject, err := cl.Schemas(ctx, "orders-value")
	must(err)
	if len(ofSubject) != 2 {
		t.Fatalf("Schemas = %v", ofSubject)
	}
	usages, err := cl.SchemaUsagesByID(ctx, v1.ID)
	must(err)
	if len(usages) != 1 || usages[0].Subject != "orders-value" {
		t.Fatalf("SchemaUsagesByID = %v", usages)
	}
	allSubjects, err := cl.Subjects(ctx)
	must(err)
	if !slices.Equal(allSubjects, []string{"orders-value"}) {
		t.Fatalf("Subjects = %v", allSubjects)
	}

	// References.
	item, err := cl.CreateSchema(ctx, "item", sr.Schema{Schema: `{"type":"record","name":"Item","namespace":"shop","fields":[{"name":"sku","type":"string"}]}`})
	must(err)
	cart, err := cl.CreateSchema(ctx, "cart-value", sr.Schema{
		Schema:     `{"type":"record","name":"Cart","namespace":"shop","fields":[{"name":"items","type":{"type":"array","items":"shop.Item"}}]}`,
		References: []sr.SchemaReference{{Name: "shop.Item", Subject: "item", Version: item.Version}},
	})
	must(err)
	refs, err := cl.SchemaReferences(ctx, "item", 1)
	must(err)
	if len(refs) != 1 || refs[0].ID != cart.ID {
		t.Fatalf("SchemaReferences = %v", refs)
	}
	if err := cl.DeleteSchema(ctx, "item", 1, sr.SoftDelete); !hasCode(err, 42206) {
		t.Fatalf("deleting a referenced schema: %v, want 42206", err)
	}

	// Config.
	compat := cl.Compatibility(ctx)
	if compat[0].Err != nil || compat[0].Level != sr.CompatBackward {
		t.Fatalf("Compatibility = %+v", compat)
	}
	set := cl.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatFull}, "orders-value")
	if set[0].Err != nil || set[0].Level != sr.CompatFull {
		t.Fatalf("SetCompatibility = %+v", set)
	}
	if c := cl.Compatibility(ctx, "orders-value"); c[0].Err != nil || c[0].Level != sr.CompatFull {
		t.Fatalf("Compatibility(subject) = %+v", c)
	}
	if r := cl.ResetCompatibility(ctx, "orders-value"); r[0].Err != nil {
		t.Fatalf("ResetCompatibility = %+v", r)
	}
	if c := cl.Compatibility(ctx, "orders-value"); !hasCode(c[0].Err, 40408) {
		t.Fatalf("Compatibility after reset = %+v, want 40408", c)
	}

	// Mode, and IMPORT with given IDs and versions.
	if m := cl.Mode(ctx); m[0].Err != nil || m[0].Mode != sr.ModeReadWrite {
		t.Fatalf("Mode = %+v", m)
	}
	if m := cl.SetMode(ctx, sr.ModeReadOnly, "orders-value"); m[0].Err != nil || m[0].Mode != sr.ModeReadOnly {
		t.Fatalf("SetMode = %+v", m)
	}
	if _, err := cl.CreateSchema(ctx, "orders-value", sr.Schema{Schema: srOrderV2}); !hasCode(err, 42205) {
		t.Fatalf("register in READONLY: %v, want 42205", err)
	}
	if err := cl.DeleteSchema(ctx, "orders-value", 1, sr.SoftDelete); !hasCode(err, 42205) {
		t.Fatalf("delete in READONLY: %v, want 42205", err)
	}
	if m := cl.ResetMode(ctx, "orders-value"); m[0].Err != nil || m[0].Mode != sr.ModeReadOnly {
		t.Fatalf("ResetMode = %+v", m)
	}
	if m := cl.SetMode(sr.WithParams(ctx, sr.Force), sr.ModeImport, "imported"); m[0].Err != nil {
		t.Fatalf("SetMode(IMPORT) = %+v", m)
	}
	imp, err := cl.CreateSchemaWithIDAndVersion(ctx, "imported", sr.Schema{Schema: `"string"`}, 5000, 7)
	must(err)
	if imp.ID != 5000 || imp.Version != 7 {
		t.Fatalf("imported = %+v", imp)
	}
	if m := cl.ResetMode(ctx, "imported"); m[0].Err != nil || m[0].Mode != sr.ModeImport {
		t.Fatalf("ResetMode(imported) = %+v", m)
	}

	// Contexts.
	ctxA := sr.InContext(ctx, ".teamA")
	inCtx, err := cl.CreateSchema(ctxA, "orders-value", sr.Schema{Schema: srOrderV1})
	must(err)
	if inCtx.Subject != ":.teamA:orders-value" {
		t.Fatalf("CreateSchema in context = %+v", inCtx)
	}
	ctxs, err := cl.Contexts(ctx)
	must(err)
	if !slices.Equal(ctxs, []string{".", ".teamA"}) {
		t.Fatalf("Contexts = %v", ctxs)
	}
	inCtxSubjects, err := cl.Subjects(ctxA)
	must(err)
	if !slices.Equal(inCtxSubjects, []string{":.teamA:orders-value"}) {
		t.Fatalf("Subjects in context = %v", inCtxSubjects)
	}
	if err := cl.DeleteContext(ctx, ".teamA"); !hasCode(err, 42211) {
		t.Fatalf("DeleteContext(non-empty) = %v, want 42211", err)
	}
	if _, err := cl.DeleteSubject(ctxA, "orders-value", sr.SoftDelete); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.DeleteSubject(ctxA, "orders-value", sr.HardDelete); err != nil {
		t.Fatal(err)
	}
	must(cl.DeleteContext(ctx, ".teamA"))

	// Two-step deletes.
	if _, err := cl.DeleteSubject(ctx, "cart-value", sr.HardDelete); !hasCode(err, 40405) {
		t.Fatalf("hard delete before soft: %v, want 40405", err)
	}
	deleted, err := cl.DeleteSubject(ctx, "cart-value", sr.SoftDelete)
	must(err)
	if !slices.Equal(deleted, []int{1}) {
		t.Fatalf("DeleteSubject = %v", deleted)
	}
	_, err = cl.DeleteSubject(ctx, "cart-value", sr.HardDelete)
	must(err)
	must(cl.DeleteSchema(ctx, "item", 1, sr.SoftDelete))
	must(cl.DeleteSchema(ctx, "item", 1, sr.HardDelete))
	if _, err := cl.SchemaByVersion(ctx, "item", 1); !hasCode(err, 40401) {
		t.Fatalf("reading a deleted subject: %v, want 40401", err)
	}

	// A serde round trip through a Sluice topic.
	var serde sr.Serde
	avroSchema := avro.MustParse(srOrderV2)
	type order struct {
		ID   string `avro:"id"`
		Qty  int    `avro:"qty"`
		Note string `avro:"note"`
	}
	serde.Register(v2.ID, order{},
		sr.EncodeFn(func(v any) ([]byte, error) { return avro.Marshal(avroSchema, v) }),
		sr.DecodeFn(func(b []byte, v any) error { return avro.Unmarshal(avroSchema, b, v) }))
	a.CreateTopic("orders", 1)
	kc := a.Client(kgo.DefaultProduceTopic("orders"), kgo.ConsumeTopics("orders"))
	want := order{ID: "o-1", Qty: 3, Note: "gift"}
	if err := kc.ProduceSync(ctx, &kgo.Record{Value: serde.MustEncode(want)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	fs := kc.PollFetches(ctx)
	if err := fs.Err0(); err != nil {
		t.Fatal(err)
	}
	var got order
	recs := fs.Records()
	if len(recs) != 1 {
		t.Fatalf("consumed %d records", len(recs))
	}
	must(serde.Decode(recs[0].Value, &got))
	if got != want {
		t.Fatalf("round trip: %+v, want %+v", got, want)
	}
}

func isStatus(err error, status int) bool {
	s, _ := srStatus(err)
	return s == status
}

func hasCode(err error, code int) bool {
	_, c := srStatus(err)
	return c == code
}

// TestSchemaValidationOnProduce: a topic with
// confluent.value.schema.validation=true refuses a batch whose records do
// not carry a schema ID registered under <topic>-value, with
// INVALID_RECORD, and stores nothing of it.
func TestSchemaValidationOnProduce(t *testing.T) {
	t.Parallel()
	a := StartAgent(t, "")
	ctx := testContext(t, 60e9)
	cl := srClient(t, a)
	ss, err := cl.CreateSchema(ctx, "validated-value", sr.Schema{Schema: srOrderV1})
	if err != nil {
		t.Fatal(err)
	}
	on := "true"
	res, err := a.Admin().CreateTopic(ctx, 1, 1, map[string]*string{"confluent.value.schema.validation": &on}, "validated")
	if err == nil {
		err = res.Err
	}
	if err != nil {
		t.Fatal(err)
	}
	type order struct {
		ID  string `avro:"id"`
		Qty int    `avro:"qty"`
	}
	payload, err := avro.Marshal(avro.MustParse(srOrderV1), order{"o-1", 1})
	if err != nil {
		t.Fatal(err)
	}
	var h sr.ConfluentHeader
	good, err := h.AppendEncode(nil, ss.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	good = append(good, payload...)
	unregistered, _ := h.AppendEncode(nil, ss.ID+1000, nil)
	unregistered = append(unregistered, payload...)

	kc := a.Client(kgo.DefaultProduceTopic("validated"), kgo.ConsumeTopics("validated"), kgo.RecordRetries(0))
	for _, tc := range []struct {
		name  string
		value []byte
	}{
		{"plain JSON", []byte(`{"id":"o-1","qty":1}`)},
		{"unregistered ID", unregistered},
	} {
		// One batch: a valid record followed by the bad one.
		results := kc.ProduceSync(ctx, &kgo.Record{Value: good}, &kgo.Record{Value: tc.value})
		for _, r := range results {
			if !errors.Is(r.Err, kerr.InvalidRecord) {
				t.Fatalf("%s: produce error %v, want INVALID_RECORD for the whole batch", tc.name, r.Err)
			}
		}
	}
	if err := kc.ProduceSync(ctx, &kgo.Record{Value: good}).FirstErr(); err != nil {
		t.Fatalf("valid record: %v", err)
	}
	// Only the valid record was stored: it is at offset 0.
	fs := kc.PollFetches(ctx)
	if err := fs.Err0(); err != nil {
		t.Fatal(err)
	}
	recs := fs.Records()
	if len(recs) != 1 || recs[0].Offset != 0 || string(recs[0].Value) != string(good) {
		t.Fatalf("stored %d records (first at offset %d), want only the valid one at 0", len(recs), recs[0].Offset)
	}
}

// TestSchemaRegistryConfluentPython: Debian's python3-confluent-kafka's
// SchemaRegistryClient, JSONSerializer and ProtobufSerializer register
// their schemas with Sluice and round-trip records through Sluice topics
// (py/schemaregistry_confluent.py).
func TestSchemaRegistryConfluentPython(t *testing.T) {
	t.Parallel()
	check := "import requests, jsonschema, google.protobuf, confluent_kafka.schema_registry.protobuf"
	if out, err := exec.Command(cliPython, "-c", check).CombinedOutput(); err != nil {
		t.Fatalf("%s cannot run %q: %v\n%s\nrun scripts/install-test-deps.sh", cliPython, check, err, out)
	}
	a := StartAgent(t, "")
	ctx := testContext(t, 90e9)
	cmd := exec.CommandContext(ctx, cliPython, "py/schemaregistry_confluent.py", a.KafkaAddr, "http://"+a.SchemaRegistryAddr, "pysr")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("schemaregistry_confluent.py: %v\n%s", err, out)
	}
	for _, step := range []string{`"step": "json"`, `"step": "protobuf"`, `"step": "client"`} {
		if !strings.Contains(string(out), step) {
			t.Fatalf("no %s in the script's output:\n%s", step, out)
		}
	}
}

// TestSchemaRegistryKafkajs: @kafkajs/confluent-schema-registry registers
// Avro, Protobuf and JSON schemas with Sluice, and kafkajs round-trips
// records encoded with them through Sluice topics
// (kafkajs/schemaregistry.js).
func TestSchemaRegistryKafkajs(t *testing.T) {
	t.Parallel()
	requireKafkajs(t)
	a := StartAgent(t, "")
	lines := runKafkajs(t, "schemaregistry", map[string]any{
		"broker": a.KafkaAddr, "registry": "http://" + a.SchemaRegistryAddr, "topic": "jssr",
	})
	var types []string
	for _, l := range lines["roundtrip"] {
		var r struct {
			Type string `json:"type"`
			N    int    `json:"n"`
		}
		if err := json.Unmarshal(l, &r); err != nil {
			t.Fatal(err)
		}
		if r.N != 2 {
			t.Errorf("%s: %d records round-tripped, want 2", r.Type, r.N)
		}
		types = append(types, r.Type)
	}
	if !slices.Equal(types, []string{"AVRO", "PROTOBUF", "JSON"}) {
		t.Fatalf("round trips %v, want AVRO, PROTOBUF, JSON", types)
	}
}

// TestSchemaRegistryCLI drives `sluice schemas` against an agent.
func TestSchemaRegistryCLI(t *testing.T) {
	t.Parallel()
	a := StartAgent(t, "")
	dir := t.TempDir()
	v1, v2 := dir+"/v1.avsc", dir+"/bad.avsc"
	if err := os.WriteFile(v1, []byte(srOrderV1), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := `{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"string"},{"name":"qty","type":"int"},{"name":"x","type":"long"}]}`
	if err := os.WriteFile(v2, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(wantOK bool, args ...string) string {
		t.Helper()
		args = append([]string{"schemas", "--registry-url", "http://" + a.SchemaRegistryAddr}, args...)
		out, err := exec.Command(sluiceBin, args...).CombinedOutput()
		if (err == nil) != wantOK {
			t.Fatalf("sluice %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	if out := run(true, "register", "orders-value", v1); !strings.Contains(out, "version 1 with schema ID 1") {
		t.Fatalf("register: %s", out)
	}
	if out := run(true, "list"); !strings.Contains(out, "orders-value") {
		t.Fatalf("list: %s", out)
	}
	if out := run(true, "get", "orders-value", "latest"); !strings.Contains(out, `"id": 1`) {
		t.Fatalf("get: %s", out)
	}
	if out := run(false, "check", "orders-value", v2); !strings.Contains(out, "READER_FIELD_MISSING_DEFAULT_VALUE") {
		t.Fatalf("check: %s", out)
	}
	run(false, "delete", "orders-value", "--permanent")
	run(true, "delete", "orders-value")
	if out := run(true, "delete", "orders-value", "--permanent"); !strings.Contains(out, "[1]") {
		t.Fatalf("delete --permanent: %s", out)
	}
	if out := run(true, "list"); strings.Contains(out, "orders-value") {
		t.Fatalf("list after delete: %s", out)
	}
}
