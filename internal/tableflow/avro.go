package tableflow

import (
	"fmt"
	"slices"
	"strings"

	"github.com/apache/iceberg-go"
	"github.com/twmb/avro"
)

// avroColumns maps an Avro record schema onto columns:
//
//	boolean, int, long, float, double, string → the same Iceberg primitive
//	bytes, fixed                              → binary
//	enum                                      → string (the symbol)
//	record                                    → struct
//	array                                     → list
//	map                                       → map<string, …>
//	["null", T] (either order)                → T, optional
//	[T1, T2, …] (with or without "null")      → struct of one optional field
//	                                            per non-null branch, named
//	                                            after the branch's type
//	date, time-millis/micros                  → date, time
//	timestamp-millis/micros/nanos             → timestamptz
//	local-timestamp-millis/micros/nanos       → timestamp
//	decimal(p, s) on bytes or fixed (p ≤ 38)  → decimal(p, s)
//
// A field is required unless it is a nullable union or has a default (so
// a later schema version may drop or add it). Recursive records have no
// Iceberg equivalent and are refused. Nested IDs are placeholders: the
// table assigns real ones.
//
// A union of several non-null types ("multi-type union") becomes a struct
// with one optional field per branch, named after the branch's type as
// Avro's JSON encoding names it: the primitive ("string", "long", …,
// "array", "map"; a logical type keeps its base type's name) or the named
// type's name without its namespace ("Email" for com.example.Email). A
// value sets the field of its branch and leaves the others null; a null
// value is a null struct. This is what Confluent's Kafka Connect AvroData
// does (a struct named io.confluent.connect.avro.Union whose fields are
// the branches' type names) and Redpanda's Iceberg topics too. Apache
// Iceberg's own Avro reader maps such unions to struct<tag int, field0,
// field1, …> instead; we name fields by type rather than position so a
// later schema that adds a branch, or reorders them, evolves the struct
// by name (a new branch is a new optional field) instead of shifting every
// value into another field. Two branches whose names would collide (two
// records of the same name in different namespaces) are refused.
func avroColumns(s *avro.Schema) ([]Column, error) {
	c, err := newAvroCodec(s)
	if err != nil {
		return nil, err
	}
	return c.cols, nil
}

// avroCodec decodes raw Avro values of one schema into the shapes
// normalize takes for the schema's columns.
type avroCodec struct {
	schema *avro.Schema
	root   *avro.SchemaNode
	m      *avroMapper
	cols   []Column
}

func newAvroCodec(s *avro.Schema) (*avroCodec, error) {
	root := s.Root()
	if root.Type != "record" {
		return nil, fmt.Errorf("avro schema is a %s, want a record", root.Type)
	}
	m := &avroMapper{named: map[string]*avro.SchemaNode{}}
	m.define(root)
	cols, err := m.fields(root, nil)
	if err != nil {
		return nil, err
	}
	for _, c := range cols {
		if strings.HasPrefix(c.Name, "_kafka_") {
			return nil, fmt.Errorf("field %s: the _kafka_ prefix is reserved", c.Name)
		}
	}
	return &avroCodec{schema: s, root: root, m: m, cols: cols}, nil
}

// decode decodes one value. A schema with a multi-type union is decoded
// with tagged unions (each union value wrapped as {branch: value}) and the
// tags are then turned into the union structs' fields; other schemas skip
// that walk.
func (c *avroCodec) decode(p []byte) (map[string]any, error) {
	var m map[string]any
	if !c.m.multi {
		if _, err := c.schema.Decode(p, &m); err != nil {
			return nil, fmt.Errorf("%w: avro: %v", errIncompatible, err)
		}
		return m, nil
	}
	if _, err := c.schema.Decode(p, &m, avro.TaggedUnions()); err != nil {
		return nil, fmt.Errorf("%w: avro: %v", errIncompatible, err)
	}
	if _, err := c.m.untag(c.root, m, nil); err != nil {
		return nil, err
	}
	return m, nil
}

// avroMapper walks one schema, remembering named types so that a later
// reference to one ("Type": "com.example.Address") maps like its
// definition.
type avroMapper struct {
	named map[string]*avro.SchemaNode
	// multi is set when the schema has a union of several non-null types.
	multi bool
}

func avroFullName(n *avro.SchemaNode) string {
	if strings.Contains(n.Name, ".") || n.Namespace == "" {
		return n.Name
	}
	return n.Namespace + "." + n.Name
}

// define records n's named types (and those nested in it) by full name.
func (m *avroMapper) define(n *avro.SchemaNode) {
	switch n.Type {
	case "record", "error", "enum", "fixed":
		if _, seen := m.named[avroFullName(n)]; seen {
			return
		}
		m.named[avroFullName(n)] = n
	}
	for i := range n.Fields {
		m.define(&n.Fields[i].Type)
	}
	for i := range n.Branches {
		m.define(&n.Branches[i])
	}
	if n.Items != nil {
		m.define(n.Items)
	}
	if n.Values != nil {
		m.define(n.Values)
	}
}

// fields maps a record's fields; stack holds the records being mapped, to
// refuse recursion.
func (m *avroMapper) fields(rec *avro.SchemaNode, stack []string) ([]Column, error) {
	name := avroFullName(rec)
	for _, s := range stack {
		if s == name {
			return nil, fmt.Errorf("record %s is recursive; Iceberg types cannot be", name)
		}
	}
	if len(stack) >= maxNesting {
		return nil, fmt.Errorf("record %s nests deeper than %d levels", name, maxNesting)
	}
	stack = append(stack, name)
	cols := make([]Column, 0, len(rec.Fields))
	for _, f := range rec.Fields {
		t, optional, err := m.typ(&f.Type, stack)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", f.Name, err)
		}
		cols = append(cols, Column{Name: f.Name, Type: t, Required: !optional && !f.HasDefault})
	}
	return cols, nil
}

// typ maps one Avro type; optional is true for a nullable union.
func (m *avroMapper) typ(n *avro.SchemaNode, stack []string) (t iceberg.Type, optional bool, err error) {
	if n.Type == "union" {
		var other []*avro.SchemaNode
		for i := range n.Branches {
			if n.Branches[i].Type != "null" {
				other = append(other, &n.Branches[i])
			}
		}
		switch len(other) {
		case 0:
			return nil, false, fmt.Errorf("a union of only null has no column")
		case 1:
			t, _, err := m.typ(other[0], stack)
			return t, len(n.Branches) > 1, err
		}
		m.multi = true
		fs := make([]iceberg.NestedField, 0, len(other))
		for _, b := range other {
			name, err := m.branchName(b, stack)
			if err != nil {
				return nil, false, err
			}
			if slices.ContainsFunc(fs, func(f iceberg.NestedField) bool { return f.Name == name }) {
				return nil, false, fmt.Errorf("union branches share the name %s", name)
			}
			bt, _, err := m.typ(b, stack)
			if err != nil {
				return nil, false, fmt.Errorf("union branch %s: %w", name, err)
			}
			fs = append(fs, iceberg.NestedField{Name: name, Type: bt})
		}
		return &iceberg.StructType{FieldList: fs}, len(other) < len(n.Branches), nil
	}
	switch {
	case n.LogicalType == "date" && n.Type == "int":
		return iceberg.PrimitiveTypes.Date, false, nil
	case (n.LogicalType == "time-millis" && n.Type == "int") || (n.LogicalType == "time-micros" && n.Type == "long"):
		return iceberg.PrimitiveTypes.Time, false, nil
	case strings.HasPrefix(n.LogicalType, "timestamp-") && n.Type == "long":
		return iceberg.PrimitiveTypes.TimestampTz, false, nil
	case strings.HasPrefix(n.LogicalType, "local-timestamp-") && n.Type == "long":
		return iceberg.PrimitiveTypes.Timestamp, false, nil
	case n.LogicalType == "decimal" && (n.Type == "bytes" || n.Type == "fixed") && n.Precision > 0:
		if n.Precision > 38 {
			return nil, false, fmt.Errorf("decimal(%d, %d) is wider than Iceberg's 38 digits", n.Precision, n.Scale)
		}
		return iceberg.DecimalTypeOf(n.Precision, n.Scale), false, nil
	}
	switch n.Type {
	case "boolean":
		return iceberg.PrimitiveTypes.Bool, false, nil
	case "int":
		return iceberg.PrimitiveTypes.Int32, false, nil
	case "long":
		return iceberg.PrimitiveTypes.Int64, false, nil
	case "float":
		return iceberg.PrimitiveTypes.Float32, false, nil
	case "double":
		return iceberg.PrimitiveTypes.Float64, false, nil
	case "string", "enum":
		return iceberg.PrimitiveTypes.String, false, nil
	case "bytes", "fixed":
		return iceberg.PrimitiveTypes.Binary, false, nil
	case "record", "error":
		cols, err := m.fields(n, stack)
		if err != nil {
			return nil, false, err
		}
		return columnsStruct(cols), false, nil
	case "array":
		if n.Items == nil {
			return nil, false, fmt.Errorf("array without items")
		}
		et, _, err := m.typ(n.Items, stack)
		if err != nil {
			return nil, false, fmt.Errorf("items: %w", err)
		}
		return listOf(et), false, nil
	case "map":
		if n.Values == nil {
			return nil, false, fmt.Errorf("map without values")
		}
		vt, _, err := m.typ(n.Values, stack)
		if err != nil {
			return nil, false, fmt.Errorf("values: %w", err)
		}
		return mapOf(iceberg.PrimitiveTypes.String, vt), false, nil
	case "null":
		return nil, false, fmt.Errorf("a field of type null has no column")
	}
	if def, ok := m.lookup(n.Type, stack); ok {
		return m.typ(def, stack)
	}
	return nil, false, fmt.Errorf("avro type %s is not supported", n.Type)
}

// lookup resolves a reference to a named type defined elsewhere in the
// schema. A short name resolves in the enclosing record's namespace first.
func (m *avroMapper) lookup(name string, stack []string) (*avro.SchemaNode, bool) {
	if !strings.Contains(name, ".") && len(stack) > 0 {
		if i := strings.LastIndex(stack[len(stack)-1], "."); i > 0 {
			if def, ok := m.named[stack[len(stack)-1][:i]+"."+name]; ok {
				return def, true
			}
		}
	}
	def, ok := m.named[name]
	return def, ok
}

// branchName names a union branch's field: its type, or for a named type
// its name without the namespace.
func (m *avroMapper) branchName(n *avro.SchemaNode, stack []string) (string, error) {
	switch n.Type {
	case "record", "error", "enum", "fixed":
		return n.Name[strings.LastIndex(n.Name, ".")+1:], nil
	case "boolean", "int", "long", "float", "double", "string", "bytes", "array", "map":
		return n.Type, nil
	}
	if def, ok := m.lookup(n.Type, stack); ok {
		return m.branchName(def, stack)
	}
	return "", fmt.Errorf("avro type %s is not supported", n.Type)
}

// untag rewrites a value decoded with tagged unions in place (records,
// arrays and maps are updated, the value returned): a ["null", T] union's
// {T: v} becomes v, a multi-type union's {"com.x.Email": v} becomes
// {"Email": v}, the shape of its struct column.
func (m *avroMapper) untag(n *avro.SchemaNode, v any, stack []string) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch n.Type {
	case "union":
		tagged, ok := v.(map[string]any)
		if !ok || len(tagged) != 1 {
			return nil, fmt.Errorf("%w: avro union value %T is not tagged", errIncompatible, v)
		}
		var tag string
		var inner any
		for k, x := range tagged {
			tag, inner = k, x
		}
		tag = tag[strings.LastIndex(tag, ".")+1:]
		nonNull := 0
		for i := range n.Branches {
			if n.Branches[i].Type != "null" {
				nonNull++
			}
		}
		for i := range n.Branches {
			b := &n.Branches[i]
			if b.Type == "null" {
				continue
			}
			if name, err := m.branchName(b, stack); err != nil || name != tag {
				continue
			}
			iv, err := m.untag(b, inner, stack)
			if err != nil || nonNull == 1 {
				return iv, err
			}
			return map[string]any{tag: iv}, nil
		}
		return nil, fmt.Errorf("%w: avro union value tagged %s matches no branch", errIncompatible, tag)
	case "record", "error":
		rec, ok := v.(map[string]any)
		if !ok {
			return v, nil
		}
		stack = append(stack, avroFullName(n))
		for i := range n.Fields {
			f := &n.Fields[i]
			fv, err := m.untag(&f.Type, rec[f.Name], stack)
			if err != nil {
				return nil, err
			}
			if fv != nil {
				rec[f.Name] = fv
			}
		}
		return rec, nil
	case "array":
		l, ok := v.([]any)
		if !ok || n.Items == nil {
			return v, nil
		}
		for i := range l {
			ev, err := m.untag(n.Items, l[i], stack)
			if err != nil {
				return nil, err
			}
			l[i] = ev
		}
		return l, nil
	case "map":
		mv, ok := v.(map[string]any)
		if !ok || n.Values == nil {
			return v, nil
		}
		for k, e := range mv {
			ev, err := m.untag(n.Values, e, stack)
			if err != nil {
				return nil, err
			}
			mv[k] = ev
		}
		return mv, nil
	case "boolean", "int", "long", "float", "double", "string", "bytes", "enum", "fixed", "null":
		return v, nil
	}
	if def, ok := m.lookup(n.Type, stack); ok {
		return m.untag(def, v, stack)
	}
	return v, nil
}

// columnsStruct turns columns into a struct type with placeholder IDs.
func columnsStruct(cols []Column) *iceberg.StructType {
	fs := make([]iceberg.NestedField, len(cols))
	for i, c := range cols {
		fs[i] = iceberg.NestedField{Name: c.Name, Type: c.Type, Required: c.Required}
	}
	return &iceberg.StructType{FieldList: fs}
}
