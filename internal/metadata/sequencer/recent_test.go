package sequencer

import (
	"encoding/binary"
	"math"
	"testing"
)

func TestRecentCompactRoundTrip(t *testing.T) {
	for _, c := range []struct {
		batches []Batch
		want    string
	}{
		{nil, ""},
		{[]Batch{{First: 0, Last: 2, Base: 7}, {First: 3, Last: 3, Base: 10}}, "7:0:2,3:3:0"},
		// A producer's usual state: five batches of consecutive sequences.
		{[]Batch{{1000, 1004, 5_000_000_000}, {1005, 1009, 5_000_000_005}, {1010, 1014, 5_000_000_010}, {1015, 1019, 5_000_000_015}, {1020, 1024, 5_000_000_020}},
			"5000000000:1000:4,5:5:4,5:5:4,5:5:4,5:5:4"},
		// Sequences wrap at MaxInt32; extreme bases wrap their differences.
		{[]Batch{{math.MaxInt32 - 1, math.MaxInt32, math.MaxInt64}, {0, 4, math.MinInt64}, {math.MinInt32, -1, 0}},
			"9223372036854775807:2147483646:1,1:-2147483646:4,-9223372036854775808:-2147483648:2147483647"},
	} {
		got := AppendRecentCompact(nil, c.batches)
		if string(got) != c.want {
			t.Errorf("AppendRecentCompact(%v) = %q, want %q", c.batches, got, c.want)
		}
		back, err := ParseRecent(got)
		if err != nil || !sameBatches(back, c.batches) {
			t.Errorf("ParseRecent(%q) = %v, %v; want %v", got, back, err, c.batches)
		}
	}
}

func TestRecentCompactMalformed(t *testing.T) {
	for _, in := range []string{"1", "1:2", "1:2:", "1:2:3,", "1:2:3,4", "1::3", "-:1:1", "1:2:3x", "1:2147483648:0",
		"1:2147483647:1", "0:0:0,0:2147483648:0", "9223372036854775808:0:0", "-9223372036854775809:0:0", "1 :2:3"} {
		if got, err := ParseRecent([]byte(in)); err == nil {
			t.Errorf("ParseRecent(%q) = %v, want an error", in, got)
		}
	}
}

// checkCompact checks that data in the compact form parses without
// panicking and, when it parses, re-encodes to a form that parses to the
// same batches.
func checkCompact(t *testing.T, data []byte) {
	t.Helper()
	got, err := ParseRecent(data)
	if err != nil {
		return
	}
	back, err := ParseRecent(AppendRecentCompact(nil, got))
	if err != nil || !sameBatches(back, got) {
		t.Fatalf("ParseRecent(%q) = %v, re-encoded and parsed: %v, %v", data, got, back, err)
	}
}

// FuzzRecentCompact round-trips batches built from the fuzzer's bytes.
func FuzzRecentCompact(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	f.Add([]byte{0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0x80, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		var bs []Batch
		for ; len(data) >= 16; data = data[16:] {
			bs = append(bs, Batch{First: int32(binary.LittleEndian.Uint32(data)), Last: int32(binary.LittleEndian.Uint32(data[4:])),
				Base: int64(binary.LittleEndian.Uint64(data[8:]))})
		}
		enc := AppendRecentCompact(nil, bs)
		if !compactForm(enc) {
			t.Fatalf("%q is not recognised as the compact form", enc)
		}
		back, err := ParseRecent(enc)
		if err != nil || !sameBatches(back, bs) {
			t.Fatalf("round trip of %v through %q = %v, %v", bs, enc, back, err)
		}
		checkCompact(t, data)
	})
}
