// Package fetch is the read path: it resolves a partition offset to file
// ranges through the metadata index, reads those ranges through the block
// cache (internal/cache), patches in the committed offsets, reads ahead for
// sequential consumers, and wakes long-polling fetches when new data
// commits.
package fetch

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/cache"
	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/objstore"
	"github.com/sluicehq/sluice/internal/records"
)

// ErrOffsetOutOfRange is returned for offsets below the log start or above
// the high watermark.
var ErrOffsetOutOfRange = errors.New("fetch: offset out of range")

// ErrStorage wraps bucket read failures and index inconsistencies; a retry
// may succeed.
var ErrStorage = errors.New("fetch: storage error")

// extentsPerLookup is how many extents one index query returns; a read that
// needs more queries again.
const extentsPerLookup = 32

// fileReadsInParallel bounds how many files one fetch reads at once.
const fileReadsInParallel = 8

// Config tunes a Reader.
type Config struct {
	// PrefetchBytes is how far ahead of a sequential consumer the reader
	// loads extents into the cache; 0 disables read-ahead.
	PrefetchBytes int64
	// MaxPrefetches bounds read-aheads running at once (more are skipped);
	// 0 means 4.
	MaxPrefetches int
	// ReadBudget bounds how long one ReadFetch waits for file bytes: when
	// it runs out, every partition is answered with the batches it has
	// read by then, in order (none, and no error, when its first extent
	// has not arrived), and the reads still in flight go on filling the
	// cache, where the consumer's next fetch finds them. A Fetch that
	// waited for slow reads until the client gave up on the request would
	// be retried only to wait again: a fresh consumer reading history from
	// a loaded bucket made no progress at all. 0 means DefaultReadBudget.
	ReadBudget time.Duration
}

// DefaultReadBudget is Config.ReadBudget's default: a Fetch answers well
// inside the shortest request timeout of the common clients (franz-go
// waits 10 s past the fetch's max wait; the Java client, librdkafka,
// sarama and kafkajs 30 s or more), even when its long poll (up to its
// max wait) and the read after it both run into a slow bucket.
const DefaultReadBudget = 4 * time.Second

// Reader reads committed batches. It is safe for concurrent use.
type Reader struct {
	log     metadata.Log
	cache   *cache.Cache
	ownC    bool // cache created by NewReader, closed by Close
	metrics *Metrics
	cfg     Config

	// prefetchSem holds a token per running read-ahead; ctx and wg bound
	// them, Close cancels and waits.
	prefetchSem chan struct{}
	ctx         context.Context
	cancel      context.CancelFunc
	wg          sync.WaitGroup

	// runs remembers the extents of recent lookups (extents.go).
	runs *extentRuns

	mu sync.Mutex // guards expect
	// expect holds the next offsets of partitions whose last read stopped
	// at the byte budget with more data after it: a read starting there is
	// a sequential consumer coming back, which earns a read-ahead.
	expect map[seqKey]struct{}
}

type seqKey struct {
	topic     metadata.TopicID
	partition int32
	offset    int64
}

// maxExpect bounds the sequential-consumer table; it is cleared when full.
const maxExpect = 1 << 16

// NewReader returns a Reader over log and bucket with no cache (reads are
// still coalesced per file and shared while in flight) and no read-ahead.
func NewReader(log metadata.Log, bucket objstore.Bucket, m *Metrics) *Reader {
	r := NewCachedReader(log, cache.New(bucket, cache.Config{}, nil), m, Config{})
	r.ownC = true
	return r
}

// NewCachedReader returns a Reader that reads through c. The caller closes
// c after the Reader.
func NewCachedReader(log metadata.Log, c *cache.Cache, m *Metrics, cfg Config) *Reader {
	if m == nil {
		m = NewMetrics(nil)
	}
	if cfg.MaxPrefetches <= 0 {
		cfg.MaxPrefetches = 4
	}
	if cfg.ReadBudget <= 0 {
		cfg.ReadBudget = DefaultReadBudget
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Reader{log: log, cache: c, metrics: m, cfg: cfg, prefetchSem: make(chan struct{}, cfg.MaxPrefetches),
		ctx: ctx, cancel: cancel, expect: map[seqKey]struct{}{}, runs: newExtentRuns()}
}

// Close stops read-aheads in progress and waits for them.
func (r *Reader) Close() {
	r.cancel()
	r.wg.Wait()
	if r.ownC {
		r.cache.Close()
	}
}

// Result is what Read found.
type Result struct {
	State metadata.PartitionState
	// Records holds whole record batches, starting with the batch that
	// contains the requested offset. They carry their committed offsets
	// unless Shared.
	Records []byte
	// Shared reports that Records is a view of cached blocks, shared with
	// other readers, whose batches still carry the offsets they were
	// written with. The caller must not modify it, nor release it, and
	// gives the batches their committed offsets in its own copy of them
	// (Answer.PatchCopy, records.PatchBaseOffsets(copy, FirstOffset)), or
	// calls Own first.
	// Only ReadFetch returns shared records, and only for a partition whose
	// bytes lie in one view of the cache (one block, or one buffer of a
	// file this agent wrote, see cache.Put): the copy a Fetch response is encoded
	// into then is the only one made.
	Shared bool
	// FirstOffset is the committed base offset of the first batch of
	// Records (when there is one).
	FirstOffset int64
	// sizeHint is the buffer size to take for Records when copying.
	sizeHint int
	// keep keeps Shared Records valid (blocks mapped from a local file,
	// see cache.Keep) as long as the Result, or a copy of it, is
	// reachable: whoever holds Records holds the Result.
	keep cache.Keep
	// Offsets counts the offsets the returned batches span.
	Offsets int64
	// NextOffset is the offset after the last returned batch (the
	// requested offset when none was returned).
	NextOffset int64
}

// Own gives res its own copy of Records with the committed offsets, when
// they are Shared; the copy is a pooled buffer (see ReleaseRecords).
func (res *Result) Own() {
	if !res.Shared {
		return
	}
	b := append(takeRecords(max(res.sizeHint, len(res.Records))), res.Records...)
	// The batches were walked when they were chosen, so this cannot fail.
	records.PatchBaseOffsets(b, res.FirstOffset)
	runtime.KeepAlive(res.keep)
	res.Records, res.Shared, res.keep = b, false, nil
}

// Request is one partition of a Fetch.
type Request struct {
	Topic     metadata.TopicID
	Partition int32
	Offset    int64
	// MaxBytes is the partition's byte limit (partition_max_bytes).
	MaxBytes int
}

// Outcome is one partition's answer to ReadFetch.
type Outcome struct {
	Result
	Err error
}

// Read returns the batches of a partition from offset on, at most maxBytes
// of them, except that with minOne it returns the first batch even if it
// alone exceeds maxBytes (so a consumer can always make progress, KIP-74).
// An offset equal to the high watermark returns no records and no error.
func (r *Reader) Read(ctx context.Context, topic metadata.TopicID, partition int32, offset int64, maxBytes int, minOne bool) (Result, error) {
	out := r.read(ctx, ctx, []Request{{Topic: topic, Partition: partition, Offset: offset, MaxBytes: maxBytes}}, maxBytes, minOne, false)
	return out[0].Result, out[0].Err
}

// ReadFetch reads the partitions of one Fetch request in order: each gets
// at most its MaxBytes and all together at most maxBytes, except that the
// first batch of the first partition with data is returned whole (KIP-74).
// Results may be Shared. Waiting for file bytes is bounded by the
// Config's ReadBudget (store lookups are bounded by ctx only).
// The extents every partition needs are resolved first and the ranges of
// each file are then read together, so partitions whose data lives in one
// file cost one read of it.
func (r *Reader) ReadFetch(ctx context.Context, reqs []Request, maxBytes int) []Outcome {
	bytesCtx, cancel := context.WithTimeout(ctx, r.cfg.ReadBudget)
	defer cancel()
	return r.read(ctx, bytesCtx, reqs, maxBytes, true, true)
}

// keeper collects the Keeps of one read's views (see cache.Keep); the
// read holds it until its answers are assembled, and gives it to the
// Shared ones.
type keeper struct {
	mu   sync.Mutex
	keep cache.Keep
}

func (k *keeper) add(keep cache.Keep) {
	if len(keep) == 0 {
		return
	}
	k.mu.Lock()
	k.keep = append(k.keep, keep...)
	k.mu.Unlock()
}

// plan is one partition's resolved read: its log bounds and the extents it
// probably needs, with their bytes once read.
type plan struct {
	extents []metadata.Extent
	data    [][][]byte // each extent's bytes, as views of cached blocks
	errs    []error
	// more reports that the partition has extents after the planned ones.
	more bool
}

// read is Read and ReadFetch; share allows Shared results. Store lookups
// take ctx, waits for file bytes bytesCtx (ctx or a shorter deadline
// within it): a partition whose bytes did not arrive within bytesCtx is
// answered with what it has.
func (r *Reader) read(ctx, bytesCtx context.Context, reqs []Request, budget int, minOne, share bool) []Outcome {
	out := make([]Outcome, len(reqs))
	plans := make([]plan, len(reqs))

	// Resolve: log bounds (of every partition in one store call) and the
	// extents each partition will probably need, assuming it gets its
	// whole extents within its budget.
	states, statesErr := r.partitionStates(ctx, reqs)
	planned := 0
	for i, q := range reqs {
		o := &out[i]
		o.NextOffset = q.Offset
		err := statesErr
		if err == nil {
			err = states[i].Err
		}
		if err != nil {
			o.Err = err
			continue
		}
		st := states[i].PartitionState
		o.State = st
		if q.Offset < st.LogStartOffset || q.Offset > st.HighWatermark {
			o.Err = fmt.Errorf("%w: %d not in [%d, %d]", ErrOffsetOutOfRange, q.Offset, st.LogStartOffset, st.HighWatermark)
			continue
		}
		limit := min(q.MaxBytes, budget-planned)
		first := minOne && planned == 0
		if limit <= 0 && !first {
			continue
		}
		p := &plans[i]
		bytes, err := r.resolve(ctx, p, q, st, limit)
		if err != nil {
			o.Err = err
			continue
		}
		planned += min(bytes, max(limit, 0))
	}

	// Read: the ranges of each file together, files in parallel.
	kp := &keeper{}
	r.readPlans(bytesCtx, plans, kp)

	// Assemble in request order with exact byte accounting; a partition
	// that needs more than was planned reads the rest extent by extent.
	total := 0
	for i, q := range reqs {
		o := &out[i]
		if o.Err != nil {
			continue
		}
		limit := min(q.MaxBytes, budget-total)
		first := minOne && total == 0
		if limit <= 0 && !first {
			continue
		}
		full, err := r.assemble(ctx, bytesCtx, &o.Result, &plans[i], q, limit, first, share, kp)
		if err != nil && outOfTime(ctx, bytesCtx, err) {
			// What was read is answered; the rest is on its way into
			// the cache. Later partitions may still have theirs.
			r.metrics.readsCut.Inc()
			full, err = false, nil
		}
		if err != nil {
			full, err = r.reassemble(ctx, bytesCtx, o, q, limit, first, share, err, kp)
		}
		if err != nil {
			o.Err = err
			continue
		}
		total += len(o.Records)
		if full && o.NextOffset < o.State.HighWatermark {
			r.maybePrefetch(q, o.NextOffset)
		}
	}
	// Shared answers keep the mappings their views lie in; the copies
	// were made while kp held them.
	kp.mu.Lock()
	keep := kp.keep
	kp.mu.Unlock()
	for i := range out {
		if out[i].Shared && len(keep) > 0 {
			out[i].keep = keep
		}
	}
	runtime.KeepAlive(kp)
	return out
}

// partitionStates looks up the log bounds of every partition of reqs in
// one store call.
func (r *Reader) partitionStates(ctx context.Context, reqs []Request) ([]metadata.PartitionStateResult, error) {
	ps := make([]metadata.TopicPartition, len(reqs))
	for i, q := range reqs {
		ps[i] = metadata.TopicPartition{Topic: q.Topic, Partition: q.Partition}
	}
	states, err := r.log.PartitionStates(ctx, ps)
	if err == nil && len(states) != len(reqs) {
		err = fmt.Errorf("%w: %d partition states for %d partitions", ErrStorage, len(states), len(reqs))
	}
	return states, err
}

// reassemble handles an assemble that failed because the index moved under
// the read: retention or DeleteRecords may have advanced the log start past
// q.Offset (the answer is then OFFSET_OUT_OF_RANGE with the new bounds), or
// compaction or retention may have deleted a file between the lookup and the
// read once its grace period ran out (the partition is then resolved and
// read once more). Other errors are returned as they are.
func (r *Reader) reassemble(ctx, bytesCtx context.Context, o *Outcome, q Request, limit int, first, share bool, err error, kp *keeper) (bool, error) {
	st, serr := r.log.PartitionState(ctx, q.Topic, q.Partition)
	if serr != nil {
		return false, err
	}
	if q.Offset < st.LogStartOffset {
		o.Result = Result{State: st, NextOffset: q.Offset}
		return false, fmt.Errorf("%w: %d is below the log start %d", ErrOffsetOutOfRange, q.Offset, st.LogStartOffset)
	}
	if !errors.Is(err, objstore.ErrNotFound) {
		return false, err
	}
	// The file is gone, so the extents that named it were replaced: look
	// them up again rather than in the remembered run.
	r.runs.forget(partitionKey{q.Topic, q.Partition})
	o.Result = Result{State: st, NextOffset: q.Offset}
	retry := make([]plan, 1)
	if _, err := r.resolve(ctx, &retry[0], q, st, limit); err != nil {
		return false, err
	}
	r.readPlans(bytesCtx, retry, kp)
	full, err := r.assemble(ctx, bytesCtx, &o.Result, &retry[0], q, limit, first, share, kp)
	if err != nil && outOfTime(ctx, bytesCtx, err) {
		r.metrics.readsCut.Inc()
		return false, nil
	}
	return full, err
}

// outOfTime reports whether err is bytesCtx's deadline passing while ctx
// (the request) goes on.
func outOfTime(ctx, bytesCtx context.Context, err error) bool {
	return ctx.Err() == nil && bytesCtx.Err() != nil && errors.Is(err, context.DeadlineExceeded)
}

// resolve fills p with the extents from q.Offset on until they hold limit
// bytes (at least one extent), returning their byte count.
func (r *Reader) resolve(ctx context.Context, p *plan, q Request, st metadata.PartitionState, limit int) (int, error) {
	next, bytes := q.Offset, 0
	for next < st.HighWatermark {
		extents, err := r.extents(ctx, q.Topic, q.Partition, next)
		if err != nil {
			return bytes, err
		}
		if len(extents) == 0 {
			return bytes, nil
		}
		for _, e := range extents {
			if len(p.extents) > 0 && bytes >= limit {
				p.more = true
				return bytes, nil
			}
			p.extents = append(p.extents, e)
			bytes += int(e.ByteLength)
			next = e.EndOffset
		}
	}
	return bytes, nil
}

// readPlans reads every planned extent, one cache read per file, adding
// what keeps the views valid to kp.
func (r *Reader) readPlans(ctx context.Context, plans []plan, kp *keeper) {
	type ref struct{ plan, extent int }
	type file struct {
		size   int64
		ranges []cache.Range
		refs   []ref
	}
	files := map[string]*file{}
	var order []string
	for i := range plans {
		p := &plans[i]
		p.data = make([][][]byte, len(p.extents))
		p.errs = make([]error, len(p.extents))
		for j, e := range p.extents {
			f := files[e.FileKey]
			if f == nil {
				f = &file{size: e.FileSize}
				files[e.FileKey] = f
				order = append(order, e.FileKey)
			}
			f.ranges = append(f.ranges, cache.Range{Off: e.ByteOffset, Len: e.ByteLength})
			f.refs = append(f.refs, ref{i, j})
		}
	}
	sem := make(chan struct{}, fileReadsInParallel)
	var wg sync.WaitGroup
	for _, key := range order {
		f := files[key]
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			data, keep, err := r.cache.ReadRangesViews(ctx, key, f.size, f.ranges)
			kp.add(keep)
			// Each ref is written by this goroutine only.
			for k, rf := range f.refs {
				if err != nil {
					plans[rf.plan].errs[rf.extent] = err
				} else {
					plans[rf.plan].data[rf.extent] = data[k]
				}
			}
		}()
	}
	wg.Wait()
}

// assemble appends the planned extents' batches to res, then reads further
// extents one at a time while the budget allows. It reports whether the
// budget stopped it. With share, res may be left Shared. Store lookups
// take ctx, file reads bytesCtx (what keeps their views valid goes to
// kp); on an error res holds the batches before it.
func (r *Reader) assemble(ctx, bytesCtx context.Context, res *Result, p *plan, q Request, maxBytes int, minOne, share bool, kp *keeper) (full bool, err error) {
	next := q.Offset
	if len(p.extents) > 0 {
		// Batches copied go into one buffer: size it once rather than grow
		// it batch by batch (growth was a tenth of a replay's CPU).
		var n int64
		for _, e := range p.extents {
			n += e.ByteLength
		}
		res.sizeHint = int(min(n, int64(max(maxBytes, 0))))
	}
	for j, e := range p.extents {
		if e.BaseOffset > next {
			return false, fmt.Errorf("%w: index gap at offset %d (next extent starts at %d)", ErrStorage, next, e.BaseOffset)
		}
		if p.errs[j] != nil {
			return false, fmt.Errorf("%w: %w", ErrStorage, p.errs[j])
		}
		if full, err := appendExtent(res, e, p.data[j], maxBytes, minOne, share); err != nil || full {
			return full, err
		}
		next = e.EndOffset
	}
	if len(p.extents) > 0 && !p.more {
		return false, nil
	}
	if endsShared(res, maxBytes) {
		return true, nil
	}
	for next < res.State.HighWatermark {
		extents, err := r.extents(ctx, q.Topic, q.Partition, next)
		if err != nil {
			return false, err
		}
		if len(extents) == 0 {
			return false, nil
		}
		for _, e := range extents {
			if e.BaseOffset > next {
				return false, fmt.Errorf("%w: index gap at offset %d (next extent starts at %d)", ErrStorage, next, e.BaseOffset)
			}
			data, keep, err := r.cache.ReadRangesViews(bytesCtx, e.FileKey, e.FileSize, []cache.Range{{Off: e.ByteOffset, Len: e.ByteLength}})
			kp.add(keep)
			if err != nil {
				return false, fmt.Errorf("%w: %w", ErrStorage, err)
			}
			if full, err := appendExtent(res, e, data[0], maxBytes, minOne, share); err != nil || full {
				return full, err
			}
			next = e.EndOffset
		}
	}
	return false, nil
}

// appendExtent copies the batches of e (its bytes are the views, which may
// be shared with other readers and are never modified) that end after
// res.NextOffset to res.Records while they fit, patching the copies'
// offsets, and reports whether the byte budget is used up. Batches before
// res.NextOffset were returned already or not asked for: extents from two
// lookups may overlap when compaction replaced some between them. With
// share, res's first batches may be returned Shared (see shareExtent).
func appendExtent(res *Result, e metadata.Extent, views [][]byte, maxBytes int, minOne, share bool) (full bool, err error) {
	offset := res.NextOffset
	var n int64
	for _, v := range views {
		n += int64(len(v))
	}
	if n != e.ByteLength {
		return false, fmt.Errorf("%w: %s: read %d bytes of [%d,+%d)", ErrStorage, e.FileKey, n, e.ByteOffset, e.ByteLength)
	}
	if share && len(res.Records) == 0 {
		if ok, full, err := shareExtent(res, e, views, maxBytes, minOne); ok || err != nil {
			return full, err
		}
	}
	if endsShared(res, maxBytes) {
		return true, nil
	}
	res.Own()
	if res.Records == nil {
		res.Records = takeRecords(res.sizeHint)
	}
	base := e.BaseOffset
	it := batchIter{views: views}
	defer it.release()
	for {
		// A batch that straddles two views is gathered where it would be
		// copied to: the free room at the end of res.Records.
		batch, err := it.next(res.Records[len(res.Records):])
		if err != nil {
			return false, fmt.Errorf("%w: %s: %v", ErrStorage, e.FileKey, err)
		}
		if batch == nil {
			break
		}
		end := base + records.Offsets(batch)
		if end <= offset {
			base = end
			continue
		}
		if len(res.Records)+len(batch) > maxBytes && !(minOne && len(res.Records) == 0) {
			return true, nil
		}
		start := len(res.Records)
		if start == 0 {
			res.FirstOffset = base
		}
		if continues(res.Records, batch) {
			res.Records = res.Records[:start+len(batch)] // gathered in place
		} else {
			res.Records = append(res.Records, batch...)
		}
		if _, err := records.PatchBaseOffsets(res.Records[start:], base); err != nil {
			return false, err
		}
		res.Offsets += end - base
		res.NextOffset = end
		base = end
	}
	if base != e.EndOffset {
		return false, fmt.Errorf("%w: %s: batches cover offsets up to %d, index says %d", ErrStorage, e.FileKey, base, e.EndOffset)
	}
	return len(res.Records) >= maxBytes, nil
}

// shareExtent is appendExtent for an empty res, without copying: the
// batches to return are a slice of the extent's first view, which res
// takes Shared. That is all of them when the extent lies in one view, or
// the budget ends inside it; otherwise (a batch straddles into the next
// view) those before the boundary are returned, as Kafka returns a read
// that meets the end of a log segment, when they fill at least half the
// budget. ok is false, with res untouched, when the batches are to be
// copied instead.
func shareExtent(res *Result, e metadata.Extent, views [][]byte, maxBytes int, minOne bool) (ok, full bool, err error) {
	data := views[0]
	base := e.BaseOffset
	start, end := -1, 0
	first, next := res.FirstOffset, res.NextOffset
	take := func() {
		if start >= 0 {
			res.Records, res.Shared = data[start:end:end], true
			res.FirstOffset, res.Offsets, res.NextOffset = first, next-first, next
		}
	}
	for pos := 0; pos < len(data); {
		batch, _, err := records.Next(data[pos:])
		if err != nil {
			if len(views) > 1 {
				// The batch straddles the boundary; the bytes past it are
				// checked by the copy, or by the read that continues here.
				if start >= 0 && end-start >= maxBytes/2 {
					take()
					return true, true, nil
				}
				return false, false, nil
			}
			return true, false, fmt.Errorf("%w: %s: %v", ErrStorage, e.FileKey, err)
		}
		end2 := base + records.Offsets(batch)
		switch {
		case end2 <= res.NextOffset: // before what is asked for
		case start < 0 && len(batch) > maxBytes && !minOne:
			return true, true, nil
		case start >= 0 && end+len(batch)-start > maxBytes:
			take()
			return true, true, nil
		default:
			if start < 0 {
				start, first = pos, base
			}
			end, next = pos+len(batch), end2
		}
		base = end2
		pos += len(batch)
	}
	if len(views) > 1 {
		return false, false, nil // a boundary between batches: copy across it
	}
	if base != e.EndOffset {
		return true, false, fmt.Errorf("%w: %s: batches cover offsets up to %d, index says %d", ErrStorage, e.FileKey, base, e.EndOffset)
	}
	take()
	return true, start >= 0 && end-start >= maxBytes, nil
}

// endsShared reports whether a read whose res is Shared ends where the
// shared bytes do rather than copy them to add more: when they fill at
// least half its budget (see shareExtent).
func endsShared(res *Result, maxBytes int) bool {
	return res.Shared && len(res.Records) >= maxBytes/2
}

// batchIter walks the record batches of bytes split over views (the cache
// blocks an extent spans). A batch inside one view is returned as a slice
// of it; the few that straddle a block boundary are gathered into the room
// the caller offers (where it copies batches to), else into a pooled
// scratch buffer, so a range that spans blocks is not copied as a whole.
// release hands the scratch buffer back.
type batchIter struct {
	views   [][]byte
	scratch []byte
}

func (it *batchIter) release() {
	if it.scratch != nil {
		ReleaseRecords(it.scratch)
		it.scratch = nil
	}
}

// continues reports whether b starts at the end of buf, within its
// capacity: a batch batchIter gathered into buf's free room.
func continues(buf, b []byte) bool {
	return len(b) > 0 && cap(buf)-len(buf) >= len(b) && &buf[:len(buf)+1][len(buf)] == &b[0]
}

// batchLenAt is the offset of the batch length field in a record batch;
// the batch is batchLenAt+4+length bytes.
const batchLenAt = 8

// next returns the next batch, nil at the end, or an error for bytes that
// are not a whole batch. A batch that straddles views is gathered into
// room's capacity when it fits (room is empty; its free capacity may be
// overwritten), else into the scratch buffer.
func (it *batchIter) next(room []byte) ([]byte, error) {
	for len(it.views) > 0 && len(it.views[0]) == 0 {
		it.views = it.views[1:]
	}
	if len(it.views) == 0 {
		return nil, nil
	}
	v := it.views[0]
	if len(v) >= batchLenAt+4 {
		if n := batchLenAt + 4 + int64(int32(binary.BigEndian.Uint32(v[batchLenAt:]))); n <= int64(len(v)) {
			batch, rest, err := records.Next(v)
			if err != nil {
				return nil, err
			}
			it.views[0] = rest
			return batch, nil
		}
	}
	// The batch straddles views: read its length, then gather it.
	var hdr [batchLenAt + 4]byte
	if !it.peek(hdr[:]) {
		return nil, errors.New("truncated record batch header")
	}
	n := batchLenAt + 4 + int64(int32(binary.BigEndian.Uint32(hdr[batchLenAt:])))
	if n < batchLenAt+4 || n > it.remaining() {
		return nil, fmt.Errorf("record batch of %d bytes overruns its extent", n)
	}
	dst := room[:0]
	if int64(cap(dst)) < n {
		if int64(cap(it.scratch)) < n {
			it.release()
			it.scratch = takeRecords(int(n)) // not grown by the appends below
		}
		dst = it.scratch[:0]
	}
	for need := n; need > 0; {
		v := it.views[0]
		take := min(need, int64(len(v)))
		dst = append(dst, v[:take]...)
		it.views[0] = v[take:]
		if len(it.views[0]) == 0 {
			it.views = it.views[1:]
		}
		need -= take
	}
	batch, rest, err := records.Next(dst)
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, errors.New("record batch length mismatch")
	}
	return batch, nil
}

// peek copies the next len(dst) bytes into dst without consuming them.
func (it *batchIter) peek(dst []byte) bool {
	n := 0
	for _, v := range it.views {
		n += copy(dst[n:], v)
		if n == len(dst) {
			return true
		}
	}
	return false
}

func (it *batchIter) remaining() int64 {
	var n int64
	for _, v := range it.views {
		n += int64(len(v))
	}
	return n
}

// maybePrefetch notes that a read of q stopped at its budget before next;
// when the read itself started where an earlier one stopped (a sequential
// consumer), the extents after next are loaded into the cache in the
// background, up to PrefetchBytes.
func (r *Reader) maybePrefetch(q Request, next int64) {
	if r.cfg.PrefetchBytes <= 0 {
		return
	}
	r.mu.Lock()
	k := seqKey{q.Topic, q.Partition, q.Offset}
	_, sequential := r.expect[k]
	delete(r.expect, k)
	if len(r.expect) >= maxExpect {
		clear(r.expect)
	}
	r.expect[seqKey{q.Topic, q.Partition, next}] = struct{}{}
	r.mu.Unlock()
	if !sequential {
		return
	}
	select {
	case r.prefetchSem <- struct{}{}:
	default:
		r.metrics.prefetchSkipped.Inc()
		return
	}
	r.metrics.prefetches.Inc()
	r.wg.Add(1)
	go func() {
		defer func() { <-r.prefetchSem; r.wg.Done() }()
		ctx, cancel := context.WithTimeout(r.ctx, 30*time.Second)
		defer cancel()
		r.prefetch(ctx, q.Topic, q.Partition, next)
	}()
}

func (r *Reader) prefetch(ctx context.Context, topic metadata.TopicID, partition int32, from int64) {
	var bytes int64
	perFile := map[string][]cache.Range{}
	sizes := map[string]int64{}
	var order []string
	for bytes < r.cfg.PrefetchBytes {
		extents, err := r.extents(ctx, topic, partition, from)
		if err != nil || len(extents) == 0 {
			break
		}
		for _, e := range extents {
			if bytes >= r.cfg.PrefetchBytes {
				break
			}
			if _, ok := perFile[e.FileKey]; !ok {
				order = append(order, e.FileKey)
				sizes[e.FileKey] = e.FileSize
			}
			perFile[e.FileKey] = append(perFile[e.FileKey], cache.Range{Off: e.ByteOffset, Len: e.ByteLength})
			bytes += e.ByteLength
			from = e.EndOffset
		}
	}
	for _, key := range order {
		if err := r.cache.Prefetch(ctx, key, sizes[key], perFile[key]); err != nil {
			return
		}
	}
}
