package schema

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestCompareDoesNotExplode: schemas whose named types (Avro) or
// definitions (JSON) refer to each other through unions are compared in
// bounded time, whether compatible or not.
func TestCompareDoesNotExplode(t *testing.T) {
	const n = 12
	avroTypes := func(last string) string {
		var defs []string
		for i := range n {
			var branches []string
			for j := range n {
				branches = append(branches, fmt.Sprintf(`"T%d"`, j))
			}
			typ := "int"
			if i == n-1 {
				typ = last
			}
			// T0 is defined first; the others are defined inside the
			// union of T0's field, in order, then referred to by name.
			defs = append(defs, fmt.Sprintf(`{"type":"record","name":"T%d","fields":[{"name":"v","type":"%s"},{"name":"next","type":["null",%%s],"default":null}]}`, i, typ))
			_ = branches
		}
		// Nest: T0's union holds T1's definition, whose union holds T2's…
		out := "%s"
		for i := range n {
			refs := make([]string, 0, n)
			for j := range i + 1 {
				refs = append(refs, fmt.Sprintf(`"T%d"`, j))
			}
			inner := strings.Join(refs, ",")
			if i < n-1 {
				inner += ",%s"
			}
			out = fmt.Sprintf(out, fmt.Sprintf(defs[i], inner))
		}
		return out
	}
	var jsonDefs func(last string) string = func(last string) string {
		var defs []string
		for i := range n {
			var alts []string
			for j := range n {
				alts = append(alts, fmt.Sprintf(`{"$ref":"#/definitions/d%d"}`, j))
			}
			typ := "integer"
			if i == n-1 {
				typ = last
			}
			defs = append(defs, fmt.Sprintf(`"d%d":{"type":"object","properties":{"v":{"type":"%s"},"next":{"anyOf":[%s]}}}`, i, typ, strings.Join(alts, ",")))
		}
		return `{"definitions":{` + strings.Join(defs, ",") + `},"$ref":"#/definitions/d0"}`
	}
	for _, tc := range []struct {
		typ      Type
		old, new string
	}{
		{Avro, avroTypes("int"), avroTypes("int")},
		{Avro, avroTypes("int"), avroTypes("string")},
		{JSON, jsonDefs("integer"), jsonDefs("integer")},
		{JSON, jsonDefs("integer"), jsonDefs("string")},
	} {
		o, nw := mustParse(t, tc.typ, tc.old), mustParse(t, tc.typ, tc.new)
		start := time.Now()
		got := Check(FullTransitive, nw, []Schema{o})
		t.Logf("%s: %v, %d reasons", tc.typ, time.Since(start), len(got))
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%s: comparing took %v", tc.typ, d)
		}
		if tc.old == tc.new && len(got) != 0 {
			t.Errorf("%s: identical schemas refused: %q", tc.typ, got)
		}
		if tc.old != tc.new && len(got) == 0 {
			t.Errorf("%s: changed schemas accepted", tc.typ)
		}
	}
}
