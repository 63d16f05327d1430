package schema

import "testing"

// The fuzz targets feed Parse arbitrary text: it must return a schema or
// an error, never panic, and a schema it returns must have canonical forms
// that parse again, compare with itself without incompatibility, and a
// ValidatePayload that does not panic on the input bytes.
func fuzzParse(f *testing.F, typ Type, seeds []string) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		s, err := Parse(typ, text, nil)
		if err != nil {
			return
		}
		if _, err := Parse(typ, s.Canonical(), nil); err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", s.Canonical(), text, err)
		}
		if _, err := Parse(typ, s.Normalized(), nil); err != nil {
			t.Fatalf("normalized form %q of %q does not parse: %v", s.Normalized(), text, err)
		}
		if got := Check(FullTransitive, s, []Schema{s}); len(got) != 0 {
			t.Fatalf("%q is incompatible with itself: %q", text, got)
		}
		_ = ValidatePayload(s, []byte(text))
	})
}

func FuzzParseAvro(f *testing.F) {
	fuzzParse(f, Avro, []string{
		avroUser, `"string"`, `["null","string"]`,
		`{"type":"enum","name":"E","symbols":["A","B"],"default":"A"}`,
		`{"type":"fixed","name":"F","size":4}`,
		`{"type":"record","name":"Node","fields":[{"name":"v","type":"int"},{"name":"next","type":["null","Node"],"default":null}]}`,
		`{"type":"array","items":{"type":"map","values":{"type":"long","logicalType":"timestamp-millis"}}}`,
	})
}

func FuzzParseProtobuf(f *testing.F) {
	fuzzParse(f, Protobuf, []string{
		protoOrder,
		"syntax = \"proto2\";\nmessage A { required int32 x = 1; optional group G = 2 { optional string s = 3; } extensions 100 to 200; }\nextend A { optional int32 e = 100; }",
		"syntax = \"proto3\";\nservice S { rpc Do (M) returns (stream M); }\nmessage M { oneof o { string a = 1; int32 b = 2; } }",
		"syntax = \"proto3\";\nenum E { option allow_alias = true; A = 0; B = 0; reserved 5 to 9; }",
	})
}

func FuzzParseJSON(f *testing.F) {
	fuzzParse(f, JSON, []string{
		obj(`"a":{"type":"string"}`, `"required":["a"],"additionalProperties":false`),
		`{"$schema":"https://json-schema.org/draft/2020-12/schema","$defs":{"n":{"type":"integer"}},"items":{"$ref":"#/$defs/n"}}`,
		`{"anyOf":[{"type":"string","maxLength":3},{"type":"null"}]}`,
		`true`,
	})
}

// FuzzValidatePayload feeds arbitrary record payloads, as a hostile
// producer would, to the broker's deep validation of each schema type: an
// error or nil, never a panic or a hang.
func FuzzValidatePayload(f *testing.F) {
	schemas := []Schema{
		mustParse(f, Avro, `{"type":"record","name":"Node","fields":[{"name":"v","type":"int"},{"name":"tags","type":{"type":"map","values":{"type":"array","items":["null","string","Node"]}}},{"name":"next","type":["null","Node"],"default":null}]}`),
		mustParse(f, Protobuf, protoOrder),
		mustParse(f, JSON, `{"definitions":{"n":{"type":"object","properties":{"v":{"type":"integer"},"next":{"$ref":"#/definitions/n"}},"required":["v"]}},"$ref":"#/definitions/n"}`),
	}
	f.Add(byte(0), []byte{2, 0, 0})
	f.Add(byte(1), []byte{0, 0x0a, 1, 'x'})
	f.Add(byte(2), []byte(`{"v":1,"next":{"v":2}}`))
	f.Fuzz(func(t *testing.T, which byte, payload []byte) {
		_ = ValidatePayload(schemas[int(which)%len(schemas)], payload)
	})
}
