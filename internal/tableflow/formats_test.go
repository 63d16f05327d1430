package tableflow

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apache/iceberg-go"
	"github.com/twmb/avro"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"
	"google.golang.org/protobuf/encoding/protowire"
)

// frame prepends the Confluent header: magic byte, schema ID and, for
// Protobuf (idx not nil), the zigzag message-index list.
func frame(id int, idx []int, payload []byte) string {
	b := []byte{0, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[1:], uint32(id))
	if idx != nil {
		if len(idx) == 1 && idx[0] == 0 {
			b = append(b, 0)
		} else {
			b = protowire.AppendVarint(b, protowire.EncodeZigZag(int64(len(idx))))
			for _, i := range idx {
				b = protowire.AppendVarint(b, protowire.EncodeZigZag(int64(i)))
			}
		}
	}
	return string(append(b, payload...))
}

func register(t *testing.T, reg *srfake.Registry, subject string, typ sr.SchemaType, text string) int {
	t.Helper()
	id, _, err := reg.RegisterSchema(subject, sr.Schema{Schema: text, Type: typ})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func field(t *testing.T, tbl interface{ Schema() *iceberg.Schema }, name string) iceberg.NestedField {
	t.Helper()
	f, ok := tbl.Schema().FindFieldByName(name)
	if !ok {
		t.Fatalf("no column %s in %s", name, tbl.Schema())
	}
	return f
}

const (
	nestedV1 = `{"type":"record","name":"Order","namespace":"shop","fields":[
		{"name":"id","type":"long"},
		{"name":"customer","type":{"type":"record","name":"Customer","fields":[
			{"name":"name","type":"string"},
			{"name":"tier","type":{"type":"enum","name":"Tier","symbols":["GOLD","SILVER"]}}]}},
		{"name":"lines","type":{"type":"array","items":{"type":"record","name":"Line","fields":[
			{"name":"sku","type":"string"},{"name":"qty","type":"int"}]}}},
		{"name":"attrs","type":{"type":"map","values":"string"}},
		{"name":"note","type":["null","string"],"default":null},
		{"name":"ts","type":{"type":"long","logicalType":"timestamp-millis"}},
		{"name":"day","type":{"type":"int","logicalType":"date"}},
		{"name":"total","type":{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}}]}`
	// nestedV2 adds an optional field to the nested Customer record.
	nestedV2 = `{"type":"record","name":"Order","namespace":"shop","fields":[
		{"name":"id","type":"long"},
		{"name":"customer","type":{"type":"record","name":"Customer","fields":[
			{"name":"name","type":"string"},
			{"name":"tier","type":{"type":"enum","name":"Tier","symbols":["GOLD","SILVER"]}},
			{"name":"email","type":["null","string"],"default":null}]}},
		{"name":"lines","type":{"type":"array","items":{"type":"record","name":"Line","fields":[
			{"name":"sku","type":"string"},{"name":"qty","type":"int"}]}}},
		{"name":"attrs","type":{"type":"map","values":"string"}},
		{"name":"note","type":["null","string"],"default":null},
		{"name":"ts","type":{"type":"long","logicalType":"timestamp-millis"}},
		{"name":"day","type":{"type":"int","logicalType":"date"}},
		{"name":"total","type":{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}}]}`
)

func nestedOrder(i int) map[string]any {
	return map[string]any{
		"id":       int64(i),
		"customer": map[string]any{"name": fmt.Sprintf("c%d", i), "tier": []string{"GOLD", "SILVER"}[i%2]},
		"lines":    []any{map[string]any{"sku": "a", "qty": int32(i)}, map[string]any{"sku": "b", "qty": int32(1)}},
		"attrs":    map[string]any{"src": "web"},
		"note":     nil,
		"ts":       time.Date(2026, 12, 1, 10, 0, i, 0, time.UTC),
		"day":      time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC),
		"total":    fmt.Sprintf("%d.25", i),
	}
}

func TestIngestNestedAvro(t *testing.T) {
	e := newEnv(t, "orders")
	reg := srfake.New()
	t.Cleanup(reg.Close)
	id1 := register(t, reg, "orders-value", sr.TypeAvro, nestedV1)
	svc := start(t, e.config(fmt.Sprintf(`
schema_registry_url: %s
tables:
  - {name: shop.orders, source_topic: orders, format: avro, subject: orders-value}
`, reg.URL())))
	var vs []string
	for i := 0; i < 4; i++ {
		b, err := avro.MustParse(nestedV1).Encode(nestedOrder(i))
		if err != nil {
			t.Fatal(err)
		}
		vs = append(vs, frame(id1, nil, b))
	}
	e.produce("orders", 0, vs...)
	tbl, rows := waitRows(t, svc, "shop.orders", 4)
	if f := field(t, tbl, "total"); !f.Type.Equals(iceberg.DecimalTypeOf(10, 2)) {
		t.Fatalf("total is %s", f.Type)
	}
	r := rows[3]
	for col, want := range map[string]any{
		"customer": `{"name":"c3","tier":"SILVER"}`,
		"lines":    `[{"qty":3,"sku":"a"},{"qty":1,"sku":"b"}]`,
		"attrs":    `[{"key":"src","value":"web"}]`,
		"total":    "3.25",
		"day":      "2026-12-01",
	} {
		if fmt.Sprint(r[col]) != want {
			t.Errorf("%s = %v, want %v", col, r[col], want)
		}
	}
	if ts := r["ts"].(time.Time); !ts.Equal(time.Date(2026, 12, 1, 10, 0, 3, 0, time.UTC)) {
		t.Errorf("ts %v", ts)
	}
	if r["note"] != nil {
		t.Errorf("note %v, want null", r["note"])
	}

	// v2 adds customer.email: a new nested column with a new field ID.
	highest := tbl.Schema().HighestFieldID()
	id2 := register(t, reg, "orders-value", sr.TypeAvro, nestedV2)
	o := nestedOrder(4)
	o["customer"].(map[string]any)["email"] = "c4@example.com"
	b, err := avro.MustParse(nestedV2).Encode(o)
	if err != nil {
		t.Fatal(err)
	}
	e.produce("orders", 1, frame(id2, nil, b))
	tbl, rows = waitRows(t, svc, "shop.orders", 5)
	email := field(t, tbl, "customer.email")
	if email.Required || email.ID <= highest {
		t.Fatalf("customer.email: %+v, want optional with an ID above %d", email, highest)
	}
	if got := rows[4]["customer"]; got != `{"email":"c4@example.com","name":"c4","tier":"GOLD"}` {
		t.Fatalf("v2 customer %v", got)
	}
	if got := rows[0]["customer"]; got != `{"email":null,"name":"c0","tier":"GOLD"}` {
		t.Fatalf("v1 customer read with v2 schema: %v", got)
	}
}

const (
	ordersProtoV1 = `syntax = "proto3";
package shop;
import "google/protobuf/timestamp.proto";
message Order {
  int64 id = 1;
  Status status = 2;
  Address ship_to = 3;
  repeated string tags = 4;
  map<string, int32> counts = 5;
  google.protobuf.Timestamp created = 6;
  optional double price = 7;
  message Address { string city = 1; int32 zip = 2; }
}
enum Status { UNKNOWN = 0; NEW = 1; SHIPPED = 2; }
`
	// ordersProtoV2 adds a top-level field and a nested one.
	ordersProtoV2 = `syntax = "proto3";
package shop;
import "google/protobuf/timestamp.proto";
message Order {
  int64 id = 1;
  Status status = 2;
  Address ship_to = 3;
  repeated string tags = 4;
  map<string, int32> counts = 5;
  google.protobuf.Timestamp created = 6;
  optional double price = 7;
  string channel = 8;
  message Address { string city = 1; int32 zip = 2; string country = 3; }
}
enum Status { UNKNOWN = 0; NEW = 1; SHIPPED = 2; }
`
)

// protoEncode encodes a message given as protojson.
func protoEncode(t *testing.T, schema, message, js string) []byte {
	t.Helper()
	return protoEncodeDeps(t, schema, nil, message, js)
}

func TestIngestProtobufRegistry(t *testing.T) {
	e := newEnv(t, "porders")
	reg := srfake.New()
	t.Cleanup(reg.Close)
	id1 := register(t, reg, "porders-value", sr.TypeProtobuf, ordersProtoV1)
	svc := start(t, e.config(fmt.Sprintf(`
schema_registry_url: %s
tables:
  - {name: shop.porders, source_topic: porders, format: protobuf, subject: porders-value, message: shop.Order, partition_by: ["day(created)"]}
`, reg.URL())))
	var vs []string
	for i := 0; i < 3; i++ {
		js := fmt.Sprintf(`{"id": %d, "status": "SHIPPED", "shipTo": {"city": "Paris", "zip": 7500%d}, "tags": ["a", "b"],
			"counts": {"x": %d}, "created": "2026-12-0%dT10:00:00Z"}`, i, i, i, i+1)
		if i == 2 {
			js = `{"id": 2, "price": 9.5}` // unset message, list, map; a set optional
		}
		vs = append(vs, frame(id1, []int{0}, protoEncode(t, ordersProtoV1, "shop.Order", js)))
	}
	vs = append(vs, frame(id1, []int{7}, []byte{8, 1}), frame(id1, []int{0}, []byte{0xff}))
	e.produce("porders", 0, vs...)
	tbl, rows := waitRows(t, svc, "shop.porders", 3)
	if f := field(t, tbl, "created"); !f.Type.Equals(iceberg.PrimitiveTypes.TimestampTz) {
		t.Fatalf("created is %s", f.Type)
	}
	r := rows[1]
	for col, want := range map[string]any{
		"id": int64(1), "status": "SHIPPED",
		"ship_to": `{"city":"Paris","zip":75001}`,
		"tags":    `["a","b"]`,
		"counts":  `[{"key":"x","value":1}]`,
	} {
		if fmt.Sprint(r[col]) != fmt.Sprint(want) {
			t.Errorf("%s = %v, want %v", col, r[col], want)
		}
	}
	if ts := r["created"].(time.Time); !ts.Equal(time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("created %v", ts)
	}
	if r["price"] != nil {
		t.Errorf("unset optional price = %v, want null", r["price"])
	}
	r = rows[2]
	if r["status"] != "UNKNOWN" || r["ship_to"] != nil || r["created"] != nil || r["price"] != 9.5 || r["tags"] != `[]` {
		t.Errorf("sparse row %v", r)
	}
	dlq := consumeAll(t, e, "porders.dlq", 2)
	for _, d := range dlq {
		reason := header(d, HeaderError)
		if !strings.Contains(reason, "incompatible") {
			t.Errorf("DLQ reason %q", reason)
		}
	}

	// v2: a new column and a new nested field, with new IDs.
	highest := tbl.Schema().HighestFieldID()
	id2 := register(t, reg, "porders-value", sr.TypeProtobuf, ordersProtoV2)
	e.produce("porders", 1, frame(id2, []int{0}, protoEncode(t, ordersProtoV2, "shop.Order",
		`{"id": 10, "channel": "app", "shipTo": {"city": "Lyon", "country": "FR"}, "created": "2026-12-05T00:00:00Z"}`)))
	tbl, rows = waitRows(t, svc, "shop.porders", 4)
	for _, name := range []string{"channel", "ship_to.country"} {
		if f := field(t, tbl, name); f.Required || f.ID <= highest {
			t.Fatalf("%s: %+v, want optional with an ID above %d", name, f, highest)
		}
	}
	if r := rows[3]; r["channel"] != "app" || r["ship_to"] != `{"city":"Lyon","country":"FR","zip":0}` {
		t.Fatalf("v2 row %v", r)
	}
}

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

const (
	clicksJSONV1 = `{"type":"object","properties":{
		"id":{"type":"integer"},"page":{"type":"string"}},"required":["id"]}`
	clicksJSONV2 = `{"type":"object","properties":{
		"id":{"type":"integer"},"page":{"type":"string"},
		"referrer":{"type":"string"},
		"meta":{"type":"object","properties":{"source":{"type":"string"}}}},"required":["id"]}`
	// clicksJSONV3 adds a required field: its records cannot join the table.
	clicksJSONV3 = `{"type":"object","properties":{
		"id":{"type":"integer"},"page":{"type":"string"},"session":{"type":"string"}},"required":["id","session"]}`
)

func TestIngestJSONRegistryEvolves(t *testing.T) {
	e := newEnv(t, "jclicks")
	reg := srfake.New()
	t.Cleanup(reg.Close)
	id1 := register(t, reg, "jclicks-value", sr.TypeJSON, clicksJSONV1)
	svc := start(t, e.config(fmt.Sprintf(`
schema_registry_url: %s
tables:
  - {name: web.jclicks, source_topic: jclicks, format: json, subject: jclicks-value}
`, reg.URL())))
	e.produce("jclicks", 0, frame(id1, nil, []byte(`{"id": 1, "page": "/a"}`)), frame(id1, nil, []byte(`{"id": "one"}`)))
	tbl, _ := waitRows(t, svc, "web.jclicks", 1)
	highest := tbl.Schema().HighestFieldID()

	id2 := register(t, reg, "jclicks-value", sr.TypeJSON, clicksJSONV2)
	id3 := register(t, reg, "jclicks-v3", sr.TypeJSON, clicksJSONV3)
	e.produce("jclicks", 0,
		frame(id2, nil, []byte(`{"id": 2, "page": "/b", "referrer": "r", "meta": {"source": "ad"}}`)),
		frame(id3, nil, []byte(`{"id": 3, "session": "s"}`)))
	tbl, rows := waitRows(t, svc, "web.jclicks", 2)
	if len(rows) != 2 {
		t.Fatalf("%d rows, want 2", len(rows))
	}
	for _, name := range []string{"referrer", "meta", "meta.source"} {
		if f := field(t, tbl, name); f.Required || f.ID <= highest {
			t.Fatalf("%s: %+v, want optional with an ID above %d", name, f, highest)
		}
	}
	if r := rows[1]; r["referrer"] != "r" || r["meta"] != `{"source":"ad"}` {
		t.Fatalf("v2 row %v", r)
	}
	if r := rows[0]; r["page"] != "/a" || r["referrer"] != nil {
		t.Fatalf("v1 row %v", r)
	}
	dlq := consumeAll(t, e, "jclicks.dlq", 2)
	var reasons []string
	for _, d := range dlq {
		reasons = append(reasons, header(d, HeaderError))
	}
	if len(reasons) != 2 || !strings.Contains(reasons[0], "id") || !strings.Contains(reasons[1], "session is required") {
		t.Fatalf("DLQ reasons %q", reasons)
	}
}

func TestInlineProtobufDecoder(t *testing.T) {
	e := newEnv(t, "refunds")
	cfg := e.config(`
tables:
  - name: shop.refunds
    source_topic: refunds
    format: protobuf
    message: Refund
    proto_schema: |
      syntax = "proto3";
      package shop;
      import "google/protobuf/timestamp.proto";
      message Refund { int64 id = 1; google.protobuf.Timestamp at = 2; repeated Line lines = 3; }
      message Line { string sku = 1; }
`)
	dec, err := newDecoder(cfg.Tables[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	cols, _, err := dec.initialColumns(context.Background())
	if err != nil || colsShape(cols) != "id:long,at:timestamptz,lines:list<struct<sku:string>>" {
		t.Fatalf("columns %s (%v)", colsShape(cols), err)
	}
	b := protoEncode(t, cfg.Tables[0].ProtoSchema, "shop.Refund", `{"id": 7, "at": "2026-12-01T00:00:00Z", "lines": [{"sku": "a"}]}`)
	d, err := dec.decode(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	v, err := normalize(columnsStruct(cols), d.values)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(v); got != "[7 1796083200000000 [[a]]]" {
		t.Fatalf("row %s", got)
	}
	if _, err := dec.decode(context.Background(), []byte{0xff}); !errors.Is(err, errIncompatible) {
		t.Fatalf("garbage: %v", err)
	}
	// A config naming two schema sources, or a message for a json table, is refused.
	for _, bad := range []string{
		"{name: a.b, source_topic: t, format: protobuf, proto_schema: 'x', subject: s}",
		"{name: a.b, source_topic: t, format: json, message: M, schema: {fields: [{name: a, type: int}]}}",
		"{name: a.b, source_topic: t, format: protobuf}",
	} {
		y := fmt.Sprintf("source_clusters: [{name: a, bootstrap_servers: [x]}]\ndestination_bucket_url: mem://\nmetadata_url: sqlite:///x\nschema_registry_url: http://r\ntables:\n  - %s\n", bad)
		if _, err := ParseConfig([]byte(y)); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}
