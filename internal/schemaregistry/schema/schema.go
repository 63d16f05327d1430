package schema

import (
	"errors"
	"fmt"
	"strings"
)

// Type is a schema type by Confluent's name. The empty Type means AVRO, as
// in Confluent's REST API where "schemaType" may be left out.
type Type string

// The three schema types the registry serves.
const (
	Avro     Type = "AVRO"
	Protobuf Type = "PROTOBUF"
	JSON     Type = "JSON"
)

// Types lists the served types in the order GET /schemas/types returns them.
var Types = []Type{JSON, Protobuf, Avro}

// ParseType maps a schemaType field ("" means AVRO, case-insensitive as
// Confluent's clients send it upper case) to a Type.
func ParseType(s string) (Type, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "", "AVRO":
		return Avro, nil
	case "PROTOBUF":
		return Protobuf, nil
	case "JSON":
		return JSON, nil
	}
	return "", fmt.Errorf("unknown schema type %q", s)
}

// Dep is one referenced schema, by the name the referencing schema uses
// (Avro: the full type name; Protobuf: the import path; JSON: the $ref URL),
// with its type and text. The caller passes every transitive reference.
type Dep struct {
	Name string
	Type Type
	Text string
}

// Schema is a parsed, valid schema. Implementations are immutable and safe
// for concurrent use.
type Schema interface {
	Type() Type
	// Text is the schema string as registered.
	Text() string
	// Canonical is the form identity and deduplication compare: the schema
	// as parsed and re-serialized, so whitespace and (for JSON documents)
	// formatting differences do not make a new schema.
	Canonical() string
	// Normalized is Confluent's normalize=true form: Canonical with, in
	// addition, names fully qualified and order-free parts put in one order.
	Normalized() string
	// RecordNames are the fully qualified record/message names, the first
	// being the top-level one (for RecordNameStrategy): Avro the records
	// the schema defines (or the type's name, e.g. "string", when it is not
	// a named type), Protobuf every message of the file in declaration
	// order (none for a file of enums only), JSON the title or "record".
	RecordNames() []string
}

// Limits on what Parse accepts, so a hostile schema errors rather than
// exhausting memory or the stack.
const (
	// MaxSchemaBytes bounds the text of one schema (and of each reference).
	// Confluent's registry, which keeps schemas in a Kafka topic, is bound
	// by that topic's 1 MB message size in the same way.
	MaxSchemaBytes = 1 << 20
	// MaxDepth bounds nesting: JSON nesting of Avro and JSON schemas and the
	// depth of type recursion the compatibility checkers follow.
	MaxDepth = 200
	// MaxDeps bounds the number of references one schema may pass.
	MaxDeps = 1000
)

// ErrInvalid is wrapped by every error Parse returns, so callers can tell a
// bad schema (Confluent's 42201) from anything else with errors.Is.
var ErrInvalid = errors.New("invalid schema")

type invalidError struct{ msg string }

func (e *invalidError) Error() string        { return e.msg }
func (e *invalidError) Is(target error) bool { return target == ErrInvalid }

func invalidf(format string, args ...any) error {
	return &invalidError{msg: fmt.Sprintf(format, args...)}
}

// Parse parses and validates text as a schema of type t, resolving the
// references deps. The error's message is what Confluent puts in a 42201
// "Invalid schema" body; it wraps ErrInvalid.
func Parse(t Type, text string, deps []Dep) (s Schema, err error) {
	if t == "" {
		t = Avro
	}
	if len(text) > MaxSchemaBytes {
		return nil, invalidf("schema is %d bytes, more than the %d allowed", len(text), MaxSchemaBytes)
	}
	if len(deps) > MaxDeps {
		return nil, invalidf("schema has %d references, more than the %d allowed", len(deps), MaxDeps)
	}
	for _, d := range deps {
		if len(d.Text) > MaxSchemaBytes {
			return nil, invalidf("reference %q is %d bytes, more than the %d allowed", d.Name, len(d.Text), MaxSchemaBytes)
		}
	}
	// The parsing libraries are third-party code fed hostile input; a panic
	// in one of them is a bad schema, not a crashed agent.
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, invalidf("invalid %s schema: %v", t, r)
		}
	}()
	switch t {
	case Avro:
		return parseAvro(text, deps)
	case Protobuf:
		return parseProtobuf(text, deps)
	case JSON:
		return parseJSON(text, deps)
	}
	return nil, invalidf("unknown schema type %q", string(t))
}

// Level is a compatibility level.
type Level string

// The seven compatibility levels.
const (
	None               Level = "NONE"
	Backward           Level = "BACKWARD"
	BackwardTransitive Level = "BACKWARD_TRANSITIVE"
	Forward            Level = "FORWARD"
	ForwardTransitive  Level = "FORWARD_TRANSITIVE"
	Full               Level = "FULL"
	FullTransitive     Level = "FULL_TRANSITIVE"
)

// Levels lists every level.
var Levels = []Level{None, Backward, BackwardTransitive, Forward, ForwardTransitive, Full, FullTransitive}

// ParseLevel parses a level name, case-insensitively.
func ParseLevel(s string) (Level, error) {
	l := Level(strings.ToUpper(strings.TrimSpace(s)))
	for _, v := range Levels {
		if l == v {
			return l, nil
		}
	}
	return "", fmt.Errorf("invalid compatibility level %q; valid values are %v", s, Levels)
}

// Transitive says whether the level compares with every existing schema
// rather than the latest only.
func (l Level) Transitive() bool {
	return l == BackwardTransitive || l == ForwardTransitive || l == FullTransitive
}

func (l Level) backward() bool {
	return l == Backward || l == BackwardTransitive || l == Full || l == FullTransitive
}

func (l Level) forward() bool {
	return l == Forward || l == ForwardTransitive || l == Full || l == FullTransitive
}

// Incompatibility is what CheckEach found wrong between the candidate and
// one existing schema.
type Incompatibility struct {
	// Index is the position of the existing schema in the slice passed.
	Index int
	// Messages are the reasons, worded like Confluent's verbose messages.
	Messages []string
}

// CheckEach compares candidate with the existing schemas level asks for
// (oldest first; non-transitive levels compare with the latest only) and
// returns one Incompatibility per existing schema it may not follow. A
// schema of another type than candidate is always incompatible.
func CheckEach(level Level, candidate Schema, existing []Schema) []Incompatibility {
	if level == None || level == "" || len(existing) == 0 {
		return nil
	}
	from := 0
	if !level.Transitive() {
		from = len(existing) - 1
	}
	var out []Incompatibility
	// Confluent checks the newest first and reports in that order.
	for i := len(existing) - 1; i >= from; i-- {
		old := existing[i]
		var msgs []string
		if old.Type() != candidate.Type() {
			msgs = append(msgs, fmt.Sprintf("{errorType:'TYPE_MISMATCH', description:'Incompatible schema type: the new schema is %s and the old schema is %s'}", candidate.Type(), old.Type()))
		} else {
			if level.backward() {
				// Backward: the new schema reads what the old wrote.
				msgs = append(msgs, compatible(candidate, old, true)...)
			}
			if level.forward() {
				// Forward: the old schema reads what the new writes.
				msgs = append(msgs, compatible(old, candidate, false)...)
			}
		}
		if len(msgs) > 0 {
			out = append(out, Incompatibility{Index: i, Messages: dedup(msgs)})
		}
	}
	return out
}

// Check says whether candidate may be registered after existing (oldest
// first) under level; non-transitive levels compare with the latest only. It
// returns the reasons it is incompatible (empty: compatible), worded like
// Confluent's verbose messages: the reasons for one old schema, then
// "{oldSchemaVersion: N}" (N counting existing from 1, which is the version
// when no version was deleted; callers that know versions should use
// CheckEach), "{oldSchema: '…'}" and "{compatibility: 'LEVEL'}".
func Check(level Level, candidate Schema, existing []Schema) []string {
	var out []string
	for _, inc := range CheckEach(level, candidate, existing) {
		out = append(out, inc.Messages...)
		out = append(out,
			fmt.Sprintf("{oldSchemaVersion: %d}", inc.Index+1),
			fmt.Sprintf("{oldSchema: '%s'}", existing[inc.Index].Canonical()),
			fmt.Sprintf("{compatibility: '%s'}", level))
	}
	return out
}

// compatible returns why data written with writer cannot be read with
// reader. newIsReader says which of the two is the candidate, for wording.
func compatible(reader, writer Schema, newIsReader bool) []string {
	switch r := reader.(type) {
	case *avroSchema:
		if w, ok := writer.(*avroSchema); ok {
			return avroCompatible(r, w, newIsReader)
		}
	case *protoSchema:
		if w, ok := writer.(*protoSchema); ok {
			return protoCompatible(r, w, newIsReader)
		}
	case *jsonSchema:
		if w, ok := writer.(*jsonSchema); ok {
			return jsonCompatible(r, w, newIsReader)
		}
	}
	return []string{fmt.Sprintf("{errorType:'TYPE_MISMATCH', description:'Schemas of implementations %T and %T (not from Parse) cannot be compared'}", reader, writer)}
}

func dedup(msgs []string) []string {
	seen := make(map[string]bool, len(msgs))
	out := msgs[:0]
	for _, m := range msgs {
		if !seen[m] {
			seen[m] = true
			out = append(out, m)
		}
	}
	return out
}

// ValidatePayload decodes one record's payload (after Confluent's 5-byte
// wire header; for Protobuf the message-index list comes first as
// Confluent's serializers write it) against s. For the broker's opt-in deep
// validation.
func ValidatePayload(s Schema, payload []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("decoding %s payload: %v", s.Type(), r)
		}
	}()
	switch v := s.(type) {
	case *avroSchema:
		return v.validate(payload)
	case *protoSchema:
		return v.validate(payload)
	case *jsonSchema:
		return v.validate(payload)
	}
	return fmt.Errorf("unknown schema implementation %T", s)
}

// PayloadRecordName is the fully qualified name of the record a payload
// (after the 5-byte header) holds, for RecordNameStrategy and
// TopicRecordNameStrategy: for Protobuf the message its message-index list
// names, otherwise the schema's top-level name (RecordNames()[0]).
func PayloadRecordName(s Schema, payload []byte) (string, error) {
	if p, ok := s.(*protoSchema); ok {
		idx, _, err := MessageIndexes(payload)
		if err != nil {
			return "", err
		}
		md, err := p.messageAt(idx)
		if err != nil {
			return "", err
		}
		return string(md.FullName()), nil
	}
	names := s.RecordNames()
	if len(names) == 0 {
		return "", fmt.Errorf("%s schema has no record name", s.Type())
	}
	return names[0], nil
}
