package sequencer

import (
	"encoding/json"
	"math"
	"strconv"
)

// AppendRecent appends batches as the JSON array json.Marshal writes for
// them ([{"first":0,"last":2,"base":7},…]), except that no batches is []
// rather than null. Backends store a producer's recent batches so; it
// costs no allocation beyond growing buf.
func AppendRecent(buf []byte, batches []Batch) []byte {
	buf = append(buf, '[')
	for i, b := range batches {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, `{"first":`...)
		buf = strconv.AppendInt(buf, int64(b.First), 10)
		buf = append(buf, `,"last":`...)
		buf = strconv.AppendInt(buf, int64(b.Last), 10)
		buf = append(buf, `,"base":`...)
		buf = strconv.AppendInt(buf, b.Base, 10)
		buf = append(buf, '}')
	}
	return append(buf, ']')
}

// ParseRecent decodes a producer's recent batches: AppendRecentCompact's
// form (empty, or starting with a number), or JSON as json.Unmarshal into
// a []Batch does. The stored JSON forms (AppendRecent's, json.Marshal's,
// PostgreSQL's jsonb text with spaces and keys in any order) take a fast
// path that allocates only the result; anything else (escapes, unknown
// keys, null, invalid JSON) is left to json.Unmarshal, so the result and
// the errors are always json.Unmarshal's.
func ParseRecent(data []byte) ([]Batch, error) {
	if compactForm(data) {
		return parseCompact(data)
	}
	if out, ok := parseRecent(data); ok {
		return out, nil
	}
	var out []Batch
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// parseRecent is the fast path: ok is false for any input it does not
// fully understand.
func parseRecent(data []byte) (out []Batch, ok bool) {
	p := recentParser{data: data}
	p.space()
	if !p.byte('[') {
		return nil, false
	}
	n := 0
	for _, c := range data {
		if c == '{' {
			n++
		}
	}
	out = make([]Batch, 0, n+1) // room for the batch a commit records next
	p.space()
	if p.byte(']') {
		return out, p.end()
	}
	for {
		b, ok := p.object()
		if !ok {
			return nil, false
		}
		out = append(out, b)
		p.space()
		if p.byte(']') {
			return out, p.end()
		}
		if !p.byte(',') {
			return nil, false
		}
		p.space()
	}
}

type recentParser struct {
	data []byte
	i    int
}

func (p *recentParser) space() {
	for p.i < len(p.data) {
		switch p.data[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *recentParser) byte(c byte) bool {
	if p.i < len(p.data) && p.data[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *recentParser) end() bool {
	p.space()
	return p.i == len(p.data)
}

// object parses {"first":N,"last":N,"base":N} with the keys in any
// order, repeated (the last wins) or missing (zero), as encoding/json.
func (p *recentParser) object() (Batch, bool) {
	var b Batch
	if !p.byte('{') {
		return b, false
	}
	p.space()
	if p.byte('}') {
		return b, true
	}
	for {
		key, ok := p.key()
		if !ok {
			return b, false
		}
		p.space()
		if !p.byte(':') {
			return b, false
		}
		p.space()
		v, ok := p.int()
		if !ok {
			return b, false
		}
		switch key {
		case "first", "last":
			if v < math.MinInt32 || v > math.MaxInt32 {
				return b, false
			}
			if key == "first" {
				b.First = int32(v)
			} else {
				b.Last = int32(v)
			}
		case "base":
			b.Base = v
		}
		p.space()
		if p.byte('}') {
			return b, true
		}
		if !p.byte(',') {
			return b, false
		}
		p.space()
	}
}

// key reads one of the three keys, spelt exactly; other keys (and escapes)
// fail, leaving them to encoding/json's rules.
func (p *recentParser) key() (string, bool) {
	for _, k := range [...]string{`"first"`, `"last"`, `"base"`} {
		if len(p.data)-p.i >= len(k) && string(p.data[p.i:p.i+len(k)]) == k {
			p.i += len(k)
			return k[1 : len(k)-1], true
		}
	}
	return "", false
}

// int reads a JSON integer -?(0|[1-9][0-9]*) that fits an int64 and is not
// followed by a fraction or exponent.
func (p *recentParser) int() (int64, bool) {
	start := p.i
	p.byte('-')
	digits := p.i
	for p.i < len(p.data) && p.data[p.i] >= '0' && p.data[p.i] <= '9' {
		p.i++
	}
	switch {
	case p.i == digits:
		return 0, false
	case p.data[digits] == '0' && p.i-digits > 1:
		return 0, false
	case p.i < len(p.data) && (p.data[p.i] == '.' || p.data[p.i] == 'e' || p.data[p.i] == 'E'):
		return 0, false
	}
	v, err := strconv.ParseInt(string(p.data[start:p.i]), 10, 64)
	return v, err == nil
}
