package fetch

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sluicehq/sluice/internal/objstore"
)

// gatedBucket holds every read of one object until open is closed (or the
// read's ctx ends), counting the reads it held.
type gatedBucket struct {
	objstore.Bucket
	key  string
	open chan struct{}
	held atomic.Int64
}

func (b *gatedBucket) GetRange(ctx context.Context, key string, off, length int64) ([]byte, error) {
	if key == b.key {
		b.held.Add(1)
		select {
		case <-b.open:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return b.Bucket.GetRange(ctx, key, off, length)
}

// TestReadFetchBudget: a fetch whose file bytes do not all arrive within
// the read budget answers with the batches it has, in order, and no error
// (nothing when its first extent is missing); the read it gave up on goes
// on into the cache, where a later fetch finds it without reading the
// bucket again. Before the budget, the fetch waited for the slow file as
// long as it took, and a client that timed out first retried into the same
// wait: no progress at all.
func TestReadFetchBudget(t *testing.T) {
	gate := &gatedBucket{key: "f2", open: make(chan struct{})}
	r, _, topic := readerFixtureWith(t, 1<<20, 1<<20, func(b objstore.Bucket) objstore.Bucket {
		gate.Bucket = b
		return gate
	}, Config{ReadBudget: 100 * time.Millisecond})
	ctx := context.Background()

	fetch := func(offset int64) Outcome {
		t.Helper()
		done := make(chan Outcome, 1)
		go func() { done <- r.ReadFetch(ctx, []Request{{topic, 1, offset, 1 << 20}}, 1<<30)[0] }()
		select {
		case o := <-done:
			return o
		case <-time.After(30 * time.Second):
			t.Fatalf("ReadFetch from %d did not answer while the bucket held f2", offset)
			return Outcome{}
		}
	}

	// f1 (offsets 0-29) arrives, f2 (30-59) is held: the first extent's
	// batches are the answer.
	o := fetch(0)
	if o.Err != nil || o.NextOffset != 30 || o.Offsets != 30 {
		t.Fatalf("from 0: err %v, next %d, offsets %d; want f1's 30 offsets and no error", o.Err, o.NextOffset, o.Offsets)
	}
	o.Own()
	if got := fmt.Sprint(bases(t, o.Records)); got != "[0 10 20]" {
		t.Fatalf("from 0: batches at %s, want [0 10 20]", got)
	}
	// From 30 nothing has arrived: no records, no error.
	o = fetch(30)
	if o.Err != nil || len(o.Records) != 0 || o.NextOffset != 30 {
		t.Fatalf("from 30 with f2 held: err %v, %d bytes, next %d; want nothing and no error", o.Err, len(o.Records), o.NextOffset)
	}
	if n := testutil.ToFloat64(r.metrics.readsCut); n != 2 {
		t.Fatalf("sluice_fetch_reads_cut_total = %v, want 2", n)
	}
	// Once f2 comes, the read started by the first fetch fills the cache:
	// the next fetch gets its batches, and f2 was read from the bucket once.
	close(gate.open)
	o = fetch(30)
	if o.Err != nil || o.NextOffset != 60 {
		t.Fatalf("from 30 after f2 arrived: err %v, next %d; want 30-59", o.Err, o.NextOffset)
	}
	if n := gate.held.Load(); n != 1 {
		t.Fatalf("f2 was read from the bucket %d times, want once (the cut read went on into the cache)", n)
	}
}
