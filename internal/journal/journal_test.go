package journal

import (
	"sort"
	"strings"
	"testing"
)

func TestKeyRoundTrip(t *testing.T) {
	const file = "files/2026/12/06/09/00000001-abc.slc"
	k := Key("node-3", 0x18c, 7, file)
	if strings.Count(k, "/") != 3 {
		t.Fatalf("Key = %q: want journal/<agent>/<generation>/<name>, one directory per generation", k)
	}
	e, ok := Parse(k)
	if !ok || e.Agent != "node-3" || e.Generation != 0x18c || e.Sequence != 7 || e.File != file || e.Key != k {
		t.Fatalf("Parse(%q) = %+v, %v", k, e, ok)
	}
	if _, ok := ParseMarker(k); ok {
		t.Errorf("ParseMarker(%q) accepted an entry", k)
	}
	for _, bad := range []string{
		"files/x.slc", "journal/", "journal/a/", "journal/a/0-1/f",
		"journal/a/" + "000000000000000g-0000000000000001/f",
		"journal/a/0000000000000001-0000000000000001/",
		"journal/a/0000000000000001/",
		"journal/a/0000000000000001/0000000000000001-",
		"journal/a/0000000000000001/000000000000000g-files!x",
		"journal/a/0000000000000001/0000000000000001-files!x/y",
		"journal/a/000000000000001/0000000000000001-files!x",
		MarkerKey("a", 1),
	} {
		if _, ok := Parse(bad); ok {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

// Entries written by agents before the flat layout are still read, with
// the same fields.
func TestParseLegacyLayout(t *testing.T) {
	const file = "files/2026/12/06/09/00000001-abc.slc"
	k := LegacyKey("node-3", 0x18c, 7, file)
	if k != "journal/node-3/000000000000018c-0000000000000007/"+file {
		t.Fatalf("LegacyKey = %q", k)
	}
	e, ok := Parse(k)
	if !ok || e.Agent != "node-3" || e.Generation != 0x18c || e.Sequence != 7 || e.File != file || e.Key != k {
		t.Fatalf("Parse(%q) = %+v, %v", k, e, ok)
	}
}

func TestMarker(t *testing.T) {
	k := MarkerKey("node-2", 0xabc)
	m, ok := ParseMarker(k)
	if !ok || m.Agent != "node-2" || m.Generation != 0xabc || m.Key != k {
		t.Fatalf("ParseMarker(%q) = %+v, %v", k, m, ok)
	}
	if !strings.HasPrefix(Key("node-2", 0xabc, 1, "files/f"), k[:strings.LastIndex(k, "/")+1]) {
		t.Fatal("a generation's marker is not in its entries' directory")
	}
	for _, bad := range []string{"journal/node-2/open", "journal/node-2/0000000000000abc/opened", LegacyKey("a", 1, 2, "files/open")} {
		if _, ok := ParseMarker(bad); ok {
			t.Errorf("ParseMarker(%q) accepted", bad)
		}
	}
}

func TestKeyRefusesUnreadableNames(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Key accepted a file key with '!'")
		}
	}()
	Key("a", 1, 1, "files/a!b")
}

// Lexical order of one layout's keys is (generation, sequence) order, which
// is what lets recovery sequence a listing as it comes.
func TestKeysSortInWriteOrder(t *testing.T) {
	for _, key := range []func(string, uint64, uint64, string) string{Key, LegacyKey} {
		want := []string{
			key("a", 1, 2, "files/z"),
			key("a", 1, 10, "files/a"),
			key("a", 2, 0, "files/m"),
			key("a", 0x10, 1, "files/b"),
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
}
