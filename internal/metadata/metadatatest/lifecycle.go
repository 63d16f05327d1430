package metadatatest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/metadata"
)

func testLeases(t *testing.T, s metadata.Store) {
	ctx := context.Background()
	a, err := s.AcquireLease(ctx, "job", "agent-a", time.Minute)
	if err != nil || a.Epoch < 1 || a.Holder != "agent-a" || !a.ExpiresAt.After(time.Now()) {
		t.Fatalf("AcquireLease = %+v, %v", a, err)
	}
	if _, err := s.AcquireLease(ctx, "job", "agent-b", time.Minute); !errors.Is(err, metadata.ErrLeaseHeld) {
		t.Fatalf("AcquireLease by another holder = %v, want ErrLeaseHeld", err)
	}
	renewed, err := s.AcquireLease(ctx, "job", "agent-a", time.Minute)
	if err != nil || renewed.Epoch != a.Epoch {
		t.Fatalf("renewal = %+v, %v; want epoch %d", renewed, err, a.Epoch)
	}
	// Another lease name is independent.
	if _, err := s.AcquireLease(ctx, "other", "agent-b", time.Minute); err != nil {
		t.Fatalf("AcquireLease(other) = %v", err)
	}
	// An expired lease can be taken over, with a new epoch, and fences
	// writes made under the old one.
	short, err := s.AcquireLease(ctx, "short", "agent-a", 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond)
	taken, err := s.AcquireLease(ctx, "short", "agent-b", time.Minute)
	if err != nil || taken.Epoch <= short.Epoch {
		t.Fatalf("takeover = %+v, %v; want epoch above %d", taken, err, short.Epoch)
	}
	if err := s.ForgetFiles(ctx, short, []string{"x"}); !errors.Is(err, metadata.ErrFenced) {
		t.Fatalf("ForgetFiles under a lost lease = %v, want ErrFenced", err)
	}
	if err := s.ForgetFiles(ctx, taken, []string{"x"}); err != nil {
		t.Fatalf("ForgetFiles under the current lease = %v", err)
	}
	// Release lets another holder in at once.
	if err := s.ReleaseLease(ctx, renewed); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AcquireLease(ctx, "job", "agent-b", time.Minute); err != nil {
		t.Fatalf("AcquireLease after release = %v", err)
	}
}

func testAdvanceLogStart(t *testing.T, s metadata.Store) {
	ctx := context.Background()
	a := mustCreate(t, s, "ls", 2)
	// [0,4) [4,5) [5,10)
	commit(t, s, "f1", metadata.BatchCommit{TopicID: a.ID, Partition: 0, ByteOffset: 8, ByteLength: 40, Records: 4})
	commit(t, s, "f2", metadata.BatchCommit{TopicID: a.ID, Partition: 0, ByteOffset: 8, ByteLength: 10, Records: 1})
	commit(t, s, "f3", metadata.BatchCommit{TopicID: a.ID, Partition: 0, ByteOffset: 8, ByteLength: 50, Records: 5})
	st, err := s.AdvanceLogStart(ctx, a.ID, 0, 4)
	if err != nil || st.LogStartOffset != 4 || st.HighWatermark != 10 {
		t.Fatalf("AdvanceLogStart(4) = %+v, %v", st, err)
	}
	if got, _ := s.PartitionState(ctx, a.ID, 0); got != st {
		t.Fatalf("PartitionState = %+v, want %+v", got, st)
	}
	ext, err := s.Extents(ctx, a.ID, 0, 0, 10)
	if err != nil || len(ext) != 2 || ext[0].FileKey != "f2" {
		t.Fatalf("Extents after advancing to 4 = %+v, %v; want f2, f3", ext, err)
	}
	// Into the middle of an extent: it stays.
	if st, err = s.AdvanceLogStart(ctx, a.ID, 0, 7); err != nil || st.LogStartOffset != 7 {
		t.Fatalf("AdvanceLogStart(7) = %+v, %v", st, err)
	}
	if ext, _ = s.Extents(ctx, a.ID, 0, 7, 10); len(ext) != 1 || ext[0].FileKey != "f3" {
		t.Fatalf("Extents after advancing to 7 = %+v", ext)
	}
	// Backwards changes nothing.
	if st, err = s.AdvanceLogStart(ctx, a.ID, 0, 2); err != nil || st.LogStartOffset != 7 {
		t.Fatalf("AdvanceLogStart(2) = %+v, %v; want start 7", st, err)
	}
	if _, err := s.AdvanceLogStart(ctx, a.ID, 0, 11); !errors.Is(err, metadata.ErrOffsetOutOfRange) {
		t.Fatalf("AdvanceLogStart past the high watermark = %v", err)
	}
	if _, err := s.AdvanceLogStart(ctx, a.ID, 5, 0); !errors.Is(err, metadata.ErrUnknownPartition) {
		t.Fatalf("AdvanceLogStart(unknown partition) = %v", err)
	}
	// To the high watermark: empty log, and commits continue from there.
	if st, err = s.AdvanceLogStart(ctx, a.ID, 0, 10); err != nil || st.LogStartOffset != 10 {
		t.Fatalf("AdvanceLogStart(10) = %+v, %v", st, err)
	}
	if ext, _ = s.Extents(ctx, a.ID, 0, 0, 10); len(ext) != 0 {
		t.Fatalf("Extents of an emptied log = %+v", ext)
	}
	if res := commit(t, s, "f4", metadata.BatchCommit{TopicID: a.ID, Partition: 0, ByteOffset: 8, ByteLength: 5, Records: 1}); res[0].BaseOffset != 10 {
		t.Fatalf("commit after emptying got offset %d, want 10", res[0].BaseOffset)
	}
	// The released files are found, stamped once, and forgotten only
	// after the grace period and under the lease.
	n, err := s.MarkReleasedFiles(ctx)
	if err != nil || n != 3 {
		t.Fatalf("MarkReleasedFiles = %d, %v; want 3 (f1, f2, f3)", n, err)
	}
	if n, _ = s.MarkReleasedFiles(ctx); n != 0 {
		t.Fatalf("second MarkReleasedFiles = %d, want 0", n)
	}
	if files, err := s.ReleasedFiles(ctx, time.Hour, 10); err != nil || len(files) != 0 {
		t.Fatalf("ReleasedFiles(grace 1h) = %+v, %v", files, err)
	}
	time.Sleep(20 * time.Millisecond)
	files, err := s.ReleasedFiles(ctx, 0, 10)
	if err != nil || len(files) != 3 || files[0].ReleasedAt.IsZero() {
		t.Fatalf("ReleasedFiles(grace 0) = %+v, %v", files, err)
	}
	l, err := s.AcquireLease(ctx, "files", "me", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ForgetFiles(ctx, l, []string{"f1", "f2", "f4"}); err != nil {
		t.Fatal(err)
	}
	known, err := s.KnownFiles(ctx, []string{"f1", "f2", "f3", "f4", "nope"})
	if err != nil || fmt.Sprint(known) != "map[f3:true f4:true]" {
		t.Fatalf("KnownFiles = %v, %v; want f3 and f4 (f4 is referenced)", known, err)
	}
	list, err := s.ListFiles(ctx, "", 10)
	if err != nil || len(list) != 2 || list[0].Key != "f3" || list[1].Key != "f4" || !list[1].ReleasedAt.IsZero() || list[1].Size != 1000 {
		t.Fatalf("ListFiles = %+v, %v", list, err)
	}
	if list, _ = s.ListFiles(ctx, "f3", 10); len(list) != 1 || list[0].Key != "f4" {
		t.Fatalf("ListFiles(after f3) = %+v", list)
	}
}

func testReplaceExtents(t *testing.T, s metadata.Store) {
	ctx := context.Background()
	a := mustCreate(t, s, "cmp", 2)
	// Partition 0: [0,2) f1, [2,5) f2, [5,6) f3; partition 1: [0,1) f2.
	commit(t, s, "f1", metadata.BatchCommit{TopicID: a.ID, Partition: 0, ByteOffset: 8, ByteLength: 20, Records: 2, MaxTimestamp: 10})
	commit(t, s, "f2", metadata.BatchCommit{TopicID: a.ID, Partition: 0, ByteOffset: 8, ByteLength: 30, Records: 3, MaxTimestamp: 30},
		metadata.BatchCommit{TopicID: a.ID, Partition: 1, ByteOffset: 38, ByteLength: 10, Records: 1, MaxTimestamp: 5})
	commit(t, s, "f3", metadata.BatchCommit{TopicID: a.ID, Partition: 0, ByteOffset: 8, ByteLength: 10, Records: 1, MaxTimestamp: 20})
	l, err := s.AcquireLease(ctx, "compaction", "me", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	counts, err := s.ExtentCounts(ctx, 1<<20, 2, 10)
	if err != nil || len(counts) != 1 || counts[0].TopicID != a.ID || counts[0].Partition != 0 || counts[0].Extents != 3 {
		t.Fatalf("ExtentCounts(2) = %+v, %v", counts, err)
	}
	// Only extents below the size count: f2's 30 bytes do not.
	if counts, err = s.ExtentCounts(ctx, 30, 2, 10); err != nil || len(counts) != 1 || counts[0].Extents != 2 {
		t.Fatalf("ExtentCounts(smaller than 30) = %+v, %v", counts, err)
	}
	if counts, err = s.ExtentCounts(ctx, 30, 3, 10); err != nil || len(counts) != 0 {
		t.Fatalf("ExtentCounts(smaller than 30, min 3) = %+v, %v", counts, err)
	}
	committed := time.UnixMilli(time.Now().UnixMilli()).UTC()
	swap := metadata.Replacement{Key: "c1", Size: 100, Partitions: []metadata.PartitionSwap{{
		TopicID: a.ID, Partition: 0,
		Old: []metadata.ExtentRef{ref(0, 2, "f1"), ref(2, 5, "f2")},
		New: []metadata.NewExtent{{BaseOffset: 0, EndOffset: 5, ByteOffset: 8, ByteLength: 50, Batches: 2, MaxTimestamp: 30, CommittedAt: committed}},
	}}}
	// A stale view fails cleanly and changes nothing.
	stale := swap
	stale.Key = "c0"
	stale.Partitions = []metadata.PartitionSwap{swap.Partitions[0]}
	stale.Partitions[0].Old = []metadata.ExtentRef{ref(0, 2, "f1"), ref(2, 5, "f9")}
	if err := s.ReplaceExtents(ctx, l, stale); !errors.Is(err, metadata.ErrExtentsChanged) {
		t.Fatalf("ReplaceExtents with a wrong file = %v, want ErrExtentsChanged", err)
	}
	missing := stale
	missing.Partitions = []metadata.PartitionSwap{swap.Partitions[0]}
	missing.Partitions[0].Old = []metadata.ExtentRef{ref(0, 2, "f1"), ref(5, 6, "f3")}
	missing.Partitions[0].New = []metadata.NewExtent{{BaseOffset: 0, EndOffset: 6, ByteLength: 1}}
	if err := s.ReplaceExtents(ctx, l, missing); !errors.Is(err, metadata.ErrExtentsChanged) {
		t.Fatalf("ReplaceExtents skipping an extent in range = %v, want ErrExtentsChanged", err)
	}
	if known, _ := s.KnownFiles(ctx, []string{"c0"}); known["c0"] {
		t.Fatal("a failed swap left its file recorded")
	}
	other, err := s.AcquireLease(ctx, "compaction-other", "someone-else", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	other.Name = "compaction"
	if err := s.ReplaceExtents(ctx, other, swap); !errors.Is(err, metadata.ErrFenced) {
		t.Fatalf("ReplaceExtents with a foreign lease = %v, want ErrFenced", err)
	}
	if err := s.ReplaceExtents(ctx, l, swap); err != nil {
		t.Fatalf("ReplaceExtents = %v", err)
	}
	ext, err := s.Extents(ctx, a.ID, 0, 0, 10)
	if err != nil || len(ext) != 2 {
		t.Fatalf("Extents after swap = %+v, %v", ext, err)
	}
	if e := ext[0]; e.FileKey != "c1" || e.BaseOffset != 0 || e.EndOffset != 5 || e.ByteOffset != 8 || e.ByteLength != 50 || e.MaxTimestamp != 30 || !e.CommittedAt.Equal(committed) {
		t.Fatalf("swapped extent = %+v", e)
	}
	if ext[1].FileKey != "f3" {
		t.Fatalf("untouched extent = %+v", ext[1])
	}
	if got, _ := s.Extents(ctx, a.ID, 1, 0, 10); len(got) != 1 || got[0].FileKey != "f2" {
		t.Fatalf("partition 1 extents = %+v; f2 must stay referenced", got)
	}
	// The same swap again finds its old extents gone.
	swap.Key = "c2"
	if err := s.ReplaceExtents(ctx, l, swap); !errors.Is(err, metadata.ErrExtentsChanged) {
		t.Fatalf("repeated ReplaceExtents = %v, want ErrExtentsChanged", err)
	}
	// f1 is no longer referenced; f2 still is (partition 1).
	if n, err := s.MarkReleasedFiles(ctx); err != nil || n != 1 {
		t.Fatalf("MarkReleasedFiles = %d, %v; want 1 (f1)", n, err)
	}
	// Malformed replacements are refused.
	bad := metadata.Replacement{Key: "c3", Partitions: []metadata.PartitionSwap{{TopicID: a.ID, Partition: 0,
		Old: []metadata.ExtentRef{ref(5, 6, "f3")}, New: []metadata.NewExtent{{BaseOffset: 4, EndOffset: 6}}}}}
	if err := s.ReplaceExtents(ctx, l, bad); err == nil {
		t.Fatal("ReplaceExtents accepted new extents outside the old range")
	}
}

func ref(base, end int64, key string) metadata.ExtentRef {
	return metadata.ExtentRef{BaseOffset: base, EndOffset: end, FileKey: key}
}

// testLeaseRelease pins down the epochs around a release, which the
// backends decide with one rule (sequencer.AcquireLease): the releasing
// holder that takes the lease again keeps its epoch, another holder gets
// the next one, and writes under the released lease are fenced.
func testLeaseRelease(t *testing.T, s metadata.Store) {
	ctx := context.Background()
	a, err := s.AcquireLease(ctx, "job", "agent-a", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ReleaseLease(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := s.ForgetFiles(ctx, a, []string{"x"}); !errors.Is(err, metadata.ErrFenced) {
		t.Fatalf("ForgetFiles under a released lease = %v, want ErrFenced", err)
	}
	again, err := s.AcquireLease(ctx, "job", "agent-a", time.Minute)
	if err != nil || again.Epoch != a.Epoch {
		t.Fatalf("re-acquire by the releasing holder = %+v, %v; want epoch %d", again, err, a.Epoch)
	}
	if err := s.ReleaseLease(ctx, again); err != nil {
		t.Fatal(err)
	}
	b, err := s.AcquireLease(ctx, "job", "agent-b", time.Minute)
	if err != nil || b.Epoch != a.Epoch+1 {
		t.Fatalf("takeover after release = %+v, %v; want epoch %d", b, err, a.Epoch+1)
	}
	// Releasing a lease no longer held as given changes nothing.
	if err := s.ReleaseLease(ctx, again); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AcquireLease(ctx, "job", "agent-a", time.Minute); !errors.Is(err, metadata.ErrLeaseHeld) {
		t.Fatalf("acquire after a stale release = %v, want ErrLeaseHeld", err)
	}
	if err := s.ForgetFiles(ctx, b, []string{"x"}); err != nil {
		t.Fatalf("ForgetFiles under the current lease = %v", err)
	}
}
