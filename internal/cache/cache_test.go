package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sluicehq/sluice/internal/objstore"
)

// memSource is an in-memory Source that counts GETs and can hold them.
type memSource struct {
	mu    sync.Mutex
	files map[string][]byte
	gets  int
	bytes int64
	// gate, when non-nil, blocks every GET until it is closed.
	gate chan struct{}
	// entered receives once per GET that has started (when non-nil).
	entered chan struct{}
}

func newMemSource() *memSource { return &memSource{files: map[string][]byte{}} }

func (m *memSource) add(key string, size int) []byte {
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(rand.IntN(256))
	}
	m.mu.Lock()
	m.files[key] = data
	m.mu.Unlock()
	return data
}

func (m *memSource) GetRange(ctx context.Context, key string, off, length int64) ([]byte, error) {
	m.mu.Lock()
	gate, entered := m.gate, m.entered
	data, ok := m.files[key]
	m.gets++
	m.mu.Unlock()
	if entered != nil {
		entered <- struct{}{}
	}
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if !ok {
		return nil, fmt.Errorf("%w: %s", objstore.ErrNotFound, key)
	}
	if off+length > int64(len(data)) {
		return nil, fmt.Errorf("short object")
	}
	m.mu.Lock()
	m.bytes += length
	m.mu.Unlock()
	return append([]byte(nil), data[off:off+length]...), nil
}

func (m *memSource) count() (int, int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.gets, m.bytes
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustRead(t *testing.T, c *Cache, key string, data []byte, ranges ...Range) {
	t.Helper()
	got, err := c.ReadRanges(ctxT(t), key, int64(len(data)), ranges)
	if err != nil {
		t.Fatalf("ReadRanges(%s, %v): %v", key, ranges, err)
	}
	for i, r := range ranges {
		if !bytes.Equal(got[i], data[r.Off:r.Off+r.Len]) {
			t.Fatalf("range %v of %s: wrong bytes", r, key)
		}
	}
}

// TestCoalesce: ranges of one file that fall in consecutive blocks cost one
// GET; a second read of them costs none; bytes are exact at block edges.
func TestCoalesce(t *testing.T) {
	src := newMemSource()
	data := src.add("f", 10*1024+17)
	c := New(src, Config{Size: 1 << 20, BlockSize: 1024}, nil)
	defer c.Close()
	// Blocks 0, 2, 4-6 and 10: the one-block gaps 1 and 3 are read too,
	// the three-block gap 7-9 is not.
	ranges := []Range{{0, 10}, {1000, 10}, {2048, 100}, {5000, 2000}, {10 * 1024, 17}, {3000, 0}}
	mustRead(t, c, "f", data, ranges...)
	if gets, n := src.count(); gets != 2 || n != 7*1024+17 {
		t.Fatalf("first read: %d GETs, %d bytes; want 2 GETs of %d bytes", gets, n, 7*1024+17)
	}
	mustRead(t, c, "f", data, ranges...)
	mustRead(t, c, "f", data, Range{1023, 2})
	if gets, _ := src.count(); gets != 2 {
		t.Fatalf("cached reads issued %d GETs in all, want 2", gets)
	}
	if st := c.Stats(); st.Bytes != 7*1024+17 || st.Blocks != 8 {
		t.Fatalf("stats %+v, want %d bytes in 8 blocks", st, 7*1024+17)
	}
	// Runs are split at MaxRunBlocks and at blocks already cached.
	c2 := New(src, Config{Size: 1 << 20, BlockSize: 1024, MaxRunBlocks: 4}, nil)
	defer c2.Close()
	mustRead(t, c2, "f", data, Range{4096, 1024})          // block 4
	mustRead(t, c2, "f", data, Range{0, int64(len(data))}) // blocks 0-3, 5-8, 9-10
	if gets, _ := src.count(); gets != 2+1+3 {
		t.Fatalf("GETs = %d, want 6", gets)
	}
}

func TestRangeErrors(t *testing.T) {
	src := newMemSource()
	src.add("f", 100)
	c := New(src, Config{Size: 1 << 20, BlockSize: 64}, nil)
	defer c.Close()
	for _, r := range []Range{{-1, 2}, {90, 11}, {0, -1}, {101, 0}} {
		if _, err := c.ReadRanges(ctxT(t), "f", 100, []Range{r}); !errors.Is(err, ErrRange) {
			t.Errorf("range %v: err %v, want ErrRange", r, err)
		}
	}
	if gets, _ := src.count(); gets != 0 {
		t.Fatalf("bad ranges issued %d GETs", gets)
	}
}

// TestNotFoundNotCached: a missing file fails every reader and a later read
// asks the bucket again (the file may have been... never: keys are not
// reused, but an error must not stick either way).
func TestNotFoundNotCached(t *testing.T) {
	src := newMemSource()
	c := New(src, Config{Size: 1 << 20, BlockSize: 64}, nil)
	defer c.Close()
	for i := 0; i < 2; i++ {
		if _, err := c.ReadRanges(ctxT(t), "missing", 100, []Range{{0, 10}}); !errors.Is(err, objstore.ErrNotFound) {
			t.Fatalf("read %d: err %v, want ErrNotFound", i, err)
		}
	}
	if gets, _ := src.count(); gets != 2 {
		t.Fatalf("GETs = %d, want 2 (errors are not cached)", gets)
	}
	if st := c.Stats(); st.Blocks != 0 || st.InFlight != 0 {
		t.Fatalf("stats after errors %+v", st)
	}
}

// TestSingleFlight: many concurrent readers of one block share one GET, and
// a reader that gives up does not fail the others.
func TestSingleFlight(t *testing.T) {
	src := newMemSource()
	data := src.add("f", 4096)
	src.gate = make(chan struct{})
	src.entered = make(chan struct{}, 100)
	c := New(src, Config{Size: 1 << 20, BlockSize: 4096}, nil)
	defer c.Close()

	impatient, cancel := context.WithCancel(context.Background())
	impErr := make(chan error, 1)
	go func() {
		_, err := c.ReadRanges(impatient, "f", 4096, []Range{{0, 10}})
		impErr <- err
	}()
	<-src.entered // the GET has started
	const readers = 20
	var wg sync.WaitGroup
	errs := make(chan error, readers)
	for i := 0; i < readers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r := Range{int64(i * 100), 100}
			got, err := c.ReadRanges(ctxT(t), "f", 4096, []Range{r})
			if err == nil && !bytes.Equal(got[0], data[r.Off:r.Off+r.Len]) {
				err = fmt.Errorf("reader %d: wrong bytes", i)
			}
			errs <- err
		}(i)
	}
	cancel()
	if err := <-impErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled reader: %v", err)
	}
	// Wait until every reader has joined the flight, then release the GET.
	deadline := time.Now().Add(10 * time.Second)
	for testutilShared(c) < readers && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	close(src.gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if gets, _ := src.count(); gets != 1 {
		t.Fatalf("%d GETs for %d concurrent readers of one block, want 1", gets, readers+1)
	}
}

func testutilShared(c *Cache) int {
	return int(counterValue(c.metrics.shared))
}

// TestEvictionAndAccounting: the cache never holds more than its budget,
// evicts least recently used probation blocks first, and a block used
// twice survives a scan of blocks used once.
func TestEvictionAndAccounting(t *testing.T) {
	src := newMemSource()
	const bs = 100
	hot := src.add("hot", bs)
	c := New(src, Config{Size: 10 * bs, BlockSize: bs}, nil)
	defer c.Close()
	mustRead(t, c, "hot", hot, Range{0, 1})
	mustRead(t, c, "hot", hot, Range{0, 1}) // second use: protected
	for i := 0; i < 50; i++ {
		key := fmt.Sprintf("scan-%d", i)
		d := src.add(key, bs)
		mustRead(t, c, key, d, Range{0, bs})
		if st := c.Stats(); st.Bytes > 10*bs {
			t.Fatalf("cache holds %d bytes, budget %d", st.Bytes, 10*bs)
		}
	}
	gets, _ := src.count()
	mustRead(t, c, "hot", hot, Range{0, 1})
	if g, _ := src.count(); g != gets {
		t.Fatal("a block used twice was evicted by a scan of blocks used once")
	}
	st := c.Stats()
	if st.Bytes != 10*bs || st.Blocks != 10 || st.ProtectedBytes != bs {
		t.Fatalf("stats %+v, want 10 blocks of %d bytes, one protected", st, bs)
	}
	if ev := counterValue(c.metrics.evictions); ev != 41 {
		t.Fatalf("evictions = %v, want 41", ev)
	}
	if got := gaugeValue(c.metrics.bytes); got != float64(st.Bytes) {
		t.Fatalf("sluice_cache_bytes = %v, stats say %d", got, st.Bytes)
	}
	// The most recent scan blocks are still there; the oldest are not.
	mustRead(t, c, "scan-49", src.files["scan-49"], Range{0, 1})
	if g, _ := src.count(); g != gets {
		t.Fatal("most recent block was evicted")
	}
	mustRead(t, c, "scan-0", src.files["scan-0"], Range{0, 1})
	if g, _ := src.count(); g != gets+1 {
		t.Fatal("oldest block was not evicted")
	}
}

// TestProtectedBudget: the protected segment stays within 80% of the size;
// its overflow drops back to probation instead of being lost.
func TestProtectedBudget(t *testing.T) {
	src := newMemSource()
	c := New(src, Config{Size: 10 * 100, BlockSize: 100}, nil)
	defer c.Close()
	for i := 0; i < 10; i++ {
		key := fmt.Sprintf("k%d", i)
		d := src.add(key, 100)
		mustRead(t, c, key, d, Range{0, 1})
		mustRead(t, c, key, d, Range{0, 1})
	}
	if st := c.Stats(); st.ProtectedBytes != 800 || st.Bytes != 1000 {
		t.Fatalf("stats %+v, want 800 protected of 1000", st)
	}
}

// TestPrefetchNotPromoted: a prefetched block read once is still a
// probation block (a replay reads each block once after prefetching it).
func TestPrefetchNotPromoted(t *testing.T) {
	src := newMemSource()
	d := src.add("p", 100)
	c := New(src, Config{Size: 1000, BlockSize: 100}, nil)
	defer c.Close()
	if err := c.Prefetch(ctxT(t), "p", 100, []Range{{0, 100}}); err != nil {
		t.Fatal(err)
	}
	mustRead(t, c, "p", d, Range{0, 100})
	if st := c.Stats(); st.ProtectedBytes != 0 || st.Blocks != 1 {
		t.Fatalf("stats %+v: prefetched block promoted on its first use", st)
	}
	mustRead(t, c, "p", d, Range{0, 100})
	if st := c.Stats(); st.ProtectedBytes != 100 {
		t.Fatalf("stats %+v: second use did not promote", st)
	}
	if gets, _ := src.count(); gets != 1 {
		t.Fatalf("GETs = %d, want 1", gets)
	}
}

// TestZeroSize: with no budget nothing is cached but reads still work.
func TestZeroSize(t *testing.T) {
	src := newMemSource()
	d := src.add("f", 1000)
	c := New(src, Config{BlockSize: 100}, nil)
	defer c.Close()
	mustRead(t, c, "f", d, Range{0, 1000})
	mustRead(t, c, "f", d, Range{0, 1000})
	if gets, _ := src.count(); gets != 2 {
		t.Fatalf("GETs = %d, want 2", gets)
	}
	if st := c.Stats(); st.Bytes != 0 {
		t.Fatalf("uncached cache holds %d bytes", st.Bytes)
	}
}

// TestConcurrentRandom hammers one cache from many goroutines with random
// ranges of several files (run with -race); every byte must be right and
// the budget must hold throughout.
// splitMemSource is a memSource that also reads ranges into split
// buffers (SplitSource), counting those reads.
type splitMemSource struct {
	*memSource
	splits int
}

func (m *splitMemSource) GetRangeSplit(ctx context.Context, key string, off int64, bufs [][]byte) error {
	var n int64
	for _, b := range bufs {
		n += int64(len(b))
	}
	data, err := m.GetRange(ctx, key, off, n)
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.splits++
	m.mu.Unlock()
	for _, b := range bufs {
		data = data[copy(b, data):]
	}
	return nil
}

// TestSplitSource: from a source that can read into split buffers, a run
// of blocks is one read straight into one allocation (hugemem.Alloc)
// whose blocks are views, each reaching to the allocation's end (so a
// range across a boundary is one view); a single block is read the same
// way, into a buffer of its own.
func TestSplitSource(t *testing.T) {
	src := &splitMemSource{memSource: newMemSource()}
	data := src.add("f", 10*1024+17)
	c := New(src, Config{Size: 1 << 20, BlockSize: 1024}, nil)
	defer c.Close()
	mustRead(t, c, "f", data, Range{0, int64(len(data))})
	mustRead(t, c, "f", data, Range{0, 1}) // cached
	if gets, _ := src.count(); gets != 1 || src.splits != 1 {
		t.Fatalf("%d GETs, %d of them split; want 1, 1", gets, src.splits)
	}
	c.mu.Lock()
	for k, e := range c.entries {
		want := int64(len(data)) - k.idx*1024 // to the end of the run
		if len(e.data) != 1 || int64(cap(e.data[0])) != want || int64(len(e.data[0])) != c.blockLen(int64(len(data)), k.idx) {
			t.Errorf("block %d: %d pieces, len %d cap %d (want cap %d)", k.idx, len(e.data), len(e.data[0]), cap(e.data[0]), want)
		}
	}
	c.mu.Unlock()
	views, _, err := c.ReadRangesViews(ctxT(t), "f", int64(len(data)), []Range{{1000, 5000}})
	if err != nil || len(views[0]) != 1 || !bytes.Equal(views[0][0], data[1000:6000]) {
		t.Fatalf("a range across blocks of one read: %d views, err %v; want one view of the right bytes", len(views[0]), err)
	}
	if st := c.Stats(); st.Bytes != int64(len(data)) {
		t.Fatalf("stats %+v, want the run's %d bytes charged", st, len(data))
	}
	src.add("g", 1000)
	mustRead(t, c, "g", src.files["g"], Range{10, 20})
	if gets, _ := src.count(); gets != 2 || src.splits != 2 {
		t.Fatalf("one-block read: %d GETs, %d split; want 2, 2", gets, src.splits)
	}
}

func TestConcurrentRandom(t *testing.T) {
	t.Run("GetRange", func(t *testing.T) { testConcurrentRandom(t, newMemSource()) })
	t.Run("GetRangeSplit", func(t *testing.T) { testConcurrentRandom(t, &splitMemSource{memSource: newMemSource()}) })
}

func testConcurrentRandom(t *testing.T, src interface {
	Source
	add(string, int) []byte
}) {
	files := map[string][]byte{}
	for i := 0; i < 8; i++ {
		k := fmt.Sprintf("f%d", i)
		files[k] = src.add(k, 1000+rand.IntN(5000))
	}
	// Blocks of 128 bytes, runs of up to 8: a run is read into groups of
	// up to 5 blocks (750 bytes, an eighth of the budget) sharing one
	// allocation.
	c := New(src, Config{Size: 6000, BlockSize: 128, MaxRunBlocks: 8}, nil)
	defer c.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 300; i++ {
				k := fmt.Sprintf("f%d", rand.IntN(8))
				d := files[k]
				var rs []Range
				for j := rand.IntN(4); j >= 0; j-- {
					off := rand.Int64N(int64(len(d)))
					rs = append(rs, Range{off, rand.Int64N(int64(len(d)) - off + 1)})
				}
				got, err := c.ReadRanges(context.Background(), k, int64(len(d)), rs)
				if err != nil {
					errs <- err
					return
				}
				for j, r := range rs {
					if !bytes.Equal(got[j], d[r.Off:r.Off+r.Len]) {
						errs <- fmt.Errorf("%s %v: wrong bytes", k, r)
						return
					}
				}
				if st := c.Stats(); st.Bytes > 6000 {
					errs <- fmt.Errorf("cache holds %d bytes over its 6000 budget", st.Bytes)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var sum int64
	groups := map[*putFile]int{}
	c.mu.Lock()
	for _, e := range c.entries {
		if e.file != nil {
			groups[e.file]++
			continue
		}
		for _, d := range e.data {
			sum += int64(len(d))
		}
	}
	for g, live := range groups {
		if live != g.live {
			t.Errorf("a group counts %d live blocks, %d are cached", g.live, live)
		}
		sum += g.held
	}
	n := c.unread.Len() + c.probation.Len() + c.protList.Len()
	c.mu.Unlock()
	if st := c.Stats(); st.Bytes != sum || n != st.Blocks || st.InFlight != 0 {
		t.Fatalf("accounting drifted: stats %+v, entries sum %d, listed %d", st, sum, n)
	}
}

// FuzzReadRanges checks range arithmetic at block edges against plain
// slicing, for any block size, run bound and ranges.
func FuzzReadRanges(f *testing.F) {
	f.Add(uint16(1000), uint8(7), uint8(2), uint16(0), uint16(1000), uint16(993), uint16(7))
	f.Add(uint16(1), uint8(1), uint8(1), uint16(0), uint16(1), uint16(0), uint16(0))
	f.Fuzz(func(t *testing.T, size uint16, bs, run uint8, off1, len1, off2, len2 uint16) {
		src := newMemSource()
		data := src.add("f", int(size))
		c := New(src, Config{Size: int64(size) / 2, BlockSize: int64(bs), MaxRunBlocks: int(run)}, nil)
		defer c.Close()
		ranges := []Range{{int64(off1), int64(len1)}, {int64(off2), int64(len2)}}
		valid := true
		for _, r := range ranges {
			valid = valid && r.Off+r.Len <= int64(size)
		}
		for i := 0; i < 2; i++ {
			got, err := c.ReadRanges(context.Background(), "f", int64(size), ranges)
			if !valid {
				if !errors.Is(err, ErrRange) {
					t.Fatalf("invalid ranges %v of %d: err %v", ranges, size, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for j, r := range ranges {
				if !bytes.Equal(got[j], data[r.Off:r.Off+r.Len]) {
					t.Fatalf("range %v (block size %d): wrong bytes", r, bs)
				}
			}
		}
		if st := c.Stats(); st.Bytes > int64(size)/2 {
			t.Fatalf("cache holds %d bytes, budget %d", st.Bytes, size/2)
		}
	})
}

// TestReadRangesViews: a range comes back as views of the cached blocks
// it spans (one view across blocks read together, one per block read
// apart), shared between reads, each with its capacity ending where the
// view does (so an append cannot scribble on the block).
func TestReadRangesViews(t *testing.T) {
	src := newMemSource()
	data := src.add("f", 1000)
	c := New(src, Config{Size: 1 << 20, BlockSize: 100}, nil)
	defer c.Close()
	if _, _, err := c.ReadRangesViews(ctxT(t), "f", 1000, []Range{{110, 50}}); err != nil {
		t.Fatal(err)
	}
	// Block 1 is cached, block 2 is read now, apart from it.
	got, _, err := c.ReadRangesViews(ctxT(t), "f", 1000, []Range{{110, 50}, {190, 20}, {0, 0}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got[0]) != 1 || !bytes.Equal(got[0][0], data[110:160]) || len(got[2]) != 0 {
		t.Fatalf("range in one block: %d views", len(got[0]))
	}
	if len(got[1]) != 2 || !bytes.Equal(got[1][0], data[190:200]) || !bytes.Equal(got[1][1], data[200:210]) {
		t.Fatalf("range across two blocks: %d views", len(got[1]))
	}
	if cap(got[0][0]) != 50 || cap(got[1][0]) != 10 {
		t.Fatalf("view capacities %d, %d; want 50, 10", cap(got[0][0]), cap(got[1][0]))
	}
	again, _, _ := c.ReadRangesViews(ctxT(t), "f", 1000, []Range{{110, 50}})
	if &again[0][0][0] != &got[0][0][0] {
		t.Fatal("a second read of a cached range was copied")
	}
	_ = append(got[0][0], 'x') // must not touch the block
	mustRead(t, c, "f", data, Range{100, 100})
	// Blocks 4-6 read together: one view across both boundaries.
	got, _, err = c.ReadRangesViews(ctxT(t), "f", 1000, []Range{{450, 200}})
	if err != nil || len(got[0]) != 1 || !bytes.Equal(got[0][0], data[450:650]) || cap(got[0][0]) != 200 {
		t.Fatalf("range across blocks read together: %d views, err %v", len(got[0]), err)
	}
}

// TestPut: files put into the cache as they are written, one block or
// several, given in pieces that do not follow block boundaries, are read
// without a GET and equal the source's bytes, as views of the pieces (no
// copy); they enter as prefetched (the first read does not promote them);
// the held bytes are charged; a file held in more bytes than the whole
// budget is not kept, and reads of it go to the source.
func TestPut(t *testing.T) {
	src := newMemSource()
	small := src.add("small", 100) // also in the source: a miss would still read right
	multi := src.add("multi", 250)
	huge := src.add("huge", 600)
	c := New(src, Config{Size: 1000, BlockSize: 100}, nil)
	defer c.Close()
	if !c.Put("small", [][]byte{small}, 0) {
		t.Fatal("Put of a one-block file refused")
	}
	// Pieces of 7, 130, 0 and 113 bytes, the last a separate buffer.
	last := bytes.Clone(multi[137:])
	pieces := [][]byte{multi[:7], multi[7:137], multi[137:137], last}
	if !c.Put("multi", pieces, 300) { // as if the pieces' buffers held 300 bytes
		t.Fatal("Put of a three-block file refused")
	}
	if c.Put("huge", [][]byte{huge}, 1001) {
		t.Fatal("Put kept a file held in more bytes than the budget")
	}
	if st := c.Stats(); st.Blocks != 4 || st.Bytes != 400 {
		t.Fatalf("stats after Put %+v, want 4 blocks charged 400 bytes (small 100, multi held 300)", st)
	}
	if got := testutil.ToFloat64(c.metrics.written); got != 350 {
		t.Fatalf("written bytes metric %v, want 350", got)
	}
	if got := testutil.ToFloat64(c.metrics.bytes); got != 400 {
		t.Fatalf("cached bytes metric %v, want 400", got)
	}
	mustRead(t, c, "small", small, Range{0, 100}, Range{90, 10})
	mustRead(t, c, "multi", multi, Range{0, 250}, Range{95, 10}, Range{200, 50}, Range{249, 1}, Range{5, 5})
	if gets, _ := src.count(); gets != 0 {
		t.Fatalf("GETs = %d reading put files, want 0", gets)
	}
	if st := c.Stats(); st.ProtectedBytes != 0 {
		t.Fatalf("stats %+v: first read of a put block promoted it", st)
	}
	// The views are the pieces' own bytes: [95,+10) spans the second
	// piece only, across blocks 0 and 1, and comes back as one view;
	// [130,+10) spans the second piece and the last, separate buffer, in
	// block 1: two views. Their capacity ends with them.
	views, _, err := c.ReadRangesViews(ctxT(t), "multi", 250, []Range{{95, 10}, {130, 10}})
	if err != nil {
		t.Fatal(err)
	}
	if len(views[0]) != 1 || &views[0][0][0] != &multi[95] || len(views[0][0]) != 10 || cap(views[0][0]) != 10 {
		t.Fatalf("a read of one piece across blocks is not one view of it: %d views", len(views[0]))
	}
	if len(views[1]) != 2 || &views[1][0][0] != &multi[130] || &views[1][1][0] != &last[0] ||
		len(views[1][0]) != 7 || len(views[1][1]) != 3 || cap(views[1][0]) != 7 {
		t.Fatalf("a read across two buffers is not their views: %d views", len(views[1]))
	}
	mustRead(t, c, "huge", huge, Range{0, 600})
	if gets, _ := src.count(); gets == 0 {
		t.Fatal("a file refused by Put was read from the cache")
	}

	// With no budget, Put caches nothing.
	z := New(src, Config{BlockSize: 100}, nil)
	defer z.Close()
	if z.Put("small", [][]byte{small}, 0) {
		t.Fatal("a zero-size cache kept a put file")
	}
	if st := z.Stats(); st.Bytes != 0 {
		t.Fatalf("zero-size cache holds %d bytes after Put", st.Bytes)
	}
}

// TestPutHeldUntilLastBlock: a put file's held bytes stay charged while
// any of its blocks is cached, since that block keeps the file's buffers
// alive, and leave the budget with the last, so the bytes charged never
// exceed the budget. Blocks read once are evicted before unread put
// blocks: a reader of other files does not evict a put file nobody has
// read yet.
func TestPutHeldUntilLastBlock(t *testing.T) {
	src := newMemSource()
	c := New(src, Config{Size: 1000, BlockSize: 100}, nil)
	defer c.Close()
	a := src.add("a", 300)
	b := src.add("b", 300)
	if !c.Put("a", [][]byte{a}, 400) || !c.Put("b", [][]byte{b}, 400) {
		t.Fatal("Put refused")
	}
	check := func(bytes int64, blocks int) {
		t.Helper()
		st := c.Stats()
		if st.Bytes != bytes || st.Blocks != blocks {
			t.Fatalf("stats %+v, want %d bytes in %d blocks", st, bytes, blocks)
		}
		if got := testutil.ToFloat64(c.metrics.bytes); got != float64(bytes) {
			t.Fatalf("cached bytes metric %v, want %d", got, bytes)
		}
	}
	check(800, 6)
	// a's first two blocks, read once, move to probation.
	mustRead(t, c, "a", a, Range{0, 200})
	// r's three blocks (read once) overflow the budget: probation goes
	// first, oldest first: a's two read blocks, then r's first. a's
	// third block, unread, keeps a's 400 bytes charged.
	r := src.add("r", 300)
	mustRead(t, c, "r", r, Range{0, 300})
	check(1000, 6) // a (1 block, 400) + b (3, 400) + r (2, 200)
	gets, _ := src.count()
	mustRead(t, c, "a", a, Range{200, 100})
	mustRead(t, c, "b", b, Range{0, 300})
	if g, _ := src.count(); g != gets {
		t.Fatal("reading another file evicted unread put blocks")
	}
	// Now everything is read once. A put file of 300 held bytes evicts
	// the least recently used: r's blocks, then a's last (400 off the
	// charge at once).
	d := src.add("d", 100)
	if !c.Put("d", [][]byte{d}, 300) {
		t.Fatal("Put refused")
	}
	check(700, 4) // b (3 blocks, 400) + d (1, 300)
	mustRead(t, c, "d", d, Range{0, 100})
	mustRead(t, c, "b", b, Range{0, 300})
	if g, _ := src.count(); g != gets {
		t.Fatal("b or d was evicted")
	}
}

// mapMemSource is a memSource that maps ranges (MapSource): a fresh copy
// per mapping, with a keep of its own; with noMap set it answers as a
// bucket that cannot map.
type mapMemSource struct {
	*memSource
	noMap bool
	maps  int
}

type testMapping struct{ key string }

func (m *mapMemSource) MapRange(ctx context.Context, key string, off, length int64) ([]byte, any, error) {
	if m.noMap {
		return nil, nil, errors.New("cannot map")
	}
	m.mu.Lock()
	data, ok := m.files[key]
	m.maps++
	m.mu.Unlock()
	if !ok || off+length > int64(len(data)) {
		return nil, nil, errors.New("no such range")
	}
	return append([]byte(nil), data[off:off+length]...), &testMapping{key}, nil
}

// TestMapSource: from a source that maps, a run of blocks is one mapping
// and no GET; the blocks are views of it, charged as if read, and every
// read of them returns the mapping's keep. A source that fails to map is
// read instead.
func TestMapSource(t *testing.T) {
	src := &mapMemSource{memSource: newMemSource()}
	data := src.add("f", 10*1024+17)
	c := New(src, Config{Size: 1 << 20, BlockSize: 1024}, nil)
	defer c.Close()
	for i := 0; i < 2; i++ { // mapped, then cached
		views, keep, err := c.ReadRangesViews(ctxT(t), "f", int64(len(data)), []Range{{1000, 5000}, {7000, 17}})
		if err != nil || len(views[0]) != 1 || !bytes.Equal(views[0][0], data[1000:6000]) || !bytes.Equal(views[1][0], data[7000:7017]) {
			t.Fatalf("read %d: err %v, %d views", i, err, len(views[0]))
		}
		if len(keep) != 1 || keep[0].(*testMapping).key != "f" {
			t.Fatalf("read %d: keep %v, want the mapping's", i, keep)
		}
	}
	if gets, _ := src.count(); gets != 0 || src.maps != 1 {
		t.Fatalf("%d GETs, %d mappings; want 0, 1", gets, src.maps)
	}
	if st := c.Stats(); st.Bytes != 7*1024 {
		t.Fatalf("stats %+v, want the mapped %d bytes charged", st, 7*1024)
	}
	src.noMap = true
	src.add("g", 3000)
	mustRead(t, c, "g", src.files["g"], Range{0, 3000})
	if gets, _ := src.count(); gets != 1 {
		t.Fatalf("unmappable file: %d GETs, want 1", gets)
	}
}

// TestMapSourceNoMap: with NoMap the cache reads a MapSource's files.
func TestMapSourceNoMap(t *testing.T) {
	src := &mapMemSource{memSource: newMemSource()}
	data := src.add("f", 3000)
	c := New(src, Config{Size: 1 << 20, BlockSize: 1024, NoMap: true}, nil)
	defer c.Close()
	mustRead(t, c, "f", data, Range{0, 3000})
	if gets, _ := src.count(); gets != 1 || src.maps != 0 {
		t.Fatalf("%d GETs, %d mappings; want 1, 0", gets, src.maps)
	}
}
