package tableflow

import (
	"fmt"
	"slices"
	"strings"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
)

// Schema evolution. A record written with a registry schema names its
// writer's columns; the table takes them by Iceberg's union-by-name
// (iceberg-go's UpdateSchema.UnionByNameWith), which is the whole rule
// set:
//
//   - a field the table lacks, at any depth (a top-level column, a field of
//     a struct, of a struct that is a list element or a map value), becomes
//     a new optional column with a new field ID;
//   - a primitive the writer widens as Iceberg allows (int → long,
//     float → double, decimal(p, s) → decimal(p', s) with p' > p) promotes
//     the column; a narrower writer type (an int into a long column) needs
//     no change;
//   - a required column the writer makes optional becomes optional.
//
// Everything else is refused and the record goes to the DLQ with the
// reason: another type change (string → long, int → string, a struct
// becoming a list, a decimal changing scale, a map key changing), and a
// new required field, which Iceberg could only add with a default older
// rows do not have (union-by-name would add it as optional; we refuse it
// first, so the table never silently weakens the writer's contract).

// evolution is the schema a record's writer columns ask the table for,
// nil when the table already takes them.
func evolution(tbl *table.Table, cols []Column) (*iceberg.Schema, error) {
	cur := tbl.Schema()
	if err := checkNewFields(nil, cur.Fields(), cols); err != nil {
		return nil, err
	}
	next, err := tbl.NewTransaction().UpdateSchema(true, false).UnionByNameWith(recordSchema(cols)).Apply()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errIncompatible, err)
	}
	cs, ns := cur.AsStruct(), next.AsStruct()
	if ns.Equals(&cs) {
		return nil, nil
	}
	return next, nil
}

// checkNewFields walks a writer's fields against the table's (at path),
// through structs, list elements and map values, and refuses a new
// required field. Type conflicts are left to union-by-name.
func checkNewFields(path []string, have []iceberg.NestedField, want []Column) error {
	for _, c := range want {
		p := append(slices.Clip(path), c.Name)
		i := slices.IndexFunc(have, func(f iceberg.NestedField) bool { return f.Name == c.Name })
		if i < 0 {
			if c.Required {
				return fmt.Errorf("%w: new column %s is required; only optional columns can be added", errIncompatible, strings.Join(p, "."))
			}
			continue
		}
		if err := checkNewNested(p, have[i].Type, c.Type); err != nil {
			return err
		}
	}
	return nil
}

func checkNewNested(path []string, have, want iceberg.Type) error {
	switch w := want.(type) {
	case *iceberg.StructType:
		if h, ok := have.(*iceberg.StructType); ok {
			return checkNewFields(path, h.FieldList, structColumns(w))
		}
	case *iceberg.ListType:
		if h, ok := have.(*iceberg.ListType); ok {
			return checkNewNested(append(slices.Clip(path), "element"), h.Element, w.Element)
		}
	case *iceberg.MapType:
		if h, ok := have.(*iceberg.MapType); ok {
			return checkNewNested(append(slices.Clip(path), "value"), h.ValueType, w.ValueType)
		}
	}
	return nil
}

func structColumns(st *iceberg.StructType) []Column {
	cols := make([]Column, len(st.FieldList))
	for i, f := range st.FieldList {
		cols[i] = Column{Name: f.Name, Type: f.Type, Required: f.Required}
	}
	return cols
}

// recordSchema is a writer's columns as an Iceberg schema, numbered
// afresh (union-by-name matches by name; its IDs only need to be unique).
func recordSchema(cols []Column) *iceberg.Schema {
	n := 0
	next := func() int { n++; return n }
	fs := make([]iceberg.NestedField, len(cols))
	for i, c := range cols {
		fs[i] = iceberg.NestedField{ID: next(), Name: c.Name, Type: c.Type, Required: c.Required}
	}
	for i := range fs {
		fs[i].Type = withFreshIDs(fs[i].Type, next)
	}
	return iceberg.NewSchema(0, fs...)
}
