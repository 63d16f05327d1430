package fetch

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/records"
	"github.com/sluicehq/sluice/internal/segment"
)

// countingLog counts the index lookups that reach the store.
type countingLog struct {
	metadata.Log
	lookups atomic.Int64
}

func (l *countingLog) Extents(ctx context.Context, topic metadata.TopicID, partition int32, from int64, limit int) ([]metadata.Extent, error) {
	l.lookups.Add(1)
	return l.Log.Extents(ctx, topic, partition, from, limit)
}

// readBatchByBatch reads partition p from offset 0 to 60 one batch per
// Read, as a consumer with a small max.partition.fetch.bytes does, and
// returns the base offsets read.
func readBatchByBatch(t *testing.T, r *Reader, topic metadata.TopicID, p int32) []int64 {
	t.Helper()
	var got []int64
	for next := int64(0); next < 60; {
		res, err := r.Read(context.Background(), topic, p, next, batchLen, true)
		if err != nil {
			t.Fatalf("read at %d: %v", next, err)
		}
		got = append(got, bases(t, res.Records)...)
		next = res.NextOffset
	}
	return got
}

// TestExtentRunsServeSequentialReads: a consumer reading a partition a batch
// at a time looks its extents up in the store once, not once per read, and
// reads the same batches.
func TestExtentRunsServeSequentialReads(t *testing.T) {
	r, _, topic := readerFixture(t, 1<<20)
	log := &countingLog{Log: r.log}
	r.log = log
	if got := readBatchByBatch(t, r, topic, 1); fmt.Sprint(got) != "[0 10 20 30 40 50]" {
		t.Fatalf("batches at %v", got)
	}
	if n := log.lookups.Load(); n != 1 {
		t.Fatalf("%d index lookups for six reads of one partition, want 1", n)
	}
	// Another partition has its own run.
	readBatchByBatch(t, r, topic, 2)
	if n := log.lookups.Load(); n != 2 {
		t.Fatalf("%d index lookups after reading a second partition, want 2", n)
	}
}

// TestExtentRunsExpire: a run older than its TTL is looked up again.
func TestExtentRunsExpire(t *testing.T) {
	r, _, topic := readerFixture(t, 1<<20)
	log := &countingLog{Log: r.log}
	r.log = log
	now := time.Now()
	r.runs.now = func() time.Time { return now }
	ctx := context.Background()
	for i, step := range []struct {
		advance time.Duration
		lookups int64
	}{{0, 1}, {extentRunTTL, 1}, {time.Millisecond, 2}} {
		now = now.Add(step.advance)
		if _, err := r.Read(ctx, topic, 0, 15, batchLen, true); err != nil {
			t.Fatal(err)
		}
		if n := log.lookups.Load(); n != step.lookups {
			t.Fatalf("read %d: %d index lookups, want %d", i, n, step.lookups)
		}
	}
}

// overlapLog answers lookups below offset 30 with partition 0's extent of
// file f1 ([0,30)) and later ones with one extent [0,60) of file f3, as a
// remembered run and a fresh lookup answer when compaction merged the
// partition's extents between them.
type overlapLog struct {
	metadata.Log
	old, merged metadata.Extent
}

func (l *overlapLog) Extents(ctx context.Context, topic metadata.TopicID, partition int32, from int64, limit int) ([]metadata.Extent, error) {
	if from < l.old.EndOffset {
		return []metadata.Extent{l.old}, nil
	}
	return []metadata.Extent{l.merged}, nil
}

// TestOverlappingExtentsNotRepeated: extents from two lookups that overlap
// (compaction replaced some in between) return each batch once.
func TestOverlappingExtentsNotRepeated(t *testing.T) {
	r, bucket, topic := readerFixture(t, 0)
	ctx := context.Background()
	old, err := r.log.Extents(ctx, topic, 0, 0, 1)
	if err != nil || len(old) != 1 || old[0].EndOffset != 30 {
		t.Fatalf("extents %v, %v", old, err)
	}
	var w segment.Writer
	for i := 0; i < 6; i++ {
		w.Add(topic, 0, benchBatch(batchRecords, payload), records.BatchInfo{Records: batchRecords, ProducerID: -1})
	}
	data, entries := w.Finish()
	if err := bucket.Put(ctx, "f3", data); err != nil {
		t.Fatal(err)
	}
	merged := metadata.Extent{TopicID: topic, Partition: 0, BaseOffset: 0, EndOffset: 60, FileKey: "f3",
		ByteOffset: int64(entries[0].Offset), ByteLength: int64(entries[0].Length), FileSize: int64(len(data))}
	r.log = &overlapLog{Log: r.log, old: old[0], merged: merged}
	for _, from := range []int64{0, 25} {
		res, err := r.Read(ctx, topic, 0, from, 1<<20, true)
		if err != nil {
			t.Fatal(err)
		}
		if got := bases(t, res.Records); fmt.Sprint(got) != fmt.Sprint([]int64{0, 10, 20, 30, 40, 50}[from/10:]) {
			t.Fatalf("read from %d: batches at %v", from, got)
		}
		if res.NextOffset != 60 || res.Offsets != 60-from/10*10 {
			t.Fatalf("read from %d: next %d, offsets %d", from, res.NextOffset, res.Offsets)
		}
	}
}
