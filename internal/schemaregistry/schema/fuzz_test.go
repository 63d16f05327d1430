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
