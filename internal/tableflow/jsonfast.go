package tableflow

import (
	"encoding/base64"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/iceberg-go"
)

// The direct JSON path. decodeJSON + convert + add build a map[string]any
// per record (an allocation per key and per value, json.Number strings,
// a row of interfaces) before anything reaches Arrow; that was most of
// the ingest CPU. jsonRows scans a record's bytes once, remembers where
// each column's value lies, converts those values and appends them
// straight to the batch's builders: no maps, no interfaces, and no
// allocation per record in the common case.
//
// It is only ever a shortcut. appendJSON accepts a record only when it is
// sure the old path would accept it and produce the same row: strict
// RFC 8259 syntax (the old decoder accepts a superset), valid UTF-8,
// values whose conversion it fully understands. Anything else (a syntax
// error, a wrong type, a missing required column, a lone surrogate, a
// timestamp it cannot parse) makes it return false and leaves the batch
// untouched, and the caller runs the old path, which produces the same
// row or the same DLQ error as before. The differential tests and
// FuzzJSONDirect hold the two paths to that.
//
// Why hand-rolled: the JSON libraries at hand decode into Go values
// (encoding/json, goccy/go-json: the cost being removed) or, when they
// stream (goccy's and json-iterator's token and iterator APIs), either
// allocate per token or skip unknown values without validating them,
// which would let the direct path accept records the old path sends to
// the DLQ. encoding/json/jsontext (Go's json v2) would fit but is still
// behind GOEXPERIMENT in our Go version.

// directKind is what a column takes from a record.
type directKind uint8

const (
	dkBool directKind = iota + 1
	dkInt32
	dkInt64
	dkFloat32
	dkFloat64
	dkString
	dkBinary
	dkDate
	dkTimestamp
	dkKafkaPartition
	dkKafkaOffset
	dkKafkaTimestamp
)

type directCol struct {
	kind     directKind
	required bool
	b        array.Builder
}

// jsonSpan is where a column's value lies in the record: tok is its first
// byte ('"', 't', 'f', 'n', '{', '[' or '-'/digit; 0 when absent); for a
// string, start and end bound its contents without the quotes, and plain
// says it holds no escapes.
type jsonSpan struct {
	start, end int
	tok        byte
	plain      bool
}

// directVal is a converted value: n for integers, dates and timestamps, f
// for floats, bytes [s, e) of the record (or of buf when inBuf) for
// strings and binaries.
type directVal struct {
	null  bool
	inBuf bool
	n     int64
	f     float64
	s, e  int
}

// jsonRows appends JSON records to a batch's builders. Not safe for
// concurrent use (it is part of a batch).
type jsonRows struct {
	cols   []directCol
	byName map[string]int // record column name → index in cols
	// Per record, reused.
	spans []jsonSpan
	vals  []directVal
	buf   []byte // unescaped strings and decoded binaries
	key   []byte // an unescaped key
}

// newJSONRows returns the direct path for a batch's schema, or nil when a
// column has a type it does not handle (nested types, decimals, times,
// UUIDs: those tables take the old path).
func newJSONRows(fields []iceberg.NestedField, rb *array.RecordBuilder) *jsonRows {
	jr := &jsonRows{byName: map[string]int{}}
	for i, f := range fields {
		c := directCol{required: f.Required, b: rb.Field(i)}
		switch f.Name {
		case colPartition:
			c.kind = dkKafkaPartition
		case colOffset:
			c.kind = dkKafkaOffset
		case colTimestamp:
			c.kind = dkKafkaTimestamp
		default:
			jr.byName[f.Name] = i
			switch f.Type.(type) {
			case iceberg.BooleanType:
				c.kind = dkBool
			case iceberg.Int32Type:
				c.kind = dkInt32
			case iceberg.Int64Type:
				c.kind = dkInt64
			case iceberg.Float32Type:
				c.kind = dkFloat32
			case iceberg.Float64Type:
				c.kind = dkFloat64
			case iceberg.StringType:
				c.kind = dkString
			case iceberg.BinaryType:
				c.kind = dkBinary
			case iceberg.DateType:
				c.kind = dkDate
			case iceberg.TimestampType, iceberg.TimestampTzType:
				c.kind = dkTimestamp
			default:
				return nil
			}
		}
		if !builderFits(c.kind, c.b) {
			return nil
		}
		jr.cols = append(jr.cols, c)
	}
	jr.spans = make([]jsonSpan, len(jr.cols))
	jr.vals = make([]directVal, len(jr.cols))
	return jr
}

// builderFits reports whether b is the builder appendValue would use for
// the kind (and so the one append writes to).
func builderFits(k directKind, b array.Builder) bool {
	var ok bool
	switch k {
	case dkBool:
		_, ok = b.(*array.BooleanBuilder)
	case dkInt32, dkKafkaPartition:
		_, ok = b.(*array.Int32Builder)
	case dkInt64, dkKafkaOffset:
		_, ok = b.(*array.Int64Builder)
	case dkFloat32:
		_, ok = b.(*array.Float32Builder)
	case dkFloat64:
		_, ok = b.(*array.Float64Builder)
	case dkString:
		_, ok = b.(*array.StringBuilder)
	case dkBinary:
		_, ok = b.(*array.BinaryBuilder)
	case dkDate:
		_, ok = b.(*array.Date32Builder)
	case dkTimestamp, dkKafkaTimestamp:
		_, ok = b.(*array.TimestampBuilder)
	}
	return ok
}

// appendJSON appends one record (a JSON object) as a row and reports
// true, or reports false and leaves the builders as they were: the caller
// then takes the old path (see the comment at the top).
func (jr *jsonRows) appendJSON(data []byte, partition int32, offset int64, ts time.Time) bool {
	for i := range jr.spans {
		jr.spans[i] = jsonSpan{}
	}
	jr.buf = jr.buf[:0]
	if !jr.scan(data) || !jr.convert(data) {
		return false
	}
	for i, c := range jr.cols {
		v := &jr.vals[i]
		switch c.kind {
		case dkKafkaPartition:
			c.b.(*array.Int32Builder).Append(partition)
			continue
		case dkKafkaOffset:
			c.b.(*array.Int64Builder).Append(offset)
			continue
		case dkKafkaTimestamp:
			c.b.(*array.TimestampBuilder).Append(arrow.Timestamp(ts.UnixMicro()))
			continue
		}
		if v.null {
			c.b.AppendNull()
			continue
		}
		switch c.kind {
		case dkBool:
			c.b.(*array.BooleanBuilder).Append(v.n != 0)
		case dkInt32:
			c.b.(*array.Int32Builder).Append(int32(v.n))
		case dkInt64:
			c.b.(*array.Int64Builder).Append(v.n)
		case dkFloat32:
			c.b.(*array.Float32Builder).Append(float32(v.f))
		case dkFloat64:
			c.b.(*array.Float64Builder).Append(v.f)
		case dkString:
			c.b.(*array.StringBuilder).BinaryBuilder.Append(jr.bytes(data, v))
		case dkBinary:
			c.b.(*array.BinaryBuilder).Append(jr.bytes(data, v))
		case dkDate:
			c.b.(*array.Date32Builder).Append(arrow.Date32(v.n))
		case dkTimestamp:
			c.b.(*array.TimestampBuilder).Append(arrow.Timestamp(v.n))
		}
	}
	return true
}

func (jr *jsonRows) bytes(data []byte, v *directVal) []byte {
	if v.inBuf {
		return jr.buf[v.s:v.e]
	}
	return data[v.s:v.e]
}

// maxSkipDepth bounds the nesting of values the direct path skips; deeper
// records take the old path (whose decoder has its own, larger, limit).
const maxSkipDepth = 256

// scan checks data is one JSON object and nothing else (whitespace
// aside) and records the span of every column's value; a later duplicate
// key wins, as it does in a decoded map.
func (jr *jsonRows) scan(data []byte) bool {
	i := skipWS(data, 0)
	if i >= len(data) || data[i] != '{' {
		return false
	}
	i = skipWS(data, i+1)
	if i < len(data) && data[i] == '}' {
		return skipWS(data, i+1) == len(data)
	}
	for {
		if i >= len(data) || data[i] != '"' {
			return false
		}
		ks, ke, plain, ok := scanString(data, i)
		if !ok {
			return false
		}
		i = skipWS(data, ke+1)
		if i >= len(data) || data[i] != ':' {
			return false
		}
		i = skipWS(data, i+1)
		vs := i
		var sp jsonSpan
		if i < len(data) && data[i] == '"' {
			s, e, p, ok := scanString(data, i)
			if !ok {
				return false
			}
			sp = jsonSpan{start: s, end: e, tok: '"', plain: p}
			i = e + 1
		} else {
			if i, ok = skipValue(data, i); !ok {
				return false
			}
			sp = jsonSpan{start: vs, end: i, tok: data[vs]}
		}
		var col int
		var known bool
		if plain {
			col, known = jr.byName[string(data[ks:ke])]
		} else {
			if jr.key, ok = unescape(jr.key[:0], data[ks:ke]); !ok {
				return false
			}
			col, known = jr.byName[string(jr.key)]
		}
		if known {
			jr.spans[col] = sp
		}
		i = skipWS(data, i)
		if i >= len(data) {
			return false
		}
		switch data[i] {
		case ',':
			i = skipWS(data, i+1)
		case '}':
			return skipWS(data, i+1) == len(data)
		default:
			return false
		}
	}
}

// convert turns every column's span into a value, as coerce would; false
// when any is not one coerce accepts, or not one this path is sure of.
func (jr *jsonRows) convert(data []byte) bool {
	for i, c := range jr.cols {
		if c.kind >= dkKafkaPartition {
			continue
		}
		sp := jr.spans[i]
		v := &jr.vals[i]
		*v = directVal{}
		if sp.tok == 0 || sp.tok == 'n' {
			if c.required {
				return false
			}
			v.null = true
			continue
		}
		raw := data[sp.start:sp.end]
		isNum := sp.tok == '-' || (sp.tok >= '0' && sp.tok <= '9')
		switch c.kind {
		case dkBool:
			switch sp.tok {
			case 't':
				v.n = 1
			case 'f':
			default:
				return false
			}
		case dkInt32, dkInt64, dkDate:
			if isNum {
				n, ok := parseInt(raw)
				if !ok || (c.kind != dkInt64 && (n < math.MinInt32 || n > math.MaxInt32)) {
					return false
				}
				v.n = n
			} else if c.kind == dkDate && sp.tok == '"' {
				s, ok := jr.text(data, sp, v)
				if !ok {
					return false
				}
				d, err := time.Parse("2006-01-02", s)
				if err != nil {
					return false
				}
				v.n = int64(int32(d.Unix() / 86400))
			} else {
				return false
			}
		case dkFloat32, dkFloat64:
			if !isNum {
				return false
			}
			f, ok := parseFloat(raw)
			if !ok {
				return false
			}
			v.f = f
		case dkString:
			if sp.tok != '"' {
				return false
			}
			if !jr.str(data, sp, v) {
				return false
			}
		case dkBinary:
			if sp.tok != '"' || !jr.str(data, sp, v) {
				return false
			}
			// Decode the base64 text (in the record or buf) to the end of buf.
			src := jr.bytes(data, v)
			if v.inBuf {
				src = append([]byte(nil), src...) // buf grows below
			}
			start := len(jr.buf)
			jr.buf = append(jr.buf, make([]byte, base64.StdEncoding.DecodedLen(len(src)))...)
			n, err := base64.StdEncoding.Decode(jr.buf[start:], src)
			if err != nil {
				return false
			}
			jr.buf = jr.buf[:start+n]
			*v = directVal{inBuf: true, s: start, e: start + n}
		case dkTimestamp:
			switch {
			case isNum: // epoch milliseconds
				ms, ok := parseInt(raw)
				if !ok {
					return false
				}
				v.n = ms * 1000
			case sp.tok == '"':
				s, ok := jr.text(data, sp, v)
				if !ok {
					return false
				}
				t, err := time.Parse(time.RFC3339Nano, s)
				if err != nil {
					return false
				}
				v.n = t.UnixMicro()
			default:
				return false
			}
		}
	}
	return true
}

// str sets v to a string value's bytes: in the record when it has no
// escapes, else unescaped into buf.
func (jr *jsonRows) str(data []byte, sp jsonSpan, v *directVal) bool {
	if sp.plain {
		v.s, v.e = sp.start, sp.end
		return true
	}
	start := len(jr.buf)
	var ok bool
	if jr.buf, ok = unescape(jr.buf, data[sp.start:sp.end]); !ok {
		return false
	}
	v.inBuf, v.s, v.e = true, start, len(jr.buf)
	return true
}

// text is a string value as a Go string (for time.Parse).
func (jr *jsonRows) text(data []byte, sp jsonSpan, v *directVal) (string, bool) {
	if !jr.str(data, sp, v) {
		return "", false
	}
	s := string(jr.bytes(data, v))
	*v = directVal{}
	return s, true
}

func skipWS(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// strSafe marks the bytes a string can hold without a closer look: not a
// quote, a backslash, a control character or a non-ASCII byte.
var strSafe = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// scanString checks the string starting at data[i] (a quote) and returns
// the bounds of its contents; plain is true when it has no escapes. A
// string with invalid UTF-8 is refused.
func scanString(data []byte, i int) (start, end int, plain, ok bool) {
	start = i + 1
	plain = true
	ascii := true
	for j := start; j < len(data); {
		c := data[j]
		if strSafe[c] {
			j++
			continue
		}
		switch {
		case c == '"':
			if !ascii && !utf8.Valid(data[start:j]) {
				return 0, 0, false, false
			}
			return start, j, plain, true
		case c == '\\':
			plain = false
			if j+1 >= len(data) {
				return 0, 0, false, false
			}
			switch data[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j += 2
			case 'u':
				if j+6 > len(data) {
					return 0, 0, false, false
				}
				for _, h := range data[j+2 : j+6] {
					if hexVal(h) < 0 {
						return 0, 0, false, false
					}
				}
				j += 6
			default:
				return 0, 0, false, false
			}
		case c < 0x20:
			return 0, 0, false, false
		default: // non-ASCII
			ascii = false
			j++
		}
	}
	return 0, 0, false, false
}

func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

func hex4(b []byte) rune {
	return rune(hexVal(b[0])<<12 | hexVal(b[1])<<8 | hexVal(b[2])<<4 | hexVal(b[3]))
}

// unescape appends the contents of a checked string to dst. A \u escape
// of a lone surrogate is refused (decoders differ on what it becomes).
func unescape(dst, s []byte) ([]byte, bool) {
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			dst = append(dst, c)
			i++
			continue
		}
		switch s[i+1] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := hex4(s[i+2:])
			i += 6
			if utf8.ValidRune(r) {
				dst = utf8.AppendRune(dst, r)
				continue
			}
			// A high surrogate must be followed by an escaped low one.
			if r >= 0xDC00 || i+6 > len(s) || s[i] != '\\' || s[i+1] != 'u' {
				return dst, false
			}
			lo := hex4(s[i+2:])
			if lo < 0xDC00 || lo > 0xDFFF {
				return dst, false
			}
			dst = utf8.AppendRune(dst, 0x10000+(r-0xD800)<<10+(lo-0xDC00))
			i += 6
			continue
		default: // '"', '\\', '/'
			dst = append(dst, s[i+1])
		}
		i += 2
	}
	return dst, true
}

// skipValue checks the value starting at data[i] and returns the index
// after it. Nested objects and arrays are walked with an explicit stack.
func skipValue(data []byte, i int) (int, bool) {
	var stack [maxSkipDepth]byte
	depth := 0
	for {
		// A value starts at i.
		if i >= len(data) {
			return 0, false
		}
		switch c := data[i]; {
		case c == '"':
			_, e, _, ok := scanString(data, i)
			if !ok {
				return 0, false
			}
			i = e + 1
		case c == '{' || c == '[':
			if depth == maxSkipDepth {
				return 0, false
			}
			close := byte('}')
			if c == '[' {
				close = ']'
			}
			stack[depth] = close
			depth++
			i = skipWS(data, i+1)
			if i < len(data) && data[i] == close {
				i++
				depth--
				break
			}
			if c == '{' {
				var ok bool
				if i, ok = skipKey(data, i); !ok {
					return 0, false
				}
			}
			continue
		case c == 't':
			if !hasWord(data, i, "true") {
				return 0, false
			}
			i += 4
		case c == 'f':
			if !hasWord(data, i, "false") {
				return 0, false
			}
			i += 5
		case c == 'n':
			if !hasWord(data, i, "null") {
				return 0, false
			}
			i += 4
		case c == '-' || (c >= '0' && c <= '9'):
			var ok bool
			if i, ok = skipNumber(data, i); !ok {
				return 0, false
			}
		default:
			return 0, false
		}
		// After a value: close containers or move to the next element.
		for {
			if depth == 0 {
				return i, true
			}
			i = skipWS(data, i)
			if i >= len(data) {
				return 0, false
			}
			if data[i] == stack[depth-1] {
				i++
				depth--
				continue
			}
			if data[i] != ',' {
				return 0, false
			}
			i = skipWS(data, i+1)
			if stack[depth-1] == '}' {
				var ok bool
				if i, ok = skipKey(data, i); !ok {
					return 0, false
				}
			}
			i = skipWS(data, i)
			break
		}
	}
}

// skipKey checks `"key" :` at data[i] and returns the index after the colon.
func skipKey(data []byte, i int) (int, bool) {
	if i >= len(data) || data[i] != '"' {
		return 0, false
	}
	_, e, _, ok := scanString(data, i)
	if !ok {
		return 0, false
	}
	i = skipWS(data, e+1)
	if i >= len(data) || data[i] != ':' {
		return 0, false
	}
	return skipWS(data, i+1), true
}

func hasWord(data []byte, i int, w string) bool {
	return len(data)-i >= len(w) && string(data[i:i+len(w)]) == w
}

// skipNumber checks a number by RFC 8259's grammar
// (-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?) and returns the index
// after it.
func skipNumber(data []byte, i int) (int, bool) {
	digits := func(i int) (int, bool) {
		j := i
		for j < len(data) && data[j] >= '0' && data[j] <= '9' {
			j++
		}
		return j, j > i
	}
	if data[i] == '-' {
		i++
	}
	if i >= len(data) {
		return 0, false
	}
	var ok bool
	if data[i] == '0' {
		i++
	} else if i, ok = digits(i); !ok {
		return 0, false
	}
	if i < len(data) && data[i] == '.' {
		if i, ok = digits(i + 1); !ok {
			return 0, false
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if i, ok = digits(i); !ok {
			return 0, false
		}
	}
	return i, true
}

// parseInt parses a checked JSON number as strconv.ParseInt(s, 10, 64)
// would: false for fractions, exponents and values out of range.
func parseInt(b []byte) (int64, bool) {
	neg := b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var u uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		u = u*10 + uint64(c-'0')
	}
	if neg {
		if u > 1<<63 {
			return 0, false
		}
		return -int64(u), true
	}
	if u > math.MaxInt64 {
		return 0, false
	}
	return int64(u), true
}

// pow10 are the powers of ten a float64 holds exactly.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// parseFloat parses a checked JSON number as strconv.ParseFloat(s, 64)
// would. Numbers of at most 15 significant digits and a small exponent
// take the exact fast path (one rounding of an exact product or quotient,
// so the same correctly rounded result); others go to strconv.
func parseFloat(b []byte) (float64, bool) {
	var mant uint64
	var digits, exp int
	i := 0
	neg := b[0] == '-'
	if neg {
		i++
	}
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		if mant != 0 || b[i] != '0' {
			digits++
		}
		mant = mant*10 + uint64(b[i]-'0')
		if digits > 15 {
			return slowFloat(b)
		}
	}
	if i < len(b) && b[i] == '.' {
		for i++; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
			if mant != 0 || b[i] != '0' {
				digits++
			}
			mant = mant*10 + uint64(b[i]-'0')
			exp--
			if digits > 15 {
				return slowFloat(b)
			}
		}
	}
	if i < len(b) { // an exponent
		return slowFloat(b)
	}
	f := float64(mant) // exact: mant < 10^15 < 2^53
	if -exp >= len(pow10) {
		return slowFloat(b)
	}
	f /= pow10[-exp]
	if neg {
		f = -f
	}
	return f, true
}

func slowFloat(b []byte) (float64, bool) {
	f, err := strconv.ParseFloat(string(b), 64)
	return f, err == nil
}
