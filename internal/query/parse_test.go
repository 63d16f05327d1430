package query

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// ev builds the record of an event whose value is the JSON object v.
func ev(ts int64, typ string, v map[string]any) *record {
	return &record{ts: ts, typ: typ, source: "sluice://c/node-1", value: v}
}

// TestOperators: one row per operator (and combinator), each with a case
// that matches and one that does not, evaluated on a real parse.
func TestOperators(t *testing.T) {
	at := time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC).UnixMilli()
	r := ev(at, "io.sluice.agent.log", map[string]any{
		"data": map[string]any{
			"log_level": "error", "message": "bucket failing: timeout", "count": 42.0, "ok": false,
			"tags": []any{"a", "b"}, "code": "17", "nothing": nil,
		},
	})
	rows := []struct {
		q    string
		want bool
	}{
		{`data.log_level == "error"`, true},
		{`data.log_level == "warn"`, false},
		{`data.log_level != "warn"`, true},
		{`data.log_level != "error"`, false},
		{`data.missing != "x"`, true}, // missing: not equal to anything
		{`data.missing == "x"`, false},
		{`data.count < 50`, true},
		{`data.count < 42`, false},
		{`data.count <= 42`, true},
		{`data.count <= 41.5`, false},
		{`data.count > 41`, true},
		{`data.count > 42`, false},
		{`data.count >= 42`, true},
		{`data.count >= 43`, false},
		{`data.code == 17`, true}, // a numeric string compares as a number
		{`data.code > 9`, true},
		{`data.log_level < "f"`, true}, // strings order lexically
		{`data.log_level > "f"`, false},
		{`data.ok == false`, true},
		{`data.ok == true`, false},
		{`data.nothing == null`, true},
		{`data.log_level == null`, false},
		{`data.message contains "failing"`, true},
		{`data.message contains "FAILING"`, false}, // case-sensitive
		{`data.tags contains "b"`, true},
		{`data.tags contains "c"`, false},
		{`data.log_level in ("warn", "error")`, true},
		{`data.log_level in ("warn", "info")`, false},
		{`data.count in (1, 42)`, true},
		{`data.log_level exists`, true},
		{`data.missing exists`, false},
		{`not data.log_level == "warn"`, true},
		{`not data.log_level == "error"`, false},
		{`data.log_level == "error" and data.count == 42`, true},
		{`data.log_level == "error" and data.count == 1`, false},
		{`data.log_level == "warn" or data.count == 42`, true},
		{`data.log_level == "warn" or data.count == 1`, false},
		{`(data.log_level == "warn" or data.count == 42) and type == "io.sluice.agent.log"`, true},
		{`data.log_level == "warn" or data.count == 42 and data.ok == true`, false}, // and binds tighter
		{`(data.log_level == "error" or data.count == 1) and data.ok == true`, false},
		{`not (data.log_level == "warn" or data.count == 1)`, true},
		{`time >= "2026-12-06T09:00:00Z"`, true},
		{`time > "2026-12-06T09:00:00Z"`, false},
		{`time < "2026-12-06T10:00:00+01:00"`, false}, // same instant
		{`source contains "node-1"`, true},
		{`data.count>=42 AND data.log_level=="error"`, true}, // keywords are case-insensitive
		{"data.`log_level` == 'error'", true},
	}
	for _, row := range rows {
		q, err := Parse(row.q)
		if err != nil {
			t.Errorf("Parse(%s): %v", row.q, err)
			continue
		}
		if got := eval(q.Filter, r); got != row.want {
			t.Errorf("%s: got %v, want %v", row.q, got, row.want)
		}
	}
}

// TestClauses: every clause parses into its field.
func TestClauses(t *testing.T) {
	q, err := Parse(`data.x == 1 from audit, jobs since 2h until "2026-12-06T08:00:00Z" sort time asc limit 7`)
	if err != nil {
		t.Fatal(err)
	}
	if len(q.From) != 2 || q.From[0] != "audit" || q.From[1] != "jobs" {
		t.Errorf("from: %v", q.From)
	}
	if q.Since == nil || q.Since.Ago != 2*time.Hour {
		t.Errorf("since: %+v", q.Since)
	}
	if q.Until == nil || !q.Until.Abs.Equal(time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)) {
		t.Errorf("until: %+v", q.Until)
	}
	if q.Sort != SortAsc || q.Limit != 7 || q.Count {
		t.Errorf("sort %v limit %d count %v", q.Sort, q.Limit, q.Count)
	}
	q, err = Parse(`count group by data.log_level, type timeline 5m`)
	if err == nil {
		t.Fatalf("count with timeline parsed: %+v", q)
	}
	q, err = Parse(`timeline 5m group by data.log_level since 1d`)
	if err != nil {
		t.Fatal(err)
	}
	if q.Timeline != 5*time.Minute || len(q.GroupBy) != 1 || q.GroupBy[0].String() != "data.log_level" || q.Since.Ago != 24*time.Hour {
		t.Errorf("timeline query: %+v", q)
	}
	q, err = Parse(`group by type`)
	if err != nil || !q.Count {
		t.Errorf("group by alone should count: %+v %v", q, err)
	}
	q, err = Parse(`sort none`)
	if err != nil || q.Sort != SortNone || q.Filter != nil {
		t.Errorf("sort none: %+v %v", q, err)
	}
	q, err = Parse(`from jobs data.job == "compaction" limit 3`)
	if err != nil || q.Filter == nil || q.Limit != 3 || q.From[0] != "jobs" {
		t.Errorf("filter after a clause: %+v %v", q, err)
	}
	if q, err := Parse(""); err != nil || q.Filter != nil {
		t.Errorf("empty query: %+v %v", q, err)
	}
}

// TestSyntaxErrors: wrong queries are answered with what is wrong and
// where (1-based position in the message, 0-based Pos).
func TestSyntaxErrors(t *testing.T) {
	rows := []struct {
		q    string
		pos  int // 0-based
		text string
	}{
		{`data.x = 1`, 7, "use '=='"},
		{`data.x == `, 10, "expected a value"},
		{`data.x == and`, 10, "expected a value"},
		{`data.x 1`, 7, "expected an operator"},
		{`(data.x == 1`, 12, "expected ')' to close the '(' at position 1"},
		{`data.x == "abc`, 10, "string is not closed"},
		{`== 1`, 0, "expected a field"},
		{`and == 1`, 0, "expected a field"},
		{`data.x == 1 data.y == 2`, 12, "expected 'and', 'or' or a clause"},
		{`data.x == 1 limit 0`, 18, "positive whole number"},
		{`data.x == 1 limit 2.5`, 18, "positive whole number"},
		{`since yesterday`, 6, "expected a duration"},
		{`since "yesterday"`, 6, "not an RFC 3339 time"},
		{`sort size`, 5, "expected 'time' or 'none'"},
		{`group data.x`, 6, "expected 'by'"},
		{`timeline 5`, 9, "bucket width"},
		{`timeline 10ms`, 9, "at least 1s"},
		{`limit 5 limit 6`, 8, "given twice"},
		{`data.x in 1`, 10, "expected '('"},
		{`data.x in (1 2)`, 13, "expected ',' or ')'"},
		{`data.x contains 5`, 16, "quoted string"},
		{`data..x == 1`, 0, "empty segment"},
		{`data.x == 1 from`, 16, "stream name"},
		{`data.x ! 1`, 7, "'!' is not an operator"},
		{`data.x == 12abc`, 10, "not a number or a duration"},
		{`data.x == 1 ; drop`, 12, "unexpected character"},
		{"data.`x == 1", 5, "quoted field name is not closed"},
		{strings.Repeat("(", 100) + "a == 1" + strings.Repeat(")", 100), 65, "nested more than"},
	}
	for _, row := range rows {
		_, err := Parse(row.q)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Parse(%q): got %v, want a syntax error", row.q, err)
			continue
		}
		if se.Pos != row.pos || !strings.Contains(se.Msg, row.text) {
			t.Errorf("Parse(%q): got %q at %d, want %q at %d", row.q, se.Msg, se.Pos, row.text, row.pos)
		}
		if !strings.Contains(err.Error(), "position ") {
			t.Errorf("error %q does not say where", err)
		}
	}
}

func TestMetadataOnly(t *testing.T) {
	for q, want := range map[string]bool{
		`count`:                               false,
		`type == "x" count`:                   false,
		`time > "2026-01-01T00:00:00Z" count`: false,
		`timeline 1m group by type`:           false,
		`data.x == 1 count`:                   true,
		`count group by data.x`:               true,
		`type == "x"`:                         true, // lists return the events
	} {
		p, err := Parse(q)
		if err != nil {
			t.Fatal(err)
		}
		if got := needsValue(p); got != want {
			t.Errorf("needsValue(%s) = %v, want %v", q, got, want)
		}
	}
}

func TestGoldenOrder(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 10, 97, 1000} {
		o := goldenOrder(n)
		if len(o) != n {
			t.Fatalf("n=%d: %d tasks ordered", n, len(o))
		}
		seen := make([]bool, n)
		for _, i := range o {
			if seen[i] {
				t.Fatalf("n=%d: task %d twice", n, i)
			}
			seen[i] = true
		}
		if n >= 10 {
			// The middle first, and the first few spread over the range:
			// the first five land in five different fifths.
			if o[0] != n/2 {
				t.Errorf("n=%d: first task %d, want the middle %d", n, o[0], n/2)
			}
			fifths := map[int]bool{}
			for _, i := range o[:5] {
				fifths[i*5/n] = true
			}
			if len(fifths) != 5 {
				t.Errorf("n=%d: first five tasks %v do not cover every fifth", n, o[:5])
			}
		}
	}
}

// FuzzParseQuery: the parser never panics, and errors always carry a
// position inside the query (or at its end).
func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{
		`data.log_level == "error"`,
		`not (a.b in (1, "x", true, null) or c contains "d") and e exists`,
		`from audit, jobs since 1h until "2026-12-06T08:00:00Z" sort time asc limit 10`,
		`count group by data.principal, type`,
		`timeline 5m group by data.log_level`,
		"data.`weird key` >= -1.5e3",
		`((((a == 1))))`,
		`a == 'it\'s'`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := Parse(s)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("non-syntax error %v", err)
			}
			if se.Pos < 0 || se.Pos > len(s) {
				t.Fatalf("position %d outside the query of %d bytes", se.Pos, len(s))
			}
			return
		}
		eval(q.Filter, ev(0, "t", map[string]any{"a": map[string]any{"b": 1.0}}))
	})
}
