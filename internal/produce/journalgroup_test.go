package produce_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/journal"
	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/objstore"
	"github.com/sluicehq/sluice/internal/produce"
)

// The backlog ripcord leaves is sequenced several flushes per store
// transaction, within the group bound, in the order it was acknowledged;
// ripcord ends once it has drained. (Before groups, 40 flushes took 40
// transactions.)
func TestRipcordBacklogSequencedInGroups(t *testing.T) {
	e := newJEnv(t)
	topic := e.topic("classic")
	const flushes, maxFiles = 40, 16
	b, _ := e.batcher(produce.Config{Agent: "node-1", Ripcord: true, RipcordCommitTimeout: 200 * time.Millisecond, JournalCommitMaxFiles: maxFiles})
	e.log.set(errStoreDown, nil)
	acked := produceAcked(t, b, topic, "o", flushes, 2, false)
	if len(acked) != 2*flushes {
		t.Fatalf("%d records acknowledged during the outage, want %d", len(acked), 2*flushes)
	}
	if st := b.JournalStats(); !st.Ripcord || st.Files != flushes {
		t.Fatalf("journal during the outage: %+v, want ripcord active and %d files", st, flushes)
	}
	e.log.set(nil, nil)
	waitFor(t, "journal drained", func() bool { st := b.JournalStats(); return st.Files == 0 && !st.Ripcord })
	if n := e.log.commits.Load(); n != flushes {
		t.Fatalf("%d files committed, want %d", n, flushes)
	}
	if n, want := e.log.txns.Load(), int64((flushes+maxFiles-1)/maxFiles); n != want {
		t.Fatalf("backlog of %d flushes sequenced in %d store transactions, want %d (groups of %d)", flushes, n, want, maxFiles)
	}
	if n := e.log.largest.Load(); n != maxFiles {
		t.Fatalf("largest group %d files, want the bound, %d", n, maxFiles)
	}
	if got := e.readAll(topic); !slices.Equal(got, acked) {
		t.Fatalf("read back %v\nwant %v", got, acked)
	}
	marks, err := e.log.JournalMarks(context.Background(), "node-1")
	if err != nil || marks[b.Generation()] != flushes {
		t.Fatalf("journal mark %v (%v), want the last flush's sequence %d", marks, err, flushes)
	}
	if n := len(e.pending()); n != 0 {
		t.Fatalf("%d journaled files or entries left after the drain", n)
	}
}

// A group is also bounded by its batches.
func TestJournalGroupBoundedByBatches(t *testing.T) {
	e := newJEnv(t)
	topic := e.topic("fast")
	e.log.set(errStoreDown, nil)
	b, _ := e.batcher(produce.Config{Agent: "node-1", JournalCommitMaxBatches: 3})
	acked := produceAcked(t, b, topic, "b", 10, 1, true)
	e.log.set(nil, nil)
	waitFor(t, "journal drained", func() bool { return b.JournalStats().Files == 0 })
	if n := e.log.largest.Load(); n != 3 {
		t.Fatalf("largest group %d files of one batch each, want 3", n)
	}
	if n := e.log.txns.Load(); n != 4 {
		t.Fatalf("%d store transactions for 10 one-batch flushes in groups of 3, want 4", n)
	}
	if got := e.readAll(topic); !slices.Equal(got, acked) {
		t.Fatalf("read back %v\nwant %v", got, acked)
	}
}

// A flush that is not acknowledged (here the classic flush of an
// idempotent producer's batch, failed while ripcord is active) ends a
// group: nothing sealed after it is sequenced before its turn.
func TestJournalGroupStopsAtUnacknowledgedFlush(t *testing.T) {
	e := newJEnv(t)
	topic := e.topic("classic")
	b, _ := e.batcher(produce.Config{Agent: "node-1", Ripcord: true, RipcordCommitTimeout: 200 * time.Millisecond})
	e.log.set(errStoreDown, nil)
	acked := produceAcked(t, b, topic, "a", 5, 1, false)
	idem := batchOf(topic, 0, "idempotent")
	idem.Info.ProducerID, idem.Info.ProducerEpoch, idem.Info.FirstSequence = 7, 0, 0
	if res := wait(t, e.submit(b, idem)); res[0].Err == nil {
		t.Fatal("idempotent batch acknowledged during the outage")
	}
	acked = append(acked, produceAcked(t, b, topic, "b", 5, 1, false)...)
	e.log.set(nil, nil)
	waitFor(t, "journal drained", func() bool { return b.JournalStats().Files == 0 })
	if n := e.log.txns.Load(); n != 2 {
		t.Fatalf("%d store transactions, want 2 (one group on each side of the failed flush)", n)
	}
	if got := e.readAll(topic); !slices.Equal(got, acked) {
		t.Fatalf("read back %v\nwant %v", got, acked)
	}
}

// Files of a group that recovery (or an earlier attempt whose answer was
// lost) has committed are skipped, the rest of the group commits: each
// file once, in order.
func TestJournalGroupSkipsCommittedFiles(t *testing.T) {
	e := newJEnv(t)
	ctx := context.Background()
	topic := e.topic("fast")
	e.log.set(errStoreDown, nil)
	b, _ := e.batcher(produce.Config{Agent: "node-1"})
	acked := produceAcked(t, b, topic, "s", 10, 2, true)
	entries := e.entries()
	slices.SortFunc(entries, func(x, y journal.Entry) int { return int(x.Sequence) - int(y.Sequence) })
	if len(entries) != 10 {
		t.Fatalf("%d journal entries, want 10", len(entries))
	}
	// The first three, as recovery commits them: in order, with marks,
	// past the failing store the batcher sees.
	for _, en := range entries[:3] {
		data, err := e.bucket.GetRange(ctx, en.File, 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		commits, err := produce.CommitsOfFile(data)
		if err != nil {
			t.Fatal(err)
		}
		mark := metadata.JournalMark{Agent: en.Agent, Generation: en.Generation, Sequence: en.Sequence}
		if _, err := e.log.Store.CommitFile(ctx, metadata.FileCommit{Key: en.File, Size: int64(len(data)), Batches: commits, Journal: &mark}); err != nil {
			t.Fatal(err)
		}
	}
	e.log.set(nil, nil)
	waitFor(t, "journal drained", func() bool { return b.JournalStats().Files == 0 })
	if n, txns := e.log.commits.Load(), e.log.txns.Load(); n != 7 || txns != 1 {
		t.Fatalf("batcher committed %d files in %d transactions, want the 7 left in 1", n, txns)
	}
	if got := e.readAll(topic); !slices.Equal(got, acked) {
		t.Fatalf("read back %v\nwant %v", got, acked)
	}
	if n := len(e.pending()); n != 0 {
		t.Fatalf("%d journaled files above the mark after the drain", n)
	}
}

// A producer that keeps sending while the backlog drains keeps its order:
// its new flushes join the groups behind the backlog as they are
// acknowledged.
func TestJournalGroupsKeepOrderUnderLoad(t *testing.T) {
	e := newJEnv(t)
	topic := e.topic("fast")
	e.log.set(errStoreDown, nil)
	b, _ := e.batcher(produce.Config{Agent: "node-1", JournalCommitMaxFiles: 4, MaxInFlight: 4})
	// The store comes back once 10 flushes wait; the producer goes on.
	back := make(chan struct{})
	go func() {
		defer close(back)
		for b.JournalStats().Files < 10 {
			time.Sleep(time.Millisecond)
		}
		e.log.set(nil, nil)
	}()
	acked := produceAcked(t, b, topic, "p", 60, 1, true)
	<-back
	waitFor(t, "journal drained", func() bool { return b.JournalStats().Files == 0 })
	if got := e.readAll(topic); !slices.Equal(got, acked) {
		t.Fatalf("read back %v\nwant %v", got, acked)
	}
	if n := e.log.commits.Load(); n != int64(len(acked)) {
		t.Fatalf("%d files committed for %d acknowledged flushes", n, len(acked))
	}
	if n := e.log.largest.Load(); n < 2 {
		t.Fatalf("no group of more than one file (largest %d)", n)
	}
}

// Recovery also sequences a journal several files per store transaction,
// in order, settling a file it cannot parse on its own between two
// groups (it is dropped as corrupt), and commits nothing twice when it
// runs again.
func TestRecoveryCommitsInGroups(t *testing.T) {
	e := newJEnv(t)
	ctx := context.Background()
	topic := e.topic("fast")
	e.log.set(errStoreDown, nil)
	b, crash := e.batcher(produce.Config{Agent: "node-1"})
	var acked []string
	for i := range 20 {
		vs := produceAcked(t, b, topic, fmt.Sprintf("g%02d-", i), 1, 2, true)
		if i != 7 {
			acked = append(acked, vs...)
		}
	}
	crash()
	entries := e.entries()
	slices.SortFunc(entries, func(x, y journal.Entry) int { return int(x.Sequence) - int(y.Sequence) })
	if len(entries) != 20 {
		t.Fatalf("%d journal entries, want 20", len(entries))
	}
	if err := e.bucket.Put(ctx, entries[7].File, []byte("not a segment file")); err != nil {
		t.Fatal(err)
	}
	e.log.set(nil, nil)
	rec := e.recoverer("node-1", b.Generation()+1, time.Second)
	for range 2 {
		if err := rec.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n, txns := e.log.commits.Load(), e.log.txns.Load(); n != 19 || txns != 2 {
		t.Fatalf("recovery committed %d files in %d store transactions, want 19 in 2 (the corrupt file between them)", n, txns)
	}
	if got := e.readAll(topic); !slices.Equal(got, acked) {
		t.Fatalf("read back %v\nwant %v", got, acked)
	}
	if n := len(e.pending()); n != 0 {
		t.Fatalf("%d journaled files above the mark after recovery", n)
	}
}

// gatedReads holds each read of a file in keys until another read is in
// flight beside it (or a second passes) and records how many ran at once.
type gatedReads struct {
	objstore.Bucket
	keys map[string]bool

	mu       sync.Mutex // guards inflight, max and closed
	inflight int
	max      int
	closed   bool          // joined is closed
	joined   chan struct{} // closed when a second read is first in flight
}

func (g *gatedReads) GetRange(ctx context.Context, key string, off, length int64) ([]byte, error) {
	if !g.keys[key] {
		return g.Bucket.GetRange(ctx, key, off, length)
	}
	g.mu.Lock()
	g.inflight++
	g.max = max(g.max, g.inflight)
	if g.inflight == 2 && !g.closed {
		g.closed = true
		close(g.joined)
	}
	g.mu.Unlock()
	select {
	case <-g.joined:
	case <-time.After(time.Second):
	}
	defer func() {
		g.mu.Lock()
		g.inflight--
		g.mu.Unlock()
	}()
	return g.Bucket.GetRange(ctx, key, off, length)
}

// TestRecoveryReadsFilesConcurrently: recovery reads a backlog's files
// several at a time, not one GET after another, and still commits them
// in order in one group.
func TestRecoveryReadsFilesConcurrently(t *testing.T) {
	e := newJEnv(t)
	ctx := context.Background()
	topic := e.topic("backlog")
	e.log.set(errStoreDown, nil)
	b, crash := e.batcher(produce.Config{Agent: "node-1"})
	var acked []string
	for i := range 12 {
		acked = append(acked, produceAcked(t, b, topic, fmt.Sprintf("c%02d-", i), 1, 2, true)...)
	}
	crash()
	g := &gatedReads{Bucket: e.bucket, keys: map[string]bool{}, joined: make(chan struct{})}
	for _, en := range e.entries() {
		g.keys[en.File] = true
	}
	if len(g.keys) != 12 {
		t.Fatalf("%d journaled files, want 12", len(g.keys))
	}
	e.log.set(nil, nil)
	rec := produce.NewRecoverer(produce.RecovererConfig{Agent: "node-1", Generation: b.Generation() + 1, LeaseTTL: time.Second, AckBound: 50 * time.Millisecond}, e.log, g, nil, nil, e.logger)
	if err := rec.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if g.max < 2 {
		t.Fatalf("recovery read at most %d journaled file at a time, want several", g.max)
	}
	if n, txns := e.log.commits.Load(), e.log.txns.Load(); n != 12 || txns != 1 {
		t.Fatalf("recovery committed %d files in %d store transactions, want 12 in 1", n, txns)
	}
	if got := e.readAll(topic); !slices.Equal(got, acked) {
		t.Fatalf("read back %v\nwant %v", got, acked)
	}
}
