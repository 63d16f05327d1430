package produce_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/fetch"
	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/metadata/sqlite"
	"github.com/sluicehq/sluice/internal/objstore"
	"github.com/sluicehq/sluice/internal/produce"
	"github.com/sluicehq/sluice/internal/records"
)

// recordBatch encodes a valid v2 batch whose records have the given values.
func recordBatch(values ...string) []byte {
	const ts = 1_700_000_000_000
	var recs []byte
	for i, v := range values {
		r := kmsg.Record{TimestampDelta64: int64(i), OffsetDelta: int32(i), Value: []byte(v)}
		body := r.AppendTo(nil)[1:] // drop the placeholder length (varint 0, one byte)
		recs = kbin.AppendVarint(recs, int32(len(body)))
		recs = append(recs, body...)
	}
	n := int32(len(values))
	b := kmsg.RecordBatch{
		Length: int32(49 + len(recs)), PartitionLeaderEpoch: -1, Magic: 2,
		LastOffsetDelta: n - 1, FirstTimestamp: ts, MaxTimestamp: ts + int64(n-1),
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: n, Records: recs,
	}
	raw := b.AppendTo(nil)
	records.SetCRC(raw)
	return raw
}

// batchOf wraps recordBatch(values...) for topic/partition.
func batchOf(topic metadata.TopicID, partition int32, values ...string) produce.Batch {
	data := recordBatch(values...)
	n := int64(len(values))
	return produce.Batch{Topic: topic, Partition: partition, Data: data, Info: records.BatchInfo{
		Records: n, MinTimestamp: 1_700_000_000_000, MaxTimestamp: 1_700_000_000_000 + n - 1,
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, LastSequence: -1,
	}}
}

// values returns n distinct record values with the given prefix.
func values(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}

type env struct {
	t       *testing.T
	store   *sqlite.Store
	dir     string // bucket directory
	bucket  objstore.Bucket
	batcher *produce.Batcher
	commits atomic.Int64 // onCommit calls
}

// newEnv opens a SQLite store and a directory bucket (wrapped by wrap, if
// set) and starts a batcher over them; everything is closed at cleanup.
func newEnv(t *testing.T, cfg produce.Config, wrap func(objstore.Bucket) objstore.Bucket) *env {
	t.Helper()
	root := t.TempDir()
	store, err := sqlite.Open(context.Background(), filepath.Join(root, "metadata.db"))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, store: store, dir: filepath.Join(root, "bucket")}
	dirBucket, err := objstore.OpenDir(e.dir)
	if err != nil {
		t.Fatal(err)
	}
	e.bucket = dirBucket
	if wrap != nil {
		e.bucket = wrap(dirBucket)
	}
	e.batcher = produce.New(cfg, store, e.bucket, func(...metadata.TopicPartition) { e.commits.Add(1) }, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.batcher.Close(ctx); err != nil {
			t.Errorf("batcher close: %v", err)
		}
		dirBucket.Close()
		store.Close()
	})
	return e
}

func (e *env) topic(name string, partitions int32) metadata.TopicID {
	e.t.Helper()
	tp, err := e.store.CreateTopic(context.Background(), name, partitions, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return tp.ID
}

func (e *env) hw(topic metadata.TopicID, partition int32) int64 {
	e.t.Helper()
	st, err := e.store.PartitionState(context.Background(), topic, partition)
	if err != nil {
		e.t.Fatal(err)
	}
	return st.HighWatermark
}

// files counts the segment files in the bucket directory.
func (e *env) files() int {
	e.t.Helper()
	n := 0
	err := filepath.WalkDir(e.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(path, ".slc") {
			n++
		}
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// submit submits batches, failing the test if Submit blocks for 10s.
func (e *env) submit(ctx context.Context, batches ...produce.Batch) *produce.Pending {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	p, err := e.batcher.Submit(ctx, batches)
	if err != nil {
		e.t.Fatalf("Submit: %v", err)
	}
	return p
}

// wait returns p's results, failing the test if they take over 10s.
func wait(t *testing.T, p *produce.Pending) []produce.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := p.Wait(ctx)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	return res
}

// waitOK is wait, failing on any per-batch error.
func waitOK(t *testing.T, p *produce.Pending) []produce.Result {
	t.Helper()
	res := wait(t, p)
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("batch %d: %v", i, r.Err)
		}
	}
	return res
}

// slowBucket delays every Put by a random few milliseconds, so concurrent
// uploads finish out of order, and records the most Puts in flight at once.
type slowBucket struct {
	objstore.Bucket
	inFlight, maxInFlight atomic.Int32
}

func (b *slowBucket) Put(ctx context.Context, key string, data []byte) error {
	n := b.inFlight.Add(1)
	defer b.inFlight.Add(-1)
	for {
		m := b.maxInFlight.Load()
		if n <= m || b.maxInFlight.CompareAndSwap(m, n) {
			break
		}
	}
	time.Sleep(time.Duration(rand.IntN(15)) * time.Millisecond)
	return b.Bucket.Put(ctx, key, data)
}

// Many goroutines submitting at once, across many files uploaded in
// parallel: every partition's offsets are handed out exactly once, without
// gaps, and each goroutine's sequential submissions get increasing offsets.
func TestOffsetsContiguousAcrossConcurrentSubmits(t *testing.T) {
	slow := &slowBucket{}
	e := newEnv(t, produce.Config{BatchTimeout: 3 * time.Millisecond, BatchMaxBytes: 1500, MaxInFlight: 4},
		func(b objstore.Bucket) objstore.Bucket { slow.Bucket = b; return slow })
	topic := e.topic("t", 3)

	const goroutines, perGoroutine = 8, 30
	type sub struct {
		partition int32
		records   []int64 // per batch in the call
		pending   *produce.Pending
	}
	subs := make([][]sub, goroutines)
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perGoroutine; i++ {
				p := int32((g + i) % 3)
				// One or two batches of 1-5 records per call.
				var batches []produce.Batch
				var counts []int64
				for j := 0; j < 1+i%2; j++ {
					n := 1 + (g+i+j)%5
					batches = append(batches, batchOf(topic, p, values(fmt.Sprintf("g%d-i%d-j%d", g, i, j), n)...))
					counts = append(counts, int64(n))
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				pending, err := e.batcher.Submit(ctx, batches)
				cancel()
				if err != nil {
					t.Errorf("Submit: %v", err)
					return
				}
				subs[g] = append(subs[g], sub{partition: p, records: counts, pending: pending})
			}
		}()
	}
	wg.Wait()

	type span struct{ base, n int64 }
	spans := map[int32][]span{}
	for g := range subs {
		last := map[int32]int64{0: -1, 1: -1, 2: -1}
		for i, s := range subs[g] {
			res := waitOK(t, s.pending)
			if len(res) != len(s.records) {
				t.Fatalf("g%d call %d: %d results for %d batches", g, i, len(res), len(s.records))
			}
			for j, r := range res {
				// Batches of one call are contiguous; calls of one
				// goroutine are ordered.
				if j > 0 && r.BaseOffset != res[j-1].BaseOffset+s.records[j-1] {
					t.Fatalf("g%d call %d: batch %d at %d, previous at %d with %d records", g, i, j, r.BaseOffset, res[j-1].BaseOffset, s.records[j-1])
				}
				if r.BaseOffset <= last[s.partition] {
					t.Fatalf("g%d call %d: offset %d on partition %d after %d: submission order lost", g, i, r.BaseOffset, s.partition, last[s.partition])
				}
				last[s.partition] = r.BaseOffset
				spans[s.partition] = append(spans[s.partition], span{r.BaseOffset, s.records[j]})
			}
		}
	}
	for p := int32(0); p < 3; p++ {
		ss := spans[p]
		slices.SortFunc(ss, func(a, b span) int { return int(a.base - b.base) })
		next := int64(0)
		for _, s := range ss {
			if s.base != next {
				t.Fatalf("partition %d: batch at %d, expected %d (gap or overlap)", p, s.base, next)
			}
			next += s.n
		}
		if hw := e.hw(topic, p); hw != next {
			t.Fatalf("partition %d: high watermark %d, batches cover [0, %d)", p, hw, next)
		}
	}
	files := e.files()
	if files < 3 {
		t.Fatalf("%d files: the test needs several flushes", files)
	}
	if m := slow.maxInFlight.Load(); m < 2 {
		t.Fatalf("at most %d upload at once: the test needs overlapping uploads", m)
	}
	if c := e.commits.Load(); c != int64(files) {
		t.Fatalf("onCommit called %d times for %d files", c, files)
	}
	t.Logf("%d files, up to %d uploads at once", files, slow.maxInFlight.Load())
}

// orderBucket holds back the upload of the file holding marker until
// `others` other uploads have finished, so later files finish uploading
// first.
type orderBucket struct {
	objstore.Bucket
	marker   []byte
	others   int
	mu       sync.Mutex
	finished int
	released chan struct{}
	order    []string // "marker" or "other", in completion order
}

func (b *orderBucket) Put(ctx context.Context, key string, data []byte) error {
	if bytes.Contains(data, b.marker) {
		select {
		case <-b.released:
		case <-time.After(5 * time.Second):
		}
		err := b.Bucket.Put(ctx, key, data)
		b.mu.Lock()
		b.order = append(b.order, "marker")
		b.mu.Unlock()
		return err
	}
	err := b.Bucket.Put(ctx, key, data)
	b.mu.Lock()
	b.order = append(b.order, "other")
	b.finished++
	if b.finished == b.others {
		close(b.released)
	}
	b.mu.Unlock()
	return err
}

// Files commit in the order they were sealed even when a later file
// finishes uploading first.
func TestCommitsInSealOrder(t *testing.T) {
	ob := &orderBucket{marker: []byte("FIRST-BATCH"), others: 3, released: make(chan struct{})}
	e := newEnv(t, produce.Config{BatchTimeout: time.Hour, BatchMaxBytes: 1, MaxInFlight: 4, MaxBufferedBytes: 1 << 20},
		func(b objstore.Bucket) objstore.Bucket { ob.Bucket = b; return ob })
	topic := e.topic("t", 1)

	// BatchMaxBytes 1: every Submit seals its own file at once.
	var pendings []*produce.Pending
	pendings = append(pendings, e.submit(context.Background(), batchOf(topic, 0, "FIRST-BATCH", "x")))
	for i := 0; i < 3; i++ {
		pendings = append(pendings, e.submit(context.Background(), batchOf(topic, 0, values(fmt.Sprint("later", i), 3)...)))
	}
	want := []int64{0, 2, 5, 8}
	for i, p := range pendings {
		if got := waitOK(t, p)[0].BaseOffset; got != want[i] {
			t.Fatalf("submission %d: base offset %d, want %d (offsets must follow seal order)", i, got, want[i])
		}
	}
	ob.mu.Lock()
	defer ob.mu.Unlock()
	if len(ob.order) != 4 || ob.order[3] != "marker" {
		t.Fatalf("upload completion order %v: the first file should have finished uploading last", ob.order)
	}
	if n := e.files(); n != 4 {
		t.Fatalf("%d files, want 4", n)
	}
}

func TestBatchTimeoutFlushesLoneBatch(t *testing.T) {
	const timeout = 200 * time.Millisecond
	e := newEnv(t, produce.Config{BatchTimeout: timeout, BatchMaxBytes: 1 << 20}, nil)
	topic := e.topic("t", 1)
	start := time.Now()
	p := e.submit(context.Background(), batchOf(topic, 0, "lonely", "batch"))
	select {
	case <-p.Done():
		if time.Since(start) < timeout {
			t.Fatal("a lone small batch was flushed before BatchTimeout")
		}
	default:
	}
	res := waitOK(t, p)
	took := time.Since(start)
	if res[0].BaseOffset != 0 || e.hw(topic, 0) != 2 || e.files() != 1 {
		t.Fatalf("offset %d, high watermark %d, %d files; want 0, 2, 1", res[0].BaseOffset, e.hw(topic, 0), e.files())
	}
	if took < timeout-10*time.Millisecond || took > timeout+3*time.Second {
		t.Fatalf("flushed after %v, BatchTimeout is %v", took, timeout)
	}
}

func TestFailingBucket(t *testing.T) {
	var faulty *objstore.Faulty
	e := newEnv(t, produce.Config{BatchTimeout: 2 * time.Millisecond, UploadAttempts: 2},
		func(b objstore.Bucket) objstore.Bucket { faulty = &objstore.Faulty{Bucket: b}; return faulty })
	topic := e.topic("t", 2)
	boom := errors.New("bucket unavailable")
	faulty.FailPuts(boom)

	p := e.submit(context.Background(), batchOf(topic, 0, "a", "b"), batchOf(topic, 1, "c"))
	res := wait(t, p)
	if len(res) != 2 {
		t.Fatalf("%d results", len(res))
	}
	for i, r := range res {
		if !errors.Is(r.Err, produce.ErrStorage) {
			t.Fatalf("batch %d: err %v, want ErrStorage", i, r.Err)
		}
	}
	for p := int32(0); p < 2; p++ {
		if hw := e.hw(topic, p); hw != 0 {
			t.Fatalf("partition %d: high watermark %d after a failed flush", p, hw)
		}
	}
	if faulty.Puts() != 0 || e.files() != 0 || e.commits.Load() != 0 {
		t.Fatalf("failed flush stored something: %d puts, %d files, %d commits", faulty.Puts(), e.files(), e.commits.Load())
	}

	// Healed: the next flush commits, from offset 0 since nothing of the
	// failed one is in the log, and it reads back.
	faulty.FailPuts(nil)
	res = waitOK(t, e.submit(context.Background(), batchOf(topic, 0, "d", "e", "f")))
	if res[0].BaseOffset != 0 || e.hw(topic, 0) != 3 || e.hw(topic, 1) != 0 || e.files() != 1 {
		t.Fatalf("after healing: offset %d, high watermarks %d/%d, %d files", res[0].BaseOffset, e.hw(topic, 0), e.hw(topic, 1), e.files())
	}
	got, err := fetch.NewReader(e.store, e.bucket, nil).Read(context.Background(), topic, 0, 0, 1<<20, true)
	if err != nil || got.Offsets != 3 || !bytes.Contains(got.Records, []byte("f")) {
		t.Fatalf("read after healing: %v, %d offsets", err, got.Offsets)
	}
}

// flakyBucket fails the first n Puts.
type flakyBucket struct {
	objstore.Bucket
	fails atomic.Int32
}

func (b *flakyBucket) Put(ctx context.Context, key string, data []byte) error {
	if b.fails.Add(-1) >= 0 {
		return errors.New("transient")
	}
	return b.Bucket.Put(ctx, key, data)
}

func TestUploadRetries(t *testing.T) {
	flaky := &flakyBucket{}
	flaky.fails.Store(1)
	e := newEnv(t, produce.Config{BatchTimeout: 2 * time.Millisecond, UploadAttempts: 2},
		func(b objstore.Bucket) objstore.Bucket { flaky.Bucket = b; return flaky })
	topic := e.topic("t", 1)
	if res := waitOK(t, e.submit(context.Background(), batchOf(topic, 0, "a"))); res[0].BaseOffset != 0 || e.hw(topic, 0) != 1 {
		t.Fatalf("offset %d, high watermark %d after a retried upload", res[0].BaseOffset, e.hw(topic, 0))
	}
}

// gateBucket blocks every Put until open is closed.
type gateBucket struct {
	objstore.Bucket
	open chan struct{}
	puts atomic.Int32
}

func (b *gateBucket) Put(ctx context.Context, key string, data []byte) error {
	b.puts.Add(1)
	select {
	case <-b.open:
	case <-ctx.Done():
		return ctx.Err()
	}
	return b.Bucket.Put(ctx, key, data)
}

func TestSubmitBlocksWhenBufferFull(t *testing.T) {
	gate := &gateBucket{open: make(chan struct{})}
	e := newEnv(t, produce.Config{BatchTimeout: time.Millisecond, BatchMaxBytes: 100, MaxBufferedBytes: 1000, MaxInFlight: 4},
		func(b objstore.Bucket) objstore.Bucket { gate.Bucket = b; return gate })
	topic := e.topic("t", 1)
	big := func(tag string) produce.Batch { return batchOf(topic, 0, tag+strings.Repeat("x", 550)) }
	if n := len(big("a").Data); n <= 500 || n >= 1000 {
		t.Fatalf("batch is %d bytes; the test needs 500 < size < 1000", n)
	}

	// A takes more than half the buffer; its upload hangs at the gate.
	pa := e.submit(context.Background(), big("a"))

	// B does not fit: Submit blocks until its context ends.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	start := time.Now()
	_, err := e.batcher.Submit(ctx, []produce.Batch{big("b")})
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) < 90*time.Millisecond {
		t.Fatalf("Submit on a full buffer returned %v after %v; want it to block until the deadline", err, time.Since(start))
	}

	// C blocks too, until A's flush completes and frees its bytes.
	type submitted struct {
		p   *produce.Pending
		err error
	}
	cDone := make(chan submitted, 1)
	go func() {
		p, err := e.batcher.Submit(context.Background(), []produce.Batch{big("c")})
		cDone <- submitted{p, err}
	}()
	select {
	case s := <-cDone:
		t.Fatalf("Submit returned (%v) while the buffer was full", s.err)
	case <-time.After(100 * time.Millisecond):
	}
	if n := gate.puts.Load(); n != 1 {
		t.Fatalf("%d uploads started; want only A's", n)
	}
	close(gate.open)
	var c submitted
	select {
	case c = <-cDone:
	case <-time.After(10 * time.Second):
		t.Fatal("Submit still blocked after the buffer drained")
	}
	if c.err != nil {
		t.Fatal(c.err)
	}
	if ra, rc := waitOK(t, pa), waitOK(t, c.p); ra[0].BaseOffset != 0 || rc[0].BaseOffset != 1 {
		t.Fatalf("offsets A=%d C=%d; want 0, 1 (B never entered)", ra[0].BaseOffset, rc[0].BaseOffset)
	}

	// The cancelled Submit left no bytes reserved: a submission as large as
	// the whole buffer goes through, and so does one larger than it.
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, size := range []int{1000 - 200, 5000} {
		b := batchOf(topic, 0, strings.Repeat("y", size))
		p, err := e.batcher.Submit(ctx, []produce.Batch{b})
		if err != nil {
			t.Fatalf("Submit of %d bytes: %v", len(b.Data), err)
		}
		waitOK(t, p)
	}
	if hw := e.hw(topic, 0); hw != 4 {
		t.Fatalf("high watermark %d, want 4", hw)
	}
}

func TestCloseFlushesBuffered(t *testing.T) {
	root := t.TempDir()
	store, err := sqlite.Open(context.Background(), filepath.Join(root, "metadata.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	bucket, err := objstore.OpenDir(filepath.Join(root, "bucket"))
	if err != nil {
		t.Fatal(err)
	}
	defer bucket.Close()
	tp, err := store.CreateTopic(context.Background(), "t", 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := produce.New(produce.Config{BatchTimeout: time.Hour, BatchMaxBytes: 1 << 20}, store, bucket, nil, nil, nil)
	p1, err := b.Submit(context.Background(), []produce.Batch{batchOf(tp.ID, 0, "a", "b")})
	if err != nil {
		t.Fatal(err)
	}
	p2, err := b.Submit(context.Background(), []produce.Batch{batchOf(tp.ID, 1, "c"), batchOf(tp.ID, 0, "d", "e", "f")})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-p1.Done():
		t.Fatal("flushed before Close with an hour's BatchTimeout")
	case <-time.After(20 * time.Millisecond):
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// Close returned: the results are there without waiting.
	select {
	case <-p1.Done():
	default:
		t.Fatal("Close returned before the buffered flush finished")
	}
	r1, r2 := waitOK(t, p1), waitOK(t, p2)
	if r1[0].BaseOffset != 0 || r2[0].BaseOffset != 0 || r2[1].BaseOffset != 2 {
		t.Fatalf("offsets %d, %d, %d; want 0, 0, 2", r1[0].BaseOffset, r2[0].BaseOffset, r2[1].BaseOffset)
	}
	for p, want := range []int64{5, 1} {
		st, err := store.PartitionState(context.Background(), tp.ID, int32(p))
		if err != nil || st.HighWatermark != want {
			t.Fatalf("partition %d: %+v, %v; want high watermark %d", p, st, err, want)
		}
	}
	if _, err := b.Submit(context.Background(), []produce.Batch{batchOf(tp.ID, 0, "late")}); !errors.Is(err, produce.ErrClosed) {
		t.Fatalf("Submit after Close: %v, want ErrClosed", err)
	}
	if err := b.Close(ctx); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestTopicDeletedBeforeCommit(t *testing.T) {
	gate := &gateBucket{open: make(chan struct{})}
	e := newEnv(t, produce.Config{BatchTimeout: 5 * time.Millisecond, MaxInFlight: 2},
		func(b objstore.Bucket) objstore.Bucket { gate.Bucket = b; return gate })
	doomed := e.topic("doomed", 1)
	kept := e.topic("kept", 1)

	// One file with both topics, and one with only the doomed topic.
	mixed := e.submit(context.Background(), batchOf(doomed, 0, "a"), batchOf(kept, 0, "b", "c"))
	for gate.puts.Load() < 1 {
		time.Sleep(time.Millisecond)
	}
	alone := e.submit(context.Background(), batchOf(doomed, 0, "d"))
	for gate.puts.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	if _, err := e.store.DeleteTopic(context.Background(), "doomed"); err != nil {
		t.Fatal(err)
	}
	close(gate.open)

	res := wait(t, mixed)
	if !errors.Is(res[0].Err, metadata.ErrUnknownTopic) || errors.Is(res[0].Err, produce.ErrStorage) {
		t.Fatalf("batch for the deleted topic: %v, want metadata.ErrUnknownTopic", res[0].Err)
	}
	if res[1].Err != nil || res[1].BaseOffset != 0 {
		t.Fatalf("batch for the kept topic in the same file: offset %d, %v", res[1].BaseOffset, res[1].Err)
	}
	if res := wait(t, alone); !errors.Is(res[0].Err, metadata.ErrUnknownTopic) {
		t.Fatalf("file holding only the deleted topic: %v, want metadata.ErrUnknownTopic", res[0].Err)
	}
	if hw := e.hw(kept, 0); hw != 2 {
		t.Fatalf("kept topic high watermark %d, want 2", hw)
	}
	// The kept topic's data reads back from the shared file.
	got, err := fetch.NewReader(e.store, e.bucket, nil).Read(context.Background(), kept, 0, 0, 1<<20, true)
	if err != nil || got.Offsets != 2 || !bytes.Contains(got.Records, []byte("c")) {
		t.Fatalf("read kept topic: %v, %d offsets", err, got.Offsets)
	}
}

// decodeBatches splits fetched bytes into batches and returns each batch's
// base offset and record values, checking each batch's CRC.
func decodeBatches(t *testing.T, data []byte) (bases []int64, vals [][]string) {
	t.Helper()
	for len(data) > 0 {
		raw, rest, err := records.Next(data)
		if err != nil {
			t.Fatal(err)
		}
		data = rest
		var b kmsg.RecordBatch
		if err := b.ReadFrom(raw); err != nil {
			t.Fatal(err)
		}
		if crc := records.Checksum(raw); int32(crc) != b.CRC {
			t.Fatalf("batch at %d: bad CRC", b.FirstOffset)
		}
		if b.PartitionLeaderEpoch != records.LeaderEpoch {
			t.Fatalf("batch at %d: leader epoch %d", b.FirstOffset, b.PartitionLeaderEpoch)
		}
		var vs []string
		recs := b.Records
		for i := int32(0); i < b.NumRecords; i++ {
			l, n := kbin.Varint(recs)
			var r kmsg.Record
			if err := r.ReadFrom(recs[:n+int(l)]); err != nil {
				t.Fatal(err)
			}
			vs = append(vs, string(r.Value))
			recs = recs[n+int(l):]
		}
		bases = append(bases, b.FirstOffset)
		vals = append(vals, vs)
	}
	return bases, vals
}

// Real batches submitted across several files read back through
// fetch.Reader with the offsets Wait reported patched into them.
func TestReadBackThroughReader(t *testing.T) {
	e := newEnv(t, produce.Config{BatchTimeout: 2 * time.Millisecond, BatchMaxBytes: 300, MaxInFlight: 3}, nil)
	topic := e.topic("t", 2)

	var (
		pendings []*produce.Pending
		sent     [][]string
	)
	for i := 0; i < 12; i++ {
		vs := values(fmt.Sprintf("batch%02d", i), 1+i%4)
		pendings = append(pendings, e.submit(context.Background(), batchOf(topic, 0, vs...), batchOf(topic, 1, "other")))
		sent = append(sent, vs)
	}
	var bases []int64
	next := int64(0)
	for i, p := range pendings {
		res := waitOK(t, p)
		if res[0].BaseOffset != next {
			t.Fatalf("batch %d at offset %d, want %d", i, res[0].BaseOffset, next)
		}
		if res[1].BaseOffset != int64(i) {
			t.Fatalf("partition 1 batch %d at offset %d", i, res[1].BaseOffset)
		}
		bases = append(bases, next)
		next += int64(len(sent[i]))
	}
	if e.files() < 2 {
		t.Fatalf("%d files; the test needs several", e.files())
	}

	r := fetch.NewReader(e.store, e.bucket, nil)
	got, err := r.Read(context.Background(), topic, 0, 0, 1<<20, true)
	if err != nil {
		t.Fatal(err)
	}
	if got.State.HighWatermark != next || got.Offsets != next {
		t.Fatalf("read: high watermark %d, %d offsets; want %d", got.State.HighWatermark, got.Offsets, next)
	}
	gotBases, gotVals := decodeBatches(t, got.Records)
	if !slices.Equal(gotBases, bases) {
		t.Fatalf("base offsets in the fetched batches %v, want %v", gotBases, bases)
	}
	for i := range sent {
		if !slices.Equal(gotVals[i], sent[i]) {
			t.Fatalf("batch %d values %v, want %v", i, gotVals[i], sent[i])
		}
	}

	// An offset inside a batch returns that whole batch first.
	mid := bases[5] + 1
	if len(sent[5]) < 2 {
		t.Fatal("batch 5 has one record")
	}
	got, err = r.Read(context.Background(), topic, 0, mid, 1<<20, true)
	if err != nil {
		t.Fatal(err)
	}
	gotBases, gotVals = decodeBatches(t, got.Records)
	if gotBases[0] != bases[5] || !slices.Equal(gotVals[0], sent[5]) || len(gotBases) != len(bases)-5 {
		t.Fatalf("read from %d: bases %v", mid, gotBases)
	}
	// maxBytes bounds the answer but minOne still returns one batch.
	got, err = r.Read(context.Background(), topic, 0, 0, 1, true)
	if err != nil {
		t.Fatal(err)
	}
	if gotBases, _ = decodeBatches(t, got.Records); !slices.Equal(gotBases, bases[:1]) {
		t.Fatalf("read with maxBytes 1: bases %v, want %v", gotBases, bases[:1])
	}
}
