package bufpool

import (
	"runtime"
	"testing"
	"time"
	"unsafe"
)

// collectUntil runs the collector until cond holds (finalizers run on
// their own goroutine after a collection), or fails after a generous
// bound: a missing return is a failure, not a slow machine.
func collectUntil(t *testing.T, r *Recycler, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s (stats %+v)", what, r.Stats())
		}
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
}

func addr(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

// TestRecyclerReuses: a buffer nothing refers to comes back after a
// collection, and the next Get it fits takes it, as it was (not zeroed).
func TestRecyclerReuses(t *testing.T) {
	r := NewRecycler(1<<10, 1<<20, nil)
	b := r.Get(100 << 10)
	if len(b) != 100<<10 || cap(b) < len(b) {
		t.Fatalf("Get: len %d cap %d", len(b), cap(b))
	}
	for i := range b {
		b[i] = 7
	}
	first := addr(b)
	b = nil
	collectUntil(t, r, "the dropped buffer came back", func() bool { return r.Stats().Idle > 0 })
	// Any size it fits well: a little smaller.
	c := r.Get(90 << 10)
	if addr(c) != first {
		t.Fatal("Get did not reuse the returned buffer")
	}
	if c[0] != 7 || c[len(c)-1] != 7 {
		t.Fatal("a reused buffer is handed out as it was")
	}
	if st := r.Stats(); st.Reused != 1 || st.Fresh != 1 || st.Idle != 0 {
		t.Fatalf("stats %+v", st)
	}
	// It comes back again: its finalizer was set anew.
	c = nil
	collectUntil(t, r, "the reused buffer came back", func() bool { return r.Stats().Idle > 0 })
}

// TestRecyclerKeepsReferenced: a buffer of which a slice is still held
// (a view a response is writing) never comes back, while one dropped at
// the same time does.
func TestRecyclerKeepsReferenced(t *testing.T) {
	r := NewRecycler(1<<10, 1<<20, nil)
	kept := r.Get(64 << 10)
	for i := range kept {
		kept[i] = byte(i)
	}
	view := kept[1000:2000]
	keptAddr := addr(kept)
	kept = nil
	dropped := r.Get(200 << 10)
	droppedCap := int64(cap(dropped))
	dropped = nil
	collectUntil(t, r, "the dropped buffer came back", func() bool { return r.Stats().Idle == droppedCap })
	runtime.GC()
	runtime.GC()
	if st := r.Stats(); st.Idle != droppedCap {
		t.Fatalf("a buffer still referenced came back: %+v", st)
	}
	if b := r.Get(64 << 10); addr(b) == keptAddr {
		t.Fatal("Get handed out a buffer still referenced")
	}
	for i, v := range view {
		if v != byte(1000+i) {
			t.Fatalf("view byte %d is %d", i, v)
		}
	}
	runtime.KeepAlive(view)
}

// TestRecyclerIdleBound: returned buffers beyond the idle bound are left
// to the collector; small buffers are plain allocations.
func TestRecyclerIdleBound(t *testing.T) {
	const c = 112 << 10 // a class size
	r := NewRecycler(1<<10, 2*c, nil)
	bufs := [][]byte{r.Get(c), r.Get(c), r.Get(c)}
	if cap(bufs[0]) != c {
		t.Fatalf("cap %d, want %d", cap(bufs[0]), c)
	}
	bufs = nil
	_ = bufs
	// Two fit the bound, the third is dropped.
	collectUntil(t, r, "all three came back", func() bool { st := r.Stats(); return st.Idle+st.Dropped*c == 3*c })
	if st := r.Stats(); st.Idle != 2*c || st.Dropped != 1 {
		t.Fatalf("stats %+v, want two idle and one dropped", st)
	}
	_ = r.Get(100)
	if st := r.Stats(); st.Fresh != 3 {
		t.Fatalf("a buffer under the minimum was counted: %+v", st)
	}
}

// TestRecyclerReleasedCollects: letting go of a quarter of the idle bound
// starts one collection, which brings the buffers back.
func TestRecyclerReleasedCollects(t *testing.T) {
	r := NewRecycler(1<<10, 1<<20, nil)
	b := r.Get(600 << 10) // over half the bound
	n := int64(cap(b))
	b = nil
	r.Released(n)
	deadline := time.Now().Add(30 * time.Second)
	for r.Stats().Idle != n {
		if time.Now().After(deadline) {
			t.Fatalf("the collection Released started brought nothing back: %+v", r.Stats())
		}
		time.Sleep(time.Millisecond)
	}
	if st := r.Stats(); st.Collections != 1 {
		t.Fatalf("stats %+v, want one collection", st)
	}
	// Over half the bound idle: no more collections.
	r.Released(1 << 20)
	if st := r.Stats(); st.Collections != 1 {
		t.Fatalf("stats %+v: collected with enough idle", st)
	}
}

func TestClassCap(t *testing.T) {
	for _, n := range []int{1, 8, 9, 17, 1000, 1 << 20, 1<<20 + 1, 7_998_024, 1<<23 + 1} {
		c := classCap(n)
		if c < n || c > n+n/4+1 {
			t.Fatalf("classCap(%d) = %d", n, c)
		}
	}
	if classCap(7_998_024) != 8<<20 || classCap(7_500_000) != 8<<20 {
		t.Fatal("produce requests just under 8 MB do not share a class")
	}
}
