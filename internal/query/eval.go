package query

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// record is one event as the evaluator sees it: the record's timestamp
// and headers always, its decoded value only when the query needs a
// payload field (metadata-only evaluation otherwise).
type record struct {
	ts     int64 // ms
	typ    string
	source string
	value  map[string]any // nil until decoded
}

// metaFields can be answered from the record without decoding its value:
// the timestamp and the ce_type/ce_source headers.
var metaFields = map[string]bool{"time": true, "type": true, "source": true}

// needsValue reports whether evaluating the query needs record values.
func needsValue(q *Query) bool {
	if !q.Count && q.Timeline == 0 {
		return true // lists return the events themselves
	}
	for _, f := range q.GroupBy {
		if !isMeta(f) {
			return true
		}
	}
	return exprNeedsValue(q.Filter)
}

func isMeta(f Field) bool { return len(f.Path) == 1 && metaFields[f.Path[0]] }

func exprNeedsValue(e Expr) bool {
	switch x := e.(type) {
	case nil:
		return false
	case *Compare:
		return !isMeta(x.Field)
	case *And:
		return exprNeedsValue(x.L) || exprNeedsValue(x.R)
	case *Or:
		return exprNeedsValue(x.L) || exprNeedsValue(x.R)
	case *Not:
		return exprNeedsValue(x.X)
	}
	return true
}

// lookup returns a field's value (string, float64, bool, nil, map or
// slice) and whether it is present. time is the record timestamp in ms.
func (r *record) lookup(f Field) (any, bool) {
	if len(f.Path) == 1 {
		switch f.Path[0] {
		case "time":
			return float64(r.ts), true
		case "type":
			if r.typ != "" || r.value == nil {
				return r.typ, true
			}
		case "source":
			if r.source != "" || r.value == nil {
				return r.source, true
			}
		}
	}
	var cur any = r.value
	for _, seg := range f.Path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[seg]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// eval evaluates a filter; a nil filter matches everything.
func eval(e Expr, r *record) bool {
	switch x := e.(type) {
	case nil:
		return true
	case *And:
		return eval(x.L, r) && eval(x.R, r)
	case *Or:
		return eval(x.L, r) || eval(x.R, r)
	case *Not:
		return !eval(x.X, r)
	case *Compare:
		return compare(x, r)
	}
	return false
}

// compare evaluates one comparison. A missing field satisfies only '!='
// (and 'not …'): it equals nothing and is ordered before nothing.
func compare(c *Compare, r *record) bool {
	v, ok := r.lookup(c.Field)
	if c.Op == OpExists {
		return ok
	}
	if !ok {
		return c.Op == OpNe
	}
	isTime := len(c.Field.Path) == 1 && c.Field.Path[0] == "time"
	switch c.Op {
	case OpEq:
		return equal(v, c.Values[0], isTime)
	case OpNe:
		return !equal(v, c.Values[0], isTime)
	case OpIn:
		for _, w := range c.Values {
			if equal(v, w, isTime) {
				return true
			}
		}
		return false
	case OpContains:
		sub, _ := c.Values[0].(string)
		switch x := v.(type) {
		case string:
			return strings.Contains(x, sub)
		case []any:
			for _, el := range x {
				if equal(el, sub, false) {
					return true
				}
			}
		}
		return false
	}
	cmp, ok := order(v, c.Values[0], isTime)
	if !ok {
		return false
	}
	switch c.Op {
	case OpLt:
		return cmp < 0
	case OpLe:
		return cmp <= 0
	case OpGt:
		return cmp > 0
	case OpGe:
		return cmp >= 0
	}
	return false
}

// literal converts a literal compared with time (an RFC 3339 string) to
// milliseconds.
func literal(w any, isTime bool) any {
	if s, ok := w.(string); ok && isTime {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return float64(t.UnixMilli())
		}
	}
	return w
}

// number reads a number from a float or a numeric string.
func number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case string:
		f, err := strconv.ParseFloat(x, 64)
		return f, err == nil
	}
	return 0, false
}

func equal(v, w any, isTime bool) bool {
	w = literal(w, isTime)
	switch x := v.(type) {
	case string:
		if s, ok := w.(string); ok {
			return x == s
		}
		if f, ok := w.(float64); ok {
			n, ok := number(x)
			return ok && n == f
		}
		return false
	case float64:
		n, ok := number(w)
		return ok && n == x
	case bool:
		b, ok := w.(bool)
		return ok && b == x
	case nil:
		return w == nil
	}
	return false
}

// order compares v with w: numbers numerically (a numeric string
// counts), strings lexically; anything else does not order.
func order(v, w any, isTime bool) (int, bool) {
	w = literal(w, isTime)
	if a, ok := v.(string); ok {
		if b, ok := w.(string); ok {
			return strings.Compare(a, b), true
		}
	}
	a, ok1 := number(v)
	b, ok2 := number(w)
	if !ok1 || !ok2 {
		return 0, false
	}
	switch {
	case a < b:
		return -1, true
	case a > b:
		return 1, true
	}
	return 0, true
}

// groupKey renders a field's value as a group key ("" when missing).
func groupKey(r *record, f Field) string {
	v, ok := r.lookup(f)
	if !ok || v == nil {
		return ""
	}
	switch x := v.(type) {
	case string:
		return x
	case float64:
		if isMeta(f) && f.Path[0] == "time" {
			return time.UnixMilli(int64(x)).UTC().Format(time.RFC3339Nano)
		}
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
