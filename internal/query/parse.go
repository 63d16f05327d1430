// Package query is the events query engine: a small language over the
// CloudEvents records of the internal topics (docs/events.md has its
// grammar), a planner that turns a query's time range into offset ranges
// of each partition through the timestamp index and splits them into
// tasks, and an executor that runs the tasks through the agent's own read
// path (fetch.Reader, in process), pruning tasks with the timestamps the
// finished ones observed and stopping early when a list is complete.
//
// Example:
//
//	q, err := query.Parse(`data.log_level == "error" and data.message contains "bucket" since 1h limit 20`)
//	if err != nil { … } // a *query.SyntaxError with the position
//	res, err := engine.Run(ctx, q, query.Options{})
package query

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// SyntaxError is a query the parser cannot read; Pos is the byte offset
// (0-based) in the query where the problem is.
type SyntaxError struct {
	Pos int
	Msg string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("query: at position %d: %s", e.Pos+1, e.Msg) }

// Sort is a query's order.
type Sort int

// Orders. SortDefault is SortDesc for lists.
const (
	SortDefault Sort = iota
	SortDesc
	SortAsc
	SortNone
)

func (s Sort) String() string {
	switch s {
	case SortAsc:
		return "asc"
	case SortNone:
		return "none"
	}
	return "desc"
}

// TimeSpec is a bound of the time range: an absolute time, or a duration
// before now.
type TimeSpec struct {
	Abs time.Time
	Ago time.Duration
}

// At resolves the bound against now.
func (t TimeSpec) At(now time.Time) time.Time {
	if !t.Abs.IsZero() {
		return t.Abs
	}
	return now.Add(-t.Ago)
}

// ParseTimeSpec reads "1h", "90m", "2d" (days) or an RFC 3339 time.
func ParseTimeSpec(s string) (TimeSpec, error) {
	if d, err := parseDuration(s); err == nil {
		if d < 0 {
			return TimeSpec{}, fmt.Errorf("negative duration %q", s)
		}
		return TimeSpec{Ago: d}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return TimeSpec{}, fmt.Errorf("%q is neither a duration (1h, 30m, 2d) nor an RFC 3339 time", s)
	}
	return TimeSpec{Abs: t}, nil
}

// parseDuration is time.ParseDuration with "d" for days.
func parseDuration(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		v, err := strconv.ParseFloat(n, 64)
		if err != nil {
			return 0, err
		}
		return time.Duration(v * float64(24*time.Hour)), nil
	}
	return time.ParseDuration(s)
}

// Query is a parsed query.
type Query struct {
	// Filter selects events; nil selects all.
	Filter Expr
	// From names the streams (or internal topics) to read; empty means
	// every stream.
	From []string
	// Since and Until bound the time range; nil Since means the
	// engine's default (1h before now), nil Until now.
	Since, Until *TimeSpec
	Sort         Sort
	// Limit bounds the events (or groups) returned; 0 means the default.
	Limit int
	// Count asks for counts instead of events (per group with GroupBy).
	Count bool
	// GroupBy lists the fields counts are grouped by.
	GroupBy []Field
	// Timeline, when positive, asks for counts per bucket of this width.
	Timeline time.Duration
}

// Field is a dotted path into an event ("data.log_level"); "time" is the
// record timestamp.
type Field struct {
	Path []string
	Pos  int
}

func (f Field) String() string { return strings.Join(f.Path, ".") }

// Expr is a filter expression.
type Expr interface{ expr() }

// Op is a comparison operator.
type Op string

// Operators.
const (
	OpEq       Op = "=="
	OpNe       Op = "!="
	OpLt       Op = "<"
	OpLe       Op = "<="
	OpGt       Op = ">"
	OpGe       Op = ">="
	OpContains Op = "contains"
	OpIn       Op = "in"
	OpExists   Op = "exists"
)

// Compare is `field op value` (Values holds the list of `in`, nothing for
// `exists`).
type Compare struct {
	Field  Field
	Op     Op
	Values []any // string, float64, bool or nil
}

// And, Or and Not combine expressions.
type (
	And struct{ L, R Expr }
	Or  struct{ L, R Expr }
	Not struct{ X Expr }
)

func (*Compare) expr() {}
func (*And) expr()     {}
func (*Or) expr()      {}
func (*Not) expr()     {}

// token kinds.
type kind int

const (
	tEOF kind = iota
	tIdent
	tString
	tNumber
	tDuration
	tOp // == != < <= > >=
	tLParen
	tRParen
	tComma
)

type token struct {
	kind kind
	text string // identifiers lower-cased only when matched as keywords
	val  any    // string or float64 for literals
	pos  int
}

func (t token) describe() string {
	switch t.kind {
	case tEOF:
		return "the end of the query"
	case tString:
		return strconv.Quote(t.val.(string))
	}
	return "'" + t.text + "'"
}

// keywords cannot start a field path.
var keywords = map[string]bool{
	"and": true, "or": true, "not": true, "in": true, "contains": true, "exists": true,
	"from": true, "since": true, "until": true, "sort": true, "limit": true, "count": true,
	"group": true, "by": true, "timeline": true, "true": true, "false": true, "null": true,
}

func lex(s string) ([]token, error) {
	var out []token
	i := 0
	for i < len(s) {
		r, w := utf8.DecodeRuneInString(s[i:])
		switch {
		case unicode.IsSpace(r):
			i += w
		case r == '(':
			out = append(out, token{kind: tLParen, text: "(", pos: i})
			i++
		case r == ')':
			out = append(out, token{kind: tRParen, text: ")", pos: i})
			i++
		case r == ',':
			out = append(out, token{kind: tComma, text: ",", pos: i})
			i++
		case r == '=' || r == '!' || r == '<' || r == '>':
			op := s[i : i+1]
			if i+1 < len(s) && s[i+1] == '=' {
				op = s[i : i+2]
			}
			switch op {
			case "=":
				return nil, &SyntaxError{i, "'=' is not an operator; use '==' to compare"}
			case "!":
				return nil, &SyntaxError{i, "'!' is not an operator; use '!=' or 'not'"}
			}
			out = append(out, token{kind: tOp, text: op, pos: i})
			i += len(op)
		case r == '"' || r == '\'':
			j := i + 1
			var b strings.Builder
			closed := false
			for j < len(s) {
				c := s[j]
				if c == '\\' && j+1 < len(s) {
					switch s[j+1] {
					case 'n':
						b.WriteByte('\n')
					case 't':
						b.WriteByte('\t')
					default:
						b.WriteByte(s[j+1])
					}
					j += 2
					continue
				}
				if rune(c) == r {
					closed = true
					j++
					break
				}
				b.WriteByte(c)
				j++
			}
			if !closed {
				return nil, &SyntaxError{i, "string is not closed"}
			}
			out = append(out, token{kind: tString, text: s[i:j], val: b.String(), pos: i})
			i = j
		case r == '-' || r == '.' || (r >= '0' && r <= '9'):
			j := i + 1
			for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == '.' || s[j] == 'e' || s[j] == 'E' ||
				((s[j] == '-' || s[j] == '+') && (s[j-1] == 'e' || s[j-1] == 'E'))) {
				j++
			}
			// A number followed by letters is a duration (1h, 1h30m, 2d).
			k := j
			for k < len(s) && (s[k] >= 'a' && s[k] <= 'z' || s[k] >= '0' && s[k] <= '9' || s[k] == '.') {
				k++
			}
			if k > j {
				text := s[i:k]
				if _, err := parseDuration(text); err != nil {
					return nil, &SyntaxError{i, fmt.Sprintf("%q is not a number or a duration (1h, 30m, 2d)", text)}
				}
				out = append(out, token{kind: tDuration, text: text, pos: i})
				i = k
				continue
			}
			text := s[i:j]
			f, err := strconv.ParseFloat(text, 64)
			if err != nil {
				return nil, &SyntaxError{i, fmt.Sprintf("%q is not a number", text)}
			}
			out = append(out, token{kind: tNumber, text: text, val: f, pos: i})
			i = j
		case r == '_' || r == '`' || unicode.IsLetter(r):
			j := i
			var b strings.Builder
			for j < len(s) {
				c, cw := utf8.DecodeRuneInString(s[j:])
				if c == '`' { // quoted segment: any characters but a backtick
					end := strings.IndexByte(s[j+1:], '`')
					if end < 0 {
						return nil, &SyntaxError{j, "quoted field name is not closed"}
					}
					b.WriteString(s[j+1 : j+1+end])
					j += end + 2
					continue
				}
				if !(c == '_' || c == '.' || c == '-' || unicode.IsLetter(c) || unicode.IsDigit(c)) {
					break
				}
				b.WriteRune(c)
				j += cw
			}
			out = append(out, token{kind: tIdent, text: b.String(), pos: i})
			i = j
		default:
			return nil, &SyntaxError{i, fmt.Sprintf("unexpected character %q", r)}
		}
	}
	out = append(out, token{kind: tEOF, pos: len(s)})
	return out, nil
}

type parser struct {
	toks []token
	i    int
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

// isKw reports whether t is the keyword kw.
func isKw(t token, kw string) bool { return t.kind == tIdent && strings.EqualFold(t.text, kw) }

func errAt(t token, format string, args ...any) error {
	return &SyntaxError{t.pos, fmt.Sprintf(format, args...)}
}

// MaxQueryLength bounds a query's text.
const MaxQueryLength = 16 << 10

// maxDepth bounds nesting, so a hostile query cannot exhaust the stack.
const maxDepth = 64

// Parse parses a query (docs/events.md has the grammar).
func Parse(s string) (*Query, error) {
	if len(s) > MaxQueryLength {
		return nil, &SyntaxError{MaxQueryLength, fmt.Sprintf("query longer than %d bytes", MaxQueryLength)}
	}
	toks, err := lex(s)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	q := &Query{}
	seen := map[string]bool{}
	for {
		t := p.peek()
		if t.kind == tEOF {
			break
		}
		if !isClause(t) {
			// The filter: one expression, before, between or after the
			// clauses.
			if q.Filter != nil {
				return nil, errAt(t, "expected 'and', 'or' or a clause (from, since, until, sort, limit, count, group by, timeline), found %s", t.describe())
			}
			if q.Filter, err = p.or(0); err != nil {
				return nil, err
			}
			continue
		}
		kw := strings.ToLower(t.text)
		if seen[kw] {
			return nil, errAt(t, "'%s' given twice", kw)
		}
		seen[kw] = true
		p.next()
		switch kw {
		case "from":
			for {
				n := p.next()
				if n.kind != tIdent && n.kind != tString {
					return nil, errAt(n, "expected a stream name after 'from' (agent_logs, audit, jobs, acl), found %s", n.describe())
				}
				name := n.text
				if n.kind == tString {
					name = n.val.(string)
				}
				q.From = append(q.From, name)
				if p.peek().kind != tComma {
					break
				}
				p.next()
			}
		case "since", "until":
			n := p.next()
			var ts TimeSpec
			switch n.kind {
			case tDuration:
				d, _ := parseDuration(n.text)
				ts = TimeSpec{Ago: d}
			case tString:
				at, err := time.Parse(time.RFC3339Nano, n.val.(string))
				if err != nil {
					return nil, errAt(n, "%s is not an RFC 3339 time (2006-01-02T15:04:05Z)", n.describe())
				}
				ts = TimeSpec{Abs: at}
			default:
				return nil, errAt(n, "expected a duration (1h) or a quoted RFC 3339 time after '%s', found %s", kw, n.describe())
			}
			if kw == "since" {
				q.Since = &ts
			} else {
				q.Until = &ts
			}
		case "sort":
			n := p.next()
			switch {
			case isKw(n, "none"):
				q.Sort = SortNone
			case isKw(n, "time"):
				q.Sort = SortDesc
				switch d := p.peek(); {
				case isKw(d, "asc"):
					p.next()
					q.Sort = SortAsc
				case isKw(d, "desc"):
					p.next()
				}
			default:
				return nil, errAt(n, "expected 'time' or 'none' after 'sort', found %s", n.describe())
			}
		case "limit":
			n := p.next()
			if n.kind != tNumber || n.val.(float64) < 1 || n.val.(float64) != float64(int(n.val.(float64))) || n.val.(float64) > 1e9 {
				return nil, errAt(n, "expected a positive whole number after 'limit', found %s", n.describe())
			}
			q.Limit = int(n.val.(float64))
		case "count":
			q.Count = true
		case "group":
			if n := p.next(); !isKw(n, "by") {
				return nil, errAt(n, "expected 'by' after 'group', found %s", n.describe())
			}
			for {
				f, err := p.field()
				if err != nil {
					return nil, err
				}
				q.GroupBy = append(q.GroupBy, f)
				if p.peek().kind != tComma {
					break
				}
				p.next()
			}
		case "timeline":
			n := p.next()
			if n.kind != tDuration {
				return nil, errAt(n, "expected a bucket width (1m, 5m, 1h) after 'timeline', found %s", n.describe())
			}
			d, _ := parseDuration(n.text)
			if d < time.Second {
				return nil, errAt(n, "timeline buckets must be at least 1s")
			}
			q.Timeline = d
		}
	}
	if q.Timeline > 0 && q.Count {
		return nil, &SyntaxError{len(s), "'count' and 'timeline' exclude each other (a timeline counts per bucket)"}
	}
	if len(q.GroupBy) > 0 && !q.Count && q.Timeline == 0 {
		q.Count = true // "group by x" alone counts per group
	}
	return q, nil
}

func isClause(t token) bool {
	if t.kind != tIdent {
		return false
	}
	switch strings.ToLower(t.text) {
	case "from", "since", "until", "sort", "limit", "count", "group", "timeline":
		return true
	}
	return false
}

func (p *parser) or(depth int) (Expr, error) {
	l, err := p.and(depth)
	if err != nil {
		return nil, err
	}
	for isKw(p.peek(), "or") {
		p.next()
		r, err := p.and(depth)
		if err != nil {
			return nil, err
		}
		l = &Or{l, r}
	}
	return l, nil
}

func (p *parser) and(depth int) (Expr, error) {
	l, err := p.not(depth)
	if err != nil {
		return nil, err
	}
	for isKw(p.peek(), "and") {
		p.next()
		r, err := p.not(depth)
		if err != nil {
			return nil, err
		}
		l = &And{l, r}
	}
	return l, nil
}

func (p *parser) not(depth int) (Expr, error) {
	if depth > maxDepth {
		return nil, errAt(p.peek(), "expression nested more than %d deep", maxDepth)
	}
	t := p.peek()
	if isKw(t, "not") {
		p.next()
		x, err := p.not(depth + 1)
		if err != nil {
			return nil, err
		}
		return &Not{x}, nil
	}
	if t.kind == tLParen {
		p.next()
		x, err := p.or(depth + 1)
		if err != nil {
			return nil, err
		}
		if c := p.next(); c.kind != tRParen {
			return nil, errAt(c, "expected ')' to close the '(' at position %d, found %s", t.pos+1, c.describe())
		}
		return x, nil
	}
	return p.compare()
}

func (p *parser) field() (Field, error) {
	t := p.next()
	if t.kind != tIdent || keywords[strings.ToLower(t.text)] {
		return Field{}, errAt(t, "expected a field (like data.log_level), found %s", t.describe())
	}
	path := strings.Split(t.text, ".")
	for _, seg := range path {
		if seg == "" {
			return Field{}, errAt(t, "field %q has an empty segment", t.text)
		}
	}
	return Field{Path: path, Pos: t.pos}, nil
}

func (p *parser) compare() (Expr, error) {
	f, err := p.field()
	if err != nil {
		return nil, err
	}
	t := p.next()
	switch {
	case t.kind == tOp:
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		return &Compare{Field: f, Op: Op(t.text), Values: []any{v}}, nil
	case isKw(t, "contains"):
		v := p.next()
		if v.kind != tString {
			return nil, errAt(v, "expected a quoted string after 'contains', found %s", v.describe())
		}
		return &Compare{Field: f, Op: OpContains, Values: []any{v.val}}, nil
	case isKw(t, "exists"):
		return &Compare{Field: f, Op: OpExists}, nil
	case isKw(t, "in"):
		if l := p.next(); l.kind != tLParen {
			return nil, errAt(l, "expected '(' after 'in', found %s", l.describe())
		}
		c := &Compare{Field: f, Op: OpIn}
		for {
			v, err := p.value()
			if err != nil {
				return nil, err
			}
			c.Values = append(c.Values, v)
			n := p.next()
			if n.kind == tRParen {
				return c, nil
			}
			if n.kind != tComma {
				return nil, errAt(n, "expected ',' or ')' in the 'in' list, found %s", n.describe())
			}
		}
	}
	return nil, errAt(t, "expected an operator (==, !=, <, <=, >, >=, contains, in, exists) after %s, found %s", f, t.describe())
}

func (p *parser) value() (any, error) {
	t := p.next()
	switch {
	case t.kind == tString, t.kind == tNumber:
		return t.val, nil
	case isKw(t, "true"):
		return true, nil
	case isKw(t, "false"):
		return false, nil
	case isKw(t, "null"):
		return nil, nil
	}
	return nil, errAt(t, "expected a value (a quoted string, a number, true, false or null), found %s", t.describe())
}
