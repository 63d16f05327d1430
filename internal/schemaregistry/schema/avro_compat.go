package schema

import (
	"fmt"
	"slices"
	"strings"

	"github.com/hamba/avro/v2"
)

// Avro compatibility follows the specification's "Schema Resolution": data
// written with the writer schema can be read with the reader schema when
//
//   - both are the same primitive, or the writer's promotes to the reader's:
//     int to long, float or double; long to float or double; float to
//     double; string to bytes and bytes to string (logical types are not
//     compared, as in Avro's own checker and Confluent's);
//   - both are records of the same unqualified name (or the reader lists the
//     writer's full name among its aliases), and every reader field either
//     has a writer field of its name or one of its aliases, whose type
//     resolves, or has a default;
//   - both are enums of the same name and every writer symbol is a reader
//     symbol, unless the reader has a default symbol;
//   - both are fixed of the same name and size;
//   - both are arrays (maps) whose items (values) resolve;
//   - the writer is a union and every branch resolves against the reader;
//   - the reader is a union (the writer not) and some branch resolves.
//
// The messages follow Confluent's verbose format, with Avro's error types.

type avroChecker struct {
	// inProgress holds the (reader, writer) named pairs being compared, so
	// recursive types terminate: a pair met again is assumed compatible, and
	// any difference is reported where it is first compared.
	inProgress map[[2]string]bool
	// compatible memoizes the named pairs compared (whether compatible),
	// so a type referenced from many places is compared once.
	compatible map[[2]string]bool
	budget     *compareBudget
	msgs       []string
	depth      int
}

// maxCompareSteps bounds the work of one comparison: schemas built to make
// it explode (unions of records of unions…) are refused, not compared for
// hours.
const maxCompareSteps = 100000

type compareBudget struct {
	steps     int
	exhausted bool
}

func (b *compareBudget) spend() bool {
	b.steps++
	if b.steps > maxCompareSteps {
		b.exhausted = true
	}
	return !b.exhausted
}

func avroCompatible(reader, writer *avroSchema, _ bool) []string {
	c := &avroChecker{inProgress: map[[2]string]bool{}, compatible: map[[2]string]bool{}, budget: &compareBudget{}}
	c.check(reader.parsed, writer.parsed, "")
	if c.budget.exhausted {
		c.msgs = append(c.msgs, fmt.Sprintf("{errorType:'TYPE_MISMATCH', description:'The schemas are too complex to compare (more than %d steps)', additionalInfo:''}", maxCompareSteps))
	}
	return c.msgs
}

func (c *avroChecker) report(errType, desc, info string) {
	c.msgs = append(c.msgs, fmt.Sprintf("{errorType:'%s', description:'%s', additionalInfo:'%s'}", errType, desc, info))
}

func deref(s avro.Schema) avro.Schema {
	if r, ok := s.(*avro.RefSchema); ok {
		return r.Schema()
	}
	return s
}

func avroTypeLabel(s avro.Schema) string {
	return strings.ToUpper(string(s.Type()))
}

// check reports why data written with writer cannot be read as reader;
// path is the location in the reader schema, as Confluent prints it.
func (c *avroChecker) check(reader, writer avro.Schema, path string) {
	reader, writer = deref(reader), deref(writer)
	loc := path
	if loc == "" {
		loc = "/"
	}
	if !c.budget.spend() {
		return
	}
	c.depth++
	defer func() { c.depth-- }()
	if c.depth > MaxDepth {
		c.report("TYPE_MISMATCH", fmt.Sprintf("The type (path '%s') is nested too deeply to compare", loc), "")
		return
	}
	if rn, ok := reader.(avro.NamedSchema); ok {
		if wn, ok := writer.(avro.NamedSchema); ok {
			key := [2]string{rn.FullName(), wn.FullName()}
			if c.inProgress[key] {
				return
			}
			if ok, known := c.compatible[key]; known {
				if !ok {
					// Compared before, with its reasons reported there.
					c.report("TYPE_MISMATCH", fmt.Sprintf("The type (path '%s') of a field in the new schema does not match with the old schema", loc),
						"reader type: "+rn.FullName()+" not compatible with writer type: "+wn.FullName())
				}
				return
			}
			c.inProgress[key] = true
			before := len(c.msgs)
			defer func() {
				delete(c.inProgress, key)
				if !c.budget.exhausted {
					c.compatible[key] = len(c.msgs) == before
				}
			}()
		}
	}

	if wu, ok := writer.(*avro.UnionSchema); ok {
		ru, readerIsUnion := reader.(*avro.UnionSchema)
		for i, wb := range wu.Types() {
			if readerIsUnion {
				if !c.unionHasMatch(ru, wb) {
					c.report("MISSING_UNION_BRANCH",
						fmt.Sprintf("The new schema is missing a type inside a union field at path '%s/%d' in the old schema", path, i),
						"reader union lacking writer type: "+avroTypeLabel(deref(wb)))
				}
				continue
			}
			c.check(reader, wb, path)
		}
		return
	}
	if ru, ok := reader.(*avro.UnionSchema); ok {
		if !c.unionHasMatch(ru, writer) {
			c.report("MISSING_UNION_BRANCH",
				fmt.Sprintf("The new schema is missing a type inside a union field at path '%s' in the old schema", loc),
				"reader union lacking writer type: "+avroTypeLabel(writer))
		}
		return
	}

	if reader.Type() != writer.Type() {
		if avroPromotes(writer.Type(), reader.Type()) {
			return
		}
		c.typeMismatch(reader, writer, loc)
		return
	}
	switch r := reader.(type) {
	case *avro.RecordSchema:
		w := writer.(*avro.RecordSchema)
		if !avroNamesMatch(r, w) {
			c.report("NAME_MISMATCH", fmt.Sprintf("The name of the schema has changed (path '%s')", loc), "expected: "+w.FullName())
			return
		}
		wfields := make(map[string]*avro.Field, len(w.Fields()))
		for _, wf := range w.Fields() {
			wfields[wf.Name()] = wf
		}
		for i, rf := range r.Fields() {
			fpath := fmt.Sprintf("%s/fields/%d", path, i)
			wf := avroWriterField(wfields, rf)
			if wf == nil {
				if !rf.HasDefault() {
					c.report("READER_FIELD_MISSING_DEFAULT_VALUE",
						fmt.Sprintf("The field '%s' at path '%s' in the new schema has no default value and is missing in the old schema", rf.Name(), fpath),
						rf.Name())
				}
				continue
			}
			c.check(rf.Type(), wf.Type(), fpath+"/type")
		}
	case *avro.EnumSchema:
		w := writer.(*avro.EnumSchema)
		if !avroNamesMatch(r, w) {
			c.report("NAME_MISMATCH", fmt.Sprintf("The name of the schema has changed (path '%s')", loc), "expected: "+w.FullName())
			return
		}
		if r.HasDefault() {
			return
		}
		var missing []string
		for _, sym := range w.Symbols() {
			if !slices.Contains(r.Symbols(), sym) {
				missing = append(missing, sym)
			}
		}
		if len(missing) > 0 {
			c.report("MISSING_ENUM_SYMBOLS",
				fmt.Sprintf("The new schema is missing enum symbols '%s' at path '%s/symbols' in the old schema", strings.Join(missing, ", "), path),
				"["+strings.Join(missing, ", ")+"]")
		}
	case *avro.FixedSchema:
		w := writer.(*avro.FixedSchema)
		if !avroNamesMatch(r, w) {
			c.report("NAME_MISMATCH", fmt.Sprintf("The name of the schema has changed (path '%s')", loc), "expected: "+w.FullName())
			return
		}
		if r.Size() != w.Size() {
			c.report("FIXED_SIZE_MISMATCH",
				fmt.Sprintf("The size of FIXED type field at path '%s/size' in the new schema does not match with the old schema", path),
				fmt.Sprintf("expected: %d, found: %d", w.Size(), r.Size()))
		}
	case *avro.ArraySchema:
		c.check(r.Items(), writer.(*avro.ArraySchema).Items(), path+"/items")
	case *avro.MapSchema:
		c.check(r.Values(), writer.(*avro.MapSchema).Values(), path+"/values")
	}
}

func (c *avroChecker) typeMismatch(reader, writer avro.Schema, loc string) {
	c.report("TYPE_MISMATCH",
		fmt.Sprintf("The type (path '%s') of a field in the new schema does not match with the old schema", loc),
		fmt.Sprintf("reader type: %s not compatible with writer type: %s", avroTypeLabel(reader), avroTypeLabel(writer)))
}

// unionHasMatch says whether some branch of the reader union reads data of
// the writer type, without reporting the branches that do not.
func (c *avroChecker) unionHasMatch(ru *avro.UnionSchema, writer avro.Schema) bool {
	for _, rb := range ru.Types() {
		sub := &avroChecker{inProgress: c.inProgress, compatible: c.compatible, budget: c.budget, depth: c.depth}
		sub.check(rb, writer, "")
		if len(sub.msgs) == 0 {
			return true
		}
	}
	return false
}

func avroPromotes(writer, reader avro.Type) bool {
	switch writer {
	case avro.Int:
		return reader == avro.Long || reader == avro.Float || reader == avro.Double
	case avro.Long:
		return reader == avro.Float || reader == avro.Double
	case avro.Float:
		return reader == avro.Double
	case avro.String:
		return reader == avro.Bytes
	case avro.Bytes:
		return reader == avro.String
	}
	return false
}

// avroNamesMatch: the unqualified names are equal, or the reader's aliases
// name the writer.
func avroNamesMatch(r, w avro.NamedSchema) bool {
	if r.Name() == w.Name() {
		return true
	}
	for _, a := range r.Aliases() {
		if a == w.FullName() || a == w.Name() {
			return true
		}
	}
	return false
}

func avroWriterField(w map[string]*avro.Field, rf *avro.Field) *avro.Field {
	if wf, ok := w[rf.Name()]; ok {
		return wf
	}
	for _, a := range rf.Aliases() {
		if wf, ok := w[a]; ok {
			return wf
		}
	}
	return nil
}
