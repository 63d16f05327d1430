package schema

import (
	"fmt"
	"strings"
	"testing"
)

// compatCase is one evolution old → new. backward is the reason (an error
// type) the new schema cannot read data of the old, "" if it can; forward
// the reason the old schema cannot read data of the new.
type compatCase struct {
	name          string
	old, new      string
	backward, fwd string
}

// runCompat checks each case under each of the seven levels with the old
// schema as the only existing one, asserting the verdict each level
// derives from the two directions, and that every refusal names the
// expected reason.
func runCompat(t *testing.T, typ Type, cases []compatCase) {
	t.Helper()
	for _, tc := range cases {
		oldS := mustParse(t, typ, tc.old)
		newS := mustParse(t, typ, tc.new)
		for _, level := range Levels {
			t.Run(fmt.Sprintf("%s/%s", tc.name, level), func(t *testing.T) {
				var want []string
				if level != None {
					if level.backward() && tc.backward != "" {
						want = append(want, tc.backward)
					}
					if level.forward() && tc.fwd != "" {
						want = append(want, tc.fwd)
					}
				}
				got := Check(level, newS, []Schema{oldS})
				if len(want) == 0 {
					if len(got) != 0 {
						t.Fatalf("refused, want accepted: %q", got)
					}
					return
				}
				if len(got) == 0 {
					t.Fatalf("accepted, want refused with %v", want)
				}
				all := strings.Join(got, "\n")
				for _, w := range want {
					if !strings.Contains(all, "errorType:'"+w+"'") && !strings.Contains(all, `errorType:"`+w+`"`) {
						t.Fatalf("reasons %q lack %s", got, w)
					}
				}
				if !strings.Contains(all, "{compatibility: '"+string(level)+"'}") || !strings.Contains(all, "{oldSchemaVersion: 1}") {
					t.Fatalf("reasons %q lack Confluent's trailer", got)
				}
			})
		}
	}
}

const avroUser = `{"type":"record","name":"User","namespace":"com.example","fields":[{"name":"id","type":"long"},{"name":"name","type":"string"}]}`

func avroRec(fields string) string {
	return `{"type":"record","name":"User","namespace":"com.example","fields":[` + fields + `]}`
}

// Cases from the Avro specification's "Schema Resolution".
var avroCases = []compatCase{
	{"identical", avroUser, avroUser, "", ""},
	{"whitespace only", avroUser, strings.ReplaceAll(avroUser, ",", " , "), "", ""},
	{"field added with default", avroUser,
		avroRec(`{"name":"id","type":"long"},{"name":"name","type":"string"},{"name":"email","type":"string","default":""}`), "", ""},
	{"field added without default", avroUser,
		avroRec(`{"name":"id","type":"long"},{"name":"name","type":"string"},{"name":"email","type":"string"}`), "READER_FIELD_MISSING_DEFAULT_VALUE", ""},
	{"field without default removed", avroUser,
		avroRec(`{"name":"id","type":"long"}`), "", "READER_FIELD_MISSING_DEFAULT_VALUE"},
	{"field with default removed",
		avroRec(`{"name":"id","type":"long"},{"name":"name","type":"string","default":"x"}`),
		avroRec(`{"name":"id","type":"long"}`), "", ""},
	{"int promoted to long",
		avroRec(`{"name":"n","type":"int"}`), avroRec(`{"name":"n","type":"long"}`), "", "TYPE_MISMATCH"},
	{"int promoted to double",
		avroRec(`{"name":"n","type":"int"}`), avroRec(`{"name":"n","type":"double"}`), "", "TYPE_MISMATCH"},
	{"long promoted to float",
		avroRec(`{"name":"n","type":"long"}`), avroRec(`{"name":"n","type":"float"}`), "", "TYPE_MISMATCH"},
	{"float promoted to double",
		avroRec(`{"name":"n","type":"float"}`), avroRec(`{"name":"n","type":"double"}`), "", "TYPE_MISMATCH"},
	{"string and bytes interchange",
		avroRec(`{"name":"n","type":"string"}`), avroRec(`{"name":"n","type":"bytes"}`), "", ""},
	{"long narrowed to int",
		avroRec(`{"name":"n","type":"long"}`), avroRec(`{"name":"n","type":"int"}`), "TYPE_MISMATCH", ""},
	{"string to int",
		avroRec(`{"name":"n","type":"string"}`), avroRec(`{"name":"n","type":"int"}`), "TYPE_MISMATCH", "TYPE_MISMATCH"},
	{"enum symbol added",
		`{"type":"enum","name":"Color","symbols":["RED","GREEN"]}`, `{"type":"enum","name":"Color","symbols":["RED","GREEN","BLUE"]}`,
		"", "MISSING_ENUM_SYMBOLS"},
	{"enum symbol added, old reader has a default",
		`{"type":"enum","name":"Color","symbols":["RED","GREEN"],"default":"RED"}`, `{"type":"enum","name":"Color","symbols":["RED","GREEN","BLUE"],"default":"RED"}`,
		"", ""},
	{"field renamed with an alias",
		avroRec(`{"name":"id","type":"long"},{"name":"name","type":"string"}`),
		avroRec(`{"name":"id","type":"long"},{"name":"fullName","type":"string","aliases":["name"]}`),
		"", "READER_FIELD_MISSING_DEFAULT_VALUE"},
	{"record renamed with an alias",
		avroUser,
		`{"type":"record","name":"Person","namespace":"com.example","aliases":["com.example.User"],"fields":[{"name":"id","type":"long"},{"name":"name","type":"string"}]}`,
		"", "NAME_MISMATCH"},
	{"record renamed without an alias",
		avroUser,
		`{"type":"record","name":"Person","namespace":"com.example","fields":[{"name":"id","type":"long"},{"name":"name","type":"string"}]}`,
		"NAME_MISMATCH", "NAME_MISMATCH"},
	{"namespace changed only",
		avroUser, strings.Replace(avroUser, "com.example", "org.example", 1), "", ""},
	{"fixed size changed",
		`{"type":"fixed","name":"Hash","size":16}`, `{"type":"fixed","name":"Hash","size":32}`, "FIXED_SIZE_MISMATCH", "FIXED_SIZE_MISMATCH"},
	{"made nullable",
		avroRec(`{"name":"n","type":"string"}`), avroRec(`{"name":"n","type":["null","string"],"default":null}`), "", "TYPE_MISMATCH"},
	{"union branch added",
		avroRec(`{"name":"n","type":["null","string"]}`), avroRec(`{"name":"n","type":["null","string","int"]}`), "", "MISSING_UNION_BRANCH"},
	{"union branch removed",
		avroRec(`{"name":"n","type":["null","string","int"]}`), avroRec(`{"name":"n","type":["null","string"]}`), "MISSING_UNION_BRANCH", ""},
	{"union branch promoted",
		avroRec(`{"name":"n","type":["null","int"]}`), avroRec(`{"name":"n","type":["null","long"]}`), "", "MISSING_UNION_BRANCH"},
	{"logical type dropped",
		avroRec(`{"name":"at","type":{"type":"long","logicalType":"timestamp-millis"}}`), avroRec(`{"name":"at","type":"long"}`), "", ""},
	{"array items promoted",
		avroRec(`{"name":"a","type":{"type":"array","items":"int"}}`), avroRec(`{"name":"a","type":{"type":"array","items":"long"}}`), "", "TYPE_MISMATCH"},
	{"map values changed",
		avroRec(`{"name":"m","type":{"type":"map","values":"int"}}`), avroRec(`{"name":"m","type":{"type":"map","values":"string"}}`), "TYPE_MISMATCH", "TYPE_MISMATCH"},
	{"array became map",
		avroRec(`{"name":"a","type":{"type":"array","items":"int"}}`), avroRec(`{"name":"a","type":{"type":"map","values":"int"}}`), "TYPE_MISMATCH", "TYPE_MISMATCH"},
	{"recursive record gains a defaulted field",
		`{"type":"record","name":"Node","fields":[{"name":"v","type":"int"},{"name":"next","type":["null","Node"],"default":null}]}`,
		`{"type":"record","name":"Node","fields":[{"name":"v","type":"int"},{"name":"next","type":["null","Node"],"default":null},{"name":"w","type":"int","default":0}]}`,
		"", ""},
	{"recursive record changes a field",
		`{"type":"record","name":"Node","fields":[{"name":"v","type":"int"},{"name":"next","type":["null","Node"],"default":null}]}`,
		`{"type":"record","name":"Node","fields":[{"name":"v","type":"string"},{"name":"next","type":["null","Node"],"default":null}]}`,
		"TYPE_MISMATCH", "TYPE_MISMATCH"},
}

func TestAvroCompatibility(t *testing.T) { runCompat(t, Avro, avroCases) }

func TestAvroCompatibilityMessage(t *testing.T) {
	old := mustParse(t, Avro, avroUser)
	cand := mustParse(t, Avro, avroRec(`{"name":"id","type":"long"},{"name":"name","type":"string"},{"name":"email","type":"string"}`))
	got := Check(Backward, cand, []Schema{old})
	want := []string{
		"{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'The field 'email' at path '/fields/2' in the new schema has no default value and is missing in the old schema', additionalInfo:'email'}",
		"{oldSchemaVersion: 1}",
		"{oldSchema: '" + old.Canonical() + "'}",
		"{compatibility: 'BACKWARD'}",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func proto3(body string) string {
	return "syntax = \"proto3\";\npackage shop;\n" + body
}

// Cases from Confluent's Protobuf rules (see protobuf_compat.go).
var protoCases = []compatCase{
	{"identical", proto3(`message M { string a = 1; }`), proto3(`message M { string a = 1; }`), "", ""},
	{"field added", proto3(`message M { string a = 1; }`), proto3(`message M { string a = 1; int64 b = 2; }`), "", ""},
	{"field removed", proto3(`message M { string a = 1; int64 b = 2; }`), proto3(`message M { string a = 1; reserved 2; }`), "", ""},
	{"field renamed", proto3(`message M { string a = 1; }`), proto3(`message M { string b = 1; }`), "", ""},
	{"int32 to int64", proto3(`message M { int32 a = 1; }`), proto3(`message M { int64 a = 1; }`), "", ""},
	{"uint64 to bool", proto3(`message M { uint64 a = 1; }`), proto3(`message M { bool a = 1; }`), "", ""},
	{"string to bytes", proto3(`message M { string a = 1; }`), proto3(`message M { bytes a = 1; }`), "", ""},
	{"fixed32 to sfixed32", proto3(`message M { fixed32 a = 1; }`), proto3(`message M { sfixed32 a = 1; }`), "", ""},
	{"int32 to sint32", proto3(`message M { int32 a = 1; }`), proto3(`message M { sint32 a = 1; }`), "FIELD_SCALAR_KIND_CHANGED", "FIELD_SCALAR_KIND_CHANGED"},
	{"int32 to string", proto3(`message M { int32 a = 1; }`), proto3(`message M { string a = 1; }`), "FIELD_SCALAR_KIND_CHANGED", "FIELD_SCALAR_KIND_CHANGED"},
	{"float to double", proto3(`message M { float a = 1; }`), proto3(`message M { double a = 1; }`), "FIELD_SCALAR_KIND_CHANGED", "FIELD_SCALAR_KIND_CHANGED"},
	{"scalar to message", proto3(`message M { string a = 1; } message N { string x = 1; }`), proto3(`message M { N a = 1; } message N { string x = 1; }`), "FIELD_KIND_CHANGED", "FIELD_KIND_CHANGED"},
	{"message type changed", proto3(`message M { N a = 1; } message N { string x = 1; } message O { string x = 1; }`), proto3(`message M { O a = 1; } message N { string x = 1; } message O { string x = 1; }`), "FIELD_NAMED_TYPE_CHANGED", "FIELD_NAMED_TYPE_CHANGED"},
	{"message removed", proto3(`message M { string a = 1; } message N { string x = 1; }`), proto3(`message M { string a = 1; }`), "MESSAGE_REMOVED", ""},
	{"message added", proto3(`message M { string a = 1; }`), proto3(`message M { string a = 1; } message N { string x = 1; }`), "", "MESSAGE_REMOVED"},
	{"package changed", "syntax = \"proto3\";\npackage a;\nmessage M { N n = 1; } message N {}", "syntax = \"proto3\";\npackage b;\nmessage M { N n = 1; } message N {}", "", ""},
	{"enum value added", proto3(`message M { E e = 1; } enum E { E_0 = 0; }`), proto3(`message M { E e = 1; } enum E { E_0 = 0; E_1 = 1; }`), "", ""},
	{"enum to int32", proto3(`message M { E e = 1; } enum E { E_0 = 0; }`), proto3(`message M { int32 e = 1; } enum E { E_0 = 0; }`), "FIELD_KIND_CHANGED", "FIELD_KIND_CHANGED"},
	{"map value type changed", proto3(`message M { map<string, int32> m = 1; }`), proto3(`message M { map<string, string> m = 1; }`), "FIELD_SCALAR_KIND_CHANGED", "FIELD_SCALAR_KIND_CHANGED"},
	{"one field moved into a new oneof", proto3(`message M { string a = 1; string b = 2; }`), proto3(`message M { string a = 1; oneof o { string b = 2; } }`), "", ""},
	{"two fields moved into a oneof", proto3(`message M { string a = 1; string b = 2; }`), proto3(`message M { oneof o { string a = 1; string b = 2; } }`), "MULTIPLE_FIELDS_MOVED_TO_ONEOF", ""},
	{"field removed from a oneof", proto3(`message M { oneof o { string a = 1; string b = 2; } }`), proto3(`message M { oneof o { string a = 1; } }`), "ONEOF_FIELD_REMOVED", ""},
	{"nested message removed", proto3(`message M { message N { string x = 1; } N n = 1; }`), proto3(`message M { string n = 1; }`), "MESSAGE_REMOVED", "FIELD_KIND_CHANGED"},
	{"proto2 required field added", "syntax = \"proto2\";\nmessage M { optional string a = 1; }", "syntax = \"proto2\";\nmessage M { optional string a = 1; required int32 b = 2; }", "REQUIRED_FIELD_ADDED", "REQUIRED_FIELD_REMOVED"},
	{"proto2 optional made required", "syntax = \"proto2\";\nmessage M { optional string a = 1; }", "syntax = \"proto2\";\nmessage M { required string a = 1; }", "REQUIRED_FIELD_ADDED", "REQUIRED_FIELD_REMOVED"},
}

func TestProtobufCompatibility(t *testing.T) { runCompat(t, Protobuf, protoCases) }

func obj(props, extra string) string {
	s := `{"type":"object","properties":{` + props + `}`
	if extra != "" {
		s += "," + extra
	}
	return s + "}"
}

// Cases from Confluent's JSON Schema rules (see jsonschema_compat.go).
var jsonCases = []compatCase{
	{"identical", obj(`"a":{"type":"string"}`, ""), obj(`"a":{"type":"string"}`, ""), "", ""},
	{"property added to an open model", obj(`"a":{"type":"string"}`, ""), obj(`"a":{"type":"string"},"b":{"type":"integer"}`, ""),
		"PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL", ""},
	{"empty-schema property added to an open model", obj(`"a":{"type":"string"}`, ""), obj(`"a":{"type":"string"},"b":{}`, ""), "", ""},
	{"property added to a closed model", obj(`"a":{"type":"string"}`, `"additionalProperties":false`), obj(`"a":{"type":"string"},"b":{"type":"integer"}`, `"additionalProperties":false`),
		"", "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL"},
	{"property removed from a closed model", obj(`"a":{"type":"string"},"b":{"type":"integer"}`, `"additionalProperties":false`), obj(`"a":{"type":"string"}`, `"additionalProperties":false`),
		"PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL", ""},
	{"property added, covered by a partially open model", obj(`"a":{"type":"string"}`, `"additionalProperties":{"type":"string"}`), obj(`"a":{"type":"string"},"b":{"type":"string"}`, `"additionalProperties":{"type":"string"}`),
		"", ""},
	{"property added, not covered by a partially open model", obj(`"a":{"type":"string"}`, `"additionalProperties":{"type":"string"}`), obj(`"a":{"type":"string"},"b":{"type":"integer"}`, `"additionalProperties":{"type":"string"}`),
		"PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", "PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"},
	{"open model closed", obj(`"a":{"type":"string"}`, ""), obj(`"a":{"type":"string"}`, `"additionalProperties":false`), "ADDITIONAL_PROPERTIES_REMOVED", ""},
	{"type widened with null", obj(`"a":{"type":"string"}`, ""), obj(`"a":{"type":["string","null"]}`, ""), "", "TYPE_NARROWED"},
	{"integer widened to number", obj(`"a":{"type":"integer"}`, ""), obj(`"a":{"type":"number"}`, ""), "", "TYPE_CHANGED"},
	{"string to integer", obj(`"a":{"type":"string"}`, ""), obj(`"a":{"type":"integer"}`, ""), "TYPE_CHANGED", "TYPE_CHANGED"},
	{"existing property made required", obj(`"a":{"type":"string"}`, ""), obj(`"a":{"type":"string"}`, `"required":["a"]`), "REQUIRED_ATTRIBUTE_ADDED", ""},
	{"required property with default added to a closed model", obj(`"a":{"type":"string"}`, `"additionalProperties":false`), obj(`"a":{"type":"string"},"b":{"type":"string","default":"x"}`, `"additionalProperties":false,"required":["b"]`),
		"", "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL"},
	{"required property without default added to a closed model", obj(`"a":{"type":"string"}`, `"additionalProperties":false`), obj(`"a":{"type":"string"},"b":{"type":"string"}`, `"additionalProperties":false,"required":["b"]`),
		"REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL", "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL"},
	{"enum extended", `{"enum":["a","b"]}`, `{"enum":["a","b","c"]}`, "", "ENUM_ARRAY_NARROWED"},
	{"maxLength added", `{"type":"string"}`, `{"type":"string","maxLength":10}`, "MAX_LENGTH_ADDED", ""},
	{"maximum increased", `{"type":"number","maximum":10}`, `{"type":"number","maximum":20}`, "", "MAXIMUM_DECREASED"},
	{"minItems increased", `{"type":"array","items":{"type":"string"},"minItems":1}`, `{"type":"array","items":{"type":"string"},"minItems":2}`, "MIN_ITEMS_INCREASED", ""},
	{"pattern changed", `{"type":"string","pattern":"^a"}`, `{"type":"string","pattern":"^b"}`, "PATTERN_CHANGED", "PATTERN_CHANGED"},
	{"multipleOf divided", `{"type":"number","multipleOf":4}`, `{"type":"number","multipleOf":2}`, "", "MULTIPLE_OF_CHANGED"},
	{"array items narrowed", `{"type":"array","items":{"type":["string","null"]}}`, `{"type":"array","items":{"type":"string"}}`, "TYPE_NARROWED", ""},
	{"anyOf alternative added", `{"anyOf":[{"type":"string"},{"type":"integer"}]}`, `{"anyOf":[{"type":"string"},{"type":"integer"},{"type":"boolean"}]}`, "", "SUM_TYPE_NARROWED"},
	{"schema became an alternative", `{"type":"string"}`, `{"oneOf":[{"type":"string"},{"type":"null"}]}`, "", "SUM_TYPE_NARROWED"},
	{"allOf part added", `{"allOf":[{"type":"object"}]}`, `{"allOf":[{"type":"object"},{"required":["a"]}]}`, "PRODUCT_TYPE_EXTENDED", ""},
	{"change behind a local $ref",
		`{"definitions":{"a":{"type":"string"}},"type":"object","properties":{"x":{"$ref":"#/definitions/a"}}}`,
		`{"definitions":{"a":{"type":"integer"}},"type":"object","properties":{"x":{"$ref":"#/definitions/a"}}}`,
		"TYPE_CHANGED", "TYPE_CHANGED"},
	{"recursive definition",
		`{"definitions":{"n":{"type":"object","properties":{"v":{"type":"integer"},"next":{"$ref":"#/definitions/n"}}}},"$ref":"#/definitions/n"}`,
		`{"definitions":{"n":{"type":"object","properties":{"v":{"type":"number"},"next":{"$ref":"#/definitions/n"}}}},"$ref":"#/definitions/n"}`,
		"", "TYPE_CHANGED"},
	{"annotations only", `{"type":"string","title":"A","description":"x"}`, `{"type":"string","title":"B","description":"y","default":"z"}`, "", ""},
}

func TestJSONCompatibility(t *testing.T) { runCompat(t, JSON, jsonCases) }

// TestTransitive: each step is compatible with the one before, but not with
// the first, so only the transitive levels refuse.
func TestTransitive(t *testing.T) {
	for _, tc := range []struct {
		typ           Type
		v1, v2, v3    string
		fwdTransitive bool // whether FORWARD_TRANSITIVE (rather than BACKWARD_TRANSITIVE) catches it
	}{
		// v1 has no f; v2 adds f with a default; v3 drops the default:
		// reading v1 data with v3 needs it.
		{Avro, avroRec(`{"name":"id","type":"long"}`),
			avroRec(`{"name":"id","type":"long"},{"name":"f","type":"string","default":""}`),
			avroRec(`{"name":"id","type":"long"},{"name":"f","type":"string"}`), false},
		// v1 int32 a; v2 drops it; v3 re-adds number 1 as a string.
		{Protobuf, proto3(`message M { int32 a = 1; }`), proto3(`message M { }`), proto3(`message M { string a = 1; }`), false},
		// closed model: v1 {a}, v2 {a,b}, v3 {b}: v3 cannot read v1's a.
		{JSON, obj(`"a":{"type":"string"}`, `"additionalProperties":false`),
			obj(`"a":{"type":"string"},"b":{"type":"string"}`, `"additionalProperties":false`),
			obj(`"a":{"type":"string"},"b":{"type":"string"}`, `"additionalProperties":false,"required":["a"]`), false},
	} {
		v1, v2, v3 := mustParse(t, tc.typ, tc.v1), mustParse(t, tc.typ, tc.v2), mustParse(t, tc.typ, tc.v3)
		hist := []Schema{v1, v2}
		if got := Check(Backward, v3, hist); tc.typ != JSON && len(got) != 0 {
			t.Errorf("%s: BACKWARD refused v3: %q", tc.typ, got)
		}
		if got := Check(BackwardTransitive, v3, hist); len(got) == 0 {
			t.Errorf("%s: BACKWARD_TRANSITIVE accepted v3", tc.typ)
		}
		inc := CheckEach(BackwardTransitive, v3, hist)
		if len(inc) == 0 || inc[len(inc)-1].Index != 0 {
			t.Errorf("%s: CheckEach = %+v, want an incompatibility with index 0", tc.typ, inc)
		}
		if got := Check(None, v3, hist); len(got) != 0 {
			t.Errorf("%s: NONE refused: %q", tc.typ, got)
		}
	}
}

func TestCheckTypeMismatch(t *testing.T) {
	a := mustParse(t, Avro, `"string"`)
	j := mustParse(t, JSON, `{"type":"string"}`)
	if got := Check(Backward, j, []Schema{a}); len(got) == 0 {
		t.Fatal("a JSON schema was accepted after an Avro one")
	}
}

func TestParseLevel(t *testing.T) {
	for _, l := range Levels {
		got, err := ParseLevel(strings.ToLower(string(l)))
		if err != nil || got != l {
			t.Errorf("ParseLevel(%q) = %q, %v", l, got, err)
		}
	}
	if _, err := ParseLevel("SIDEWAYS"); err == nil {
		t.Error("ParseLevel accepted SIDEWAYS")
	}
}

// TestConfluentMessages: reasons worded exactly as Confluent's registry
// words them for the same pair (as its verbose responses show).
func TestConfluentMessages(t *testing.T) {
	for _, tc := range []struct {
		typ      Type
		old, new string
		want     string
	}{
		{Avro,
			`{"namespace":"example.avro","type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"favorite_number","type":["long","null"]}]}`,
			`{"namespace":"example.avro","type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"favorite_number","type":["int","null"]}]}`,
			`{errorType:'MISSING_UNION_BRANCH', description:'The new schema is missing a type inside a union field at path '/fields/1/type/0' in the old schema', additionalInfo:'reader union lacking writer type: LONG'}`},
		{Protobuf,
			"syntax = \"proto3\";\nmessage SearchRequest {\n  string query = 1;\n  int32 page_number = 2;\n  int32 results_per_page = 3;\n}\n",
			"syntax = \"proto3\";\nmessage SearchRequest {\n  string query = 1;\n  float page_number = 2;\n  int32 results_per_page = 3;\n}",
			`{errorType:"FIELD_SCALAR_KIND_CHANGED", description:"The kind of a SCALAR field at path '#/SearchRequest/2' in the new schema does not match its kind in the old schema"}`},
	} {
		got := CheckEach(Backward, mustParse(t, tc.typ, tc.new), []Schema{mustParse(t, tc.typ, tc.old)})
		if len(got) != 1 || len(got[0].Messages) != 1 || got[0].Messages[0] != tc.want {
			t.Errorf("%s: got %+v\nwant %s", tc.typ, got, tc.want)
		}
	}
}
