package filetool

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/metadata/sqlite"
	"github.com/sluicehq/sluice/internal/objstore"
	"github.com/sluicehq/sluice/internal/records"
	"github.com/sluicehq/sluice/internal/records/recordstest"
	"github.com/sluicehq/sluice/internal/segment"
)

// committedFile writes a file of batches (each Batch(n, 4)) for
// partition 0 of topic and commits it as key; the batches get
// consecutive offsets after whatever the partition holds.
func committedFile(t *testing.T, store metadata.Store, b objstore.Bucket, topic metadata.TopicID, key string, counts ...int) []byte {
	t.Helper()
	ctx := context.Background()
	var w segment.Writer
	var batches [][]byte
	for _, n := range counts {
		raw := recordstest.Batch(n, 4, nil)
		info, err := records.InfoOf(raw)
		if err != nil {
			t.Fatal(err)
		}
		w.Add(topic, 0, raw, info)
		batches = append(batches, raw)
	}
	data, _ := w.Finish()
	if err := b.Put(ctx, key, data); err != nil {
		t.Fatal(err)
	}
	fc := metadata.FileCommit{Key: key, Size: int64(len(data))}
	pos := int64(8) // the file header
	for i, raw := range batches {
		fc.Batches = append(fc.Batches, metadata.BatchCommit{TopicID: topic, ByteOffset: pos, ByteLength: int64(len(raw)),
			Records: int64(counts[i]), MaxTimestamp: recordstest.Timestamp + int64(counts[i]-1)})
		pos += int64(len(raw))
	}
	if _, err := store.CommitFile(ctx, fc); err != nil {
		t.Fatal(err)
	}
	return data
}

func openStore(t *testing.T) metadata.Store {
	t.Helper()
	store, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return store
}

// TestReadAndLocate: files read prints every record with its key, value
// and header; Locate finds a record's absolute offset in the second file
// of a partition, with the CRC and checksum verdicts, and a flipped byte
// in the batch is reported as a bad CRC and a bad file checksum.
func TestReadAndLocate(t *testing.T) {
	ctx := context.Background()
	b := memBucket(t)
	store := openStore(t)
	tp, err := store.CreateTopic(ctx, "orders", 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	committedFile(t, store, b, tp.ID, "files/1", 3)
	data := committedFile(t, store, b, tp.ID, "files/2", 2, 5) // offsets 3-4 and 5-9

	var out strings.Builder
	names := func(metadata.TopicID) string { return "orders" }
	if err := Read(ctx, b, "files/2", names, ReadOptions{}, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"chunk 0: topic orders (", "2 batches, 7 records",
		"batch 1: relative offsets 2..6, uncompressed, crc ok",
		`offset 6 timestamp 2023-11-14T22:13:20.004Z key "k4" value "eeee"`,
		`header "h"="v"`,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("Read output lacks %q:\n%s", want, out.String())
		}
	}

	out.Reset()
	loc, err := Locate(ctx, store, b, "orders", 0, 8, ReadOptions{}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if !loc.Found || !loc.FileChecksumOK || loc.Extent.FileKey != "files/2" || loc.Extent.BaseOffset != 3 {
		t.Fatalf("Locate(8) = %+v\n%s", loc, out.String())
	}
	for _, want := range []string{"offsets 5..9, 5 records", "crc ok", "file checksum: ok", `offset 8 timestamp`, `key "k3" value "dddd"`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("Locate output lacks %q:\n%s", want, out.String())
		}
	}
	if _, err := Locate(ctx, store, b, "orders", 0, 10, ReadOptions{}, &out); err == nil || !strings.Contains(err.Error(), "outside") {
		t.Errorf("Locate past the high watermark: %v", err)
	}
	if _, err := Locate(ctx, store, b, "orders", 1, 0, ReadOptions{}, &out); err == nil {
		t.Error("Locate in a partition the topic lacks succeeded")
	}

	// A flipped value byte in the second batch: its CRC and the file's
	// checksum both fail, and Locate says so rather than erroring.
	bad := append([]byte(nil), data...)
	bad[bytes.LastIndex(bad, []byte("eeee"))] ^= 0x20 // a value of the second batch: "Eeee"
	if err := b.Put(ctx, "files/2", bad); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	loc, err = Locate(ctx, store, b, "orders", 0, 8, ReadOptions{}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if loc.FileChecksumOK || !strings.Contains(out.String(), "file checksum: BAD") || !strings.Contains(out.String(), "crc BAD") {
		t.Errorf("corrupt file: %+v\n%s", loc, out.String())
	}
}

// TestScrub: an intact file passes with its extents checked; an extent
// whose bytes do not start on a batch boundary is an index error; an
// object no record names is listed with its age.
func TestScrub(t *testing.T) {
	ctx := context.Background()
	b := memBucket(t)
	store := openStore(t)
	tp, err := store.CreateTopic(ctx, "s", 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	committedFile(t, store, b, tp.ID, "files/good", 2, 3)
	rep, err := Scrub(ctx, store, b, time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Files != 1 || rep.Extents != 1 || len(rep.Orphans) != 0 {
		t.Fatalf("clean bucket: %+v", rep)
	}

	// An extent committed 10 bytes into its batch.
	raw := recordstest.Batch(2, 4, nil)
	info, _ := records.InfoOf(raw)
	var w segment.Writer
	w.Add(tp.ID, 0, raw, info)
	data, _ := w.Finish()
	if err := b.Put(ctx, "files/skewed", data); err != nil {
		t.Fatal(err)
	}
	if _, err := store.CommitFile(ctx, metadata.FileCommit{Key: "files/skewed", Size: int64(len(data)),
		Batches: []metadata.BatchCommit{{TopicID: tp.ID, ByteOffset: 18, ByteLength: int64(len(raw)) - 10, Records: 2}}}); err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, "files/orphan", data); err != nil {
		t.Fatal(err)
	}
	rep, err = Scrub(ctx, store, b, time.Now().Add(time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || len(rep.IndexErrors) != 1 || !strings.Contains(rep.IndexErrors[0], "files/skewed") ||
		!strings.Contains(rep.IndexErrors[0], "batch boundary") {
		t.Fatalf("skewed extent: %+v", rep)
	}
	if len(rep.Orphans) != 1 || rep.Orphans[0].Key != "files/orphan" || rep.Orphans[0].Age < 59*time.Minute {
		t.Fatalf("orphans = %+v", rep.Orphans)
	}
}
