package produce_test

import (
	"context"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/produce"
)

// TestEarlySeal walks EarlySeal through its cases with a batch timeout of an
// hour, so a file that commits at all was sealed early (or by Close), and
// file counts tell which Submits shared a file.
func TestEarlySeal(t *testing.T) {
	e := newEnv(t, produce.Config{BatchTimeout: time.Hour, EarlySeal: true}, nil)
	tp := e.topic("early", 1)
	ctx := context.Background()
	a, b, c, d := produce.NewSource(), produce.NewSource(), produce.NewSource(), produce.NewSource()
	submit := func(src *produce.Source, v string) *produce.Pending {
		t.Helper()
		p, err := e.batcher.SubmitFrom(ctx, src, []produce.Batch{batchOf(tp, 0, v)})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}

	// A lone producer's request is written at once: nobody else can add
	// to its file.
	waitOK(t, submit(a, "a1"))
	if n := e.files(); n != 1 {
		t.Fatalf("%d files after the first request, want 1", n)
	}

	// Files stay at least a batch timeout apart: the same producer's next
	// request waits, and b's joins it.
	pa := submit(a, "a2")
	pb := submit(b, "b1")
	select {
	case <-pa.Done():
		t.Fatal("second file sealed within the batch timeout of the first")
	default:
	}

	// Once the spacing allows it, the next request finds every producer
	// of the previous file (a) waiting on this one and seals it.
	e.batcher.ForgetLastSeal()
	pd := submit(d, "d1")
	waitOK(t, pa)
	waitOK(t, pb)
	waitOK(t, pd)
	if n := e.files(); n != 2 {
		t.Fatalf("%d files, want 2 (a2, b1 and d1 share one)", n)
	}

	// The file waits for every producer of the previous one (a, b, d).
	e.batcher.ForgetLastSeal()
	pb2 := submit(b, "b2") // a and d missing: open
	pa4 := submit(a, "a4") // d missing: open
	pd2 := submit(d, "d2") // all three: sealed
	waitOK(t, pb2)
	waitOK(t, pa4)
	waitOK(t, pd2)
	if n := e.files(); n != 3 {
		t.Fatalf("%d files, want 3 (b2 and a4 waited for d2)", n)
	}

	// A connection that pipelines (two requests waiting at once) may send
	// more while it waits, so a file holding its requests is not sealed
	// early: c's request still joins the same file.
	e.batcher.ForgetLastSeal()
	p1 := submit(a, "a5") // b and d missing: open
	p2 := submit(a, "a6") // a now has two requests waiting: pipelined
	p3 := submit(b, "b3")
	p4 := submit(d, "d3") // a, b and d are in, but a pipelines: open
	p5 := submit(c, "c1")
	closeCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := e.batcher.Close(closeCtx); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*produce.Pending{p1, p2, p3, p4, p5} {
		waitOK(t, p)
	}
	if n := e.files(); n != 4 {
		t.Fatalf("%d files, want 4 (a5, a6, b3, d3, c1 share the one Close wrote)", n)
	}
	if hw := e.hw(tp, 0); hw != 12 {
		t.Fatalf("high watermark %d, want 12", hw)
	}
}

// TestEarlySealOff: without EarlySeal a lone request waits for its batch
// timeout (here: until Close).
func TestEarlySealOff(t *testing.T) {
	e := newEnv(t, produce.Config{BatchTimeout: time.Hour}, nil)
	tp := e.topic("late", 1)
	ctx := context.Background()
	src := produce.NewSource()
	p, err := e.batcher.SubmitFrom(ctx, src, []produce.Batch{batchOf(tp, 0, "x")})
	if err != nil {
		t.Fatal(err)
	}
	q, err := e.batcher.SubmitFrom(ctx, produce.NewSource(), []produce.Batch{batchOf(tp, 0, "y")})
	if err != nil {
		t.Fatal(err)
	}
	closeCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := e.batcher.Close(closeCtx); err != nil {
		t.Fatal(err)
	}
	waitOK(t, p)
	waitOK(t, q)
	if n := e.files(); n != 1 {
		t.Fatalf("%d files, want 1: both requests wait for the same file", n)
	}
}
