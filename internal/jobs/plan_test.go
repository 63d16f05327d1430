package jobs

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/metadata"
)

// TestPlanMerges: each case lists extent sizes in offset order ("|" marks
// an offset gap before the next extent) and the groups planned, as the
// sizes of their members.
func TestPlanMerges(t *testing.T) {
	const max = 100
	cases := []struct{ in, want string }{
		{"1 1 1", ""},               // fewer than four similar extents wait
		{"1 1 1 1", "[1 1 1 1]"},    // four similar ones merge
		{"10 1 1 1 1", "[1 1 1 1]"}, // a larger head is not rewritten for small change
		{"10 10 10 10 1", "[10 10 10 10 1]"},
		{"60 10 10 10 10", "[10 10 10 10]"}, // 60+40 fits but 60 is over a quarter
		{"100 1 1 1 1", "[1 1 1 1]"},        // full-size extents stay
		{"30 30 30 30", ""},                 // 120 does not fit in 100; three alone are not enough
		{"1 1 | 1 1 1 1", "[1 1 1 1]"},      // no merging across a gap
		{"25 25 25 25 1 1 1 1", "[25 25 25 25] [1 1 1 1]"},
	}
	for _, c := range cases {
		var (
			exts []metadata.Extent
			next int64
		)
		for _, f := range strings.Fields(c.in) {
			if f == "|" {
				next += 10
				continue
			}
			var size int64
			fmt.Sscan(f, &size)
			exts = append(exts, metadata.Extent{BaseOffset: next, EndOffset: next + 1, ByteLength: size})
			next++
		}
		var got []string
		for _, g := range planMerges(exts, max) {
			var sizes []string
			for _, e := range g {
				sizes = append(sizes, fmt.Sprint(e.ByteLength))
			}
			got = append(got, "["+strings.Join(sizes, " ")+"]")
		}
		if s := strings.Join(got, " "); s != c.want {
			t.Errorf("planMerges(%s) = %q, want %q", c.in, s, c.want)
		}
	}
}
