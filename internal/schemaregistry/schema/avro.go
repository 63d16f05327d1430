package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/hamba/avro/v2"
)

// avroSchema is a parsed Avro schema: hamba/avro's model (with every
// reference resolved, for compatibility and decoding) plus our own
// re-serializations of the registered text.
type avroSchema struct {
	text       string
	canonical  string
	normalized string
	names      []string
	parsed     avro.Schema
}

func (s *avroSchema) Type() Type            { return Avro }
func (s *avroSchema) Text() string          { return s.text }
func (s *avroSchema) Canonical() string     { return s.canonical }
func (s *avroSchema) Normalized() string    { return s.normalized }
func (s *avroSchema) RecordNames() []string { return slices.Clone(s.names) }

func parseAvro(text string, deps []Dep) (Schema, error) {
	raw, err := decodeJSONBounded(text)
	if err != nil {
		return nil, invalidf("Invalid schema: %v", err)
	}
	objects := countJSONObjects(raw)
	for _, d := range deps {
		if dv, err := decodeJSONBounded(d.Text); err == nil {
			objects += countJSONObjects(dv)
		}
	}
	if objects > MaxAvroObjects {
		return nil, invalidf("Invalid schema: the schema and its references have %d JSON objects, more than the %d allowed", objects, MaxAvroObjects)
	}
	// A fresh cache per parse: hamba's default cache is process-wide, and
	// names of one subject's schema must not leak into another's.
	cache := &avro.SchemaCache{}
	if err := parseAvroDeps(deps, cache); err != nil {
		return nil, err
	}
	parsed, err := avro.ParseWithCache(text, "", cache)
	if err != nil {
		return nil, invalidf("Invalid schema: %s", strings.TrimPrefix(err.Error(), "avro: "))
	}
	s := &avroSchema{text: text, parsed: parsed}
	var b strings.Builder
	if err := writeAvroJSON(&b, raw, "", false, nil); err != nil {
		return nil, invalidf("Invalid schema: %v", err)
	}
	s.canonical = b.String()
	b.Reset()
	if err := writeAvroJSON(&b, raw, "", true, &s.names); err != nil {
		return nil, invalidf("Invalid schema: %v", err)
	}
	s.normalized = b.String()
	if len(s.names) == 0 {
		// Confluent names a schema that is not a named type by its type.
		s.names = []string{avroTypeName(parsed)}
	}
	return s, nil
}

// parseAvroDeps parses the references into cache. The caller passes them in
// no promised order, so each pass parses those whose own references are
// already known, until none is left or a pass makes no progress.
func parseAvroDeps(deps []Dep, cache *avro.SchemaCache) error {
	pending := make([]Dep, 0, len(deps))
	for _, d := range deps {
		if d.Type != "" && d.Type != Avro {
			return invalidf("Invalid schema: reference %q is %s, an Avro schema can only reference Avro schemas", d.Name, d.Type)
		}
		if _, err := decodeJSONBounded(d.Text); err != nil {
			return invalidf("Invalid schema: reference %q: %v", d.Name, err)
		}
		pending = append(pending, d)
	}
	for len(pending) > 0 {
		var next []Dep
		var lastErr error
		for _, d := range pending {
			if _, err := avro.ParseWithCache(d.Text, "", cache); err != nil {
				next = append(next, d)
				lastErr = fmt.Errorf("reference %q: %s", d.Name, strings.TrimPrefix(err.Error(), "avro: "))
			}
		}
		if len(next) == len(pending) {
			return invalidf("Invalid schema: %v", lastErr)
		}
		pending = next
	}
	return nil
}

func avroTypeName(s avro.Schema) string {
	if n, ok := s.(avro.NamedSchema); ok {
		return n.FullName()
	}
	if r, ok := s.(*avro.RefSchema); ok {
		return r.Schema().FullName()
	}
	return string(s.Type())
}

// decodeJSONBounded decodes a JSON document, keeping numbers as written,
// and refuses nesting deeper than MaxDepth or trailing data.
func decodeJSONBounded(text string) (any, error) {
	if err := checkJSONDepth(text); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("unexpected data after the JSON document")
	}
	return v, nil
}

// checkJSONDepth scans text for bracket nesting deeper than MaxDepth,
// skipping strings, before any recursive decoder sees it.
func checkJSONDepth(text string) error {
	depth, inString, escaped := 0, false, false
	for i := 0; i < len(text); i++ {
		c := text[i]
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
			if depth > MaxDepth {
				return fmt.Errorf("nested more than %d levels deep", MaxDepth)
			}
		case '}', ']':
			depth--
		}
	}
	return nil
}

// MaxAvroObjects bounds the JSON objects (types and fields) of an Avro
// schema and its references: parsing grows faster than linearly with them
// (10,000 take about half a second on a busy 2-core machine).
const MaxAvroObjects = 10000

var avroPrimitives = map[string]bool{
	"null": true, "boolean": true, "int": true, "long": true,
	"float": true, "double": true, "bytes": true, "string": true,
}

// The attributes of each kind of Avro object in the order Avro's own
// toString writes them; any other attribute is a property, written after
// them in sorted order.
var avroKeyOrder = map[string][]string{
	"record": {"type", "name", "namespace", "doc", "fields", "aliases"},
	"error":  {"type", "name", "namespace", "doc", "fields", "aliases"},
	"enum":   {"type", "name", "namespace", "doc", "symbols", "default", "aliases"},
	"fixed":  {"type", "name", "namespace", "doc", "size", "aliases"},
	"array":  {"type", "items"},
	"map":    {"type", "values"},
	"field":  {"name", "type", "doc", "default", "order", "aliases"},
}

// writeAvroJSON re-serializes a decoded Avro schema: no whitespace, the
// attributes in one order, properties sorted. With full set (the normalized
// form) every name is written fully qualified, namespace attributes are
// dropped, and the full names of records are appended to names.
func writeAvroJSON(b *strings.Builder, v any, ns string, full bool, names *[]string) error {
	switch t := v.(type) {
	case string:
		if full && !avroPrimitives[t] {
			t = avroFullName(t, ns)
		}
		writeJSONValue(b, t)
		return nil
	case []any:
		b.WriteByte('[')
		for i, e := range t {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeAvroJSON(b, e, ns, full, names); err != nil {
				return err
			}
		}
		b.WriteByte(']')
		return nil
	case map[string]any:
		return writeAvroObject(b, t, ns, full, names, false)
	}
	return fmt.Errorf("a schema must be a JSON string, object or array, not %s", jsonKind(v))
}

func writeAvroObject(b *strings.Builder, m map[string]any, ns string, full bool, names *[]string, isField bool) error {
	kind := "field"
	if !isField {
		kind, _ = m["type"].(string)
	}
	order := avroKeyOrder[kind]
	inner := ns
	if kind == "record" || kind == "error" || kind == "enum" || kind == "fixed" {
		name, _ := m["name"].(string)
		if explicit, ok := m["namespace"].(string); ok && !strings.Contains(name, ".") {
			inner = explicit
		}
		fullName := avroFullName(name, inner)
		if i := strings.LastIndexByte(fullName, '.'); i >= 0 {
			inner = fullName[:i]
		} else {
			inner = ""
		}
		if names != nil && (kind == "record" || kind == "error") && !slices.Contains(*names, fullName) {
			*names = append(*names, fullName)
		}
	}
	keys := make([]string, 0, len(m))
	for _, k := range order {
		if _, ok := m[k]; ok {
			keys = append(keys, k)
		}
	}
	var props []string
	for k := range m {
		if !slices.Contains(order, k) {
			props = append(props, k)
		}
	}
	slices.Sort(props)
	keys = append(keys, props...)

	b.WriteByte('{')
	first := true
	for _, k := range keys {
		val := m[k]
		if full && k == "namespace" && !isField {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		writeJSONValue(b, k)
		b.WriteByte(':')
		switch {
		case k == "name" && full && !isField && kind != "array" && kind != "map":
			name, _ := val.(string)
			writeJSONValue(b, avroFullName(name, inner))
		case k == "type" && isField:
			if err := writeAvroJSON(b, val, ns, full, names); err != nil {
				return err
			}
		case k == "type":
			// The kind itself, or (as Avro also accepts) a nested schema.
			if s, ok := val.(string); ok && (avroKeyOrder[s] != nil || avroPrimitives[s]) {
				writeJSONValue(b, s)
			} else if err := writeAvroJSON(b, val, ns, full, names); err != nil {
				return err
			}
		case k == "fields" && (kind == "record" || kind == "error"):
			fields, ok := val.([]any)
			if !ok {
				return errors.New("record fields must be an array")
			}
			b.WriteByte('[')
			for i, f := range fields {
				if i > 0 {
					b.WriteByte(',')
				}
				fm, ok := f.(map[string]any)
				if !ok {
					return errors.New("a record field must be an object")
				}
				if err := writeAvroObject(b, fm, inner, full, names, true); err != nil {
					return err
				}
			}
			b.WriteByte(']')
		case (k == "items" && kind == "array") || (k == "values" && kind == "map"):
			if err := writeAvroJSON(b, val, ns, full, names); err != nil {
				return err
			}
		default:
			writeJSONValue(b, val)
		}
	}
	b.WriteByte('}')
	return nil
}

func avroFullName(name, ns string) string {
	if strings.Contains(name, ".") || ns == "" {
		return name
	}
	return ns + "." + name
}

// writeJSONValue writes v compactly, object keys sorted, numbers as
// written.
func writeJSONValue(b *strings.Builder, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // decoded JSON always encodes
	b.Write(bytes.TrimRight(buf.Bytes(), "\n"))
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number, float64:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// validate decodes payload as one datum of the schema, and refuses bytes
// left over after it. It walks the binary encoding itself rather than
// building values: nothing is allocated, nesting is bounded
// by maxAvroPayloadDepth (a recursive schema would otherwise let a 1 MB
// record recurse 500,000 levels), and the elements of arrays and maps by maxAvroItems.
func (s *avroSchema) validate(payload []byte) error {
	d := avroValidator{buf: payload}
	if err := d.datum(s.parsed, 0); err != nil {
		return fmt.Errorf("avro payload does not match the schema: %v", err)
	}
	if d.pos != len(d.buf) {
		return fmt.Errorf("avro payload has %d bytes left over after the record", len(d.buf)-d.pos)
	}
	return nil
}

// maxAvroItems bounds the array and map elements of one payload, which a
// zero-width element type (null, an empty record) would let a few bytes
// declare by the billion.
const maxAvroItems = 1 << 22

// maxAvroPayloadDepth bounds the nesting of records, unions, arrays and
// maps in one payload (a linked list of 500 nodes nests 1,000 deep).
const maxAvroPayloadDepth = 1000

type avroValidator struct {
	buf   []byte
	pos   int
	items int
}

var errAvroTruncated = errors.New("truncated")

func (d *avroValidator) long() (int64, error) {
	var u uint64
	for shift := uint(0); shift < 70; shift += 7 {
		if d.pos >= len(d.buf) {
			return 0, errAvroTruncated
		}
		b := d.buf[d.pos]
		d.pos++
		u |= uint64(b&0x7f) << shift
		if b < 0x80 {
			return int64(u>>1) ^ -int64(u&1), nil
		}
	}
	return 0, errors.New("varint longer than 10 bytes")
}

func (d *avroValidator) skip(n int64) error {
	if n < 0 || n > int64(len(d.buf)-d.pos) {
		return errAvroTruncated
	}
	d.pos += int(n)
	return nil
}

func (d *avroValidator) datum(s avro.Schema, depth int) error {
	if depth > maxAvroPayloadDepth {
		return fmt.Errorf("nested more than %d levels deep", maxAvroPayloadDepth)
	}
	switch t := s.(type) {
	case *avro.RefSchema:
		return d.datum(t.Schema(), depth)
	case *avro.NullSchema:
		return nil
	case *avro.PrimitiveSchema:
		switch t.Type() {
		case avro.Boolean:
			if d.pos >= len(d.buf) {
				return errAvroTruncated
			}
			if d.buf[d.pos] > 1 {
				return fmt.Errorf("boolean byte %d", d.buf[d.pos])
			}
			d.pos++
		case avro.Int:
			v, err := d.long()
			if err != nil {
				return err
			}
			if v != int64(int32(v)) {
				return fmt.Errorf("int %d out of range", v)
			}
		case avro.Long:
			_, err := d.long()
			return err
		case avro.Float:
			return d.skip(4)
		case avro.Double:
			return d.skip(8)
		case avro.Bytes, avro.String:
			n, err := d.long()
			if err != nil {
				return err
			}
			return d.skip(n)
		}
		return nil
	case *avro.RecordSchema:
		for _, f := range t.Fields() {
			if err := d.datum(f.Type(), depth+1); err != nil {
				return fmt.Errorf("%s: %w", f.Name(), err)
			}
		}
		return nil
	case *avro.EnumSchema:
		i, err := d.long()
		if err != nil {
			return err
		}
		if i < 0 || i >= int64(len(t.Symbols())) {
			return fmt.Errorf("enum %s has no symbol %d", t.FullName(), i)
		}
		return nil
	case *avro.FixedSchema:
		return d.skip(int64(t.Size()))
	case *avro.UnionSchema:
		i, err := d.long()
		if err != nil {
			return err
		}
		if i < 0 || i >= int64(len(t.Types())) {
			return fmt.Errorf("union has no branch %d", i)
		}
		return d.datum(t.Types()[i], depth+1)
	case *avro.ArraySchema:
		return d.blocks(func() error { return d.datum(t.Items(), depth+1) })
	case *avro.MapSchema:
		return d.blocks(func() error {
			n, err := d.long()
			if err != nil {
				return err
			}
			if err := d.skip(n); err != nil {
				return err
			}
			return d.datum(t.Values(), depth+1)
		})
	}
	return fmt.Errorf("unsupported schema %T", s)
}

// blocks reads an array or map: blocks of a count (negative: followed by
// the block's byte size) and that many elements, ended by a zero count.
func (d *avroValidator) blocks(elem func() error) error {
	for {
		n, err := d.long()
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		if n < 0 {
			n = -n
			if _, err := d.long(); err != nil {
				return err
			}
		}
		if n < 0 || n > maxAvroItems-int64(d.items) {
			return fmt.Errorf("more than %d array or map elements", maxAvroItems)
		}
		d.items += int(n)
		for range n {
			if err := elem(); err != nil {
				return err
			}
		}
	}
}
