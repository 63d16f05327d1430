package tableflow

import (
	"fmt"
	"strings"
	"testing"

	"github.com/apache/iceberg-go"
	"github.com/twmb/avro"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"
)

const (
	evoV1 = `{"type":"record","name":"Order","fields":[
		{"name":"id","type":"int"},
		{"name":"lines","type":{"type":"array","items":{"type":"record","name":"Line","fields":[
			{"name":"sku","type":"string"},{"name":"qty","type":"int"}]}}},
		{"name":"attrs","type":{"type":"map","values":{"type":"record","name":"Attr","fields":[{"name":"v","type":"string"}]}}},
		{"name":"price","type":"float"},
		{"name":"total","type":{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}}]}`
	// evoV2 adds fields to the records inside the array and the map, and
	// widens id, qty, price and total as Iceberg allows.
	evoV2 = `{"type":"record","name":"Order","fields":[
		{"name":"id","type":"long"},
		{"name":"lines","type":{"type":"array","items":{"type":"record","name":"Line","fields":[
			{"name":"sku","type":"string"},{"name":"qty","type":"long"},
			{"name":"discount","type":["null","double"],"default":null}]}}},
		{"name":"attrs","type":{"type":"map","values":{"type":"record","name":"Attr","fields":[
			{"name":"v","type":"string"},{"name":"w","type":["null","int"],"default":null}]}}},
		{"name":"price","type":"double"},
		{"name":"total","type":{"type":"bytes","logicalType":"decimal","precision":12,"scale":2}}]}`
	// evoBad changes total's scale, which no Iceberg promotion allows.
	evoBad = `{"type":"record","name":"Order","fields":[
		{"name":"id","type":"long"},
		{"name":"lines","type":{"type":"array","items":{"type":"record","name":"Line","fields":[
			{"name":"sku","type":"string"},{"name":"qty","type":"long"}]}}},
		{"name":"attrs","type":{"type":"map","values":{"type":"record","name":"Attr","fields":[{"name":"v","type":"string"}]}}},
		{"name":"price","type":"double"},
		{"name":"total","type":{"type":"bytes","logicalType":"decimal","precision":12,"scale":3}}]}`
)

// A writer schema that adds fields inside list elements and map values,
// and widens primitives, evolves the table; rows written before read back
// with nulls in the new fields and promoted values. A disallowed change
// sends its record to the DLQ.
func TestIngestEvolvesNestedAndPromotes(t *testing.T) {
	e := newEnv(t, "evo")
	reg := srfake.New()
	t.Cleanup(reg.Close)
	id1 := register(t, reg, "evo-value", sr.TypeAvro, evoV1)
	svc := start(t, e.config(fmt.Sprintf(`
schema_registry_url: %s
tables:
  - {name: shop.evo, source_topic: evo, format: avro, subject: evo-value}
`, reg.URL())))
	enc := func(schema string, id int, v map[string]any) string {
		b, err := avro.MustParse(schema).Encode(v)
		if err != nil {
			t.Fatal(err)
		}
		return frame(id, nil, b)
	}
	e.produce("evo", 0,
		enc(evoV1, id1, map[string]any{"id": int32(1), "lines": []any{map[string]any{"sku": "a", "qty": int32(2)}},
			"attrs": map[string]any{"k": map[string]any{"v": "x"}}, "price": float32(0.5), "total": "1.25"}))
	tbl, _ := waitRows(t, svc, "shop.evo", 1)
	highest := tbl.Schema().HighestFieldID()

	id2 := register(t, reg, "evo-value", sr.TypeAvro, evoV2)
	idBad := register(t, reg, "evo-bad", sr.TypeAvro, evoBad)
	e.produce("evo", 0,
		enc(evoV2, id2, map[string]any{"id": int64(1) << 40, "lines": []any{map[string]any{"sku": "b", "qty": int64(1) << 33, "discount": 0.25}},
			"attrs": map[string]any{"k": map[string]any{"v": "y", "w": int32(7)}}, "price": 0.1, "total": "1234567890.25"}),
		enc(evoBad, idBad, map[string]any{"id": int64(3), "lines": []any{}, "attrs": map[string]any{}, "price": 1.0, "total": "1.125"}),
		// The same schema again: the refusal is remembered, with its reason.
		enc(evoBad, idBad, map[string]any{"id": int64(5), "lines": []any{}, "attrs": map[string]any{}, "price": 1.0, "total": "2.125"}),
		// A v1 record after the change still fits the evolved table.
		enc(evoV1, id1, map[string]any{"id": int32(4), "lines": []any{}, "attrs": map[string]any{}, "price": float32(2), "total": "4.00"}))
	tbl, rows := waitRows(t, svc, "shop.evo", 3)
	for name, want := range map[string]iceberg.Type{
		"id": iceberg.PrimitiveTypes.Int64, "lines.element.qty": iceberg.PrimitiveTypes.Int64,
		"price": iceberg.PrimitiveTypes.Float64, "total": iceberg.DecimalTypeOf(12, 2),
		"lines.element.discount": iceberg.PrimitiveTypes.Float64, "attrs.value.w": iceberg.PrimitiveTypes.Int32,
	} {
		f := field(t, tbl, name)
		if !f.Type.Equals(want) {
			t.Errorf("%s is %s, want %s", name, f.Type, want)
		}
		if strings.Contains(name, "discount") || strings.HasSuffix(name, ".w") {
			if f.Required || f.ID <= highest {
				t.Errorf("%s: %+v, want optional with an ID above %d", name, f, highest)
			}
		}
	}
	if len(rows) != 3 {
		t.Fatalf("%d rows, want 3", len(rows))
	}
	for i, want := range []map[string]any{
		{"id": int64(1), "lines": `[{"discount":null,"qty":2,"sku":"a"}]`, "attrs": `[{"key":"k","value":{"v":"x","w":null}}]`, "price": 0.5, "total": "1.25"},
		{"id": int64(1) << 40, "lines": `[{"discount":0.25,"qty":8589934592,"sku":"b"}]`, "attrs": `[{"key":"k","value":{"v":"y","w":7}}]`, "price": 0.1, "total": "1234567890.25"},
		{"id": int64(4), "lines": `[]`, "price": 2.0, "total": "4"},
	} {
		for col, v := range want {
			if fmt.Sprint(rows[i][col]) != fmt.Sprint(v) {
				t.Errorf("row %d: %s = %v, want %v", i, col, rows[i][col], v)
			}
		}
	}
	for _, d := range consumeAll(t, e, "evo.dlq", 2) {
		if reason := header(d, HeaderError); !strings.Contains(reason, "total") || !strings.Contains(reason, "decimal(12, 3)") {
			t.Fatalf("DLQ reason %q", reason)
		}
	}
}
