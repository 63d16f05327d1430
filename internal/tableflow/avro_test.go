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
