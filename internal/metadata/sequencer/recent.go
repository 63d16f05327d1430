package sequencer

import (
	"errors"
	"math"
	"strconv"
)

// AppendRecentCompact appends batches in the compact stored form, a
// fifth the size of AppendRecent's JSON for a producer's usual five
// batches (every commit rewrites a producer's row, so its width is paid on
// every commit: docs/performance.md, "Metadata commit"). Each batch is
// B:F:N, batches are separated by commas, and no batches is the empty
// string. N is Last - First; B and F are the base offset and first
// sequence of the first batch, and of every later batch the difference
// from the batch before it (B with wrapping int64 arithmetic, so every
// value round-trips). [{First:0 Last:2 Base:7} {First:3 Last:3 Base:10}]
// is "7:0:2,3:3:0". ParseRecent reads both forms.
func AppendRecentCompact(buf []byte, batches []Batch) []byte {
	var prev Batch
	for i, b := range batches {
		base, first := b.Base, int64(b.First)
		if i > 0 {
			buf = append(buf, ',')
			base, first = b.Base-prev.Base, first-int64(prev.First)
		}
		buf = strconv.AppendInt(buf, base, 10)
		buf = append(buf, ':')
		buf = strconv.AppendInt(buf, first, 10)
		buf = append(buf, ':')
		buf = strconv.AppendInt(buf, int64(b.Last)-int64(b.First), 10)
		prev = b
	}
	return buf
}

// compactForm reports whether data is in AppendRecentCompact's form
// rather than JSON: empty, or starting with a number, which no JSON
// ParseRecent accepts can.
func compactForm(data []byte) bool {
	return len(data) == 0 || data[0] == '-' || (data[0] >= '0' && data[0] <= '9')
}

var errBadCompact = errors.New("sequencer: malformed compact producer state")

// parseCompact decodes AppendRecentCompact's form; it allocates only the
// result.
func parseCompact(data []byte) ([]Batch, error) {
	if len(data) == 0 {
		return make([]Batch, 0, 1), nil
	}
	n := 1
	for _, c := range data {
		if c == ',' {
			n++
		}
	}
	out := make([]Batch, 0, n+1) // room for the batch a commit records next
	var prev Batch
	for i := 0; ; {
		var v [3]int64
		for j := range v {
			var ok bool
			if v[j], i, ok = compactInt(data, i); !ok {
				return nil, errBadCompact
			}
			if j < 2 {
				if i == len(data) || data[i] != ':' {
					return nil, errBadCompact
				}
				i++
			}
		}
		base, first := v[0], v[1]
		if len(out) > 0 {
			base, first = prev.Base+base, int64(prev.First)+first
		}
		last := first + v[2]
		if first < math.MinInt32 || first > math.MaxInt32 || last < math.MinInt32 || last > math.MaxInt32 {
			return nil, errBadCompact
		}
		prev = Batch{First: int32(first), Last: int32(last), Base: base}
		out = append(out, prev)
		if i == len(data) {
			return out, nil
		}
		if data[i] != ',' {
			return nil, errBadCompact
		}
		i++
	}
}

// compactInt reads -?[0-9]+ that fits an int64 at data[i:], returning it
// and the index after it.
func compactInt(data []byte, i int) (int64, int, bool) {
	neg := i < len(data) && data[i] == '-'
	if neg {
		i++
	}
	start := i
	var u uint64
	for ; i < len(data) && data[i] >= '0' && data[i] <= '9'; i++ {
		d := uint64(data[i] - '0')
		if u > (math.MaxUint64-d)/10 {
			return 0, i, false
		}
		u = u*10 + d
	}
	switch {
	case i == start:
		return 0, i, false
	case neg && u <= 1<<63:
		return int64(-u), i, true // -(1<<63) wraps to math.MinInt64
	case !neg && u <= math.MaxInt64:
		return int64(u), i, true
	}
	return 0, i, false
}
