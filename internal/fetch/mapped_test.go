package fetch

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/sluicehq/sluice/internal/objstore"
)

// dirCopy returns a wrap for readerFixtureWith: the fixture's files copied
// into a local-directory bucket, which the cache maps rather than reads.
func dirCopy(t *testing.T) func(objstore.Bucket) objstore.Bucket {
	return func(src objstore.Bucket) objstore.Bucket {
		ctx := context.Background()
		dir, err := objstore.OpenDir(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { dir.Close() })
		var objs []objstore.Object
		if err := src.List(ctx, "", func(o objstore.Object) error { objs = append(objs, o); return nil }); err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			data, err := src.GetRange(ctx, o.Key, 0, o.Size)
			if err != nil {
				t.Fatal(err)
			}
			if err := dir.Put(ctx, o.Key, data); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
}

// TestReadFetchMapped: from a local-directory bucket the cache maps the
// files; a Shared answer keeps its mapping valid after its blocks are
// evicted and the garbage collector has run, and copies (Own, Read) are
// made while the mapping is held. Run with -race; a write into a mapping,
// or a read of one unmapped, crashes the test.
func TestReadFetchMapped(t *testing.T) {
	// A cache of one block of 4 KiB: every read evicts the one before.
	r, _, topic := readerFixtureWith(t, 4096, 4096, dirCopy(t), Config{})
	ctx := context.Background()
	var held []Outcome
	for p := int32(0); p < testPartitions; p++ {
		for _, off := range []int64{0, 35} {
			o := r.ReadFetch(ctx, []Request{{topic, p, off, 3 * batchLen}}, 1<<30)[0]
			if o.Err != nil || o.NextOffset != off-off%30+30 {
				t.Fatalf("partition %d offset %d: err %v next %d", p, off, o.Err, o.NextOffset)
			}
			held = append(held, o)
		}
	}
	shared := 0
	for i := 0; i < 3; i++ {
		runtime.GC()
	}
	for i, o := range held {
		if o.Shared {
			shared++
		}
		first := int64(i%2) * 30
		o.Own()
		if got, want := fmt.Sprint(bases(t, o.Records)), fmt.Sprint([]int64{first, first + 10, first + 20}); got != want {
			t.Fatalf("answer %d: batches at %s, want %s", i, got, want)
		}
	}
	if shared == 0 {
		t.Fatal("no answer was Shared: the test checks nothing of the mappings' lifetime")
	}
	res, err := r.Read(ctx, topic, 1, 0, 3*batchLen, true)
	if err != nil || fmt.Sprint(bases(t, res.Records)) != "[0 10 20]" {
		t.Fatalf("Read: err %v, batches at %v", err, bases(t, res.Records))
	}
}
