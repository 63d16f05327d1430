package schema

import (
	"testing"
)

// BenchmarkValidatePayload measures the broker's opt-in deep validation:
// the cost of decoding one record's payload against its schema.
func BenchmarkValidatePayload(b *testing.B) {
	avroS := mustParse(b, Avro, `{"type":"record","name":"Order","fields":[
		{"name":"id","type":"long"},{"name":"customer","type":"string"},
		{"name":"amount","type":"double"},{"name":"note","type":["null","string"],"default":null},
		{"name":"tags","type":{"type":"array","items":"string"}}]}`)
	// id=123456, customer="customer-42", amount=19.99, note=null, tags=["a","bc"].
	avroP := []byte{0x80, 0x89, 0x0f, 22}
	avroP = append(avroP, "customer-42"...)
	avroP = append(avroP, 0x3d, 0x0a, 0xd7, 0xa3, 0x70, 0xfd, 0x33, 0x40, 0, 4, 2, 'a', 4, 'b', 'c', 0)

	protoS := mustParse(b, Protobuf, `syntax = "proto3";
message Order { int64 id = 1; string customer = 2; double amount = 3; optional string note = 4; repeated string tags = 5; }`)
	protoP := []byte{0, 0x08, 0xc0, 0xc4, 0x07, 0x12, 11}
	protoP = append(protoP, "customer-42"...)
	protoP = append(protoP, 0x19, 0x3d, 0x0a, 0xd7, 0xa3, 0x70, 0xfd, 0x33, 0x40, 0x2a, 1, 'a', 0x2a, 2, 'b', 'c')

	jsonS := mustParse(b, JSON, `{"type":"object","properties":{"id":{"type":"integer"},"customer":{"type":"string"},
		"amount":{"type":"number"},"note":{"type":["string","null"]},"tags":{"type":"array","items":{"type":"string"}}},
		"required":["id","customer","amount"],"additionalProperties":false}`)
	jsonP := []byte(`{"id":123456,"customer":"customer-42","amount":19.99,"note":null,"tags":["a","bc"]}`)

	for _, tc := range []struct {
		name string
		s    Schema
		p    []byte
	}{{"avro", avroS, avroP}, {"protobuf", protoS, protoP}, {"json", jsonS, jsonP}} {
		if err := ValidatePayload(tc.s, tc.p); err != nil {
			b.Fatalf("%s: %v", tc.name, err)
		}
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(tc.p)))
			for b.Loop() {
				if err := ValidatePayload(tc.s, tc.p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
