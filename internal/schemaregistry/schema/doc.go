// Package schema parses, canonicalizes and compares the three schema types
// the schema registry serves (AVRO, PROTOBUF, JSON), and decodes record
// payloads against them for the broker's deep validation. It knows nothing
// of subjects, IDs or storage: the REST API and the store build on it.
//
// # Usage
//
//	s, err := schema.Parse(schema.Avro, text, deps) // errors.Is(err, schema.ErrInvalid) → 42201
//	key := s.Canonical()                             // or s.Normalized() with normalize=true
//	reasons := schema.Check(schema.Backward, s, versions) // empty: compatible (else 409)
//	err = schema.ValidatePayload(s, recordValue[5:])
//
// # Files
//
//	schema.go            the API: Type, Dep, Schema, Parse, Level, Check, CheckEach, ValidatePayload, limits
//	avro.go              Avro via hamba/avro/v2; our own JSON re-serializer for the canonical forms
//	avro_compat.go       the Avro specification's schema resolution rules
//	protobuf.go          Protobuf via bufbuild/protocompile; message indexes; payload decoding (dynamicpb)
//	protobuf_print.go    descriptor → .proto printer for the canonical forms
//	protobuf_compat.go   Confluent's Protobuf rules
//	jsonschema.go        JSON Schema via santhosh-tekuri/jsonschema/v6
//	jsonschema_compat.go Confluent's JSON Schema rules (open, closed and partially open content models)
//
// # Canonical and normalized forms
//
// Canonical is what identity compares (two registrations with the same
// canonical form and references are the same schema):
//
//   - Avro: the JSON re-serialized without whitespace, each object's
//     attributes in Avro's own order (type, name, namespace, doc, fields,
//     …), other properties sorted, names as written. A reference is written
//     by name, never inlined.
//   - Protobuf: the compiled descriptor printed back as .proto source:
//     comments and whitespace gone, type names fully qualified with a
//     leading dot, declarations in source order (options in field-number
//     order). A schema registered as a
//     base64 FileDescriptorProto (Confluent's Python serializer does this)
//     has the same canonical form as its source, and the canonical form is
//     valid source that compiles to the same descriptor, so it can be
//     served where Confluent serves its re-printed schema.
//   - JSON: the document without insignificant whitespace, keys in the
//     order written (as Confluent's re-serialization keeps them).
//
// Normalized (normalize=true) goes further: Avro names fully qualified and
// namespace attributes dropped; Protobuf imports and options sorted; JSON
// object keys sorted.
//
// # Compatibility
//
// Check applies the seven levels: NONE accepts everything; BACKWARD (the
// new schema reads data written with the old), FORWARD (the old reads the
// new) and FULL (both) compare with the latest existing schema, their
// _TRANSITIVE forms with every existing schema. The per-type rules are
// documented at the top of avro_compat.go, protobuf_compat.go and
// jsonschema_compat.go. Messages are worded like Confluent's verbose
// messages: "{errorType:'…', description:'…'}" lines followed by
// "{oldSchemaVersion: N}", "{oldSchema: '…'}" and "{compatibility: '…'}".
// A schema of another type than the existing one is incompatible.
//
// Known differences from Confluent: Avro logical types are not compared
// (as in Avro's own checker); Protobuf messages are matched by name within
// the package and only the schema's own file is diffed (imported files are
// compared through the field types that name them); JSON Schema's
// patternProperties, dependencies, if/then/else and unevaluated* keywords
// are not compared, and $ref anchors ("#foo") are not followed.
//
// # References
//
// Parse takes every transitive reference as a Dep, by the name the schema
// uses for it: Avro the full type name (references are parsed first, in
// any order), Protobuf the import path (google/protobuf/*.proto well-known
// types are built in), JSON the $ref URL (resolved against the document's
// $id, or against the registry's base when it has none). Nothing is ever
// loaded from the network or the file system: an unknown reference is an
// invalid schema.
//
// # Limits
//
// A schema or reference of more than MaxSchemaBytes, nested deeper than
// MaxDepth, or (Avro, JSON) with more than MaxAvroObjects/MaxJSONObjects
// objects is invalid; Parse and ValidatePayload recover a panic in a
// parsing library as an error. The limits keep the cost of one Parse under
// about a second on a busy 2-core machine.
//
// # Payload validation
//
// ValidatePayload takes the bytes after Confluent's 5-byte header (magic
// byte 0, 4-byte schema ID). Avro: one datum, no bytes left over. Protobuf:
// the message-index list (zigzag varint count, then indexes; a single 0
// means the first message) then the message, proto2 required fields
// checked. JSON: one JSON document valid under the schema (formats are not
// asserted, as in Confluent's default). BenchmarkValidatePayload measures
// the cost per record.
package schema
