package sequencer

import (
	"encoding/json"
	"math"
	"testing"
)

func sameBatches(a, b []Batch) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestAppendRecentMatchesMarshal(t *testing.T) {
	for _, bs := range [][]Batch{
		{{First: 0, Last: 0, Base: 0}},
		{{First: 5, Last: 9, Base: 100}, {First: 10, Last: math.MaxInt32, Base: math.MaxInt64}, {First: math.MinInt32, Last: -1, Base: math.MinInt64}},
	} {
		want, _ := json.Marshal(bs)
		if got := AppendRecent(nil, bs); string(got) != string(want) {
			t.Fatalf("AppendRecent = %s, json.Marshal = %s", got, want)
		}
		back, err := ParseRecent(AppendRecent(nil, bs))
		if err != nil || !sameBatches(back, bs) {
			t.Fatalf("round trip of %v = %v, %v", bs, back, err)
		}
	}
	if got := AppendRecent(nil, nil); string(got) != "[]" {
		t.Fatalf("AppendRecent(nil) = %s, want []", got)
	}
}

// TestParseRecentForms checks the forms the backends store take the fast
// path, and that everything agrees with json.Unmarshal.
func TestParseRecentForms(t *testing.T) {
	fast := []string{
		`[]`,
		` [ ] `,
		`[{"first":0,"last":2,"base":7}]`,
		// PostgreSQL jsonb text: spaces, keys ordered by length.
		`[{"base": 7, "last": 2, "first": 0}, {"base": -1, "last": 2147483647, "first": -2147483648}]`,
		`[{"first":1,"first":3}]`,
		`[{}]`,
		`[{"base":-0}]`,
	}
	for _, in := range fast {
		if _, ok := parseRecent([]byte(in)); !ok {
			t.Errorf("%s: not parsed by the fast path", in)
		}
	}
	slow := append(fast,
		`null`, `[{"First":1}]`, `[{"fir\u0073t":1}]`, `[{"first":1.0}]`, `[{"first":1e2}]`, `[{"first":01}]`,
		`[{"first":2147483648}]`, `[{"base":9223372036854775808}]`, `[{"other":1}]`, `[1]`, `[{"first":1}`, `[{"first":1}]x`,
		`[{"first":-}]`, `[{"first":"1"}]`, `{}`, ` `, `[,]`, `[{"first":1,}]`)
	for _, in := range slow {
		check(t, []byte(in))
	}
}

func check(t *testing.T, data []byte) {
	t.Helper()
	if compactForm(data) {
		checkCompact(t, data)
		return
	}
	var want []Batch
	wantErr := json.Unmarshal(data, &want)
	got, err := ParseRecent(data)
	if (err != nil) != (wantErr != nil) || (err == nil && !sameBatches(got, want)) {
		t.Fatalf("ParseRecent(%q) = %v, %v; json.Unmarshal: %v, %v", data, got, err, want, wantErr)
	}
}

func FuzzParseRecent(f *testing.F) {
	for _, s := range []string{`[]`, `[{"first":0,"last":2,"base":7}]`, `[{"base": 7, "last": 2, "first": 0}]`, `[{"first":1e2}]`, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		check(t, data)
	})
}
