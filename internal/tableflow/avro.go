package tableflow

import (
	"fmt"
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
//	date, time-millis/micros                  → date, time
//	timestamp-millis/micros/nanos             → timestamptz
//	local-timestamp-millis/micros/nanos       → timestamp
//	decimal(p, s) on bytes or fixed (p ≤ 38)  → decimal(p, s)
//
// A field is required unless it is a nullable union or has a default (so
// a later schema version may drop or add it). Unions of several non-null
// branches and recursive records have no Iceberg equivalent and are
// refused. Nested IDs are placeholders: the table assigns real ones.
func avroColumns(s *avro.Schema) ([]Column, error) {
	root := s.Root()
	if root.Type != "record" {
		return nil, fmt.Errorf("avro schema is a %s, want a record", root.Type)
	}
	m := avroMapper{named: map[string]*avro.SchemaNode{}}
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
	return cols, nil
}

// avroMapper walks one schema, remembering named types so that a later
// reference to one ("Type": "com.example.Address") maps like its
// definition.
type avroMapper struct {
	named map[string]*avro.SchemaNode
}

func avroFullName(n *avro.SchemaNode) string {
	if strings.Contains(n.Name, ".") || n.Namespace == "" {
		return n.Name
	}
	return n.Namespace + "." + n.Name
}

// define records n's named types (and those nested in it) by full name.
func (m avroMapper) define(n *avro.SchemaNode) {
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
func (m avroMapper) fields(rec *avro.SchemaNode, stack []string) ([]Column, error) {
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
func (m avroMapper) typ(n *avro.SchemaNode, stack []string) (t iceberg.Type, optional bool, err error) {
	if n.Type == "union" {
		var other []*avro.SchemaNode
		for i := range n.Branches {
			if n.Branches[i].Type != "null" {
				other = append(other, &n.Branches[i])
			}
		}
		if len(other) != 1 || len(n.Branches) != 2 {
			return nil, false, fmt.Errorf("only [\"null\", T] unions are supported, not %d branches", len(n.Branches))
		}
		t, _, err := m.typ(other[0], stack)
		return t, true, err
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
	// A reference to a named type defined elsewhere in the schema.
	// A short name resolves in the enclosing record's namespace first.
	name := n.Type
	if !strings.Contains(name, ".") && len(stack) > 0 {
		if i := strings.LastIndex(stack[len(stack)-1], "."); i > 0 {
			if def, ok := m.named[stack[len(stack)-1][:i]+"."+name]; ok {
				return m.typ(def, stack)
			}
		}
	}
	if def, ok := m.named[name]; ok {
		return m.typ(def, stack)
	}
	return nil, false, fmt.Errorf("avro type %s is not supported", n.Type)
}

// columnsStruct turns columns into a struct type with placeholder IDs.
func columnsStruct(cols []Column) *iceberg.StructType {
	fs := make([]iceberg.NestedField, len(cols))
	for i, c := range cols {
		fs[i] = iceberg.NestedField{Name: c.Name, Type: c.Type, Required: c.Required}
	}
	return &iceberg.StructType{FieldList: fs}
}
