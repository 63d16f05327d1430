package produce_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/fetch"
	"github.com/sluicehq/sluice/internal/journal"
	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/metadata/sqlite"
	"github.com/sluicehq/sluice/internal/objstore"
	"github.com/sluicehq/sluice/internal/produce"
)

var errStoreDown = errors.New("test: metadata store down")

// faultyLog is a real SQLite store whose CommitFile and CommitFiles can be
// made to fail or to wait, as a metadata store that is down or stalled
// would.
type faultyLog struct {
	*sqlite.Store
	mu   sync.Mutex // guards fail and hold
	fail error
	hold chan struct{}
	// commits counts the files committed; txns the calls (store
	// transactions) that committed any.
	commits atomic.Int64
	txns    atomic.Int64
	// largest is the most files one CommitFiles call committed.
	largest atomic.Int64
	// calls counts the calls of CommitFile and CommitFiles, failed or not.
	calls atomic.Int64
}

func (l *faultyLog) set(fail error, hold chan struct{}) {
	l.mu.Lock()
	l.fail, l.hold = fail, hold
	l.mu.Unlock()
}

// fault waits while the store is held and returns its failure.
func (l *faultyLog) fault(ctx context.Context) error {
	l.calls.Add(1)
	l.mu.Lock()
	fail, hold := l.fail, l.hold
	l.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return fail
}

func (l *faultyLog) CommitFile(ctx context.Context, c metadata.FileCommit) ([]metadata.BatchResult, error) {
	if err := l.fault(ctx); err != nil {
		return nil, err
	}
	res, err := l.Store.CommitFile(ctx, c)
	if err == nil {
		l.commits.Add(1)
		l.txns.Add(1)
	}
	return res, err
}

func (l *faultyLog) CommitFiles(ctx context.Context, files []metadata.FileCommit) ([]metadata.FileResult, error) {
	if err := l.fault(ctx); err != nil {
		return nil, err
	}
	res, err := l.Store.CommitFiles(ctx, files)
	if err == nil {
		n := 0
		for _, r := range res {
			if r.Err == nil {
				n++
			}
		}
		if n > 0 {
			l.commits.Add(int64(n))
			l.txns.Add(1)
			for {
				old := l.largest.Load()
				if int64(n) <= old || l.largest.CompareAndSwap(old, int64(n)) {
					break
				}
			}
		}
	}
	return res, err
}

// jenv is one store and bucket shared by the batchers and recoverers of a
// test, as agents share them.
type jenv struct {
	t      *testing.T
	dir    string // the local bucket's root
	log    *faultyLog
	bucket *objstore.Faulty
	logger *slog.Logger
}

func newJEnv(t *testing.T) *jenv {
	t.Helper()
	root := t.TempDir()
	store, err := sqlite.Open(context.Background(), filepath.Join(root, "metadata.db"))
	if err != nil {
		t.Fatal(err)
	}
	dir, err := objstore.OpenDir(filepath.Join(root, "bucket"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dir.Close(); store.Close() })
	return &jenv{t: t, dir: filepath.Join(root, "bucket"), log: &faultyLog{Store: store}, bucket: &objstore.Faulty{Bucket: dir}, logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

func (e *jenv) topic(name string) metadata.TopicID {
	e.t.Helper()
	tp, err := e.log.CreateTopic(context.Background(), name, 1, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return tp.ID
}

// batcher starts a batcher for agent; closeNow ends it as a crash would
// (after at most a short drain, leaving uncommitted journal entries).
func (e *jenv) batcher(cfg produce.Config) (b *produce.Batcher, closeNow func()) {
	if cfg.BatchTimeout == 0 {
		cfg.BatchTimeout = 2 * time.Millisecond
	}
	b = produce.New(cfg, e.log, e.bucket, nil, nil, e.logger)
	var once sync.Once
	closeNow = func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			b.Close(ctx)
		})
	}
	e.t.Cleanup(closeNow)
	return b, closeNow
}

func (e *jenv) recoverer(agent string, gen uint64, ttl time.Duration) *produce.Recoverer {
	// AckBound is shorter than the batchers' (whose bound is the default):
	// these tests' agents are dead when another recovers them.
	return produce.NewRecoverer(produce.RecovererConfig{Agent: agent, Generation: gen, LeaseTTL: ttl, AckBound: 50 * time.Millisecond}, e.log, e.bucket, nil, nil, e.logger)
}

// pending lists what the journal holds unsequenced: files above their
// generation's journal mark, and entries (which go once their file is
// sequenced).
func (e *jenv) pending() []journal.Entry {
	e.t.Helper()
	marks := make(map[string]map[uint64]uint64)
	var out []journal.Entry
	for _, en := range e.entries() {
		m, ok := marks[en.Agent]
		if !ok {
			var err error
			if m, err = e.log.JournalMarks(context.Background(), en.Agent); err != nil {
				e.t.Fatal(err)
			}
			marks[en.Agent] = m
		}
		if !en.Resident() || en.Sequence > m[en.Generation] {
			out = append(out, en)
		}
	}
	return out
}

// entries lists the journal.
func (e *jenv) entries() []journal.Entry {
	e.t.Helper()
	var out []journal.Entry
	err := e.bucket.List(context.Background(), journal.Prefix, func(o objstore.Object) error {
		if en, ok := journal.Parse(o.Key); ok {
			out = append(out, en)
		}
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

// readAll returns the values of partition 0 of topic in offset order,
// checking that offsets are contiguous from 0.
func (e *jenv) readAll(topic metadata.TopicID) []string {
	e.t.Helper()
	got, err := fetch.NewReader(e.log.Store, e.bucket, nil).Read(context.Background(), topic, 0, 0, 64<<20, true)
	if err != nil {
		e.t.Fatal(err)
	}
	bases, vals := decodeBatches(e.t, got.Records)
	var out []string
	for i, vs := range vals {
		if bases[i] != int64(len(out)) {
			e.t.Fatalf("batch %d at offset %d, want %d", i, bases[i], len(out))
		}
		out = append(out, vs...)
	}
	if int64(len(out)) != got.State.HighWatermark {
		e.t.Fatalf("read %d records, high watermark %d", len(out), got.State.HighWatermark)
	}
	return out
}

func lightning(topic metadata.TopicID, vals ...string) produce.Batch {
	b := batchOf(topic, 0, vals...)
	b.Lightning = true
	return b
}

// produceAcked submits n lightning batches of k records, one after the
// other (as one connection without pipelining), and returns the values of
// those acknowledged, in order.
func produceAcked(t *testing.T, b *produce.Batcher, topic metadata.TopicID, prefix string, n, k int, lightningTopic bool) []string {
	t.Helper()
	var acked []string
	for i := range n {
		vs := values(fmt.Sprintf("%s%03d", prefix, i), k)
		bt := batchOf(topic, 0, vs...)
		bt.Lightning = lightningTopic
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		p, err := b.Submit(ctx, []produce.Batch{bt})
		if err != nil {
			cancel()
			t.Fatalf("Submit %d: %v", i, err)
		}
		res, err := p.Wait(ctx)
		cancel()
		if err != nil {
			t.Fatalf("Wait %d: %v", i, err)
		}
		if res[0].Err != nil {
			continue
		}
		if res[0].BaseOffset != -1 {
			t.Fatalf("batch %d acknowledged with offset %d, want -1 (journaled)", i, res[0].BaseOffset)
		}
		acked = append(acked, vs...)
	}
	return acked
}

// A lightning batch is acknowledged while its commit cannot happen, and
// committed (once) when it can.
func TestLightningAcknowledgedBeforeCommit(t *testing.T) {
	e := newJEnv(t)
	topic := e.topic("fast")
	hold := make(chan struct{})
	e.log.set(nil, hold)
	b, stop := e.batcher(produce.Config{Agent: "node-1"})

	acked := produceAcked(t, b, topic, "v", 3, 2, true)
	if len(acked) != 6 {
		t.Fatalf("acknowledged %d records, want 6", len(acked))
	}
	if st := b.JournalStats(); st.Files == 0 || st.Bytes == 0 || st.Oldest.IsZero() {
		t.Fatalf("journal stats while commits wait: %+v", st)
	}
	if n := len(e.pending()); n == 0 {
		t.Fatal("no journaled files while commits wait")
	}
	close(hold)
	waitFor(t, "journal drained", func() bool { return b.JournalStats().Files == 0 && len(e.pending()) == 0 })
	if got := e.readAll(topic); !slices.Equal(got, acked) {
		t.Fatalf("read back %v, want %v", got, acked)
	}
	// A batcher that stops cleanly takes its generation marker along.
	stop()
	e.journalGone()
}

// Lightning batches of a producer that keeps sending while commits fail
// keep their order once the store is back.
func TestLightningOrderAcrossCommitFailures(t *testing.T) {
	e := newJEnv(t)
	topic := e.topic("fast")
	e.log.set(errStoreDown, nil)
	b, _ := e.batcher(produce.Config{Agent: "node-1", MaxInFlight: 4})
	acked := produceAcked(t, b, topic, "a", 20, 3, true)
	e.log.set(nil, nil)
	acked = append(acked, produceAcked(t, b, topic, "b", 5, 1, true)...)
	waitFor(t, "journal drained", func() bool { return b.JournalStats().Files == 0 })
	if got := e.readAll(topic); !slices.Equal(got, acked) {
		t.Fatalf("read back %v\nwant %v", got, acked)
	}
}

// Acknowledged but uncommitted files survive the agent (a crash between
// acknowledgement and commit) and are committed exactly once, in order,
// by the same agent restarted, however often recovery runs and even when
// it is interrupted between commit and entry deletion.
func TestRecoveryBySameAgent(t *testing.T) {
	e := newJEnv(t)
	topic := e.topic("fast")
	e.log.set(errStoreDown, nil)
	b, crash := e.batcher(produce.Config{Agent: "node-1"})
	acked := produceAcked(t, b, topic, "x", 12, 2, true)
	crash()
	if n := len(e.entries()); n == 0 {
		t.Fatal("no journal entries left by the crashed agent")
	}
	if e.log.commits.Load() != 0 {
		t.Fatal("something committed while the store was down")
	}
	e.log.set(nil, nil)

	// The restarted agent (a later generation) recovers; its first pass
	// cannot delete the generation's marker, so the next passes list the
	// generation again and must not commit its files twice.
	rec := e.recoverer("node-1", b.Generation()+1, time.Second)
	e.bucket.FailDeletes(errors.New("test: delete refused"))
	if err := rec.RunOnce(context.Background()); err == nil {
		t.Fatal("recovery pass with failing deletes reported no error")
	}
	e.bucket.FailDeletes(nil)
	for range 3 {
		if err := rec.RunOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(e.pending()); n != 0 {
		t.Fatalf("%d journaled files left unsequenced after recovery", n)
	}
	if n := e.log.commits.Load(); n != int64(len(acked)/2) {
		t.Fatalf("%d commits for %d files", n, len(acked)/2)
	}
	if got := e.readAll(topic); !slices.Equal(got, acked) {
		t.Fatalf("read back %v\nwant %v", got, acked)
	}
	e.journalGone()
}

// A restart on a host whose clock is 30 s behind the crashed process's
// picks a lower generation (a generation is the process's start time on
// its own clock); the restarted agent still recovers the earlier process's
// acknowledged entries instead of leaving them unsequenced while it lives.
func TestRecoveryBySameAgentWithClockBehind(t *testing.T) {
	e := newJEnv(t)
	topic := e.topic("fast")
	e.log.set(errStoreDown, nil)
	b, crash := e.batcher(produce.Config{Agent: "node-1"})
	acked := produceAcked(t, b, topic, "x", 4, 2, true)
	crash()
	if n := len(e.entries()); n == 0 {
		t.Fatal("no journal entries left by the crashed agent")
	}
	e.log.set(nil, nil)

	behind := b.Generation() - uint64(30*time.Second)
	rec := e.recoverer("node-1", behind, time.Second)
	if err := rec.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(e.pending()); n != 0 {
		t.Fatalf("%d journaled files of the earlier process left after recovery", n)
	}
	if got := e.readAll(topic); !slices.Equal(got, acked) {
		t.Fatalf("read back %v\nwant %v", got, acked)
	}
}

// A process started on a clock 30 s behind its crashed predecessor's takes
// a generation above the predecessor's entries, so its own entries sort
// after them and any recovery sequences them in write order.
func TestNextGenerationAboveEarlierProcess(t *testing.T) {
	e := newJEnv(t)
	topic := e.topic("fast")
	e.log.set(errStoreDown, nil)
	b, crash := e.batcher(produce.Config{Agent: "node-1"})
	produceAcked(t, b, topic, "x", 2, 2, true)
	crash()
	e.log.set(nil, nil)
	highest := uint64(0)
	for _, en := range e.entries() {
		highest = max(highest, en.Generation)
	}
	if highest == 0 {
		t.Fatal("no journal entries left by the crashed agent")
	}
	ctx := context.Background()
	behind := time.Unix(0, int64(b.Generation())).Add(-30 * time.Second)
	gen, err := produce.NextGeneration(ctx, e.bucket, "node-1", behind)
	if err != nil {
		t.Fatal(err)
	}
	if gen <= highest {
		t.Fatalf("generation %d is not above the earlier process's %d", gen, highest)
	}
	// Another agent's journal does not raise it; a later clock wins.
	later := time.Unix(0, int64(highest)).Add(time.Minute)
	if gen, err = produce.NextGeneration(ctx, e.bucket, "node-2", later); err != nil || gen != uint64(later.UnixNano()) {
		t.Fatalf("node-2: generation %d, %v; want %d", gen, err, later.UnixNano())
	}
	b2, _ := e.batcher(produce.Config{Agent: "node-1", Generation: gen})
	if b2.Generation() != gen {
		t.Fatalf("batcher generation %d, configured %d", b2.Generation(), gen)
	}
}

// Another agent takes a dead agent's journal once its lease expires, never
// before, and commits each file once even when two recoverers race.
func TestRecoveryByAnotherAgent(t *testing.T) {
	e := newJEnv(t)
	topic := e.topic("fast")
	e.log.set(errStoreDown, nil)
	ttl := 2 * time.Second
	own := e.recoverer("node-1", 0, ttl)
	b, crash := e.batcher(produce.Config{Agent: "node-1", CommitGate: own.Gate})
	acked := produceAcked(t, b, topic, "y", 10, 3, true)
	// The agent held its journal lease (it tried to commit).
	waitFor(t, "a commit attempt", func() bool { return own.Gate(context.Background()) == nil })
	crash()
	e.log.set(nil, nil)

	others := []*produce.Recoverer{e.recoverer("node-2", 0, ttl), e.recoverer("node-3", 0, ttl)}
	if err := others[0].RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if e.log.commits.Load() != 0 {
		t.Fatal("another agent recovered a journal whose lease was still held")
	}
	waitFor(t, "recovery by another agent", func() bool {
		var wg sync.WaitGroup
		for _, r := range others {
			wg.Add(1)
			go func() { defer wg.Done(); r.RunOnce(context.Background()) }()
		}
		wg.Wait()
		return len(e.pending()) == 0
	})
	if got := e.readAll(topic); !slices.Equal(got, acked) {
		t.Fatalf("read back %v\nwant %v", got, acked)
	}
}

// With ripcord, classic batches are journaled and acknowledged while the
// store fails, and committed in order when it is back; batches of
// idempotent producers are not journaled.
func TestRipcord(t *testing.T) {
	e := newJEnv(t)
	topic := e.topic("classic")
	b, _ := e.batcher(produce.Config{Agent: "node-1", Ripcord: true, RipcordCommitTimeout: 200 * time.Millisecond})
	if res := waitOK(t, e.submit(b, batchOf(topic, 0, "before"))); res[0].BaseOffset != 0 {
		t.Fatalf("classic batch while the store works: offset %d, want 0", res[0].BaseOffset)
	}
	e.log.set(errStoreDown, nil)
	acked := produceAcked(t, b, topic, "during", 10, 2, false)
	if len(acked) != 20 {
		t.Fatalf("%d records acknowledged during the outage, want 20", len(acked))
	}
	if !b.JournalStats().Ripcord {
		t.Fatal("ripcord not active during the outage")
	}
	idem := batchOf(topic, 0, "idempotent")
	idem.Info.ProducerID, idem.Info.ProducerEpoch, idem.Info.FirstSequence = 7, 0, 0
	res := wait(t, e.submit(b, idem))
	if res[0].Err == nil {
		t.Fatal("idempotent batch acknowledged during the outage")
	}
	e.log.set(nil, nil)
	waitFor(t, "journal drained", func() bool { return b.JournalStats().Files == 0 })
	if b.JournalStats().Ripcord {
		t.Fatal("ripcord still active after the store came back")
	}
	want := append([]string{"before"}, acked...)
	if got := e.readAll(topic); !slices.Equal(got, want) {
		t.Fatalf("read back %v\nwant %v", got, want)
	}
}

// Past its byte bound the journal refuses batches with a retriable error.
func TestJournalFull(t *testing.T) {
	e := newJEnv(t)
	topic := e.topic("fast")
	e.log.set(errStoreDown, nil)
	b, _ := e.batcher(produce.Config{Agent: "node-1", JournalMaxBytes: 1000})
	var full error
	for i := 0; i < 50 && full == nil; i++ {
		p, err := b.Submit(context.Background(), []produce.Batch{lightning(topic, values(fmt.Sprint(i), 5)...)})
		if err != nil {
			full = err
			break
		}
		wait(t, p)
	}
	if !errors.Is(full, produce.ErrJournalFull) || !errors.Is(full, produce.ErrStorage) {
		t.Fatalf("Submit past the journal bound: %v, want ErrJournalFull (an ErrStorage)", full)
	}
}

// A bucket that fails while journaling gets producers errors, not
// acknowledgements; one that fails during recovery stops it without
// committing, and the next pass commits each file once.
func TestJournalBucketFailures(t *testing.T) {
	e := newJEnv(t)
	topic := e.topic("fast")
	e.log.set(errStoreDown, nil)
	b, crash := e.batcher(produce.Config{Agent: "node-1", UploadAttempts: 1})
	e.bucket.FailPuts(errors.New("test: bucket down"))
	res := wait(t, e.submit(b, lightning(topic, "lost")))
	if !errors.Is(res[0].Err, produce.ErrStorage) {
		t.Fatalf("lightning batch while the bucket fails: %v, want ErrStorage", res[0].Err)
	}
	e.bucket.FailPuts(nil)
	acked := produceAcked(t, b, topic, "z", 5, 1, true)
	crash()
	e.log.set(nil, nil)

	rec := e.recoverer("node-1", b.Generation()+1, time.Second)
	e.bucket.FailGets(errors.New("test: bucket down"))
	if err := rec.RunOnce(context.Background()); err == nil {
		t.Fatal("recovery with a failing bucket reported no error")
	}
	if e.log.commits.Load() != 0 {
		t.Fatal("recovery committed while it could not read the files")
	}
	e.bucket.FailGets(nil)
	if err := rec.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := e.readAll(topic); !slices.Equal(got, acked) {
		t.Fatalf("read back %v\nwant %v", got, acked)
	}
	if n := e.log.commits.Load(); n != int64(len(acked)) {
		t.Fatalf("%d commits for %d files", n, len(acked))
	}
}

// An upgrade: an agent of the earlier layout (one directory tree
// per entry) crashed with acknowledged files in its journal, the new agent
// that replaced it crashed too; recovery by the new code sequences both
// generations' files in write order, each once, and leaves neither
// objects nor directories under journal/.
func TestRecoveryOfLegacyLayoutEntries(t *testing.T) {
	e := newJEnv(t)
	ctx := context.Background()
	topic := e.topic("fast")
	e.log.set(errStoreDown, nil)
	old, crash := e.batcher(produce.Config{Agent: "node-1"})
	acked := produceAcked(t, old, topic, "old", 6, 2, true)
	crash()
	// Rewrite its journal as the oldest agents wrote it: the data files
	// under files/, legacy entry keys naming them, no generation marker.
	legacy := e.entries()
	if len(legacy) == 0 {
		t.Fatal("no journal entries left by the crashed agent")
	}
	for i, en := range legacy {
		data, err := e.bucket.GetRange(ctx, en.Key, 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		file := fmt.Sprintf("files/2026/12/06/09/%016x-legacy.slc", i)
		if err := e.bucket.Put(ctx, file, data); err != nil {
			t.Fatal(err)
		}
		if err := e.bucket.Put(ctx, journal.LegacyKey(en.Agent, en.Generation, en.Sequence, file), nil); err != nil {
			t.Fatal(err)
		}
		if err := e.bucket.Delete(ctx, en.Key); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.bucket.Delete(ctx, journal.MarkerKey("node-1", old.Generation())); err != nil {
		t.Fatal(err)
	}
	for _, en := range e.entries() {
		if en.Key != journal.LegacyKey(en.Agent, en.Generation, en.Sequence, en.File) {
			t.Fatalf("entry %s is not in the legacy layout", en.Key)
		}
	}

	gen, err := produce.NextGeneration(ctx, e.bucket, "node-1", time.Unix(0, int64(old.Generation())).Add(-time.Minute))
	if err != nil || gen <= old.Generation() {
		t.Fatalf("generation after legacy entries: %d, %v; want above %d", gen, err, old.Generation())
	}
	newer, crash := e.batcher(produce.Config{Agent: "node-1", Generation: gen})
	acked = append(acked, produceAcked(t, newer, topic, "new", 6, 2, true)...)
	crash()
	if n := len(e.entries()); n <= len(legacy) {
		t.Fatalf("%d journal entries, want the %d legacy ones and the new agent's", n, len(legacy))
	}
	e.log.set(nil, nil)

	rec := e.recoverer("node-1", gen+1, time.Second)
	for range 2 {
		if err := rec.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := e.readAll(topic); !slices.Equal(got, acked) {
		t.Fatalf("read back %v\nwant %v", got, acked)
	}
	if n := e.log.commits.Load(); n != int64(len(acked)/2) {
		t.Fatalf("%d commits for %d files", n, len(acked)/2)
	}
	e.journalGone()
}

// journalGone checks that the journal is settled: every file sequenced
// (the files stay, as the store's records name them), no entry and no
// generation marker left.
func (e *jenv) journalGone() {
	e.t.Helper()
	for _, en := range e.pending() {
		e.t.Errorf("left unsequenced in the journal: %s", en.Key)
	}
	err := e.bucket.List(context.Background(), journal.MarkerPrefix, func(o objstore.Object) error {
		e.t.Errorf("generation marker left: %s", o.Key)
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	err = e.bucket.List(context.Background(), journal.Prefix, func(o objstore.Object) error {
		if en, ok := journal.Parse(o.Key); !ok || !en.Resident() {
			e.t.Errorf("left in the journal: %s", o.Key)
		}
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *jenv) submit(b *produce.Batcher, batches ...produce.Batch) *produce.Pending {
	e.t.Helper()
	p, err := b.Submit(context.Background(), batches)
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

// waitFor polls cond until it holds, failing the test after 15s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Retention and compaction delete the records of sequenced files; a
// journaled file is sequenced forever all the same. Recovery that lists
// its generation again (here: its marker is back, as after a pass that
// could not delete it) commits nothing a second time, though no record
// names the file any more: the generation's journal mark says it is
// sequenced.
func TestRecoveryDoesNotRecommitForgottenFiles(t *testing.T) {
	e := newJEnv(t)
	ctx := context.Background()
	topic := e.topic("fast")
	e.log.set(errStoreDown, nil)
	b, crash := e.batcher(produce.Config{Agent: "node-1"})
	acked := produceAcked(t, b, topic, "r", 4, 2, true)
	crash()
	e.log.set(nil, nil)
	rec := e.recoverer("node-1", b.Generation()+1, time.Second)
	if err := rec.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if got := e.readAll(topic); !slices.Equal(got, acked) {
		t.Fatalf("read back %v\nwant %v", got, acked)
	}
	var keys []string
	for _, en := range e.entries() {
		keys = append(keys, en.Key)
	}
	if len(keys) != len(acked)/2 {
		t.Fatalf("%d journaled files for %d acknowledged batches", len(keys), len(acked)/2)
	}

	// Retention: the log start passes every record, the files are
	// released and their records forgotten; the objects are still there.
	if _, err := e.log.AdvanceLogStart(ctx, topic, 0, int64(len(acked))); err != nil {
		t.Fatal(err)
	}
	if _, err := e.log.MarkReleasedFiles(ctx); err != nil {
		t.Fatal(err)
	}
	lease, err := e.log.AcquireLease(ctx, "files", "test", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.log.ForgetFiles(ctx, lease, keys); err != nil {
		t.Fatal(err)
	}
	if known, err := e.log.KnownFiles(ctx, keys); err != nil || len(known) != 0 {
		t.Fatalf("records left after ForgetFiles: %v, %v", known, err)
	}
	if err := e.bucket.Put(ctx, journal.MarkerKey("node-1", b.Generation()), nil); err != nil {
		t.Fatal(err)
	}

	before := e.log.commits.Load()
	for _, r := range []*produce.Recoverer{rec, e.recoverer("node-1", b.Generation()+2, time.Second)} {
		if err := r.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := e.log.commits.Load() - before; n != 0 {
		t.Fatalf("recovery committed %d forgotten files again", n)
	}
	st, err := e.log.PartitionState(ctx, topic, 0)
	if err != nil {
		t.Fatal(err)
	}
	if st.HighWatermark != int64(len(acked)) {
		t.Fatalf("high watermark %d after recovery ran again, want %d", st.HighWatermark, len(acked))
	}
	e.journalGone()
}

// countingBucket counts the writes and deletes that reach a bucket.
type countingBucket struct {
	objstore.Bucket
	puts, deletes atomic.Int64
}

func (c *countingBucket) Put(ctx context.Context, key string, data []byte) error {
	c.puts.Add(1)
	return c.Bucket.Put(ctx, key, data)
}

func (c *countingBucket) Delete(ctx context.Context, key string) error {
	c.deletes.Add(1)
	return c.Bucket.Delete(ctx, key)
}

// A lightning flush costs one bucket request, its file's PUT, from seal
// to commit; the process's first also writes its generation marker. A
// flush made durable while the journal lease is not surely held, or first
// after the lease lapsed, writes the marker again, after its file.
func TestLightningFlushIsOnePut(t *testing.T) {
	e := newJEnv(t)
	topic := e.topic("fast")
	bucket := &countingBucket{Bucket: e.bucket}
	var (
		mu     sync.Mutex
		held   = true
		lapses uint64
	)
	state := func() (bool, uint64) { mu.Lock(); defer mu.Unlock(); return held, lapses }
	b := produce.New(produce.Config{Agent: "node-1", BatchTimeout: 2 * time.Millisecond, LeaseState: state}, e.log, bucket, nil, nil, e.logger)
	t.Cleanup(func() { b.Close(context.Background()) })
	marker := journal.MarkerKey("node-1", b.Generation())
	markerThere := func() bool {
		_, err := e.bucket.GetRange(context.Background(), marker, 0, -1)
		return err == nil
	}

	produceAcked(t, b, topic, "first", 1, 1, true)
	if n := bucket.puts.Load(); n != 2 || !markerThere() {
		t.Fatalf("first flush: %d PUTs (marker there: %v), want the file and the marker", n, markerThere())
	}
	const flushes = 10
	acked := produceAcked(t, b, topic, "next", flushes, 2, true)
	waitFor(t, "journal drained", func() bool { return b.JournalStats().Files == 0 })
	if n, d := bucket.puts.Load()-2, bucket.deletes.Load(); n != flushes || d != 0 {
		t.Fatalf("%d flushes cost %d PUTs and %d DELETEs, want %d and none", flushes, n, d, flushes)
	}
	if got := e.readAll(topic); len(got) != 1+len(acked) {
		t.Fatalf("read back %d records, want %d", len(got), 1+len(acked))
	}

	// The lease lapses; another agent recovers the generation and
	// deletes its marker. The next flush writes it again.
	if err := e.bucket.Delete(context.Background(), marker); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	held = false
	mu.Unlock()
	produceAcked(t, b, topic, "cut off", 1, 1, true)
	if !markerThere() {
		t.Fatal("no marker after a flush made durable without the lease")
	}
	if err := e.bucket.Delete(context.Background(), marker); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	held, lapses = true, lapses+1
	mu.Unlock()
	before := bucket.puts.Load()
	produceAcked(t, b, topic, "back", 2, 1, true)
	if !markerThere() || bucket.puts.Load()-before != 3 {
		t.Fatalf("after a lapse: marker there %v, %d PUTs for 2 flushes; want the marker once more", markerThere(), bucket.puts.Load()-before)
	}
}

// An agent cut off from the store keeps journaling (it never gets to
// commit, and is never sure of its lease) while another agent, which took
// its journal lease, recovers the same generation pass after pass. Every
// acknowledged file is sequenced once, in write order: the recoverer
// sequences only what it saw before waiting AckBound, and the cut-off
// agent writes its marker again after each file, so the generation is
// listed again after the recoverer deleted the marker.
func TestRecoveryOfAnAgentStillJournaling(t *testing.T) {
	e := newJEnv(t)
	ctx := context.Background()
	topic := e.topic("fast")
	never := func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
	cutOff := func() (bool, uint64) { return false, 0 }
	b, _ := e.batcher(produce.Config{Agent: "node-1", CommitGate: never, LeaseState: cutOff})
	other := produce.NewRecoverer(produce.RecovererConfig{Agent: "node-2", LeaseTTL: 2 * time.Second, AckBound: 100 * time.Millisecond},
		e.log, e.bucket, nil, nil, e.logger)

	var acked []string
	settle := func() {
		t.Helper()
		waitFor(t, "the journal sequenced", func() bool {
			if err := other.RunOnce(ctx); err != nil {
				t.Fatal(err)
			}
			return len(e.pending()) == 0
		})
	}
	for round := range 6 {
		// Recovery passes while the agent writes...
		done := make(chan error, 1)
		go func() { done <- other.RunOnce(ctx) }()
		acked = append(acked, produceAcked(t, b, topic, fmt.Sprintf("r%d-", round), 3, 1, true)...)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		// ...and after the recoverer settled the generation and deleted
		// its marker, the agent writes again.
		settle()
		acked = append(acked, produceAcked(t, b, topic, fmt.Sprintf("s%d-", round), 1, 1, true)...)
	}
	settle()
	if got := e.readAll(topic); !slices.Equal(got, acked) {
		t.Fatalf("read back %v\nwant %v", got, acked)
	}
	if n := e.log.commits.Load(); n != int64(len(acked)) {
		t.Fatalf("%d commits for %d files", n, len(acked))
	}
}

// holdFirstFile holds the PUT of the first journaled data file until
// release is closed.
type holdFirstFile struct {
	objstore.Bucket
	first   chan struct{} // closed when the first file's PUT started
	release chan struct{}
	once    sync.Once
}

func (h *holdFirstFile) Put(ctx context.Context, key string, data []byte) error {
	if e, ok := journal.Parse(key); ok && e.Resident() {
		if e.Sequence == 1 {
			h.once.Do(func() { close(h.first) })
			select {
			case <-h.release:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return h.Bucket.Put(ctx, key, data)
}

// Successive lightning files upload at once: a flush sealed while an
// earlier one's PUT is slow is written and acknowledged without waiting
// for it (a connection's responses still go out in its requests' order),
// and the two commit in seal order, so the log keeps the batches' order.
func TestLightningUploadsOverlap(t *testing.T) {
	e := newJEnv(t)
	topic := e.topic("fast")
	h := &holdFirstFile{Bucket: e.bucket, first: make(chan struct{}), release: make(chan struct{})}
	b := produce.New(produce.Config{Agent: "node-1", BatchTimeout: 2 * time.Millisecond, MaxInFlight: 4}, e.log, h, nil, nil, e.logger)
	t.Cleanup(func() { b.Close(context.Background()) })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	submit := func(vs ...string) *produce.Pending {
		bt := batchOf(topic, 0, vs...)
		bt.Lightning = true
		p, err := b.Submit(ctx, []produce.Batch{bt})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	first := submit("a0", "a1")
	select {
	case <-h.first:
	case <-ctx.Done():
		t.Fatal("the first file's PUT never started")
	}
	second := submit("b0")
	res, err := second.Wait(ctx)
	if err != nil || res[0].Err != nil || res[0].BaseOffset != -1 {
		t.Fatalf("second flush, while the first PUT is held: %+v, %v; want acknowledged without offsets", res, err)
	}
	select {
	case <-first.Done():
		t.Fatal("the first flush was answered while its PUT was held")
	default:
	}
	close(h.release)
	if res, err := first.Wait(ctx); err != nil || res[0].Err != nil {
		t.Fatalf("first flush: %+v, %v", res, err)
	}
	waitFor(t, "journal drained", func() bool { return b.JournalStats().Files == 0 })
	if got, want := e.readAll(topic), []string{"a0", "a1", "b0"}; !slices.Equal(got, want) {
		t.Fatalf("read back %v, want %v", got, want)
	}
}
