package filetool

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/journal"
	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/metadata/sqlite"
	"github.com/sluicehq/sluice/internal/objstore"
	"github.com/sluicehq/sluice/internal/records"
	"github.com/sluicehq/sluice/internal/segment"
)

func memBucket(t testing.TB) objstore.Bucket {
	b, err := objstore.Open(context.Background(), "mem://")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// A file written by segment.Writer prints its chunk and its batch; one
// with a flipped byte fails the checksum.
func TestInspect(t *testing.T) {
	ctx := context.Background()
	b := memBucket(t)
	// A minimal v2 batch header with no records: 61 bytes.
	batch := make([]byte, 61)
	batch[11] = 49 // length
	batch[16] = 2  // magic
	for i := 43; i < 53; i++ {
		batch[i] = 0xff // producer id -1, epoch -1, and the top of base sequence
	}
	batch[53], batch[54] = 0xff, 0xff
	var w segment.Writer
	w.Add([16]byte{1}, 3, batch, records.BatchInfo{Records: 1, ProducerID: -1})
	data, _ := w.Finish()
	if err := b.Put(ctx, "files/x.slc", data); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := Inspect(ctx, b, "files/x.slc", nil, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"checksum ok, 1 chunks", "partition 3", "batch 0 at 8: 61 bytes"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("output lacks %q:\n%s", want, out.String())
		}
	}
	data[10] ^= 1
	if err := b.Put(ctx, "files/bad.slc", data); err != nil {
		t.Fatal(err)
	}
	if err := Inspect(ctx, b, "files/bad.slc", nil, io.Discard); err == nil || !strings.Contains(err.Error(), "checksum") {
		t.Fatalf("corrupt file: %v", err)
	}
}

func FuzzInspect(f *testing.F) {
	var w segment.Writer
	w.Add([16]byte{1}, 0, make([]byte, 61), records.BatchInfo{Records: 1})
	good, _ := w.Finish()
	f.Add(good)
	f.Add([]byte("SLCF"))
	f.Fuzz(func(t *testing.T, data []byte) {
		b := memBucket(t)
		if err := b.Put(context.Background(), "f", data); err != nil {
			t.Fatal(err)
		}
		Inspect(context.Background(), b, "f", nil, io.Discard)
	})
}

// TestVerify: with a real SQLite store, a deleted object is missing, a
// flipped byte is corrupt, an object without a record is counted as
// unreferenced, and an intact file passes.
func TestVerify(t *testing.T) {
	ctx := context.Background()
	b := memBucket(t)
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	tp, err := store.CreateTopic(ctx, "v", 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	var w segment.Writer
	w.Add(tp.ID, 0, make([]byte, 61), records.BatchInfo{Records: 1})
	data, _ := w.Finish()
	// A committed lightning file is referenced like any other.
	committedJournaled := journal.FileKey("node-1", 7, 1, "x.slc")
	for _, k := range []string{"files/a", "files/b", "files/c", committedJournaled} {
		if err := b.Put(ctx, k, append([]byte(nil), data...)); err != nil {
			t.Fatal(err)
		}
		if _, err := store.CommitFile(ctx, metadata.FileCommit{Key: k, Size: int64(len(data)),
			Batches: []metadata.BatchCommit{{TopicID: tp.ID, ByteOffset: 8, ByteLength: 61, Records: 1}}}); err != nil {
			t.Fatal(err)
		}
	}
	b.Delete(ctx, "files/b")
	bad := append([]byte(nil), data...)
	bad[20] ^= 1
	b.Put(ctx, "files/c", bad)
	b.Put(ctx, "files/orphan", data)
	// An acknowledged lightning file waiting to be sequenced is a data
	// file no record names yet; a ripcord entry (naming files/a) and a
	// generation marker are not data files.
	waiting := journal.FileKey("node-1", 7, 2, "y.slc")
	b.Put(ctx, waiting, data)
	b.Put(ctx, journal.Key("node-1", 7, 3, "files/a"), nil)
	b.Put(ctx, journal.MarkerKey("node-1", 7), nil)
	rep, err := Verify(ctx, store, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || rep.Files != 4 || fmt.Sprint(rep.Missing) != "[files/b]" || fmt.Sprint(rep.Corrupt) != "[files/c]" || rep.Unreferenced != 2 {
		t.Fatalf("report = %+v", rep)
	}
	var orphans []string
	if _, err := verify(ctx, store, b, nil, nil, func(o objstore.Object) { orphans = append(orphans, o.Key) }); err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprint([]string{"files/orphan", waiting}); fmt.Sprint(orphans) != want {
		t.Fatalf("unreferenced %v, want %s", orphans, want)
	}
}
