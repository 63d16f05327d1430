package produce_test

import (
	"context"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/produce"
)

// TestIdleSeal: with a batch timeout of an hour, a file that commits at
// all was sealed full, by IdleSeal or by Close. A file nothing is added
// to for IdleSeal is sealed, at most once per batch timeout among files
// sealed before they were full; files sealed full do not count, so the
// last, partial file of a burst is sealed once the burst stops.
func TestIdleSeal(t *testing.T) {
	const idle = 20 * time.Millisecond
	e := newEnv(t, produce.Config{BatchTimeout: time.Hour, BatchMaxBytes: 1000, IdleSeal: idle}, nil)
	tp := e.topic("idle", 1)
	ctx := context.Background()
	submit := func(vals ...string) *produce.Pending {
		t.Helper()
		p, err := e.batcher.Submit(ctx, []produce.Batch{batchOf(tp, 0, vals...)})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	big := values("big", 100)
	if n := len(batchOf(tp, 0, big...).Data); n < 1000 {
		t.Fatalf("the big batch has %d bytes, want at least BatchMaxBytes", n)
	}

	// A lone request is written once nothing follows it.
	waitOK(t, submit("s1"))
	if n := e.files(); n != 1 {
		t.Fatalf("%d files, want 1", n)
	}

	// The next partial file waits: a partial file was sealed within the
	// batch timeout. A batch that fills it seals it, with both.
	p2 := submit("s2")
	time.Sleep(5 * idle) // nothing to wait on: the file must stay open
	select {
	case <-p2.Done():
		t.Fatal("a second partial file sealed within the batch timeout of the first")
	default:
	}
	pBig := submit(big...)
	waitOK(t, p2)
	waitOK(t, pBig)
	if n := e.files(); n != 2 {
		t.Fatalf("%d files, want 2 (s2 and the big batch share one)", n)
	}

	// A burst: a full file, then the partial rest, sealed once idle
	// although a file was sealed (full) just before it.
	e.batcher.ForgetLastSeal()
	waitOK(t, submit(big...))
	if n := e.files(); n != 3 {
		t.Fatalf("%d files, want 3", n)
	}
	waitOK(t, submit("rest"))
	if n := e.files(); n != 4 {
		t.Fatalf("%d files, want 4", n)
	}
	if e.hw(tp, 0) != int64(2+2*len(big)+1) {
		t.Fatalf("high watermark %d, want %d", e.hw(tp, 0), 2+2*len(big)+1)
	}
}
