package schema

import "testing"

func TestJSONParseCanonical(t *testing.T) {
	a := mustParse(t, JSON, `{"title":"Order","type":"object","properties":{"id":{"type":"string"},"qty":{"type":"integer"}},"required":["id"]}`)
	b := mustParse(t, JSON, "{\n  \"title\": \"Order\",\n  \"type\": \"object\",\n  \"properties\": {\n    \"id\": { \"type\": \"string\" },\n    \"qty\": { \"type\": \"integer\" }\n  },\n  \"required\": [ \"id\" ]\n}\n")
	if a.Canonical() != b.Canonical() {
		t.Fatalf("canonical differs:\n%s\n%s", a.Canonical(), b.Canonical())
	}
	c := mustParse(t, JSON, `{"type":"object","required":["id"],"title":"Order","properties":{"qty":{"type":"integer"},"id":{"type":"string"}}}`)
	if c.Canonical() == a.Canonical() {
		t.Fatalf("canonical keeps key order, as Confluent's does, so reordered keys differ")
	}
	if c.Normalized() != a.Normalized() {
		t.Fatalf("normalized differs:\n%s\n%s", a.Normalized(), c.Normalized())
	}
	if got := a.RecordNames(); len(got) != 1 || got[0] != "Order" {
		t.Fatalf("RecordNames = %v", got)
	}
	if err := ValidatePayload(a, []byte(`{"id":"x","qty":3}`)); err != nil {
		t.Fatal(err)
	}
	if err := ValidatePayload(a, []byte(`{"qty":"3"}`)); err == nil {
		t.Fatal("invalid payload accepted")
	}
}
