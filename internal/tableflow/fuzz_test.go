package tableflow

import (
	"errors"
	"testing"

	"github.com/twmb/avro"
)

// FuzzProtoDecode feeds arbitrary Confluent-framed payloads (message-index
// list, then message bytes) through the Protobuf decoder and the table's
// type check: they must turn into a row or an errIncompatible (a DLQ
// record), never a panic or another error.
func FuzzProtoDecode(f *testing.F) {
	file, err := protoFile(protoAll, nil)
	if err != nil {
		f.Fatal(err)
	}
	md, err := protoMessageByName(file, "shop.Order")
	if err != nil {
		f.Fatal(err)
	}
	cols, err := protoColumns(md)
	if err != nil {
		f.Fatal(err)
	}
	table := columnsStruct(cols)
	ps := &protoSchema{file: file}
	f.Add([]byte{0})
	f.Add([]byte{0, 8, 1, 0x12, 1, 'x', 0x1a, 0})
	f.Add([]byte{4, 0, 2, 8, 5})           // index [0 1]: the Address message
	f.Add([]byte{2, 0x7f})                 // an index beyond the file's messages
	f.Add([]byte{0, 0x3a, 4, 8, 1, 16, 2}) // a Timestamp
	f.Add([]byte{0, 0x32, 5, 10, 1, 'k', 16, 3})
	f.Fuzz(func(t *testing.T, payload []byte) {
		vals, _, err := ps.decodeFramed(payload)
		if err != nil {
			if !errors.Is(err, errIncompatible) {
				t.Fatalf("decode error %v is not errIncompatible", err)
			}
			return
		}
		if _, err := normalize(table, vals); err != nil && !errors.Is(err, errIncompatible) {
			t.Fatalf("normalize error %v is not errIncompatible", err)
		}
	})
}

// FuzzJSONSchemaColumns maps arbitrary JSON Schema documents: a mapping
// either fails or yields columns whose types build a schema with unique
// field IDs.
func FuzzJSONSchemaColumns(f *testing.F) {
	f.Add(clicksJSONV2)
	f.Add(`{"type":"object","properties":{"f":{"$ref":"#/definitions/D"}},"definitions":{"D":{"type":"object","properties":{"x":{"type":"array","items":{"type":["null","integer"]}}}}}}`)
	f.Add(`{"type":"object","properties":{"m":{"type":"object","additionalProperties":{"$ref":"#"}}}}`)
	f.Add(`{"properties":{"a":{"oneOf":[{"type":"null"},{"type":"string","format":"date-time"}]}}}`)
	f.Fuzz(func(t *testing.T, doc string) {
		cols, err := jsonSchemaColumns(doc, nil)
		if err != nil {
			return
		}
		sc := initialSchema(cols, nil)
		if _, err := checkUniqueIDs(sc); err != nil {
			t.Fatalf("%s: %v", sc, err)
		}
		bt, err := newBatch(sc)
		if err != nil {
			t.Fatalf("no Arrow schema for %s: %v", sc, err)
		}
		bt.release()
	})
}

// FuzzAvroUnionDecode feeds arbitrary bytes through the Avro decoder of a
// schema with multi-type unions (tagged decoding, then untagging) and the
// table's type check: a row or an errIncompatible, never a panic.
func FuzzAvroUnionDecode(f *testing.F) {
	c, err := newAvroCodec(avro.MustParse(`{"type":"record","name":"E","namespace":"x","fields":[
		{"name":"v","type":["null","string","long",{"type":"record","name":"Email","fields":[{"name":"to","type":["null","string"]}]}]},
		{"name":"l","type":{"type":"array","items":["int","string"]}},
		{"name":"m","type":{"type":"map","values":["null","Email","boolean"]}}]}`))
	if err != nil {
		f.Fatal(err)
	}
	table := columnsStruct(c.cols)
	f.Add([]byte{0, 0, 0})
	f.Add([]byte{2, 2, 'a', 2, 0, 2, 2, 'b', 0, 0})
	f.Add([]byte{6, 2, 2, 'x', 0, 2, 2, 'k', 4, 1, 0})
	f.Add([]byte{4, 0x7e, 0, 0})
	f.Fuzz(func(t *testing.T, payload []byte) {
		vals, err := c.decode(payload)
		if err != nil {
			if !errors.Is(err, errIncompatible) {
				t.Fatalf("decode error %v is not errIncompatible", err)
			}
			return
		}
		if _, err := normalize(table, vals); err != nil && !errors.Is(err, errIncompatible) {
			t.Fatalf("normalize error %v is not errIncompatible", err)
		}
	})
}
