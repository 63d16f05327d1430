package journal

import (
	"sort"
	"testing"
)

func TestKeyRoundTrip(t *testing.T) {
	k := Key("node-3", 0x18c, 7, "files/2026/12/06/09/00000001-abc.slc")
	e, ok := Parse(k)
	if !ok || e.Agent != "node-3" || e.Generation != 0x18c || e.Sequence != 7 || e.File != "files/2026/12/06/09/00000001-abc.slc" || e.Key != k {
		t.Fatalf("Parse(%q) = %+v, %v", k, e, ok)
	}
	for _, bad := range []string{"files/x.slc", "journal/", "journal/a/", "journal/a/0-1/f", "journal/a/" + "000000000000000g-0000000000000001/f", "journal/a/0000000000000001-0000000000000001/"} {
		if _, ok := Parse(bad); ok {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

// Lexical order of keys is (generation, sequence) order, which is what lets
// recovery sequence a listing as it comes.
func TestKeysSortInWriteOrder(t *testing.T) {
	want := []string{
		Key("a", 1, 2, "files/z"),
		Key("a", 1, 10, "files/a"),
		Key("a", 2, 0, "files/m"),
		Key("a", 0x10, 1, "files/b"),
	}
	got := append([]string(nil), want...)
	sort.Sort(sort.Reverse(sort.StringSlice(got)))
	sort.Strings(got)
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("sorted keys = %v, want %v", got, want)
		}
	}
}
