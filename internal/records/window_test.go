package records

import (
	"math"
	"testing"
)

func TestSat(t *testing.T) {
	for _, c := range []struct{ a, b, sub, add int64 }{
		{5, 3, 2, 8},
		{math.MaxInt64, -1, math.MaxInt64, math.MaxInt64 - 1},
		{math.MinInt64, 1, math.MinInt64, math.MinInt64 + 1},
		{0, math.MinInt64, math.MaxInt64, math.MinInt64},
		{-1, math.MinInt64, math.MaxInt64, math.MinInt64},
		{1, math.MaxInt64, 1 - math.MaxInt64, math.MaxInt64},
	} {
		if got := satSub(c.a, c.b); got != c.sub {
			t.Errorf("satSub(%d, %d) = %d, want %d", c.a, c.b, got, c.sub)
		}
		if got := satAdd(c.a, c.b); got != c.add {
			t.Errorf("satAdd(%d, %d) = %d, want %d", c.a, c.b, got, c.add)
		}
	}
}

// TestWindow: the bounds are inclusive, saturate at the ends of the range,
// and an open side admits everything.
func TestWindow(t *testing.T) {
	w := Window{Now: 1000, Before: 100, After: 10}
	for ts, in := range map[int64]bool{899: false, 900: true, 1000: true, 1010: true, 1011: false,
		math.MinInt64: false, math.MaxInt64: false} {
		if w.Contains(ts) != in {
			t.Errorf("Contains(%d) = %v", ts, !in)
		}
	}
	if first, last := w.Bounds(); first != 900 || last != 1010 {
		t.Errorf("Bounds = %d, %d", first, last)
	}
	open := Window{Now: 5, Before: math.MaxInt64, After: math.MaxInt64}
	if !open.Contains(math.MinInt64) || !open.Contains(math.MaxInt64) {
		t.Error("an open window refuses a timestamp")
	}
	if first, last := open.Bounds(); first != 5-math.MaxInt64 || last != math.MaxInt64 {
		t.Errorf("open Bounds = %d, %d", first, last)
	}
}
