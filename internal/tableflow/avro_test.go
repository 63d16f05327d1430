package tableflow

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/apache/iceberg-go"
	"github.com/twmb/avro"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"
)

const (
	clicksV1 = `{"type":"record","name":"Click","fields":[
		{"name":"id","type":"long"},
		{"name":"page","type":"string"},
		{"name":"amount","type":["null","double"],"default":null}]}`
	clicksV2 = `{"type":"record","name":"Click","fields":[
		{"name":"id","type":"long"},
		{"name":"page","type":"string"},
		{"name":"amount","type":["null","double"],"default":null},
		{"name":"referrer","type":["null","string"],"default":null}]}`
	// clicksBad changes amount's type: its records cannot join the table.
	clicksBad = `{"type":"record","name":"Click","fields":[
		{"name":"id","type":"long"},
		{"name":"page","type":"string"},
		{"name":"amount","type":"string"}]}`
)

// confluent frames an Avro value the way Confluent serializers do.
func confluent(t *testing.T, schema string, id int, v map[string]any) string {
	t.Helper()
	b, err := avro.MustParse(schema).Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	hdr := []byte{0, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(hdr[1:], uint32(id))
	return string(append(hdr, b...))
}

func TestIngestAvroRegistryEvolves(t *testing.T) {
	e := newEnv(t, "clicks")
	reg := srfake.New()
	t.Cleanup(reg.Close)
	id1, _, err := reg.RegisterSchema("clicks-value", sr.Schema{Schema: clicksV1})
	if err != nil {
		t.Fatal(err)
	}
	cfg := e.config(fmt.Sprintf(`
schema_registry_url: %s
tables:
  - name: web.clicks
    source_topic: clicks
    format: avro
    subject: clicks-value
    partition_by: ["bucket(4, id)"]
`, reg.URL()))
	svc := start(t, cfg)
	var vs []string
	for i := 0; i < 20; i++ {
		v := map[string]any{"id": int64(i), "page": fmt.Sprintf("/p/%d", i), "amount": nil}
		if i%2 == 0 {
			v["amount"] = float64(i) / 4
		}
		vs = append(vs, confluent(t, clicksV1, id1, v))
	}
	e.produce("clicks", 0, vs...)
	waitRows(t, svc, "web.clicks", 20)

	id2, _, err := reg.RegisterSchema("clicks-value", sr.Schema{Schema: clicksV2})
	if err != nil {
		t.Fatal(err)
	}
	idBad, _, err := reg.RegisterSchema("clicks-bad", sr.Schema{Schema: clicksBad})
	if err != nil {
		t.Fatal(err)
	}
	vs = nil
	for i := 20; i < 30; i++ {
		vs = append(vs, confluent(t, clicksV2, id2, map[string]any{"id": int64(i), "page": "/q", "amount": nil, "referrer": fmt.Sprintf("ref-%d", i)}))
	}
	vs = append(vs, confluent(t, clicksBad, idBad, map[string]any{"id": int64(99), "page": "/bad", "amount": "lots"}))
	e.produce("clicks", 1, vs...)
	tbl, rows := waitRows(t, svc, "web.clicks", 30)
	if len(rows) != 30 {
		t.Fatalf("got %d rows, want 30", len(rows))
	}
	f, ok := tbl.Schema().FindFieldByName("referrer")
	if !ok || f.Required || !f.Type.Equals(iceberg.PrimitiveTypes.String) {
		t.Fatalf("schema %s: want an optional string referrer column", tbl.Schema())
	}
	if f.ID <= tbl.Metadata().Schemas()[0].HighestFieldID() {
		t.Fatalf("referrer has ID %d, not a new one", f.ID)
	}
	for _, r := range rows {
		id := r["id"].(int64)
		if r["page"] == nil {
			t.Fatalf("row %v: no page", r)
		}
		switch {
		case id < 20 && id%2 == 0:
			if r["amount"] != float64(id)/4 || r["referrer"] != nil {
				t.Fatalf("v1 row %v", r)
			}
		case id < 20:
			if r["amount"] != nil {
				t.Fatalf("v1 row %v: amount should be null", r)
			}
		default:
			if r["referrer"] != fmt.Sprintf("ref-%d", id) {
				t.Fatalf("v2 row %v", r)
			}
		}
	}
	dlq := consumeAll(t, e, "clicks.dlq", 1)
	if string(dlq[0].Value) != vs[len(vs)-1] {
		t.Fatalf("DLQ holds %q", dlq[0].Value)
	}
}

const (
	unionV1 = `{"type":"record","name":"Event","namespace":"x","fields":[
		{"name":"id","type":"long"},
		{"name":"v","type":["null","string","long",{"type":"record","name":"Email","fields":[{"name":"to","type":"string"}]}]},
		{"name":"l","type":{"type":"array","items":["int","string"]}}]}`
	// unionV2 adds a branch to v: a new optional field of v's struct.
	unionV2 = `{"type":"record","name":"Event","namespace":"x","fields":[
		{"name":"id","type":"long"},
		{"name":"v","type":["null","string","long",{"type":"record","name":"Email","fields":[{"name":"to","type":"string"}]},"boolean"]},
		{"name":"l","type":{"type":"array","items":["int","string"]}}]}`
)

// Multi-type unions become structs with a field per branch, named after
// the branch type; a new branch evolves the struct.
func TestIngestAvroUnions(t *testing.T) {
	e := newEnv(t, "events")
	reg := srfake.New()
	t.Cleanup(reg.Close)
	id1 := register(t, reg, "events-value", sr.TypeAvro, unionV1)
	svc := start(t, e.config(fmt.Sprintf(`
schema_registry_url: %s
tables:
  - {name: x.events, source_topic: events, format: avro, subject: events-value}
`, reg.URL())))
	enc := func(schema string, id int, v map[string]any) string {
		b, err := avro.MustParse(schema).Encode(v, avro.TaggedUnions())
		if err != nil {
			t.Fatal(err)
		}
		return frame(id, nil, b)
	}
	l := []any{map[string]any{"int": int32(1)}, map[string]any{"string": "two"}}
	e.produce("events", 0,
		enc(unionV1, id1, map[string]any{"id": int64(0), "v": map[string]any{"string": "s"}, "l": l}),
		enc(unionV1, id1, map[string]any{"id": int64(1), "v": map[string]any{"long": int64(7)}, "l": []any{}}),
		enc(unionV1, id1, map[string]any{"id": int64(2), "v": nil, "l": []any{}}),
		enc(unionV1, id1, map[string]any{"id": int64(3), "v": map[string]any{"x.Email": map[string]any{"to": "a@b"}}, "l": []any{}}))
	tbl, rows := waitRows(t, svc, "x.events", 4)
	if got := shape(field(t, tbl, "v").Type); got != "struct<string:string,long:long,Email:struct<to:string!>>" {
		t.Fatalf("v is %s", got)
	}
	for i, want := range []string{
		`{"Email":null,"long":null,"string":"s"}`,
		`{"Email":null,"long":7,"string":null}`,
		`<nil>`,
		`{"Email":{"to":"a@b"},"long":null,"string":null}`,
	} {
		if got := fmt.Sprint(rows[i]["v"]); got != want {
			t.Errorf("row %d: v = %s, want %s", i, got, want)
		}
	}
	if got := rows[0]["l"]; got != `[{"int":1,"string":null},{"int":null,"string":"two"}]` {
		t.Errorf("l = %v", got)
	}

	highest := tbl.Schema().HighestFieldID()
	id2 := register(t, reg, "events-value", sr.TypeAvro, unionV2)
	e.produce("events", 1, enc(unionV2, id2, map[string]any{"id": int64(4), "v": map[string]any{"boolean": true}, "l": []any{}}))
	tbl, rows = waitRows(t, svc, "x.events", 5)
	if f := field(t, tbl, "v.boolean"); f.ID <= highest || f.Required {
		t.Fatalf("v.boolean: %+v", f)
	}
	if got := rows[4]["v"]; got != `{"Email":null,"boolean":true,"long":null,"string":null}` {
		t.Fatalf("v2 row: v = %v", got)
	}
}
