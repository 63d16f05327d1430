package jobs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/fetch"
	"github.com/sluicehq/sluice/internal/journal"
	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/objstore"
)

func values(n, from int) []string {
	var kv []string
	for i := 0; i < n; i++ {
		kv = append(kv, "", "v"+strconv.Itoa(from+i))
	}
	return kv
}

func TestRetentionByCommitTime(t *testing.T) {
	e := newEnv(t, Config{RetentionInterval: time.Second, FileGracePeriod: time.Minute})
	tp := e.topic("ret", 2, map[string]string{"retention.ms": "500"})
	keep := e.topic("forever", 1, map[string]string{"retention.ms": "-1"})
	compact := e.topic("compacted", 1, map[string]string{"retention.ms": "1", "cleanup.policy": "compact"})
	old1 := e.flush(part{tp.ID, 0, batch(values(3, 0)...)}, part{tp.ID, 1, batch(values(2, 0)...)}, part{keep.ID, 0, batch(values(1, 0)...)},
		part{compact.ID, 0, batch("k", "v")})
	old2 := e.flush(part{tp.ID, 0, batch(values(2, 3)...)})
	e.run(e.r.RunRetention)
	if st := e.state(tp.ID, 0); st.LogStartOffset != 0 {
		t.Fatalf("retention before expiry moved the log start to %d", st.LogStartOffset)
	}
	// What counts is the commit time (record timestamps are all recent).
	time.Sleep(600 * time.Millisecond)
	fresh := e.flush(part{tp.ID, 0, batch(values(1, 5)...)})
	e.run(e.r.RunRetention)
	if st := e.state(tp.ID, 0); st.LogStartOffset != 5 || st.HighWatermark != 6 {
		t.Fatalf("partition 0 after expiry = %+v, want start 5, hw 6", st)
	}
	if st := e.state(tp.ID, 1); st.LogStartOffset != 2 {
		t.Fatalf("partition 1 after expiry = %+v, want start 2 (empty)", st)
	}
	if st := e.state(keep.ID, 0); st.LogStartOffset != 0 {
		t.Fatalf("retention.ms=-1 topic start = %d", st.LogStartOffset)
	}
	if st := e.state(compact.ID, 0); st.LogStartOffset != 0 {
		t.Fatalf("compact-only topic start = %d; retention must not apply", st.LogStartOffset)
	}
	if got := e.read(tp.ID, 0); fmt.Sprint(got) != "[5:=v5]" {
		t.Fatalf("partition 0 reads %v", got)
	}
	// old2 is unreferenced now; old1 still holds "forever" and "compacted".
	if err := e.r.RunFileDeletion(e.ctx); err != nil {
		t.Fatal(err)
	}
	if objs := e.objects(); len(objs) != 3 {
		t.Fatalf("before the grace period the bucket holds %v, want all 3 files", objs)
	}
	// The grace period runs on the store's clock.
	e.r.cfg.FileGracePeriod = 50 * time.Millisecond
	time.Sleep(100 * time.Millisecond)
	e.run(e.r.RunFileDeletion)
	if objs := e.objects(); !slices.Equal(objs, sortedKeys(old1, fresh)) {
		t.Fatalf("after the grace period the bucket holds %v, want %v (%s deleted)", objs, sortedKeys(old1, fresh), old2)
	}
	if known, _ := e.store.KnownFiles(e.ctx, []string{old2}); known[old2] {
		t.Fatal("the deleted file's record is still there")
	}
}

func sortedKeys(keys ...string) []string {
	slices.Sort(keys)
	return keys
}

func TestRetentionBytes(t *testing.T) {
	e := newEnv(t, Config{RetentionInterval: time.Second})
	tp := e.topic("rb", 1, map[string]string{"retention.bytes": "0"})
	sized := e.topic("rb2", 1, nil)
	var sizes []int64
	for i := 0; i < 4; i++ {
		e.flush(part{tp.ID, 0, batch(values(2, 2*i)...)})
		b := batch(values(2, 2*i)...)
		e.flush(part{sized.ID, 0, b})
		sizes = append(sizes, int64(len(b)))
	}
	// Keep at least two extents' worth: the oldest two go.
	if _, err := e.store.AlterTopicConfigs(e.ctx, "rb2", func(map[string]string) (map[string]string, error) {
		return map[string]string{"retention.bytes": strconv.FormatInt(sizes[0]+sizes[1], 10)}, nil
	}); err != nil {
		t.Fatal(err)
	}
	e.run(e.r.RunRetention)
	if st := e.state(sized.ID, 0); st.LogStartOffset != 4 {
		t.Fatalf("retention.bytes of two extents: start = %d, want 4", st.LogStartOffset)
	}
	if got := e.read(sized.ID, 0); len(got) != 4 || got[0].Offset != 4 {
		t.Fatalf("reads %v", got)
	}
	// retention.bytes=0 deletes every whole extent.
	if st := e.state(tp.ID, 0); st.LogStartOffset != 8 {
		t.Fatalf("retention.bytes=0: start = %d, want 8", st.LogStartOffset)
	}
}

// TestOrphanSweep makes orphans the way a crash does, by uploading files
// whose commit never happens, and checks the sweep deletes them only after
// the grace period and never touches committed files.
func TestOrphanSweep(t *testing.T) {
	e := newEnv(t, Config{RetentionInterval: time.Second, FileGracePeriod: time.Minute})
	tp := e.topic("o", 1, nil)
	committed := e.flush(part{tp.ID, 0, batch(values(2, 0)...)})
	orphan := newKey(time.Now())
	if err := e.bucket.Put(e.ctx, orphan, []byte("uploaded, never committed")); err != nil {
		t.Fatal(err)
	}
	// Objects outside files/ are not Sluice's to delete.
	if err := e.bucket.Put(e.ctx, "other/thing", []byte("x")); err != nil {
		t.Fatal(err)
	}
	e.run(e.r.RunFileDeletion)
	if objs := e.objects(); len(objs) != 2 {
		t.Fatalf("sweep inside the safety window left %v, want both files", objs)
	}
	e.advance(2 * time.Minute)
	e.run(e.r.RunFileDeletion)
	if objs := e.objects(); !slices.Equal(objs, []string{committed}) {
		t.Fatalf("after the window the bucket holds %v, want only %s", objs, committed)
	}
	if _, err := e.bucket.GetRange(e.ctx, "other/thing", 0, -1); err != nil {
		t.Fatalf("object outside files/ was touched: %v", err)
	}
	if got := e.read(tp.ID, 0); len(got) != 2 {
		t.Fatalf("committed data reads %v", got)
	}
}

// A file named by a journal entry is acknowledged and waits to be
// sequenced (lightning topics, ripcord): the sweep keeps it however old.
func TestOrphanSweepKeepsJournaledFiles(t *testing.T) {
	e := newEnv(t, Config{RetentionInterval: time.Second, FileGracePeriod: time.Minute})
	waiting := newKey(time.Now())
	entry := journal.Key("node-1", 1, 1, waiting)
	for _, k := range []string{waiting, entry} {
		if err := e.bucket.Put(e.ctx, k, nil); err != nil {
			t.Fatal(err)
		}
	}
	e.advance(2 * time.Minute)
	e.run(e.r.RunFileDeletion)
	for _, k := range []string{waiting, entry} {
		if _, err := e.bucket.GetRange(e.ctx, k, 0, -1); err != nil {
			t.Fatalf("sweep removed %s: %v", k, err)
		}
	}
	// Once its entry is gone (it was committed, or recovery found it
	// missing), an unrecorded file is an orphan again.
	if err := e.bucket.Delete(e.ctx, entry); err != nil {
		t.Fatal(err)
	}
	e.run(e.r.RunFileDeletion)
	if _, err := e.bucket.GetRange(e.ctx, waiting, 0, -1); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("unjournaled, unrecorded old file: %v, want it swept", err)
	}
}

func TestLeaseExcludesSecondAgent(t *testing.T) {
	e := newEnv(t, Config{RetentionInterval: time.Second})
	other := New(Config{Holder: "other", RetentionInterval: time.Second}, e.store, e.bucket, nil, nil)
	tp := e.topic("l", 1, map[string]string{"retention.ms": "0"})
	e.flush(part{tp.ID, 0, batch(values(1, 0)...)})
	e.advance(time.Second)
	e.run(e.r.RunRetention) // takes the retention lease
	if st := e.state(tp.ID, 0); st.LogStartOffset != 1 {
		t.Fatalf("start = %d", st.LogStartOffset)
	}
	e.flush(part{tp.ID, 0, batch(values(1, 1)...)})
	time.Sleep(5 * time.Millisecond)
	if err := other.RunRetention(e.ctx); err != nil {
		t.Fatal(err)
	}
	if st := e.state(tp.ID, 0); st.LogStartOffset != 1 {
		t.Fatalf("a second agent ran retention while the first held the lease: start = %d", st.LogStartOffset)
	}
	// A write fenced by a lease another agent took over fails.
	stale := metadata.Lease{Name: LeaseCompaction, Holder: "gone", Epoch: 1}
	if err := e.store.ForgetFiles(e.ctx, stale, nil); !errors.Is(err, metadata.ErrFenced) {
		t.Fatalf("fenced write = %v", err)
	}
}

func TestMergeCompaction(t *testing.T) {
	e := newEnv(t, Config{CompactionInterval: time.Second, FileGracePeriod: time.Minute, MaxExtentBytes: 4 << 10})
	a := e.topic("a", 2, nil)
	var want0, want1 []string
	for i := 0; i < 40; i++ {
		e.flush(part{a.ID, 0, batch(values(3, 3*i)...)}, part{a.ID, 1, batch(values(1, i)...)})
		for j := 0; j < 3; j++ {
			want0 = append(want0, fmt.Sprintf("%d:=v%d", 3*i+j, 3*i+j))
		}
		want1 = append(want1, fmt.Sprintf("%d:=v%d", i, i))
	}
	before := len(e.extents(a.ID, 0))
	for i := 0; i < 6; i++ {
		e.run(e.r.RunCompaction)
	}
	after0, after1 := e.extents(a.ID, 0), e.extents(a.ID, 1)
	if before != 40 || len(after0) >= 10 || len(after1) >= 10 {
		t.Fatalf("extents: partition 0 %d -> %d, partition 1 -> %d; want fewer than 10", before, len(after0), len(after1))
	}
	for _, x := range after0 {
		if x.ByteLength > 4<<10 {
			t.Fatalf("merged extent of %d bytes exceeds MaxExtentBytes", x.ByteLength)
		}
	}
	if got := e.read(a.ID, 0); fmt.Sprint(got) != fmt.Sprint(want0) {
		t.Fatalf("partition 0 after compaction reads\n%v\nwant\n%v", got, want0)
	}
	if got := e.read(a.ID, 1); fmt.Sprint(got) != fmt.Sprint(want1) {
		t.Fatalf("partition 1 after compaction reads %v", got)
	}
	// Replaced files stay for the grace period, then go; the bucket then
	// holds exactly the referenced files.
	objs := len(e.objects())
	e.run(e.r.RunFileDeletion)
	if n := len(e.objects()); n != objs {
		t.Fatalf("files deleted inside the grace period: %d -> %d", objs, n)
	}
	e.r.cfg.FileGracePeriod = time.Millisecond
	time.Sleep(10 * time.Millisecond)
	e.run(e.r.RunFileDeletion)
	files, err := e.store.ListFiles(e.ctx, "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	var referenced []string
	for _, f := range files {
		referenced = append(referenced, f.Key)
	}
	if objs := e.objects(); !slices.Equal(objs, referenced) || len(objs) >= 40 {
		t.Fatalf("bucket %d objects, metadata %d files; want equal and fewer than 40", len(objs), len(referenced))
	}
	st := e.r.Stats()
	if st.ExtentsReplaced == 0 || st.CompactionWrittenBytes == 0 {
		t.Fatalf("stats = %+v", st)
	}
	// Later data still appends and reads after compaction.
	e.flush(part{a.ID, 0, batch("", "tail")})
	if got := e.read(a.ID, 0); got[len(got)-1].String() != "120:=tail" {
		t.Fatalf("tail = %v", got[len(got)-1])
	}
}

// TestCompactionSwapConflict changes the extents between planning and the
// swap (retention advances the log start): the swap must fail cleanly,
// leaving the index as retention left it and no unreferenced file behind.
func TestCompactionSwapConflict(t *testing.T) {
	e := newEnv(t, Config{CompactionInterval: time.Second, FileGracePeriod: time.Minute})
	a := e.topic("c", 1, nil)
	for i := 0; i < 8; i++ {
		e.flush(part{a.ID, 0, batch(values(1, i)...)})
	}
	exts := e.extents(a.ID, 0)
	f := &compactionFile{}
	h := &holding{r: e.r, ttl: time.Minute}
	var err error
	if h.lease, err = e.store.AcquireLease(e.ctx, LeaseCompaction, e.r.cfg.Holder, time.Minute); err != nil {
		t.Fatal(err)
	}
	h.taken = time.Now()
	if err := e.r.addGroup(e.ctx, f, mergeGroup{topic: a.ID, partition: 0, extents: exts}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.AdvanceLogStart(e.ctx, a.ID, 0, 2); err != nil {
		t.Fatal(err)
	}
	objs := len(e.objects())
	if err := e.r.writeCompacted(e.ctx, h, f); err != nil {
		t.Fatalf("a lost swap is not an error of the run: %v", err)
	}
	if got := len(e.extents(a.ID, 0)); got != 6 {
		t.Fatalf("extents after the failed swap = %d, want 6", got)
	}
	if n := len(e.objects()); n != objs {
		t.Fatalf("the failed swap left its file: %d objects, want %d", n, objs)
	}
	if got := e.read(a.ID, 0); len(got) != 6 || got[0].Offset != 2 {
		t.Fatalf("reads %v", got)
	}
}

// TestCompactionFigures reports index entries per partition after many
// flushes with and without compaction, and compaction's write
// amplification. SLUICE_FLUSHES sets the number of flushes (default 1000).
func TestCompactionFigures(t *testing.T) {
	flushes := 1000
	if v, err := strconv.Atoi(os.Getenv("SLUICE_FLUSHES")); err == nil && v > 0 {
		flushes = v
	}
	e := newEnv(t, Config{CompactionInterval: time.Second, FileGracePeriod: time.Minute})
	a := e.topic("fig", 4, nil)
	value := string(make([]byte, 1000))
	kv := []string{}
	for i := 0; i < 4; i++ {
		kv = append(kv, "", value)
	}
	const compactEvery = 100
	for i := 1; i <= flushes; i++ {
		var parts []part
		for p := int32(0); p < 4; p++ {
			parts = append(parts, part{a.ID, p, batch(kv...)})
		}
		e.flush(parts...)
		if i%compactEvery == 0 {
			e.run(e.r.RunCompaction)
			if i%(flushes/5) == 0 {
				t.Logf("after %5d flushes: %d index entries in partition 0 (%d without compaction)", i, len(e.extents(a.ID, 0)), i)
			}
		}
	}
	entries := len(e.extents(a.ID, 0))
	st := e.r.Stats()
	amp := float64(st.CompactionWrittenBytes) / float64(e.produced)
	t.Logf("flushes %d, produced %d bytes; index entries per partition: %d with compaction (every %d flushes), %d without; compaction wrote %d bytes, read %d: write amplification %.2f",
		flushes, e.produced, entries, compactEvery, flushes, st.CompactionWrittenBytes, st.CompactionReadBytes, amp)
	if entries >= flushes/10 {
		t.Fatalf("%d index entries after %d flushes with compaction", entries, flushes)
	}
	if got := e.read(a.ID, 3); len(got) != 4*flushes {
		t.Fatalf("partition 3 reads %d records, want %d", len(got), 4*flushes)
	}
}

// staleLog answers the first extent lookup with extents read earlier, as a
// fetch that looked its extents up just before a compaction swap sees them.
type staleLog struct {
	metadata.Log
	stale []metadata.Extent
	used  bool
}

func (s *staleLog) Extents(ctx context.Context, topic metadata.TopicID, partition int32, from int64, limit int) ([]metadata.Extent, error) {
	if !s.used {
		s.used = true
		return s.stale, nil
	}
	return s.Log.Extents(ctx, topic, partition, from, limit)
}

// TestFetchAfterReplacedFileDeleted reads with extents from before a
// compaction whose replaced files are already gone (a read slower than the
// grace period): the reader must look the extents up again, not fail.
func TestFetchAfterReplacedFileDeleted(t *testing.T) {
	e := newEnv(t, Config{CompactionInterval: time.Second, FileGracePeriod: time.Minute})
	a := e.topic("stale", 1, nil)
	for i := 0; i < 8; i++ {
		e.flush(part{a.ID, 0, batch(values(1, i)...)})
	}
	stale := e.extents(a.ID, 0)
	e.run(e.r.RunCompaction)
	e.r.cfg.FileGracePeriod = time.Millisecond
	// The first pass marks the replaced files released, the second, past
	// the grace period, deletes them.
	e.run(e.r.RunFileDeletion)
	time.Sleep(5 * time.Millisecond)
	e.run(e.r.RunFileDeletion)
	if _, err := e.bucket.GetRange(e.ctx, stale[0].FileKey, 0, -1); err == nil {
		t.Fatal("the replaced file is still there; the test needs it gone")
	}
	rd := fetch.NewReader(&staleLog{Log: e.store, stale: stale}, e.bucket, nil)
	res, err := rd.Read(e.ctx, a.ID, 0, 0, 1<<20, true)
	if err != nil {
		t.Fatalf("read with stale extents: %v", err)
	}
	if res.Offsets != 8 {
		t.Fatalf("read %d offsets, want 8", res.Offsets)
	}
}

// staleState answers the first PartitionState with a state read before
// retention moved the log start, as a fetch racing retention sees it.
type staleState struct {
	metadata.Log
	stale metadata.PartitionState
	used  bool
}

func (s *staleState) PartitionState(ctx context.Context, topic metadata.TopicID, partition int32) (metadata.PartitionState, error) {
	if !s.used {
		s.used = true
		return s.stale, nil
	}
	return s.Log.PartitionState(ctx, topic, partition)
}

// TestFetchRacingRetention: a fetch that read the log bounds just before
// retention removed the extents it wanted answers OFFSET_OUT_OF_RANGE (the
// consumer resets), not a storage error.
func TestFetchRacingRetention(t *testing.T) {
	e := newEnv(t, Config{RetentionInterval: time.Second})
	a := e.topic("race", 1, nil)
	for i := 0; i < 3; i++ {
		e.flush(part{a.ID, 0, batch(values(2, 2*i)...)})
	}
	before := e.state(a.ID, 0)
	if _, err := e.store.AdvanceLogStart(e.ctx, a.ID, 0, 4); err != nil {
		t.Fatal(err)
	}
	rd := fetch.NewReader(&staleState{Log: e.store, stale: before}, e.bucket, nil)
	res, err := rd.Read(e.ctx, a.ID, 0, 1, 1<<20, true)
	if !errors.Is(err, fetch.ErrOffsetOutOfRange) || res.State.LogStartOffset != 4 {
		t.Fatalf("read below the moved log start = %v (state %+v), want ErrOffsetOutOfRange with start 4", err, res.State)
	}
}

// TestStopReleasesLeases: a stopped agent's jobs are taken over at once.
func TestStopReleasesLeases(t *testing.T) {
	e := newEnv(t, Config{RetentionInterval: time.Hour})
	e.run(e.r.RunRetention)
	if _, err := e.store.AcquireLease(e.ctx, LeaseRetention, "next", time.Minute); !errors.Is(err, metadata.ErrLeaseHeld) {
		t.Fatalf("lease while the first runner holds it: %v", err)
	}
	e.r.Stop()
	if _, err := e.store.AcquireLease(e.ctx, LeaseRetention, "next", time.Minute); err != nil {
		t.Fatalf("lease after Stop: %v", err)
	}
}
