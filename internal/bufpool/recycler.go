package bufpool

import (
	"math/bits"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Recycler hands out large byte buffers that come back to it by themselves
// once nothing refers to them any more, for buffers whose last user is
// not known: a produce request's body is kept by the read cache, whose
// blocks are views of it, and a fetch response may still be writing such
// a view after the cache evicted the block. No reference counts: the
// garbage collector is the judge. Each buffer handed out carries a
// finalizer, which the collector runs once no slice of the buffer is left
// anywhere; it puts the buffer back on a free list (a finalizer may keep
// its object), from which a later Get of its size class takes it without
// zeroing it. Memory that comes back this way has already been faulted in:
// a fresh buffer costs the kernel a fault and a zeroed page per 4 KiB (or
// 2 MiB huge page), which was most of the agent's produce CPU once the
// cache kept request bodies (docs/performance.md, 2026-12-07).
//
// Buffers come back only when the collector runs. Released tells the
// recycler that buffers it handed out were let go (the cache evicted the
// last block of a file); once a quarter of its idle bound was let go since
// the last collection, and its free list holds less than half the bound,
// it starts one in the background, so that evicted bodies are reused
// before the heap grows by them (left alone, the collector lets the heap
// reach twice the live bytes, and the cache's kept bodies are live).
//
// A Recycler is safe for concurrent use.
type Recycler struct {
	min     int
	maxIdle int64
	alloc   func(int) []byte

	mu   sync.Mutex
	free [][]byte // buffers nothing referred to any more
	idle int64    // their bytes

	released   atomic.Int64 // bytes let go since the last collection began
	collecting atomic.Bool

	// counters, for metrics and tests
	reused, fresh, dropped, collections atomic.Int64
}

// NewRecycler returns a recycler of buffers of at least min bytes (smaller
// ones are plain allocations), which keeps at most maxIdle bytes of
// returned buffers for reuse (more are left to the collector). alloc makes
// a new zeroed buffer of n bytes; nil means make.
func NewRecycler(min int, maxIdle int64, alloc func(n int) []byte) *Recycler {
	if alloc == nil {
		alloc = func(n int) []byte { return make([]byte, n) }
	}
	return &Recycler{min: max(min, 1), maxIdle: maxIdle, alloc: alloc}
}

// classCap is the capacity of a new buffer for n bytes: n rounded up to a
// quarter of the power of two below it (at most a third more than asked),
// so that it fits the requests of about its size that come after it:
// produce requests of one workload cluster just below a client's limit.
func classCap(n int) int {
	if n <= 8 {
		return n
	}
	step := 1 << (bits.Len(uint(n-1)) - 3)
	return (n + step - 1) &^ (step - 1)
}

// Get returns a buffer of n bytes. Its contents are undefined (a reused
// buffer is not zeroed) when n is at least the recycler's minimum: the
// caller overwrites all of it. It must not be handed to Get's callers'
// own pools; it comes back once unreferenced.
func (r *Recycler) Get(n int) []byte {
	if n < r.min {
		return make([]byte, n)
	}
	if b := r.take(n); b != nil {
		r.reused.Add(1)
		r.track(b)
		return b[:n]
	}
	r.fresh.Add(1)
	b := r.alloc(classCap(n))
	r.track(b)
	return b[:n]
}

// take removes and returns the smallest free buffer of at least n bytes
// and at most half as much again (nil: none). Request sizes vary (a produce
// request's batches), so a buffer is reused for any size it fits well.
func (r *Recycler) take(n int) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	best := -1
	for i, b := range r.free {
		if c := cap(b); c >= n && c <= n+n/2 && (best < 0 || c < cap(r.free[best])) {
			best = i
		}
	}
	if best < 0 {
		return nil
	}
	b := r.free[best]
	last := len(r.free) - 1
	r.free[best] = r.free[last]
	r.free[last] = nil
	r.free = r.free[:last]
	r.idle -= int64(cap(b))
	return b
}

// track sets b's finalizer: once nothing refers to b (or to any slice of
// it), the collector hands it back. b's first byte is the start of its
// allocation (Get's buffers are allocations of their own).
func (r *Recycler) track(b []byte) {
	n := cap(b)
	runtime.SetFinalizer(&b[:1][0], func(p *byte) { r.put(unsafe.Slice(p, n)) })
}

// put keeps b for reuse, unless the free lists hold maxIdle bytes already;
// then b is left to the collector (no finalizer: it is freed).
func (r *Recycler) put(b []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.idle+int64(cap(b)) > r.maxIdle {
		r.dropped.Add(1)
		return
	}
	r.free = append(r.free, b)
	r.idle += int64(cap(b))
}

// Released records that n bytes of buffers handed out were let go by
// their holder; see Recycler. It is cheap: it may start a collection in
// the background, never waits for one.
func (r *Recycler) Released(n int64) {
	if r.released.Add(n) < r.maxIdle/4 || r.idleBytes() >= r.maxIdle/2 || !r.collecting.CompareAndSwap(false, true) {
		return
	}
	r.released.Store(0)
	r.collections.Add(1)
	go func() {
		defer r.collecting.Store(false)
		runtime.GC()
	}()
}

func (r *Recycler) idleBytes() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.idle
}

// RecyclerStats counts a recycler's buffers.
type RecyclerStats struct {
	// Reused and Fresh count Gets of at least the minimum size answered
	// from the free lists and by new allocations; Dropped the buffers that
	// came back to full free lists; Collections the collections Released
	// started. Idle is the bytes on the free lists now.
	Reused, Fresh, Dropped, Collections int64
	Idle                                int64
}

// Stats reports the recycler's counts.
func (r *Recycler) Stats() RecyclerStats {
	r.mu.Lock()
	idle := r.idle
	r.mu.Unlock()
	return RecyclerStats{Reused: r.reused.Load(), Fresh: r.fresh.Load(), Dropped: r.dropped.Load(),
		Collections: r.collections.Load(), Idle: idle}
}
