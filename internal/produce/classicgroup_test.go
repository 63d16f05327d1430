package produce_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/objstore"
	"github.com/sluicehq/sluice/internal/produce"
)

// submitQueued submits batches one flush each while the store holds the
// first flush's commit: it waits for the first commit to reach the store,
// then for each later flush to be uploaded and waiting for its turn,
// before it submits the next.
func submitQueued(t *testing.T, e *jenv, b *produce.Batcher, batches []produce.Batch) []*produce.Pending {
	t.Helper()
	var out []*produce.Pending
	calls := e.log.calls.Load()
	for i, bt := range batches {
		waiting := b.WaitingClassic()
		out = append(out, e.submit(b, bt))
		if i == 0 {
			waitFor(t, "first commit held", func() bool { return e.log.calls.Load() > calls })
			continue
		}
		waitFor(t, fmt.Sprintf("flush %d waiting for its turn", i), func() bool { return b.WaitingClassic() > waiting })
	}
	return out
}

// Classic flushes uploaded while an earlier one commits wait for it, then
// commit together in one store transaction, in seal order: an idempotent
// producer's batches in successive files of the group are checked
// against the state the files before them left, and every offset follows
// the one before.
func TestClassicFlushesWaitingCommitTogether(t *testing.T) {
	e := newJEnv(t)
	topic := e.topic("classic")
	pid, err := e.log.AllocateProducerID(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := e.batcher(produce.Config{})
	hold := make(chan struct{})
	release := sync.OnceFunc(func() { close(hold) })
	t.Cleanup(release) // before the batcher's Close, if the test fails first
	e.log.set(nil, hold)

	const flushes, k = 6, 3
	var batches []produce.Batch
	var want []string
	for i := range flushes {
		vs := values(fmt.Sprintf("g%d", i), k)
		bt := batchOf(topic, 0, vs...)
		bt.Info.ProducerID, bt.Info.ProducerEpoch, bt.Info.FirstSequence = pid, 0, int32(i*k)
		batches = append(batches, bt)
		want = append(want, vs...)
	}
	pending := submitQueued(t, e, b, batches)
	release()
	for i, p := range pending {
		res := wait(t, p)
		if res[0].Err != nil || res[0].BaseOffset != int64(i*k) {
			t.Fatalf("flush %d: %+v, want offset %d", i, res[0], i*k)
		}
	}
	if n := e.log.txns.Load(); n != 2 {
		t.Fatalf("%d store transactions, want 2: the first flush alone, then the %d that waited for it", n, flushes-1)
	}
	if n := e.log.largest.Load(); n != flushes-1 {
		t.Fatalf("largest group %d files, want %d", n, flushes-1)
	}
	if got := e.readAll(topic); !slices.Equal(got, want) {
		t.Fatalf("read back %v\nwant %v", got, want)
	}
	// The producer's state is where the group left it: its next sequence
	// is accepted, a repeat of the last is a duplicate.
	next := batchOf(topic, 0, "next")
	next.Info.ProducerID, next.Info.ProducerEpoch, next.Info.FirstSequence = pid, 0, flushes*k
	again := batches[flushes-1]
	if res := waitOK(t, e.submit(b, next)); res[0].BaseOffset != flushes*k {
		t.Fatalf("next batch at %d, want %d", res[0].BaseOffset, flushes*k)
	}
	if res := waitOK(t, e.submit(b, again)); res[0].BaseOffset != (flushes-1)*k {
		t.Fatalf("repeated batch answered %d, want its original offset %d", res[0].BaseOffset, (flushes-1)*k)
	}
}

// A group fails as one: every flush of it gets a retriable storage error
// from one failed transaction, and nothing of it is committed.
func TestClassicGroupFailsAsOne(t *testing.T) {
	e := newJEnv(t)
	topic := e.topic("classic")
	b, _ := e.batcher(produce.Config{})
	hold := make(chan struct{})
	release := sync.OnceFunc(func() { close(hold) })
	t.Cleanup(release) // before the batcher's Close, if the test fails first
	e.log.set(errStoreDown, hold)
	var batches []produce.Batch
	for i := range 4 {
		batches = append(batches, batchOf(topic, 0, values(fmt.Sprintf("f%d", i), 2)...))
	}
	calls := e.log.calls.Load()
	pending := submitQueued(t, e, b, batches)
	release()
	for i, p := range pending {
		if res := wait(t, p); !errors.Is(res[0].Err, produce.ErrStorage) || !errors.Is(res[0].Err, errStoreDown) {
			t.Fatalf("flush %d: %v, want a storage error wrapping the store's", i, res[0].Err)
		}
	}
	if n := e.log.calls.Load() - calls; n != 2 {
		t.Fatalf("%d commit attempts, want 2: the first flush, then the group of the other 3", n)
	}
	e.log.set(nil, nil)
	if res := waitOK(t, e.submit(b, batchOf(topic, 0, "after"))); res[0].BaseOffset != 0 {
		t.Fatalf("first batch after the outage at offset %d, want 0: nothing of the failed group committed", res[0].BaseOffset)
	}
	if got := e.readAll(topic); !slices.Equal(got, []string{"after"}) {
		t.Fatalf("read back %v, want only the batch after the outage", got)
	}
}

// A flush that is not waiting for its turn when the group forms (here
// one whose upload failed) ends the group: no file is committed before
// one sealed earlier, and the flushes after it form their own group.
func TestClassicGroupStopsAtGap(t *testing.T) {
	e := newJEnv(t)
	topic := e.topic("classic")
	bucket := &putAttempts{Bucket: e.bucket}
	b := produce.New(produce.Config{BatchTimeout: 2 * time.Millisecond, UploadAttempts: 1}, e.log, bucket, nil, nil, e.logger)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		b.Close(ctx)
	})
	hold := make(chan struct{})
	release := sync.OnceFunc(func() { close(hold) })
	t.Cleanup(release) // before the batcher's Close, if the test fails first
	e.log.set(nil, hold)
	calls := e.log.calls.Load()
	p0 := e.submit(b, batchOf(topic, 0, "a"))
	waitFor(t, "first commit held", func() bool { return e.log.calls.Load() > calls })
	p1 := e.submit(b, batchOf(topic, 0, "b"))
	waitFor(t, "flush 1 waiting", func() bool { return b.WaitingClassic() == 1 })
	e.bucket.FailPuts(errors.New("test: bucket down"))
	p2 := e.submit(b, batchOf(topic, 0, "lost"))
	// Flush 2's upload failed: its run waits for its turn, not
	// registered. The next submit goes to a new flush once flush 2's
	// PUT was tried.
	waitFor(t, "flush 2's upload tried", func() bool { return bucket.n.Load() == 3 })
	e.bucket.FailPuts(nil)
	var rest []*produce.Pending
	for i, v := range []string{"c", "d"} {
		rest = append(rest, e.submit(b, batchOf(topic, 0, v)))
		waitFor(t, fmt.Sprintf("flush %d waiting", 3+i), func() bool { return b.WaitingClassic() == 2+i })
	}
	if n := b.WaitingClassic(); n != 3 {
		t.Fatalf("%d flushes waiting, want 3 (flushes 1, 3 and 4)", n)
	}
	release()
	if res := waitOK(t, p0); res[0].BaseOffset != 0 {
		t.Fatalf("flush 0 at %d", res[0].BaseOffset)
	}
	if res := waitOK(t, p1); res[0].BaseOffset != 1 {
		t.Fatalf("flush 1 at %d", res[0].BaseOffset)
	}
	if res := wait(t, p2); !errors.Is(res[0].Err, produce.ErrStorage) {
		t.Fatalf("flush 2: %v, want a storage error", res[0].Err)
	}
	for i, p := range rest {
		if res := waitOK(t, p); res[0].BaseOffset != int64(2+i) {
			t.Fatalf("flush %d at %d, want %d", 3+i, res[0].BaseOffset, 2+i)
		}
	}
	if n, largest := e.log.txns.Load(), e.log.largest.Load(); n != 3 || largest != 2 {
		t.Fatalf("%d transactions, largest group %d; want 3 (flush 0, flush 1, flushes 3-4) and 2", n, largest)
	}
	if got := e.readAll(topic); !slices.Equal(got, []string{"a", "b", "c", "d"}) {
		t.Fatalf("read back %v", got)
	}
}

// putAttempts counts the PUTs tried, failed or not.
type putAttempts struct {
	objstore.Bucket
	n atomic.Int64
}

func (p *putAttempts) Put(ctx context.Context, key string, data []byte) error {
	p.n.Add(1)
	return p.Bucket.Put(ctx, key, data)
}
