package tableflow

import (
	"errors"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
	"github.com/twmb/avro"

	"github.com/sluicehq/sluice/internal/schemaregistry/schema"
)

// shape prints a type without field IDs: required parts end in "!".
func shape(t iceberg.Type) string {
	switch t := t.(type) {
	case *iceberg.StructType:
		return "struct<" + fieldsShape(t.FieldList) + ">"
	case *iceberg.ListType:
		return "list<" + shape(t.Element) + req(t.ElementRequired) + ">"
	case *iceberg.MapType:
		return "map<" + shape(t.KeyType) + "," + shape(t.ValueType) + req(t.ValueRequired) + ">"
	}
	return t.String()
}

func req(r bool) string {
	if r {
		return "!"
	}
	return ""
}

func fieldsShape(fs []iceberg.NestedField) string {
	var parts []string
	for _, f := range fs {
		parts = append(parts, f.Name+":"+shape(f.Type)+req(f.Required))
	}
	return strings.Join(parts, ",")
}

func colsShape(cols []Column) string {
	return fieldsShape(columnsStruct(cols).FieldList)
}

// One row per Avro mapping rule in avroColumns' table.
func TestAvroColumns(t *testing.T) {
	for _, tc := range []struct{ name, field, want string }{
		{"boolean", `"boolean"`, "f:boolean!"},
		{"int", `"int"`, "f:int!"},
		{"long", `"long"`, "f:long!"},
		{"float", `"float"`, "f:float!"},
		{"double", `"double"`, "f:double!"},
		{"string", `"string"`, "f:string!"},
		{"bytes", `"bytes"`, "f:binary!"},
		{"fixed", `{"type":"fixed","name":"F","size":4}`, "f:binary!"},
		{"enum", `{"type":"enum","name":"E","symbols":["A","B"]}`, "f:string!"},
		{"nullable", `["null","long"]`, "f:long"},
		{"nullable, null last", `["long","null"]`, "f:long"},
		{"date", `{"type":"int","logicalType":"date"}`, "f:date!"},
		{"time-millis", `{"type":"int","logicalType":"time-millis"}`, "f:time!"},
		{"time-micros", `{"type":"long","logicalType":"time-micros"}`, "f:time!"},
		{"timestamp-millis", `{"type":"long","logicalType":"timestamp-millis"}`, "f:timestamptz!"},
		{"timestamp-micros", `{"type":"long","logicalType":"timestamp-micros"}`, "f:timestamptz!"},
		{"local-timestamp-micros", `{"type":"long","logicalType":"local-timestamp-micros"}`, "f:timestamp!"},
		{"decimal", `{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}`, "f:decimal(10, 2)!"},
		{"record", `{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":["null","string"]}]}`, "f:struct<a:int!,b:string>!"},
		{"array", `{"type":"array","items":"string"}`, "f:list<string>!"},
		{"array of nullable", `{"type":"array","items":["null","string"]}`, "f:list<string>!"},
		{"map", `{"type":"map","values":"long"}`, "f:map<string,long>!"},
		{"union", `["string","long"]`, "f:struct<string:string,long:long>!"},
		{"nullable union", `["null","string","long"]`, "f:struct<string:string,long:long>"},
		{"union of logical and named", `["null",{"type":"long","logicalType":"timestamp-millis"},{"type":"record","name":"x.Email","fields":[{"name":"to","type":"string"}]},{"type":"enum","name":"E","symbols":["A"]},{"type":"array","items":"int"}]`,
			"f:struct<long:timestamptz,Email:struct<to:string!>,E:string,array:list<int>>"},
		{"nested", `{"type":"array","items":{"type":"record","name":"R","fields":[{"name":"m","type":{"type":"map","values":{"type":"array","items":"int"}}}]}}`, "f:list<struct<m:map<string,list<int>>!>>!"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := avro.Parse(`{"type":"record","name":"T","fields":[{"name":"f","type":` + tc.field + `}]}`)
			if err != nil {
				t.Fatal(err)
			}
			cols, err := avroColumns(s)
			if err != nil {
				t.Fatal(err)
			}
			if got := colsShape(cols); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
	// A default makes a field optional; a named type used twice maps twice.
	s := avro.MustParse(`{"type":"record","name":"T","namespace":"x","fields":[
		{"name":"home","type":{"type":"record","name":"Addr","fields":[{"name":"city","type":"string"}]}},
		{"name":"work","type":["null","Addr"],"default":null},
		{"name":"n","type":"int","default":3}]}`)
	cols, err := avroColumns(s)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := colsShape(cols), "home:struct<city:string!>!,work:struct<city:string!>,n:int"; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	for _, bad := range []string{
		`{"type":"record","name":"T","fields":[{"name":"u","type":["null",{"type":"record","name":"a.R","fields":[]},{"type":"record","name":"b.R","fields":[]}]}]}`,
		`{"type":"record","name":"T","fields":[{"name":"u","type":["null"]}]}`,
		`{"type":"record","name":"T","fields":[{"name":"next","type":["null","T"]}]}`,
		`{"type":"record","name":"T","fields":[{"name":"_kafka_x","type":"int"}]}`,
		`{"type":"record","name":"T","fields":[{"name":"d","type":{"type":"bytes","logicalType":"decimal","precision":40,"scale":2}}]}`,
	} {
		if _, err := avroColumns(avro.MustParse(bad)); err == nil {
			t.Errorf("%s: mapped, want an error", bad)
		}
	}
}

const protoAll = `syntax = "proto3";
package shop;
import "google/protobuf/timestamp.proto";
import "google/protobuf/wrappers.proto";
message Order {
  int64 id = 1;
  string item = 2;
  Status status = 3;
  Address ship_to = 4;
  repeated string tags = 5;
  map<string, int32> counts = 6;
  google.protobuf.Timestamp created = 7;
  optional double price = 8;
  bool paid = 9;
  bytes blob = 10;
  uint64 big = 11;
  float ratio = 12;
  sint32 delta = 13;
  repeated Address history = 14;
  google.protobuf.StringValue note = 15;
  oneof pay { string card = 16; int64 voucher = 17; }
  message Address { string city = 1; int32 zip = 2; }
}
enum Status { UNKNOWN = 0; NEW = 1; SHIPPED = 2; }
`

const protoAllShape = "id:long,item:string,status:string,ship_to:struct<city:string,zip:int>,tags:list<string>,counts:map<string,int>," +
	"created:timestamptz,price:double,paid:boolean,blob:binary,big:long,ratio:float,delta:int,history:list<struct<city:string,zip:int>>,note:string,card:string,voucher:long"

func TestProtoColumns(t *testing.T) {
	f, err := protoFile(protoAll, nil)
	if err != nil {
		t.Fatal(err)
	}
	md, err := protoMessageByName(f, "Order")
	if err != nil {
		t.Fatal(err)
	}
	cols, err := protoColumns(md)
	if err != nil {
		t.Fatal(err)
	}
	if got := colsShape(cols); got != protoAllShape {
		t.Fatalf("got  %s\nwant %s", got, protoAllShape)
	}
	if md, err := protoMessageAt(f, []int{0, 1}); err != nil || md.FullName() != "shop.Order.Address" {
		t.Fatalf("index [0 1] (after the map entry CountsEntry): %v %v", md, err)
	}
	if _, err := protoMessageAt(f, []int{3}); !errors.Is(err, errIncompatible) {
		t.Fatalf("index [3]: %v", err)
	}
	rec, err := protoFile(`syntax = "proto3"; message N { N next = 1; }`, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := protoColumns(rec.Messages().Get(0)); err == nil || !strings.Contains(err.Error(), "recursive") {
		t.Fatalf("recursive message: %v", err)
	}
}

// One row per JSON Schema mapping rule in jsonSchemaColumns' table.
func TestJSONSchemaColumns(t *testing.T) {
	for _, tc := range []struct{ name, prop, want string }{
		{"boolean", `{"type":"boolean"}`, "f:boolean"},
		{"integer", `{"type":"integer"}`, "f:long"},
		{"number", `{"type":"number"}`, "f:double"},
		{"string", `{"type":"string"}`, "f:string"},
		{"date-time", `{"type":"string","format":"date-time"}`, "f:timestamptz"},
		{"date", `{"type":"string","format":"date"}`, "f:date"},
		{"object", `{"type":"object","properties":{"b":{"type":"integer"},"a":{"type":"string"}},"required":["a"]}`, "f:struct<a:string!,b:long>"},
		{"map", `{"type":"object","additionalProperties":{"type":"number"}}`, "f:map<string,double>"},
		{"array", `{"type":"array","items":{"type":"string"}}`, "f:list<string>"},
		{"nullable type list", `{"type":["null","integer"]}`, "f:long"},
		{"oneOf null", `{"oneOf":[{"type":"null"},{"type":"integer"}]}`, "f:long"},
		{"ref", `{"$ref":"#/definitions/D"}`, "f:struct<x:long>"},
		{"$defs", `{"$ref":"#/$defs/D"}`, "f:struct<x:long>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := `{"type":"object","properties":{"f":` + tc.prop + `},
				"definitions":{"D":{"type":"object","properties":{"x":{"type":"integer"}}}},
				"$defs":{"D":{"type":"object","properties":{"x":{"type":"integer"}}}}}`
			cols, err := jsonSchemaColumns(doc, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := colsShape(cols); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
	cols, err := jsonSchemaColumns(`{"type":"object","properties":{"id":{"type":"integer"},"n":{"type":["integer","null"]}},"required":["id","n"]}`, nil)
	if err != nil || colsShape(cols) != "id:long!,n:long" {
		t.Fatalf("required: %s %v", colsShape(cols), err)
	}
	// References to other registry subjects, by name (relative to the
	// document's $id) or by the referenced document's own $id; local refs
	// inside a referenced document resolve within it.
	deps := []schema.Dep{
		{Name: "address.json", Type: schema.JSON, Text: `{"type":"object","properties":{"city":{"type":"string"},"geo":{"$ref":"#/definitions/Geo"}},
			"definitions":{"Geo":{"type":"object","properties":{"lat":{"type":"number"}}}}}`},
		{Name: "money", Type: schema.JSON, Text: `{"$id":"https://example.com/money.json","type":"object","properties":{"cents":{"type":"integer"}},"required":["cents"]}`},
	}
	cols, err = jsonSchemaColumns(`{"$id":"https://example.com/order.json","type":"object","properties":{
		"ship":{"$ref":"address.json"},"geo":{"$ref":"address.json#/definitions/Geo"},"total":{"$ref":"money.json"},
		"fee":{"$ref":"https://example.com/money.json"}}}`, deps)
	if want := "fee:struct<cents:long!>,geo:struct<lat:double>,ship:struct<city:string,geo:struct<lat:double>>,total:struct<cents:long!>"; err != nil || colsShape(cols) != want {
		t.Fatalf("references: %s (%v)\nwant %s", colsShape(cols), err, want)
	}
	if _, err := jsonSchemaColumns(`{"type":"object","properties":{"f":{"$ref":"other.json"}}}`, deps); err == nil || !strings.Contains(err.Error(), "not this document nor one of its references") {
		t.Fatalf("unreferenced document: %v", err)
	}
	for _, bad := range []string{
		`[]`,
		`{"type":"string"}`,
		`{"type":"object","properties":{"f":{"type":["string","integer"]}}}`,
		`{"type":"object","properties":{"f":{"type":"object"}}}`,
		`{"type":"object","properties":{"f":{"$ref":"other.json"}}}`,
		`{"type":"object","properties":{"f":{"$ref":"#/definitions/L"}},"definitions":{"L":{"type":"object","properties":{"next":{"$ref":"#/definitions/L"}}}}}`,
		`{"type":"object","properties":{"f":{"type":"array"}}}`,
		`{"type":"object","properties":{"_kafka_offset":{"type":"integer"}}}`,
	} {
		if _, err := jsonSchemaColumns(bad, nil); err == nil {
			t.Errorf("%s: mapped, want an error", bad)
		}
	}
}

func TestNormalize(t *testing.T) {
	st := &iceberg.StructType{FieldList: []iceberg.NestedField{
		{Name: "a", Type: iceberg.PrimitiveTypes.Int32, Required: true},
		{Name: "l", Type: &iceberg.ListType{Element: iceberg.PrimitiveTypes.String, ElementRequired: true}},
		{Name: "m", Type: &iceberg.MapType{KeyType: iceberg.PrimitiveTypes.Int32, ValueType: iceberg.PrimitiveTypes.String}},
		{Name: "d", Type: iceberg.DecimalTypeOf(9, 2)},
	}}
	v, err := normalize(st, map[string]any{"a": int32(1), "l": []any{"x", "y"}, "m": map[string]any{"2": "two", "1": nil}, "d": big.NewRat(1234, 100)})
	if err != nil {
		t.Fatal(err)
	}
	got := v.([]any)
	if got[0] != int32(1) || len(got[1].([]any)) != 2 {
		t.Fatalf("got %v", got)
	}
	mv := got[2].(mapValue)
	if len(mv.keys) != 2 || mv.keys[0] != int32(1) || mv.vals[0] != nil || mv.vals[1] != "two" {
		t.Fatalf("map %+v", mv)
	}
	if n := got[3]; n == nil {
		t.Fatal("no decimal")
	}
	for name, bad := range map[string]map[string]any{
		"missing required":  {"l": []any{}},
		"null element":      {"a": int32(1), "l": []any{"x", nil}},
		"list not a list":   {"a": int32(1), "l": "x"},
		"bad map key":       {"a": int32(1), "m": map[string]any{"one": "x"}},
		"decimal too wide":  {"a": int32(1), "d": "123456789.5"},
		"struct not a map":  {"a": int32(1), "l": []any{}, "x": 1},
		"int out of range":  {"a": int64(1) << 40},
		"timestamp garbage": {"a": int32(1), "l": []any{time.Now()}},
	} {
		if name == "struct not a map" {
			if _, err := normalize(st, []any{1}); !errors.Is(err, errIncompatible) {
				t.Errorf("%s: %v", name, err)
			}
			continue
		}
		if _, err := normalize(st, bad); !errors.Is(err, errIncompatible) {
			t.Errorf("%s: %v, want errIncompatible", name, err)
		}
	}
}

// One row per evolution rule: the table's columns, a writer's, and the
// table's columns after (or the DLQ reason's gist).
func TestEvolution(t *testing.T) {
	str, i32, i64 := iceberg.PrimitiveTypes.String, iceberg.PrimitiveTypes.Int32, iceberg.PrimitiveTypes.Int64
	f32, f64 := iceberg.PrimitiveTypes.Float32, iceberg.PrimitiveTypes.Float64
	line := func(extra ...iceberg.NestedField) *iceberg.StructType {
		return &iceberg.StructType{FieldList: append([]iceberg.NestedField{{Name: "sku", Type: str, Required: true}}, extra...)}
	}
	opt := func(name string, t iceberg.Type) iceberg.NestedField { return iceberg.NestedField{Name: name, Type: t} }
	for _, tc := range []struct {
		name      string
		have, got []Column
		want      string // columns after, or "!" + a piece of the error
	}{
		{"unchanged", []Column{{Name: "a", Type: i64, Required: true}}, []Column{{Name: "a", Type: i64, Required: true}}, "a:long!"},
		{"top-level add", []Column{{Name: "a", Type: i64}}, []Column{{Name: "a", Type: i64}, {Name: "b", Type: str}}, "a:long,b:string"},
		{"struct add", []Column{{Name: "s", Type: line()}}, []Column{{Name: "s", Type: line(opt("qty", i32))}}, "s:struct<sku:string!,qty:int>"},
		{"list element add", []Column{{Name: "l", Type: listOf(line())}}, []Column{{Name: "l", Type: listOf(line(opt("qty", i32)))}}, "l:list<struct<sku:string!,qty:int>>"},
		{"map value add", []Column{{Name: "m", Type: mapOf(str, line())}}, []Column{{Name: "m", Type: mapOf(str, line(opt("qty", i32)))}}, "m:map<string,struct<sku:string!,qty:int>>"},
		{"list of lists add", []Column{{Name: "l", Type: listOf(listOf(line()))}}, []Column{{Name: "l", Type: listOf(listOf(line(opt("qty", i32))))}}, "l:list<list<struct<sku:string!,qty:int>>>"},
		{"int to long", []Column{{Name: "a", Type: i32, Required: true}}, []Column{{Name: "a", Type: i64, Required: true}}, "a:long!"},
		{"float to double in a list", []Column{{Name: "l", Type: listOf(f32)}}, []Column{{Name: "l", Type: listOf(f64)}}, "l:list<double>"},
		{"decimal widens", []Column{{Name: "d", Type: iceberg.DecimalTypeOf(10, 2)}}, []Column{{Name: "d", Type: iceberg.DecimalTypeOf(12, 2)}}, "d:decimal(12, 2)"},
		{"narrower writer", []Column{{Name: "a", Type: i64}}, []Column{{Name: "a", Type: i32}}, "a:long"},
		{"required made optional", []Column{{Name: "a", Type: i64, Required: true}}, []Column{{Name: "a", Type: i64}}, "a:long"},
		{"new required", []Column{{Name: "a", Type: i64}}, []Column{{Name: "a", Type: i64}, {Name: "b", Type: str, Required: true}}, "!b is required"},
		{"new required in a list element", []Column{{Name: "l", Type: listOf(line())}}, []Column{{Name: "l", Type: listOf(line(iceberg.NestedField{Name: "qty", Type: i32, Required: true}))}}, "!l.element.qty is required"},
		{"long to string", []Column{{Name: "a", Type: i64}}, []Column{{Name: "a", Type: str}}, "!cannot change column type"},
		{"decimal scale", []Column{{Name: "d", Type: iceberg.DecimalTypeOf(10, 2)}}, []Column{{Name: "d", Type: iceberg.DecimalTypeOf(12, 3)}}, "!cannot change column type"},
		{"double to long", []Column{{Name: "a", Type: f64}}, []Column{{Name: "a", Type: i64}}, "!cannot change column type"},
		{"struct to list", []Column{{Name: "s", Type: line()}}, []Column{{Name: "s", Type: listOf(str)}}, "!s"},
		{"map key", []Column{{Name: "m", Type: mapOf(str, str)}}, []Column{{Name: "m", Type: mapOf(i64, str)}}, "!map key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			meta, err := table.NewMetadata(initialSchema(tc.have, nil), iceberg.UnpartitionedSpec, table.UnsortedSortOrder, "mem://t", nil)
			if err != nil {
				t.Fatal(err)
			}
			tbl := table.New(table.Identifier{"t"}, meta, "mem://t/m.json", nil, nil)
			next, err := evolution(tbl, tc.got)
			if strings.HasPrefix(tc.want, "!") {
				if !errors.Is(err, errIncompatible) || !strings.Contains(err.Error(), tc.want[1:]) {
					t.Fatalf("err %v, want errIncompatible with %q", err, tc.want[1:])
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			changed := next != nil
			if !changed {
				next = tbl.Schema()
			}
			if _, err := checkUniqueIDs(next); err != nil {
				t.Fatalf("%v in %s", err, next)
			}
			fs := slices.DeleteFunc(next.Fields(), func(f iceberg.NestedField) bool { return strings.HasPrefix(f.Name, "_kafka_") })
			if got := fieldsShape(fs); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
			if changed == (tc.name == "unchanged" || tc.name == "narrower writer") {
				t.Fatalf("changed=%v", changed)
			}
		})
	}
}

func TestInitialSchemaNestedIDs(t *testing.T) {
	cols := []Column{
		{Name: "a", Type: &iceberg.StructType{FieldList: []iceberg.NestedField{{Name: "x", Type: iceberg.PrimitiveTypes.Int32}}}},
		{Name: "m", Type: &iceberg.MapType{KeyType: iceberg.PrimitiveTypes.String, ValueType: &iceberg.ListType{Element: iceberg.PrimitiveTypes.Int64}}},
	}
	sc := initialSchema(cols, nil)
	// a, m, the 3 Kafka columns, a.x, m's key and value, the value's element.
	if n, err := checkUniqueIDs(sc); err != nil || n != 9 {
		t.Fatalf("%d ids (%v) in %s", n, err, sc)
	}
}

// checkUniqueIDs counts a schema's field IDs, failing on a duplicate or an
// unset one.
func checkUniqueIDs(sc *iceberg.Schema) (int, error) {
	seen := map[int]bool{}
	var walk func(t iceberg.Type) error
	add := func(id int) error {
		if id <= 0 || seen[id] {
			return errors.New("duplicate or unset field id")
		}
		seen[id] = true
		return nil
	}
	walk = func(t iceberg.Type) error {
		switch t := t.(type) {
		case *iceberg.StructType:
			for _, f := range t.FieldList {
				if err := add(f.ID); err != nil {
					return err
				}
				if err := walk(f.Type); err != nil {
					return err
				}
			}
		case *iceberg.ListType:
			if err := add(t.ElementID); err != nil {
				return err
			}
			return walk(t.Element)
		case *iceberg.MapType:
			if err := add(t.KeyID); err != nil {
				return err
			}
			if err := add(t.ValueID); err != nil {
				return err
			}
			return walk(t.ValueType)
		}
		return nil
	}
	st := sc.AsStruct()
	err := walk(&st)
	return len(seen), err
}
