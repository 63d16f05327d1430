package schema

import (
	"strings"
	"testing"
)

func mustParse(t testing.TB, typ Type, text string, deps ...Dep) Schema {
	t.Helper()
	s, err := Parse(typ, text, deps)
	if err != nil {
		t.Fatalf("Parse(%s, %s): %v", typ, text, err)
	}
	return s
}

func TestAvroParseCanonical(t *testing.T) {
	a := mustParse(t, Avro, `{"type":"record","name":"User","namespace":"com.example","fields":[{"name":"id","type":"long"},{"name":"name","type":"string","default":""}]}`)
	b := mustParse(t, Avro, "{\n  \"namespace\": \"com.example\",\n  \"name\": \"User\", \"type\": \"record\",\n  \"fields\": [ {\"type\": \"long\", \"name\": \"id\"}, {\"default\": \"\", \"name\": \"name\", \"type\": \"string\"} ]\n}")
	if a.Canonical() != b.Canonical() {
		t.Fatalf("canonical differs:\n%s\n%s", a.Canonical(), b.Canonical())
	}
	want := `{"type":"record","name":"User","namespace":"com.example","fields":[{"name":"id","type":"long"},{"name":"name","type":"string","default":""}]}`
	if a.Canonical() != want {
		t.Fatalf("canonical = %s, want %s", a.Canonical(), want)
	}
	if got := a.RecordNames(); len(got) != 1 || got[0] != "com.example.User" {
		t.Fatalf("RecordNames = %v", got)
	}
	if !strings.Contains(a.Normalized(), `"name":"com.example.User"`) {
		t.Fatalf("normalized = %s", a.Normalized())
	}
}
