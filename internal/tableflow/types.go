package tableflow

import (
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/iceberg-go"
)

// Nested values. Every format's decoder produces the same Go shapes (a
// record or struct is a map[string]any, a list a []any, a map a
// map[string]any or map[any]any); normalize checks them against the
// table's Iceberg type and turns them into the shapes appendValue writes
// into Arrow builders:
//
//	struct  → []any, one value per field in the type's order (nil = null)
//	list    → []any
//	map     → mapValue
//	decimal → decimal128.Num
//	others  → what coerce returns (bool, int32, int64, float32, float64,
//	          string, []byte; date int32 days; timestamp/time int64 µs)

// mapValue is a normalized map: parallel keys and values.
type mapValue struct{ keys, vals []any }

// maxNesting bounds how deep a schema's types (and so a value) may nest;
// deeper (or recursive) schemas are refused rather than walked forever.
const maxNesting = 32

// normalize checks v against t and converts it for appendValue. A value of
// the wrong shape, or a null where the type requires a value, is an
// errIncompatible naming the path to it.
func normalize(t iceberg.Type, v any) (any, error) {
	if p, ok := v.(*any); ok {
		if p == nil {
			return nil, nil
		}
		v = *p
	}
	if v == nil {
		return nil, nil
	}
	switch t := t.(type) {
	case *iceberg.StructType:
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%w: %T is not a record", errIncompatible, v)
		}
		out := make([]any, len(t.FieldList))
		for i, f := range t.FieldList {
			fv, err := normalize(f.Type, m[f.Name])
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f.Name, err)
			}
			if fv == nil && f.Required {
				return nil, fmt.Errorf("%w: required field %s is missing", errIncompatible, f.Name)
			}
			out[i] = fv
		}
		return out, nil
	case *iceberg.ListType:
		l, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("%w: %T is not a list", errIncompatible, v)
		}
		out := make([]any, len(l))
		for i, e := range l {
			ev, err := normalize(t.Element, e)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			if ev == nil && t.ElementRequired {
				return nil, fmt.Errorf("%w: [%d] is null in a list of required elements", errIncompatible, i)
			}
			out[i] = ev
		}
		return out, nil
	case *iceberg.MapType:
		var out mapValue
		add := func(k, e any) error {
			kv, err := normalize(t.KeyType, k)
			if err != nil {
				return fmt.Errorf("key %v: %w", k, err)
			}
			if kv == nil {
				return fmt.Errorf("%w: null map key", errIncompatible)
			}
			ev, err := normalize(t.ValueType, e)
			if err != nil {
				return fmt.Errorf("[%v]: %w", k, err)
			}
			if ev == nil && t.ValueRequired {
				return fmt.Errorf("%w: [%v] is null in a map of required values", errIncompatible, k)
			}
			out.keys, out.vals = append(out.keys, kv), append(out.vals, ev)
			return nil
		}
		switch m := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(m))
			for k := range m {
				keys = append(keys, k)
			}
			slices.Sort(keys) // a deterministic row for a given record
			for _, k := range keys {
				var kv any = k
				if _, isString := t.KeyType.(iceberg.StringType); !isString {
					kv = json.Number(k) // JSON object keys are strings, even numeric ones
				}
				if err := add(kv, m[k]); err != nil {
					return nil, err
				}
			}
		case map[any]any:
			for k, e := range m {
				if err := add(k, e); err != nil {
					return nil, err
				}
			}
		default:
			return nil, fmt.Errorf("%w: %T is not a map", errIncompatible, v)
		}
		return out, nil
	case iceberg.DecimalType:
		var s string
		switch x := v.(type) {
		case *big.Rat:
			s = x.FloatString(t.Scale())
		case json.Number:
			s = string(x)
		case string:
			s = x
		case float64:
			s = strconv.FormatFloat(x, 'f', -1, 64)
		case int64:
			s = strconv.FormatInt(x, 10)
		default:
			return nil, fmt.Errorf("%w: %T %v is not a %s", errIncompatible, v, v, t)
		}
		n, err := decimal128.FromString(s, int32(t.Precision()), int32(t.Scale()))
		if err != nil {
			return nil, fmt.Errorf("%w: %q is not a %s: %v", errIncompatible, s, t, err)
		}
		return n, nil
	}
	return coerce(t, v)
}

// appendValue appends a normalized value to the builder of its column.
func appendValue(b array.Builder, v any) {
	if v == nil {
		b.AppendNull()
		return
	}
	switch b := b.(type) {
	case *array.BooleanBuilder:
		b.Append(v.(bool))
	case *array.Int32Builder:
		b.Append(v.(int32))
	case *array.Int64Builder:
		b.Append(v.(int64))
	case *array.Float32Builder:
		b.Append(v.(float32))
	case *array.Float64Builder:
		b.Append(v.(float64))
	case *array.StringBuilder:
		b.Append(v.(string))
	case *array.BinaryBuilder:
		b.Append(v.([]byte))
	case *array.Date32Builder:
		b.Append(arrow.Date32(v.(int32)))
	case *array.TimestampBuilder:
		b.Append(arrow.Timestamp(v.(int64)))
	case *array.Time64Builder:
		b.Append(arrow.Time64(v.(int64)))
	case *array.Decimal128Builder:
		b.Append(v.(decimal128.Num))
	case *array.StructBuilder:
		b.Append(true)
		for i, fv := range v.([]any) {
			appendValue(b.FieldBuilder(i), fv)
		}
	case *array.ListBuilder:
		b.Append(true)
		vb := b.ValueBuilder()
		for _, e := range v.([]any) {
			appendValue(vb, e)
		}
	case *array.MapBuilder:
		mv := v.(mapValue)
		b.Append(true)
		kb, ib := b.KeyBuilder(), b.ItemBuilder()
		for i := range mv.keys {
			appendValue(kb, mv.keys[i])
			appendValue(ib, mv.vals[i])
		}
	default:
		panic(fmt.Sprintf("tableflow: no appender for %T", b))
	}
}

// withFreshIDs returns t with every nested field, element, key and value
// numbered by next (top-level column IDs are assigned by the caller).
func withFreshIDs(t iceberg.Type, next func() int) iceberg.Type {
	switch t := t.(type) {
	case *iceberg.StructType:
		fs := make([]iceberg.NestedField, len(t.FieldList))
		for i, f := range t.FieldList {
			f.ID = next()
			fs[i] = f
		}
		for i := range fs {
			fs[i].Type = withFreshIDs(fs[i].Type, next)
		}
		return &iceberg.StructType{FieldList: fs}
	case *iceberg.ListType:
		id := next()
		return &iceberg.ListType{ElementID: id, Element: withFreshIDs(t.Element, next), ElementRequired: t.ElementRequired}
	case *iceberg.MapType:
		kid, vid := next(), next()
		return &iceberg.MapType{KeyID: kid, KeyType: withFreshIDs(t.KeyType, next), ValueID: vid, ValueType: withFreshIDs(t.ValueType, next), ValueRequired: t.ValueRequired}
	}
	return t
}

// listOf and mapOf build the list and map types of every mapping. Their
// elements and values are always optional, even when the source schema
// forbids nulls there: Parquet readers (iceberg-go's scan among them)
// read nested values back as nullable and refuse a schema that says
// otherwise. Records are no less checked: the source's decoder already
// refused nulls its schema forbids.
func listOf(elem iceberg.Type) *iceberg.ListType { return &iceberg.ListType{Element: elem} }

func mapOf(key, val iceberg.Type) *iceberg.MapType {
	return &iceberg.MapType{KeyType: key, ValueType: val}
}

// timeOfDay converts a time-of-day value to microseconds since midnight.
func timeOfDay(v any) (int64, bool) {
	switch x := v.(type) {
	case time.Duration:
		return x.Microseconds(), true
	case time.Time:
		h, m, s := x.Clock()
		return int64(h*3600+m*60+s)*1e6 + int64(x.Nanosecond()/1000), true
	}
	return 0, false
}
