package journal

import (
	"fmt"
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
	for _, k := range []string{MarkerKey("node-2", 0xabc), LegacyMarkerKey("node-2", 0xabc)} {
		m, ok := ParseMarker(k)
		if !ok || m.Agent != "node-2" || m.Generation != 0xabc || m.Key != k {
			t.Fatalf("ParseMarker(%q) = %+v, %v", k, m, ok)
		}
		if _, ok := Parse(k); ok {
			t.Errorf("Parse(%q) accepted a marker", k)
		}
	}
	if k := MarkerKey("node-2", 0xabc); !strings.HasPrefix(k, AgentMarkerPrefix("node-2")) || strings.HasPrefix(k, Prefix) {
		t.Fatalf("MarkerKey = %q: want it under %q and outside %q, which holds every journaled file", k, AgentMarkerPrefix("node-2"), Prefix)
	}
	for _, bad := range []string{"journal/node-2/open", "journal/node-2/0000000000000abc/opened", LegacyKey("a", 1, 2, "files/open"),
		"journal-open/node-2/abc", "journal-open/node-2/0000000000000abc/x", "journal-open//0000000000000abc"} {
		if _, ok := ParseMarker(bad); ok {
			t.Errorf("ParseMarker(%q) accepted", bad)
		}
	}
}

// A journaled data file is its own entry: Parse says it is resident, and
// its generation's prefix holds it and every entry of the generation, in
// both layouts, but no other generation's.
func TestFileKeyRoundTrip(t *testing.T) {
	const name = "000000000000abcd-0123456789ab.slc"
	k := FileKey("node-3", 0x18c, 7, name)
	if k != "journal/node-3/000000000000018c/0000000000000007-"+name {
		t.Fatalf("FileKey = %q", k)
	}
	e, ok := Parse(k)
	if !ok || !e.Resident() || e.Agent != "node-3" || e.Generation != 0x18c || e.Sequence != 7 || e.File != k {
		t.Fatalf("Parse(%q) = %+v, %v", k, e, ok)
	}
	entry, _ := Parse(Key("node-3", 0x18c, 8, "files/2026/x.slc"))
	if entry.Resident() || entry.File != "files/2026/x.slc" {
		t.Fatalf("an entry parsed as %+v", entry)
	}
	p := GenerationPrefix("node-3", 0x18c)
	for _, in := range []string{k, Key("node-3", 0x18c, 8, "files/x"), LegacyKey("node-3", 0x18c, 9, "files/x")} {
		if !strings.HasPrefix(in, p) {
			t.Errorf("%q is not under its generation's prefix %q", in, p)
		}
	}
	for _, out := range []string{FileKey("node-3", 0x18d, 1, name), FileKey("node-3", 0x18c0, 1, name), FileKey("node-30", 0x18c, 1, name)} {
		if strings.HasPrefix(out, p) {
			t.Errorf("%q is under another generation's prefix %q", out, p)
		}
	}
	for _, bad := range []string{"", "a/b", "a!b"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("FileKey accepted name %q", bad)
				}
			}()
			FileKey("a", 1, 1, bad)
		}()
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
	fileKey := func(agent string, gen, seq uint64, file string) string {
		return FileKey(agent, gen, seq, strings.ReplaceAll(file, "/", "-"))
	}
	for _, key := range []func(string, uint64, uint64, string) string{Key, LegacyKey, fileKey} {
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

// Parse and ParseMarker accept exactly the keys the key functions write:
// whatever they accept names itself again, so recovery can never act on
// a key it misread.
func FuzzParse(f *testing.F) {
	f.Add(FileKey("node-1", 0x18c, 7, "000000000000abcd-0123456789ab.slc"))
	f.Add(Key("node-1", 0x18c, 8, "files/2026/12/06/09/x.slc"))
	f.Add(LegacyKey("node-1", 0x18c, 9, "files/2026/12/06/09/x.slc"))
	f.Add(MarkerKey("node-1", 0x18c))
	f.Add(LegacyMarkerKey("node-1", 0x18c))
	f.Add("journal/a/0000000000000001/0000000000000001-x!")
	f.Fuzz(func(t *testing.T, key string) {
		if e, ok := Parse(key); ok {
			var again []string
			if e.Resident() {
				name := key[len(GenerationPrefix(e.Agent, e.Generation))+18:]
				again = append(again, fmt.Sprintf("%s%s/%016x/%016x-%s", Prefix, e.Agent, e.Generation, e.Sequence, name))
			} else {
				again = append(again, LegacyKey(e.Agent, e.Generation, e.Sequence, e.File),
					fmt.Sprintf("%s%s/%016x/%016x-%s", Prefix, e.Agent, e.Generation, e.Sequence, strings.ReplaceAll(e.File, "/", "!")))
			}
			if !slicesContains(again, key) {
				t.Fatalf("Parse(%q) = %+v, which names %v", key, e, again)
			}
			if _, ok := ParseMarker(key); ok {
				t.Fatalf("%q parses as both a file and a marker", key)
			}
		}
		if m, ok := ParseMarker(key); ok {
			if key != MarkerKey(m.Agent, m.Generation) && key != LegacyMarkerKey(m.Agent, m.Generation) {
				t.Fatalf("ParseMarker(%q) = %+v", key, m)
			}
		}
	})
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
