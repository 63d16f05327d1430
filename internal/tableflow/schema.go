package tableflow

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
)

// The columns every table carries besides the record's own: where in Kafka
// the row came from. They make exactly-once checkable by any reader.
const (
	colPartition = "_kafka_partition"
	colOffset    = "_kafka_offset"
	colTimestamp = "_kafka_timestamp"
)

var typeNames = []string{"boolean", "int", "long", "float", "double", "string", "binary", "date", "timestamp"}

func primitiveType(name string) (iceberg.Type, bool) {
	switch name {
	case "boolean":
		return iceberg.PrimitiveTypes.Bool, true
	case "int":
		return iceberg.PrimitiveTypes.Int32, true
	case "long":
		return iceberg.PrimitiveTypes.Int64, true
	case "float":
		return iceberg.PrimitiveTypes.Float32, true
	case "double":
		return iceberg.PrimitiveTypes.Float64, true
	case "string":
		return iceberg.PrimitiveTypes.String, true
	case "binary":
		return iceberg.PrimitiveTypes.Binary, true
	case "date":
		return iceberg.PrimitiveTypes.Date, true
	case "timestamp":
		return iceberg.PrimitiveTypes.TimestampTz, true
	}
	return nil, false
}

// Column is one column a record supplies (the Kafka columns are not
// Columns). Required columns reject records without a value.
type Column struct {
	Name     string
	Type     iceberg.Type
	Required bool
}

// inlineColumns turns a declared schema into columns.
func inlineColumns(s *InlineSchema) []Column {
	cols := make([]Column, 0, len(s.Fields))
	for _, f := range s.Fields {
		t, _ := primitiveType(f.Type)
		cols = append(cols, Column{Name: f.Name, Type: t, Required: f.Required})
	}
	return cols
}

// initialSchema builds a new table's schema: the record columns, then the
// Kafka columns. Declared IDs are kept; others are assigned after them.
func initialSchema(cols []Column, declaredIDs map[string]int) *iceberg.Schema {
	next := 1
	for _, id := range declaredIDs {
		if id >= next {
			next = id + 1
		}
	}
	var fields []iceberg.NestedField
	add := func(name string, t iceberg.Type, req bool) {
		id := declaredIDs[name]
		if id == 0 {
			id = next
			next++
		}
		fields = append(fields, iceberg.NestedField{ID: id, Name: name, Type: t, Required: req})
	}
	for _, c := range cols {
		add(c.Name, c.Type, c.Required)
	}
	add(colPartition, iceberg.PrimitiveTypes.Int32, true)
	add(colOffset, iceberg.PrimitiveTypes.Int64, true)
	add(colTimestamp, iceberg.PrimitiveTypes.TimestampTz, true)
	// Nested fields are numbered after every top-level column.
	nextID := func() int { next++; return next - 1 }
	for i := range fields {
		fields[i].Type = withFreshIDs(fields[i].Type, nextID)
	}
	return iceberg.NewSchema(0, fields...)
}

// errIncompatible marks a record (or a schema) the table cannot take; such
// records go to the DLQ.
var errIncompatible = errors.New("incompatible record")

// coerce converts a decoded primitive value (from encoding/json with
// UseNumber, the Avro decoder or the Protobuf converter) to the Go value
// the column's Arrow builder takes; normalize handles nested types.
func coerce(t iceberg.Type, v any) (any, error) {
	bad := func() (any, error) {
		return nil, fmt.Errorf("%w: %T %v is not a %s", errIncompatible, v, v, t)
	}
	switch t.(type) {
	case iceberg.BooleanType:
		if b, ok := v.(bool); ok {
			return b, nil
		}
	case iceberg.Int32Type, iceberg.Int64Type, iceberg.DateType:
		var n int64
		switch x := v.(type) {
		case json.Number:
			i, err := strconv.ParseInt(string(x), 10, 64)
			if err != nil {
				return bad()
			}
			n = i
		case int32:
			n = int64(x)
		case int64:
			n = x
		case int:
			n = int64(x)
		case uint32:
			n = int64(x)
		case uint64:
			if x > math.MaxInt64 {
				return bad()
			}
			n = int64(x)
		case time.Time:
			if _, ok := t.(iceberg.DateType); !ok {
				return bad()
			}
			return int32(x.UTC().Unix() / 86400), nil
		case string:
			if _, ok := t.(iceberg.DateType); !ok {
				return bad()
			}
			d, err := time.Parse("2006-01-02", x)
			if err != nil {
				return bad()
			}
			return int32(d.Unix() / 86400), nil
		default:
			return bad()
		}
		if _, ok := t.(iceberg.Int64Type); ok {
			return n, nil
		}
		if n < math.MinInt32 || n > math.MaxInt32 {
			return bad()
		}
		return int32(n), nil
	case iceberg.Float32Type, iceberg.Float64Type:
		var f float64
		switch x := v.(type) {
		case json.Number:
			g, err := strconv.ParseFloat(string(x), 64)
			if err != nil {
				return bad()
			}
			f = g
		case float32:
			f = float64(x)
		case float64:
			f = x
		case int32:
			f = float64(x)
		case int64:
			f = float64(x)
		default:
			return bad()
		}
		if _, ok := t.(iceberg.Float32Type); ok {
			return float32(f), nil
		}
		return f, nil
	case iceberg.StringType:
		if s, ok := v.(string); ok {
			return s, nil
		}
	case iceberg.BinaryType:
		switch x := v.(type) {
		case []byte:
			return x, nil
		case string: // JSON carries bytes as base64
			b, err := base64.StdEncoding.DecodeString(x)
			if err != nil {
				return bad()
			}
			return b, nil
		}
	case iceberg.TimeType:
		if us, ok := timeOfDay(v); ok {
			return us, nil
		}
	case iceberg.TimestampTzType, iceberg.TimestampType:
		switch x := v.(type) {
		case time.Time:
			return x.UnixMicro(), nil
		case string:
			ts, err := time.Parse(time.RFC3339Nano, x)
			if err != nil {
				return bad()
			}
			return ts.UnixMicro(), nil
		case json.Number: // epoch milliseconds
			ms, err := strconv.ParseInt(string(x), 10, 64)
			if err != nil {
				return bad()
			}
			return ms * 1000, nil
		case int64:
			return x * 1000, nil
		}
	}
	return bad()
}

// batch accumulates converted rows for one schema and builds an Arrow
// record from them. Not safe for concurrent use.
type batch struct {
	schema *iceberg.Schema
	arrow  *arrow.Schema
	b      *array.RecordBuilder
	fields []iceberg.NestedField
	// byName maps a record column name to its index in fields.
	byName map[string]int
	rows   int
	bytes  int64
	// json is the direct path for JSON records, made on first use; nil
	// with jsonTried when the schema has a column it does not handle.
	json      *jsonRows
	jsonTried bool
}

func newBatch(sc *iceberg.Schema) (*batch, error) {
	as, err := table.SchemaToArrowSchema(sc, nil, true, false)
	if err != nil {
		return nil, err
	}
	bt := &batch{schema: sc, arrow: as, b: array.NewRecordBuilder(memory.DefaultAllocator, as), fields: sc.Fields(), byName: map[string]int{}}
	for i, f := range bt.fields {
		bt.byName[f.Name] = i
	}
	return bt, nil
}

// row is one converted record: a value per schema field (nil for null).
type row []any

// convert maps a decoded record onto the batch's schema. Unknown keys are
// ignored; a missing required column or a value of the wrong type is an
// errIncompatible.
func (bt *batch) convert(rec map[string]any, partition int32, offset int64, ts time.Time) (row, error) {
	r := make(row, len(bt.fields))
	for i, f := range bt.fields {
		switch f.Name {
		case colPartition:
			r[i] = partition
			continue
		case colOffset:
			r[i] = offset
			continue
		case colTimestamp:
			r[i] = ts.UnixMicro()
			continue
		}
		c, err := normalize(f.Type, rec[f.Name])
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", f.Name, err)
		}
		if c == nil && f.Required {
			return nil, fmt.Errorf("%w: required field %s is missing", errIncompatible, f.Name)
		}
		r[i] = c
	}
	return r, nil
}

// add appends a converted row; size is the source record's size, used to
// decide when the batch is full.
func (bt *batch) add(r row, size int) {
	for i, v := range r {
		appendValue(bt.b.Field(i), v)
	}
	bt.rows++
	bt.bytes += int64(size)
}

// addJSON appends a JSON record (a JSON object) through the direct path
// and reports true, or reports false, having changed nothing, when the
// caller must take the old path (decode, convert, add) to accept the
// record or to find out why it is rejected. size is as for add.
func (bt *batch) addJSON(data []byte, partition int32, offset int64, ts time.Time, size int) bool {
	if !bt.jsonTried {
		bt.json, bt.jsonTried = newJSONRows(bt.fields, bt.b), true
	}
	if bt.json == nil || !bt.json.appendJSON(data, partition, offset, ts) {
		return false
	}
	bt.rows++
	bt.bytes += int64(size)
	return true
}

// reader returns the batch as a RecordReader and resets the batch. The
// builders start the next batch with room for as many rows and string
// bytes as this one had, rather than growing to it by doubling (a copy
// and a clear of every buffer at each step).
func (bt *batch) reader() (array.RecordReader, error) {
	n := bt.b.Field(0).Len()
	data := make([]int, len(bt.fields))
	for i := range bt.fields {
		if b, ok := bt.b.Field(i).(interface{ DataLen() int }); ok {
			data[i] = b.DataLen()
		}
	}
	rec := bt.b.NewRecordBatch()
	defer rec.Release()
	bt.rows, bt.bytes = 0, 0
	for i := range bt.fields {
		fb := bt.b.Field(i)
		fb.Reserve(n)
		if b, ok := fb.(interface{ ReserveData(int) }); ok && data[i] > 0 {
			b.ReserveData(data[i])
		}
	}
	return array.NewRecordReader(bt.arrow, []arrow.RecordBatch{rec})
}

func (bt *batch) release() { bt.b.Release() }
