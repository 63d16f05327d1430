package schema

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
)

func TestAvroReferences(t *testing.T) {
	address := Dep{Name: "com.example.Address", Type: Avro, Text: `{"type":"record","name":"Address","namespace":"com.example","fields":[{"name":"city","type":"string"},{"name":"country","type":"com.example.Country"}]}`}
	country := Dep{Name: "com.example.Country", Type: Avro, Text: `{"type":"enum","name":"Country","namespace":"com.example","symbols":["FR","DE"]}`}
	user := `{"type":"record","name":"User","namespace":"com.example","fields":[{"name":"home","type":"Address"}]}`
	// Transitive references, in an order that needs a second pass.
	s := mustParse(t, Avro, user, address, country)
	if got := s.RecordNames(); len(got) != 1 || got[0] != "com.example.User" {
		t.Fatalf("RecordNames = %v (references are not the schema's own records)", got)
	}
	if strings.Contains(s.Canonical(), "city") {
		t.Fatalf("canonical inlines the reference: %s", s.Canonical())
	}
	if _, err := Parse(Avro, user, []Dep{address}); err == nil || !errors.Is(err, ErrInvalid) {
		t.Fatalf("missing transitive reference: err = %v", err)
	}
	if _, err := Parse(Avro, user, nil); err == nil {
		t.Fatal("unknown type accepted")
	}
	// A change inside the referenced schema is seen by compatibility.
	country2 := Dep{Name: country.Name, Type: Avro, Text: `{"type":"enum","name":"Country","namespace":"com.example","symbols":["FR"]}`}
	s2 := mustParse(t, Avro, user, address, country2)
	if got := Check(Backward, s2, []Schema{s}); len(got) == 0 || !strings.Contains(got[0], "MISSING_ENUM_SYMBOLS") {
		t.Fatalf("Check = %q, want MISSING_ENUM_SYMBOLS", got)
	}
	// Payloads decode through references: home{city:"Lyon", country:FR}.
	if err := ValidatePayload(s, []byte{8, 'L', 'y', 'o', 'n', 0}); err != nil {
		t.Fatal(err)
	}
}

func TestProtobufReferences(t *testing.T) {
	common := Dep{Name: "shop/common.proto", Type: Protobuf, Text: "syntax = \"proto3\";\npackage shop;\nimport \"shop/money.proto\";\nmessage Line { string sku = 1; Money price = 2; }"}
	money := Dep{Name: "shop/money.proto", Type: Protobuf, Text: "syntax = \"proto3\";\npackage shop;\nmessage Money { int64 units = 1; string currency = 2; }"}
	order := "syntax = \"proto3\";\npackage shop;\nimport \"shop/common.proto\";\nimport \"google/protobuf/timestamp.proto\";\nmessage Order { repeated Line lines = 1; google.protobuf.Timestamp at = 2; }"
	s := mustParse(t, Protobuf, order, common, money)
	if got := s.RecordNames(); len(got) != 1 || got[0] != "shop.Order" {
		t.Fatalf("RecordNames = %v", got)
	}
	_, err := Parse(Protobuf, order, []Dep{common})
	if err == nil || !strings.Contains(err.Error(), "shop/money.proto") {
		t.Fatalf("missing reference: err = %v", err)
	}
	// Confluent's Python serializer registers the file and each import as
	// a base64 FileDescriptorProto, the references named by import path.
	b64 := func(s Schema, name string) string {
		fdp := fileProto(s.(*protoSchema).file)
		fdp.Name = proto.String(name)
		raw, err := proto.Marshal(fdp)
		if err != nil {
			t.Fatal(err)
		}
		return base64.StdEncoding.EncodeToString(raw)
	}
	moneyS := mustParse(t, Protobuf, money.Text)
	commonS := mustParse(t, Protobuf, common.Text, money)
	fromPython := mustParse(t, Protobuf, b64(s, "shop/order.proto"),
		Dep{Name: common.Name, Type: Protobuf, Text: b64(commonS, common.Name)},
		Dep{Name: money.Name, Type: Protobuf, Text: b64(moneyS, money.Name)})
	if fromPython.Canonical() != s.Canonical() {
		t.Fatalf("base64 registration differs:\n%s\n---\n%s", fromPython.Canonical(), s.Canonical())
	}
	// Order{lines:[Line{sku:"a"}]}: index list [0], field 1 (len 3) holding
	// Line field 1 (len 1) "a".
	if err := ValidatePayload(s, []byte{0, 0x0a, 3, 0x0a, 1, 'a'}); err != nil {
		t.Fatal(err)
	}
}

func TestJSONReferences(t *testing.T) {
	customer := Dep{Name: "customer.json", Type: JSON, Text: `{"type":"object","properties":{"name":{"type":"string"},"address":{"$ref":"address.json"}},"required":["name"]}`}
	address := Dep{Name: "address.json", Type: JSON, Text: `{"type":"object","properties":{"city":{"type":"string"}}}`}
	order := `{"$id":"https://example.com/order.json","type":"object","properties":{"customer":{"$ref":"customer.json"}}}`
	s := mustParse(t, JSON, order, customer, address)
	if err := ValidatePayload(s, []byte(`{"customer":{"name":"a","address":{"city":"Lyon"}}}`)); err != nil {
		t.Fatal(err)
	}
	if err := ValidatePayload(s, []byte(`{"customer":{"address":{"city":1}}}`)); err == nil {
		t.Fatal("payload violating a referenced schema accepted")
	}
	if _, err := Parse(JSON, order, []Dep{customer}); err == nil {
		t.Fatal("missing transitive reference accepted")
	}
	// A change in a reference is seen by compatibility.
	customer2 := Dep{Name: customer.Name, Type: JSON, Text: `{"type":"object","properties":{"name":{"type":"integer"},"address":{"$ref":"address.json"}},"required":["name"]}`}
	s2 := mustParse(t, JSON, order, customer2, address)
	if got := Check(Backward, s2, []Schema{s}); len(got) == 0 || !strings.Contains(got[0], "TYPE_CHANGED") {
		t.Fatalf("Check = %q, want TYPE_CHANGED", got)
	}
}

// TestBadInput: malformed, hostile and huge schemas error (wrapping
// ErrInvalid) rather than panic or hang.
func TestBadInput(t *testing.T) {
	deep := strings.Repeat(`{"type":"array","items":`, 5000) + `"int"` + strings.Repeat("}", 5000)
	deepJSON := strings.Repeat(`{"items":`, 5000) + `{}` + strings.Repeat("}", 5000)
	deepProto := "syntax = \"proto3\";\n" + strings.Repeat("message M {\n", 3000) + strings.Repeat("}\n", 3000)
	for _, tc := range []struct {
		typ  Type
		text string
	}{
		{Avro, ``},
		{Avro, `{`},
		{Avro, `string`},
		{Avro, `{"type":"record","name":"R"}`},
		{Avro, `{"type":"record","name":"R","fields":[{"name":"a","type":"nope"}]}`},
		{Avro, `{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":"x"}]}`},
		{Avro, `{"type":"enum","name":"E","symbols":["A","A"]}`},
		{Avro, `"string" "int"`},
		{Avro, deep},
		{Avro, `"` + strings.Repeat("a", MaxSchemaBytes) + `"`},
		{Protobuf, `syntax = "proto3"; message M { string a = 1; int32 b = 1; }`},
		{Protobuf, `syntax = "proto3"; message M { Unknown a = 1; }`},
		{Protobuf, `syntax = "proto3"; import "nowhere.proto";`},
		{Protobuf, `message {`},
		{Protobuf, `Zm9vYmFy`}, // base64 of no descriptor
		{Protobuf, deepProto},
		{JSON, `{"type":"strin"}`},
		{JSON, `{"type":"object","properties":{"a":{"$ref":"#/definitions/missing"}}}`},
		{JSON, `{"$ref":"file:///etc/passwd"}`},
		{JSON, `{"$ref":"https://example.com/remote.json"}`},
		{JSON, `[1,2]`},
		{JSON, `{"minLength":-1}`},
		{JSON, deepJSON},
		{JSON, `{"allOf":[` + strings.Repeat(`{"type":"string"},`, MaxJSONObjects) + `{}]}`},
		{Protobuf, "syntax = \"proto3\";\noption (a) = " + strings.Repeat("{a:", 100000) + strings.Repeat("}", 100000) + ";"},
		{"XML", `<a/>`},
	} {
		text := tc.text
		if len(text) > 60 {
			text = text[:60] + "…"
		}
		s, err := Parse(tc.typ, tc.text, nil)
		if err == nil {
			t.Errorf("Parse(%s, %s) accepted: %s", tc.typ, text, s.Canonical())
			continue
		}
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%s, %s) error %v does not wrap ErrInvalid", tc.typ, text, err)
		}
	}
	if _, err := Parse(Avro, `"string"`, []Dep{{Name: "x", Type: JSON, Text: `{}`}}); err == nil {
		t.Error("an Avro schema accepted a JSON reference")
	}
}

func TestValidatePayload(t *testing.T) {
	avroS := mustParse(t, Avro, avroUser)
	// id=1 (zigzag 2), name="ab".
	good := []byte{2, 4, 'a', 'b'}
	if err := ValidatePayload(avroS, good); err != nil {
		t.Fatalf("avro: %v", err)
	}
	for name, p := range map[string][]byte{
		"truncated":      good[:3],
		"trailing bytes": append(append([]byte{}, good...), 0),
		"empty":          {},
		"negative len":   {2, 3},
	} {
		if err := ValidatePayload(avroS, p); err == nil {
			t.Errorf("avro %s payload accepted", name)
		}
	}
	// A recursive schema: a list 300 nodes long validates, a 1 MB list
	// (500,000 levels) is refused quickly rather than recursed into.
	listS := mustParse(t, Avro, `{"type":"record","name":"Node","fields":[{"name":"v","type":"int"},{"name":"next","type":["null","Node"],"default":null}]}`)
	if err := ValidatePayload(listS, append(bytes.Repeat([]byte{0, 2}, 300), 0, 0)); err != nil {
		t.Errorf("avro list of 300: %v", err)
	}
	start := time.Now()
	if err := ValidatePayload(listS, append(bytes.Repeat([]byte{0, 2}, 500000), 0, 0)); err == nil {
		t.Error("avro list nested 500,000 deep accepted")
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("refusing a deep avro payload took %v", d)
	}
	// A billion nulls declared in a few bytes.
	nullsS := mustParse(t, Avro, `{"type":"array","items":"null"}`)
	if err := ValidatePayload(nullsS, []byte{0x80, 0xa8, 0xd6, 0xb9, 0x07, 0}); err == nil {
		t.Error("avro array of a billion nulls accepted")
	}
	if err := ValidatePayload(mustParse(t, Avro, `"int"`), []byte{0xff, 0xff, 0xff, 0xff, 0x7f}); err == nil {
		t.Error("avro int beyond 32 bits accepted")
	}
	if err := ValidatePayload(mustParse(t, Avro, `"boolean"`), []byte{2}); err == nil {
		t.Error("avro boolean byte 2 accepted")
	}
	enumS := mustParse(t, Avro, `{"type":"enum","name":"E","symbols":["A","B"]}`)
	if err := ValidatePayload(enumS, []byte{4}); err == nil {
		t.Error("avro enum index out of range accepted")
	}
	unionS := mustParse(t, Avro, `["null","string"]`)
	if err := ValidatePayload(unionS, []byte{6}); err == nil {
		t.Error("avro union index out of range accepted")
	}

	protoS := mustParse(t, Protobuf, "syntax = \"proto2\";\nmessage A { required int32 x = 1; message B { optional string s = 1; } }\nmessage C { optional int64 y = 1; }")
	for name, tc := range map[string]struct {
		p  []byte
		ok bool
	}{
		"first message":             {[]byte{0, 0x08, 1}, true},
		"second message":            {[]byte{2, 2, 0x08, 1}, true},
		"nested message":            {[]byte{4, 0, 0, 0x0a, 1, 'z'}, true},
		"missing required":          {[]byte{0}, false},
		"index out of range":        {[]byte{2, 10, 0x08, 1}, false},
		"malformed wire data":       {[]byte{0, 0x08}, false},
		"no index list":             {nil, false},
		"index list past the bytes": {[]byte{6, 0}, false},
	} {
		err := ValidatePayload(protoS, tc.p)
		if (err == nil) != tc.ok {
			t.Errorf("protobuf %s: err = %v, want ok=%v", name, err, tc.ok)
		}
	}

	jsonS := mustParse(t, JSON, obj(`"a":{"type":"string"}`, `"required":["a"]`))
	for p, ok := range map[string]bool{`{"a":"x"}`: true, `{"a":1}`: false, `{}`: false, `{"a":"x"`: false, `{"a":"x"} {}`: false} {
		if err := ValidatePayload(jsonS, []byte(p)); (err == nil) != ok {
			t.Errorf("json %s: err = %v, want ok=%v", p, err, ok)
		}
	}
}

func TestNormalized(t *testing.T) {
	// Avro: the same schema written with a namespace attribute or with full
	// names normalizes to one form.
	a := mustParse(t, Avro, `{"type":"record","name":"User","namespace":"com.example","fields":[{"name":"addr","type":{"type":"record","name":"Addr","fields":[{"name":"c","type":"string"}]}},{"name":"prev","type":["null","Addr"]}]}`)
	b := mustParse(t, Avro, `{"type":"record","name":"com.example.User","fields":[{"name":"addr","type":{"type":"record","name":"com.example.Addr","fields":[{"name":"c","type":"string"}]}},{"name":"prev","type":["null","com.example.Addr"]}]}`)
	if a.Normalized() != b.Normalized() {
		t.Fatalf("avro normalized differs:\n%s\n%s", a.Normalized(), b.Normalized())
	}
	if got := a.RecordNames(); len(got) != 2 || got[0] != "com.example.User" || got[1] != "com.example.Addr" {
		t.Fatalf("RecordNames = %v", got)
	}
	// Protobuf: options in another order and relative names normalize alike.
	p1 := mustParse(t, Protobuf, "syntax = \"proto3\";\npackage p;\noption java_package = \"x\";\noption go_package = \"y\";\nmessage M { N n = 1; }\nmessage N {}")
	p2 := mustParse(t, Protobuf, "syntax = \"proto3\";\npackage p;\noption go_package = \"y\";\noption java_package = \"x\";\nmessage M { .p.N n = 1; }\nmessage N {}")
	if p1.Normalized() != p2.Normalized() {
		t.Fatalf("protobuf normalized differs:\n%s\n%s", p1.Normalized(), p2.Normalized())
	}
	// Normalizing is idempotent: the normalized text parses to itself.
	for _, s := range []Schema{a, p1} {
		again := mustParse(t, s.Type(), s.Normalized())
		if again.Normalized() != s.Normalized() {
			t.Fatalf("%s normalized is not a fixed point:\n%s\n%s", s.Type(), s.Normalized(), again.Normalized())
		}
	}
}

// TestConcurrentUse: a parsed Schema is shared by every produce request of a
// topic; validating and checking from many goroutines at once must be safe
// (run with -race).
func TestConcurrentUse(t *testing.T) {
	avroS := mustParse(t, Avro, avroUser)
	protoS := mustParse(t, Protobuf, proto3(`message M { string a = 1; }`))
	jsonS := mustParse(t, JSON, obj(`"a":{"type":"string"}`, ""))
	done := make(chan error, 8)
	for range 8 {
		go func() {
			for range 200 {
				if err := ValidatePayload(avroS, []byte{2, 4, 'a', 'b'}); err != nil {
					done <- err
					return
				}
				if err := ValidatePayload(protoS, []byte{0, 0x0a, 1, 'x'}); err != nil {
					done <- err
					return
				}
				if err := ValidatePayload(jsonS, []byte(`{"a":"x"}`)); err != nil {
					done <- err
					return
				}
				if got := Check(FullTransitive, protoS, []Schema{protoS}); len(got) != 0 {
					done <- errors.New(strings.Join(got, ";"))
					return
				}
			}
			done <- nil
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

func TestPayloadRecordName(t *testing.T) {
	p := mustParse(t, Protobuf, "syntax = \"proto3\";\npackage x;\nmessage A { message B {} }\nmessage C {}")
	for payload, want := range map[string]string{"\x00": "x.A", "\x02\x02": "x.C", "\x04\x00\x00": "x.A.B"} {
		got, err := PayloadRecordName(p, []byte(payload))
		if err != nil || got != want {
			t.Errorf("PayloadRecordName(%q) = %q, %v; want %q", payload, got, err, want)
		}
	}
	if _, err := PayloadRecordName(p, []byte{2, 8}); err == nil {
		t.Error("message index 4 of 2 messages accepted")
	}
	if got, _ := PayloadRecordName(mustParse(t, Avro, avroUser), nil); got != "com.example.User" {
		t.Errorf("avro record name %q", got)
	}
}
