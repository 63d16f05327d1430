// Package cache is the read path's view of the bucket: a size-bounded cache
// of fixed-size blocks of immutable files, in front of object storage and of
// the other agents of the zone.
//
// A read names a file, its size and byte ranges in it. The cache maps the
// ranges to blocks (block i covers [i·BlockSize, (i+1)·BlockSize) clipped to
// the file), answers the blocks it holds, joins reads already in flight for
// others (single flight), and fetches the rest with one GET per run of
// consecutive missing blocks (gaps of one block are read rather than
// split around) — so every partition of a Fetch request whose
// data lives in one file costs one GET. With a Peers router, a run is first
// asked of the zone agent that owns its blocks (rendezvous hashing, see
// peer.go), which reads the bucket at most once for the whole zone; a peer
// that fails or is slow is skipped and the bucket read directly.
//
// On a local-directory bucket (a MapSource) runs are mapped rather than
// read: the blocks are views of the page cache, valid while the Keep a
// read returns beside them is held.
//
// Files are immutable and their keys never reused, so cached blocks never go
// stale and there is nothing to invalidate; errors (a missing file) are never
// cached. Block lengths are checked against the file size the metadata
// store recorded, whether the bytes come from the bucket or from a peer.
//
// Eviction is segmented LRU: blocks enter a probation segment and move to a
// protected segment (80% of the budget) on their second use, so a long
// historical replay, which reads each block once, cycles through probation
// without evicting the blocks that tail consumers share. Blocks loaded
// before anyone read them (read-ahead, and the files this agent writes,
// see Put) wait in an unread segment until their first use moves them to
// probation; probation is evicted before it: a block a sequential reader
// has read is of less use than one a reader is yet to reach, so a
// consumer that reads older files from the bucket does not evict the
// newer, written files it reaches next.
package cache

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"

	"github.com/sluicehq/sluice/internal/hugemem"
)

// ErrRange is returned for ranges outside the file.
var ErrRange = errors.New("cache: range outside the file")

// Source reads byte ranges of objects; objstore.Bucket implements it.
// GetRange must return exactly length bytes or an error.
type Source interface {
	GetRange(ctx context.Context, key string, offset, length int64) ([]byte, error)
}

// SplitSource is a Source that can also read a range straight into several
// buffers (objstore.SplitGetter); the cache then reads runs of blocks
// without copying them out of one buffer.
type SplitSource interface {
	Source
	GetRangeSplit(ctx context.Context, key string, offset int64, bufs [][]byte) error
}

// MapSource is a Source that can map a range of a local file into memory
// (objstore.Mapper: a local-directory bucket); the cache then keeps the
// mapping's views as blocks, with no copy and no fresh memory. The bytes
// stay mapped while keep is reachable; an error (ErrNotMappable from a
// wrapper over a bucket that cannot) makes the cache read instead.
type MapSource interface {
	MapRange(ctx context.Context, key string, offset, length int64) (data []byte, keep any, err error)
}

// dropper is implemented by a MapSource's keep that can give a mapping's
// pages back to the kernel without unmapping them (objstore's); the cache
// calls Drop with a group's bytes when it evicts the group, so the pages
// it no longer holds do not count in the agent's resident set until the
// mapping is unmapped. Views of them stay valid.
type dropper interface{ Drop(b []byte) }

// Keep holds what keeps the views a read returned valid (the mappings
// they lie in, see MapSource): the holder of a view must hold the Keep as
// long as it uses the view (runtime.KeepAlive after the last use, or a
// field beside the view). Views of memory the garbage collector manages
// need none, and most Keeps are empty.
type Keep []any

// Range is a byte range of a file.
type Range struct {
	Off, Len int64
}

// Config sizes the cache.
type Config struct {
	// Size is the byte budget for cached blocks; 0 caches nothing (reads
	// are still coalesced and shared while in flight).
	Size int64
	// BlockSize is the unit of caching and of peer ownership; every agent
	// of a zone should use the same. 0 means DefaultBlockSize.
	BlockSize int64
	// NoMap makes the cache read a MapSource's files instead of mapping
	// them (a disk error on a mapped page ends the process with SIGBUS,
	// where a read fails only the fetch).
	NoMap bool
	// MaxRunBlocks bounds how many blocks one GET fetches; 0 means 16.
	MaxRunBlocks int
}

// DefaultBlockSize is the default cache block size.
const DefaultBlockSize = 4 << 20

// blockKey names block idx of file key. The file size is part of the key:
// agents always pass the size the metadata store recorded, and a peer
// request claiming another size must not plant blocks of the wrong length
// where correct reads would find them.
type blockKey struct {
	key  string
	size int64
	idx  int64
}

// entry is a cached block.
type entry struct {
	k blockKey
	// data is the block's bytes: one slice for a block read from a peer
	// or the bucket, the views of the pieces it spans for a block of a
	// put file.
	data [][]byte
	n    int64 // the block's length
	// file is the put file or the group read in one allocation that the
	// block belongs to (nil: a block read into its own allocation).
	file *putFile
	// protected and prefetched say which segment elem is in: protected,
	// unread (prefetched), or probation (neither).
	protected bool
	// prefetched marks a block loaded ahead of need whose first use is yet
	// to come; that use moves it to probation and does not count as the
	// reuse that promotes it.
	prefetched bool
	elem       *list.Element
}

// putFile is a file handed over by Put, or a group of blocks read into
// one allocation (fetchRun): its blocks share its buffers, whose held
// bytes are charged to the budget as long as one of its blocks is cached
// (guarded by Cache.mu).
type putFile struct {
	held int64
	live int // its blocks still cached
	// keep is what keeps a mapped group's bytes mapped (see MapSource),
	// nil for a buffer; mapped is the group's bytes, given back (Drop)
	// when its last block is evicted.
	keep   any
	mapped []byte
}

// flight is a block being fetched; done is closed once data or err is set.
type flight struct {
	done chan struct{}
	data []byte
	keep any // what keeps data valid (a mapping), or nil
	err  error
}

// Cache is a block cache over a Source. It is safe for concurrent use.
type Cache struct {
	src       Source
	cfg       Config
	peers     *Peers // nil: no zone peers
	metrics   *Metrics
	protected int64 // byte budget of the protected segment

	// base bounds fills, which outlive the reader that started them (other
	// readers may be waiting); Close cancels it and waits for fills.
	base   context.Context
	cancel context.CancelFunc
	fills  sync.WaitGroup

	mu sync.Mutex // guards the fields below
	// entries holds every cached block; unread, probation and protList
	// list the segments' blocks most recently used first.
	entries   map[blockKey]*entry
	unread    *list.List
	probation *list.List
	protList  *list.List
	bytes     int64 // cached bytes, all segments (put files: held bytes)
	protBytes int64 // cached bytes in the protected segment
	flights   map[blockKey]*flight
	closed    bool
}

// New returns a cache over src. m may be nil (metrics not registered).
func New(src Source, cfg Config, m *Metrics) *Cache {
	if cfg.BlockSize <= 0 {
		cfg.BlockSize = DefaultBlockSize
	}
	if cfg.MaxRunBlocks <= 0 {
		cfg.MaxRunBlocks = 16
	}
	if cfg.Size < 0 {
		cfg.Size = 0
	}
	if m == nil {
		m = NewMetrics(nil)
	}
	base, cancel := context.WithCancel(context.Background())
	return &Cache{src: src, cfg: cfg, metrics: m, protected: cfg.Size * 8 / 10, base: base, cancel: cancel,
		entries: map[blockKey]*entry{}, unread: list.New(), probation: list.New(), protList: list.New(), flights: map[blockKey]*flight{}}
}

// SetPeers routes block reads to the zone's owning agents through p (nil:
// read the bucket directly). Call it before the first read.
func (c *Cache) SetPeers(p *Peers) { c.peers = p }

// BlockSize is the cache's block size.
func (c *Cache) BlockSize() int64 { return c.cfg.BlockSize }

// Close cancels fills in progress and waits for them to end. Reads after
// Close fail.
func (c *Cache) Close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.cancel()
	c.fills.Wait()
	if c.peers != nil {
		c.peers.Close()
	}
}

// Stats is a snapshot of the cache's contents.
type Stats struct {
	Bytes, ProtectedBytes int64
	Blocks                int
	InFlight              int
}

// Stats reports what the cache holds now.
func (c *Cache) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Stats{Bytes: c.bytes, ProtectedBytes: c.protBytes, Blocks: len(c.entries), InFlight: len(c.flights)}
}

// ReadRanges returns the bytes of each range of file key, whose total size
// is size. Each returned slice is a fresh copy the caller may modify. Blocks
// missing from the cache are fetched with one GET per run of consecutive
// blocks, from the owning peer when there is one, else from the bucket.
func (c *Cache) ReadRanges(ctx context.Context, key string, size int64, ranges []Range) ([][]byte, error) {
	views, keep, err := c.read(ctx, key, size, ranges, true, false)
	out := flatten(views, ranges)
	runtime.KeepAlive(keep)
	return out, err
}

// flatten turns read's views into a fresh copy of each range.
func flatten(views [][][]byte, ranges []Range) [][]byte {
	if views == nil {
		return nil
	}
	out := make([][]byte, len(views))
	for i, vs := range views {
		buf := make([]byte, 0, ranges[i].Len)
		for _, v := range vs {
			buf = append(buf, v...)
		}
		out[i] = buf
	}
	return out
}

// ReadRangesViews is ReadRanges without any copy: each range comes back
// as views of the cached blocks it spans, in order (one view when it lies
// in one block, or in blocks read together), shared with other readers.
// The caller must not modify them (their capacity ends with the view, so
// appending to them copies; mapped views are read-only memory), and must
// hold keep as long as it uses them (see Keep).
func (c *Cache) ReadRangesViews(ctx context.Context, key string, size int64, ranges []Range) ([][][]byte, Keep, error) {
	return c.read(ctx, key, size, ranges, true, false)
}

// Prefetch loads the blocks covering ranges into the cache without
// returning them; it returns when they are cached or failed. Prefetched
// blocks need two more uses to be protected from scans.
func (c *Cache) Prefetch(ctx context.Context, key string, size int64, ranges []Range) error {
	_, _, err := c.read(ctx, key, size, ranges, true, true)
	return err
}

// readLocal is ReadRanges for a peer's request: blocks missing here come
// from the bucket, never from another peer, so agents whose views of the
// zone differ cannot bounce a request between them.
func (c *Cache) readLocal(ctx context.Context, key string, size int64, ranges []Range) ([][]byte, error) {
	views, keep, err := c.read(ctx, key, size, ranges, false, false)
	out := flatten(views, ranges)
	runtime.KeepAlive(keep)
	return out, err
}

// blockLen is the length of block idx of a file of size bytes.
func (c *Cache) blockLen(size, idx int64) int64 {
	return min(c.cfg.BlockSize, size-idx*c.cfg.BlockSize)
}

// read returns each range as views of cached blocks, in order (nil for
// prefetches), and what keeps them valid. The views are shared with other
// readers.
func (c *Cache) read(ctx context.Context, key string, size int64, ranges []Range, viaPeers, prefetch bool) ([][][]byte, Keep, error) {
	bs := c.cfg.BlockSize
	var need []int64 // block indexes, ascending, unique
	for _, r := range ranges {
		if r.Off < 0 || r.Len < 0 || r.Off+r.Len > size {
			return nil, nil, fmt.Errorf("%w: %s [%d,+%d) of %d bytes", ErrRange, key, r.Off, r.Len, size)
		}
		if r.Len == 0 {
			continue
		}
		for i := r.Off / bs; i <= (r.Off+r.Len-1)/bs; i++ {
			need = append(need, i)
		}
	}
	need = fillGaps(sortUnique(need), maxGapBlocks)

	blocks := make(map[int64][][]byte, len(need))
	waits := map[int64]*flight{}
	var mine []int64
	var keep Keep
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, nil, errors.New("cache: closed")
	}
	for _, idx := range need {
		k := blockKey{key, size, idx}
		if e := c.entries[k]; e != nil {
			blocks[idx] = e.data
			if e.file != nil && e.file.keep != nil {
				keep = appendKeep(keep, e.file.keep)
			}
			c.touchLocked(e, prefetch)
			continue
		}
		if f := c.flights[k]; f != nil {
			waits[idx] = f
			continue
		}
		f := &flight{done: make(chan struct{})}
		c.flights[k] = f
		waits[idx] = f
		mine = append(mine, idx)
	}
	if len(mine) > 0 {
		c.fills.Add(1)
	}
	c.mu.Unlock()
	c.metrics.hits.Add(float64(len(blocks)))
	c.metrics.shared.Add(float64(len(waits) - len(mine)))
	c.metrics.misses.Add(float64(len(mine)))

	if len(mine) > 0 {
		// The fill runs detached from ctx: other readers may join its
		// flights, and a reader that gives up must not fail them.
		go func() {
			defer c.fills.Done()
			c.fill(key, size, mine, viaPeers, prefetch)
		}()
	}
	for idx, f := range waits {
		select {
		case <-f.done:
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
		if f.err != nil {
			return nil, nil, f.err
		}
		blocks[idx] = [][]byte{f.data}
		if f.keep != nil {
			keep = appendKeep(keep, f.keep)
		}
	}
	if prefetch {
		return nil, nil, nil
	}
	out := make([][][]byte, len(ranges))
	for i, r := range ranges {
		var views [][]byte
		for n := int64(0); n < r.Len; {
			off := r.Off + n
			idx := off / bs
			start := off - idx*bs
			var got int64
			views, got = appendViews(views, blocks[idx], start, r.Len-n)
			if got == 0 {
				// Impossible while block lengths are checked on fill and
				// put; fail rather than loop or serve short data.
				return nil, nil, fmt.Errorf("cache: %s block %d is short of offset %d", key, idx, off)
			}
			n += got
		}
		for j, v := range views {
			views[j] = v[:len(v):len(v)] // the caller's appends must copy
		}
		out[i] = views
	}
	return out, keep, nil
}

// appendKeep appends k to keep unless it is there already (a read's
// blocks mostly share one or two mappings).
func appendKeep(keep Keep, k any) Keep {
	for _, x := range keep {
		if x == k {
			return keep
		}
	}
	return append(keep, k)
}

// appendViews appends to views the bytes of a block (given as its pieces)
// from start on, at most want of them, one view per piece they span, and
// returns how many it appended. A view that continues the last one in
// memory, within its capacity (the two halves of a put file's piece that a
// block boundary cut), extends it instead: a record batch across the
// boundary is then one view, which readers need not gather. Within one
// allocation, adjacent bytes are the same bytes whichever view they came
// from.
func appendViews(views, pieces [][]byte, start, want int64) ([][]byte, int64) {
	var got int64
	for _, p := range pieces {
		if got == want {
			break
		}
		if start >= int64(len(p)) {
			start -= int64(len(p))
			continue
		}
		end := min(int64(len(p)), start+want-got)
		v := p[start:end]
		if k := len(views) - 1; k >= 0 && continues(views[k], v) {
			views[k] = views[k][:len(views[k])+len(v)]
		} else {
			views = append(views, v)
		}
		got += end - start
		start = 0
	}
	return views, got
}

// continues reports whether v starts where last ends, within last's
// capacity (so in the same allocation).
func continues(last, v []byte) bool {
	return len(v) > 0 && cap(last) > len(last) && &last[:len(last)+1][len(last)] == &v[0]
}

// fill fetches blocks (ascending), one GET per run of consecutive blocks
// with the same owner, completes their flights and caches them.
func (c *Cache) fill(key string, size int64, blocks []int64, viaPeers, prefetch bool) {
	var wg sync.WaitGroup
	for len(blocks) > 0 {
		owner := c.owner(key, blocks[0], viaPeers)
		n := 1
		for n < len(blocks) && n < c.cfg.MaxRunBlocks && blocks[n] == blocks[n-1]+1 && c.owner(key, blocks[n], viaPeers) == owner {
			n++
		}
		run := blocks[:n]
		blocks = blocks[n:]
		wg.Add(1)
		go func() {
			defer wg.Done()
			blocks, groups, keep, err := c.fetchRun(key, size, run, owner)
			c.complete(key, size, run, blocks, groups, keep, err, prefetch)
		}()
	}
	wg.Wait()
}

func (c *Cache) owner(key string, idx int64, viaPeers bool) string {
	if !viaPeers || c.peers == nil {
		return ""
	}
	return c.peers.owner(key, idx)
}

// maxGroupBytes bounds the bytes of one allocation that several blocks
// read together share: an eighth of the budget (at least a block), so a
// block in use keeps at most that much charged after its neighbours are
// evicted.
func (c *Cache) maxGroupBytes() int64 {
	return max(c.cfg.BlockSize, c.cfg.Size/8)
}

// groups cuts run (consecutive blocks) into groups of consecutive blocks
// of at most maxGroupBytes together, and returns how many blocks each
// holds.
func (c *Cache) groups(size int64, run []int64) []int {
	var out []int
	var bytes int64
	for _, idx := range run {
		n := c.blockLen(size, idx)
		if len(out) == 0 || bytes+n > c.maxGroupBytes() {
			out = append(out, 0)
			bytes = 0
		}
		out[len(out)-1]++
		bytes += n
	}
	return out
}

// fetchRun reads the blocks of run (consecutive) from owner (a peer's
// address) or, when owner is empty or fails, from the bucket. The blocks
// of each group (see groups) are views of one allocation, each with the
// capacity up to the group's end: a record batch across the boundary of
// two of them is then one view (appendViews), which readers need not
// gather into a copy. A group's allocation is charged to the budget
// until its last block is evicted, as a put file is. From a MapSource the
// run is mapped rather than read (keep holds the mapping), its groups
// views of the mapping, charged as if read.
func (c *Cache) fetchRun(key string, size int64, run []int64, owner string) (blocks [][]byte, groups []int, keep any, err error) {
	bs := c.cfg.BlockSize
	off := run[0] * bs
	length := run[len(run)-1]*bs + c.blockLen(size, run[len(run)-1]) - off
	groups = c.groups(size, run)
	if owner != "" {
		data, err := c.peers.get(c.base, owner, key, size, off, length)
		if err == nil {
			return c.split(size, run, groups, data), groups, nil, nil
		}
		c.metrics.peerFallbacks.Inc()
	}
	if ms, ok := c.src.(MapSource); ok && !c.cfg.NoMap {
		data, keep, err := ms.MapRange(c.base, key, off, length)
		if err == nil && int64(len(data)) == length {
			c.metrics.bucketReads.Inc()
			c.metrics.bucketBytes.Add(float64(length))
			return c.cutGroup(nil, size, run, data), groups, keep, nil
		}
		// Not mappable here (or a short mapping, which cannot happen):
		// read instead, which reports a missing file as such.
	}
	if sg, ok := c.src.(SplitSource); ok {
		// One GET read straight into the groups' buffers: no copy.
		bufs := make([][]byte, len(groups))
		i := 0
		for g, nb := range groups {
			var n int64
			for _, idx := range run[i : i+nb] {
				n += c.blockLen(size, idx)
			}
			bufs[g] = hugemem.Alloc(int(n))
			i += nb
		}
		if err := sg.GetRangeSplit(c.base, key, off, bufs); err != nil {
			return nil, nil, nil, err
		}
		blocks = make([][]byte, 0, len(run))
		i = 0
		for g, nb := range groups {
			blocks = c.cutGroup(blocks, size, run[i:i+nb], bufs[g])
			i += nb
		}
	} else {
		data, err := c.src.GetRange(c.base, key, off, length)
		if err != nil {
			return nil, nil, nil, err
		}
		if int64(len(data)) != length {
			return nil, nil, nil, fmt.Errorf("cache: %s: bucket returned %d bytes of [%d,+%d)", key, len(data), off, length)
		}
		blocks = c.split(size, run, groups, data)
	}
	c.metrics.bucketReads.Inc()
	c.metrics.bucketBytes.Add(float64(length))
	return blocks, groups, nil, nil
}

// cutGroup appends to blocks the views of buf, which holds the blocks of
// group (consecutive), each view's capacity reaching buf's end.
func (c *Cache) cutGroup(blocks [][]byte, size int64, group []int64, buf []byte) [][]byte {
	var at int64
	for _, idx := range group {
		n := c.blockLen(size, idx)
		blocks = append(blocks, buf[at:at+n])
		at += n
	}
	return blocks
}

// split cuts the bytes of run (consecutive blocks, as one read returned
// them, of the right length) into blocks: views of data when it is one
// group, else views of a copy per group.
func (c *Cache) split(size int64, run []int64, groups []int, data []byte) [][]byte {
	if len(groups) == 1 {
		return c.cutGroup(nil, size, run, data)
	}
	blocks := make([][]byte, 0, len(run))
	i := 0
	for _, nb := range groups {
		group := run[i : i+nb]
		var n int64
		for _, idx := range group {
			n += c.blockLen(size, idx)
		}
		blocks = c.cutGroup(blocks, size, group, append([]byte(nil), data[:n]...))
		data = data[n:]
		i += nb
	}
	return blocks
}

// complete hands the run's blocks to their flights and caches them, the
// blocks of each group (of groups' sizes) sharing their allocation; keep
// is what keeps them valid (a mapping), or nil.
func (c *Cache) complete(key string, size int64, run []int64, blocks [][]byte, groups []int, keep any, err error, prefetch bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, idx := range run {
		k := blockKey{key, size, idx}
		f := c.flights[k]
		delete(c.flights, k)
		if err != nil {
			f.err = err
		} else {
			f.data, f.keep = blocks[i], keep
		}
		close(f.done)
	}
	if err != nil {
		return
	}
	i := 0
	for _, nb := range groups {
		if nb == 1 && keep == nil {
			c.insertLocked(blockKey{key, size, run[i]}, blocks[i][:len(blocks[i]):len(blocks[i])], prefetch)
		} else {
			c.insertGroupLocked(key, size, run[i:i+nb], blocks[i:i+nb], keep, prefetch)
		}
		i += nb
	}
}

// insertGroupLocked caches the blocks of one allocation read from a peer
// or the bucket, or of a mapping (keep), charged as a whole (like a put
// file) until the last of them is evicted, and evicts what no longer fits.
func (c *Cache) insertGroupLocked(key string, size int64, group []int64, blocks [][]byte, keep any, prefetch bool) {
	var held int64
	for _, b := range blocks {
		held += int64(len(b))
	}
	if held > c.cfg.Size || c.closed {
		return
	}
	g := &putFile{held: held, keep: keep}
	if keep != nil {
		g.mapped = blocks[0][:held] // the views reach the group's end
	}
	for i, idx := range group {
		k := blockKey{key, size, idx}
		if _, ok := c.entries[k]; ok {
			continue
		}
		c.addLocked(&entry{k: k, data: [][]byte{blocks[i]}, n: int64(len(blocks[i])), prefetched: prefetch, file: g})
		g.live++
	}
	if g.live == 0 {
		return
	}
	c.bytes += held
	c.metrics.bytes.Add(float64(held))
	c.evictLocked()
}

// Put caches a file this agent just wrote, so the consumers at the tail
// read it without a GET or a file read, and reports whether it kept it.
// The file is given as pieces whose concatenation is the complete object,
// and Put takes them over without a copy: its blocks are views of the
// pieces (a block may span several), so nobody may modify the pieces, or
// the buffers they are views of, afterwards; the agent hands over the
// producers' request buffers or the buffer the file was encoded into,
// which nothing else uses once the file is committed. Copying every
// produced byte into fresh blocks instead cost the agent 1.7-2.2x its
// produce CPU, mostly faulting in and zeroing the new memory.
//
// held is the memory the pieces keep alive (at least the file's size:
// the request buffers also hold their requests' headers, an encoding
// buffer is rounded up to its pool's class). It is charged to the budget
// from Put until the file's last cached block is evicted, since one
// cached block keeps its pieces' whole buffers alive; so the memory the
// cache holds stays within its size. A file whose held bytes exceed the
// whole budget is not kept.
//
// The blocks enter the unread segment, as read-ahead does: a consumer at
// the tail reads them before blocks it has read are evicted; promoted to
// protected only if read twice, so a produce stream nobody reads cycles
// through the unread segment, least recently used first, and does not
// push out the blocks readers share.
func (c *Cache) Put(key string, pieces [][]byte, held int64) bool {
	var size int64
	for _, p := range pieces {
		size += int64(len(p))
	}
	held = max(held, size)
	if size == 0 || held > c.cfg.Size {
		return false
	}
	// Cut the pieces into blocks (views) outside the lock.
	bs := c.cfg.BlockSize
	blocks := make([][][]byte, (size+bs-1)/bs)
	i, room := 0, c.blockLen(size, 0)
	for _, p := range pieces {
		for len(p) > 0 {
			k := min(int64(len(p)), room)
			// The view keeps the piece's capacity: a read across the
			// block boundary joins it with the next block's view of the
			// same piece (see appendViews).
			blocks[i] = append(blocks[i], p[:k])
			p, room = p[k:], room-k
			if room == 0 && i+1 < len(blocks) {
				i++
				room = c.blockLen(size, int64(i))
			}
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	pf := &putFile{held: held}
	for idx, b := range blocks {
		k := blockKey{key, size, int64(idx)}
		// A block a read fetched between the commit and now stays as
		// it is.
		if c.flights[k] != nil || c.entries[k] != nil {
			continue
		}
		n := c.blockLen(size, int64(idx))
		c.addLocked(&entry{k: k, data: b, n: n, prefetched: true, file: pf})
		pf.live++
	}
	if pf.live == 0 {
		return false
	}
	c.bytes += held
	c.metrics.bytes.Add(float64(held))
	c.metrics.written.Add(float64(size))
	c.evictLocked()
	return true
}

// insertLocked caches a block read from a peer or the bucket in the
// probation segment and evicts what no longer fits.
func (c *Cache) insertLocked(k blockKey, data []byte, prefetch bool) {
	n := int64(len(data))
	if n > c.cfg.Size || c.closed {
		return
	}
	if _, ok := c.entries[k]; ok {
		return
	}
	c.addLocked(&entry{k: k, data: [][]byte{data}, n: n, prefetched: prefetch})
	c.bytes += n
	c.metrics.bytes.Add(float64(n))
	c.evictLocked()
}

// addLocked lists e at the front of its segment, unread if prefetched,
// else probation. The caller charges its bytes.
func (c *Cache) addLocked(e *entry) {
	e.elem = c.segment(e).PushFront(e)
	c.entries[e.k] = e
	c.metrics.blocks.Inc()
}

// segment is the list e is in.
func (c *Cache) segment(e *entry) *list.List {
	switch {
	case e.protected:
		return c.protList
	case e.prefetched:
		return c.unread
	}
	return c.probation
}

// evictLocked evicts least recently used blocks, probation first, then
// unread, then protected, until the cache is within its budget.
func (c *Cache) evictLocked() {
	for c.bytes > c.cfg.Size {
		victim := c.probation.Back()
		if victim == nil {
			victim = c.unread.Back()
		}
		if victim == nil {
			victim = c.protList.Back()
		}
		c.removeLocked(victim.Value.(*entry))
		c.metrics.evictions.Inc()
	}
}

// touchLocked records a use of e: the first use of an unread block moves
// it to probation, a second use moves a probation block to the protected
// segment, whose least recently used blocks drop back to probation when
// it is over its budget. A prefetch only refreshes the block in its
// segment.
func (c *Cache) touchLocked(e *entry, prefetch bool) {
	switch {
	case e.protected:
		c.protList.MoveToFront(e.elem)
	case prefetch:
		c.segment(e).MoveToFront(e.elem)
	case e.prefetched:
		c.unread.Remove(e.elem)
		e.prefetched = false
		e.elem = c.probation.PushFront(e)
	default:
		c.probation.Remove(e.elem)
		e.elem = c.protList.PushFront(e)
		e.protected = true
		c.protBytes += e.n
		for c.protBytes > c.protected {
			d := c.protList.Back().Value.(*entry)
			c.protList.Remove(d.elem)
			d.protected = false
			c.protBytes -= d.n
			d.elem = c.probation.PushFront(d)
		}
	}
}

func (c *Cache) removeLocked(e *entry) {
	c.segment(e).Remove(e.elem)
	if e.protected {
		c.protBytes -= e.n
	}
	delete(c.entries, e.k)
	c.metrics.blocks.Dec()
	n := e.n
	if e.file != nil {
		// A put file's buffers stay alive, and charged, until its last
		// block goes.
		if e.file.live--; e.file.live > 0 {
			return
		}
		n = e.file.held
		if d, ok := e.file.keep.(dropper); ok {
			d.Drop(e.file.mapped)
		}
	}
	c.bytes -= n
	c.metrics.bytes.Sub(float64(n))
}

// maxGapBlocks is the widest gap between needed blocks that a read fills
// rather than split its GET around: a GET costs more than the bytes.
const maxGapBlocks = 1

// fillGaps adds the blocks of gaps up to maxGap wide between the ascending
// blocks of need.
func fillGaps(need []int64, maxGap int64) []int64 {
	var out []int64
	for i, idx := range need {
		if i > 0 && idx-need[i-1]-1 <= maxGap {
			for g := need[i-1] + 1; g < idx; g++ {
				out = append(out, g)
			}
		}
		out = append(out, idx)
	}
	return out
}

func sortUnique(xs []int64) []int64 {
	slices.Sort(xs)
	return slices.Compact(xs)
}
