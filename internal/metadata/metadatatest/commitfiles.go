package metadatatest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/sluicehq/sluice/internal/metadata"
)

// testCommitFiles: CommitFiles sequences its files in order in one call
// as CommitFile would one after the other (offsets, extents, journal
// marks); a key recorded before the call, or earlier in it, gets
// ErrFileCommitted and changes nothing while the others commit; a file
// whose every batch is refused commits nothing and moves no mark.
func testCommitFiles(t *testing.T, s metadata.Store) {
	ctx := context.Background()
	a := mustCreate(t, s, "a", 1)
	b := mustCreate(t, s, "b", 2)
	gone := mustCreate(t, s, "gone", 1)
	if _, err := s.DeleteTopic(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	at := func(tp metadata.Topic, p int32, off, records int64) metadata.BatchCommit {
		return metadata.BatchCommit{TopicID: tp.ID, Partition: p, ByteOffset: off, ByteLength: 100, Records: records, MaxTimestamp: 10}
	}
	mark := func(seq uint64) *metadata.JournalMark {
		return &metadata.JournalMark{Agent: "node-1", Generation: 42, Sequence: seq}
	}
	commit(t, s, "pre", at(a, 0, 8, 5))
	files := []metadata.FileCommit{
		{Key: "g1", Size: 1000, Batches: []metadata.BatchCommit{at(a, 0, 8, 2), at(b, 0, 108, 3), at(a, 0, 208, 1)}, Journal: mark(1)},
		{Key: "pre", Size: 1000, Batches: []metadata.BatchCommit{at(a, 0, 8, 7)}, Journal: mark(2)},
		{Key: "g3", Size: 1000, Batches: []metadata.BatchCommit{at(b, 1, 8, 4), at(a, 0, 108, 2)}, Journal: mark(3)},
		{Key: "g1", Size: 1000, Batches: []metadata.BatchCommit{at(a, 0, 8, 9)}, Journal: mark(4)},
		{Key: "g5", Size: 1000, Batches: []metadata.BatchCommit{at(gone, 0, 8, 1)}, Journal: mark(5)},
	}
	res, err := s.CommitFiles(ctx, files)
	if err != nil {
		t.Fatalf("CommitFiles: %v", err)
	}
	if len(res) != len(files) {
		t.Fatalf("CommitFiles returned %d results for %d files", len(res), len(files))
	}
	for _, i := range []int{1, 3} {
		if !errors.Is(res[i].Err, metadata.ErrFileCommitted) {
			t.Fatalf("file %d (%s, recorded) = %+v, want ErrFileCommitted", i, files[i].Key, res[i])
		}
	}
	wantBases := map[int][]int64{0: {5, 0, 7}, 2: {0, 8}}
	for i, bases := range wantBases {
		if res[i].Err != nil || len(res[i].Batches) != len(bases) {
			t.Fatalf("file %d = %+v, want %d batch results", i, res[i], len(bases))
		}
		for j, base := range bases {
			if r := res[i].Batches[j]; r.Err != nil || r.BaseOffset != base {
				t.Fatalf("file %d batch %d = %+v, want base offset %d", i, j, r, base)
			}
		}
	}
	if r := res[4]; r.Err != nil || len(r.Batches) != 1 || !errors.Is(r.Batches[0].Err, metadata.ErrUnknownTopic) {
		t.Fatalf("file to a deleted topic = %+v, want its batch refused with ErrUnknownTopic", r)
	}
	for _, w := range []struct {
		tp metadata.Topic
		p  int32
		hw int64
	}{{a, 0, 10}, {b, 0, 3}, {b, 1, 4}} {
		st, err := s.PartitionState(ctx, w.tp.ID, w.p)
		if err != nil || st.HighWatermark != w.hw {
			t.Fatalf("%s/%d: %+v, %v; want high watermark %d", w.tp.Name, w.p, st, err, w.hw)
		}
	}
	ext, err := s.Extents(ctx, a.ID, 0, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ext {
		got = append(got, fmt.Sprintf("%s:%d-%d", e.FileKey, e.BaseOffset, e.EndOffset))
	}
	if want := "[pre:0-5 g1:5-7 g1:7-8 g3:8-10]"; fmt.Sprint(got) != want {
		t.Fatalf("extents of a/0 = %v, want %s", got, want)
	}
	marks, err := s.JournalMarks(ctx, "node-1")
	if err != nil || len(marks) != 1 || marks[42] != 3 {
		t.Fatalf("JournalMarks = %v, %v; want generation 42 at 3 (the refused file moves nothing)", marks, err)
	}

	// Every key recorded: nothing to do, and no error.
	res, err = s.CommitFiles(ctx, files[:3])
	if err != nil || len(res) != 3 {
		t.Fatalf("CommitFiles of recorded files: %v, %v", res, err)
	}
	for i, r := range res {
		if !errors.Is(r.Err, metadata.ErrFileCommitted) {
			t.Fatalf("recommitted file %d = %+v, want ErrFileCommitted", i, r)
		}
	}
	if st, _ := s.PartitionState(ctx, a.ID, 0); st.HighWatermark != 10 {
		t.Fatalf("a/0 high watermark %d after recommitting, want 10", st.HighWatermark)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.CommitFiles(cctx, []metadata.FileCommit{{Key: "late", Size: 1000, Batches: []metadata.BatchCommit{at(a, 0, 8, 1)}}}); err == nil {
		t.Fatal("CommitFiles with a cancelled context succeeded")
	}
	if known, err := s.KnownFiles(ctx, []string{"late"}); err != nil || known["late"] {
		t.Fatalf("a failed CommitFiles recorded its file (%v, %v)", known, err)
	}
}

// testCommitFilesRacingRecovery: a group commit and single commits of
// the same keys (an agent sequencing its journal's backlog while
// recovery, or a retry, commits some of its files) commit each file
// exactly once, whichever gets there first.
func testCommitFilesRacingRecovery(t *testing.T, s metadata.Store) {
	ctx := context.Background()
	a := mustCreate(t, s, "a", 1)
	const rounds, perGroup = 5, 6
	batch := metadata.BatchCommit{TopicID: a.ID, Partition: 0, ByteOffset: 8, ByteLength: 100, Records: 3, MaxTimestamp: 10}
	for round := range rounds {
		files := make([]metadata.FileCommit, perGroup)
		for i := range files {
			files[i] = metadata.FileCommit{Key: fmt.Sprintf("r%d-%d", round, i), Size: 1000, Batches: []metadata.BatchCommit{batch}}
		}
		var wg sync.WaitGroup
		errs := make(chan error, perGroup+1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Retriable conflicts (SQLite busy, a key recorded by a racer
			// after the group's check) are retried, as the batcher does.
			for attempt := 0; ; attempt++ {
				_, err := s.CommitFiles(ctx, files)
				if err == nil {
					return
				}
				if attempt == 20 {
					errs <- fmt.Errorf("CommitFiles: %w", err)
					return
				}
			}
		}()
		for _, i := range []int{1, 4} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for attempt := 0; ; attempt++ {
					_, err := s.CommitFile(ctx, files[i])
					if err == nil || errors.Is(err, metadata.ErrFileCommitted) {
						return
					}
					if attempt == 20 {
						errs <- fmt.Errorf("CommitFile: %w", err)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
	st, err := s.PartitionState(ctx, a.ID, 0)
	if want := int64(rounds * perGroup * 3); err != nil || st.HighWatermark != want {
		t.Fatalf("PartitionState = %+v, %v; want high watermark %d (each file once)", st, err, want)
	}
}

// testCommitFilesIdempotent: a group's idempotent batches are checked
// against the producer state the group's earlier files left: the next
// sequence is accepted, a retry of an earlier file's batch is a
// duplicate with its original offset, a gap is refused.
func testCommitFilesIdempotent(t *testing.T, s metadata.Store) {
	ctx := context.Background()
	a := mustCreate(t, s, "a", 1)
	pid, err := s.AllocateProducerID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	idem := func(seq int32, records int64) metadata.BatchCommit {
		return metadata.BatchCommit{TopicID: a.ID, Partition: 0, ByteOffset: 8, ByteLength: 100, Records: records, MaxTimestamp: 10,
			Producer: &metadata.ProducerBatch{ID: pid, Epoch: 0, FirstSequence: seq}}
	}
	plain := metadata.BatchCommit{TopicID: a.ID, Partition: 0, ByteOffset: 108, ByteLength: 100, Records: 1, MaxTimestamp: 10}
	res, err := s.CommitFiles(ctx, []metadata.FileCommit{
		{Key: "i1", Size: 1000, Batches: []metadata.BatchCommit{idem(0, 2), plain}},
		{Key: "i2", Size: 1000, Batches: []metadata.BatchCommit{idem(2, 3)}},
		{Key: "i3", Size: 1000, Batches: []metadata.BatchCommit{idem(0, 2), idem(9, 1)}},
	})
	if err != nil || len(res) != 3 {
		t.Fatalf("CommitFiles = %+v, %v", res, err)
	}
	if r := res[0]; r.Err != nil || r.Batches[0].BaseOffset != 0 || r.Batches[1].BaseOffset != 2 {
		t.Fatalf("file i1 = %+v, want offsets 0 and 2", r)
	}
	if r := res[1]; r.Err != nil || r.Batches[0].Err != nil || r.Batches[0].BaseOffset != 3 {
		t.Fatalf("file i2 = %+v, want its batch, the producer's next sequence, at offset 3", r)
	}
	if r := res[2]; r.Err != nil || !r.Batches[0].Duplicate || r.Batches[0].BaseOffset != 0 || !errors.Is(r.Batches[1].Err, metadata.ErrOutOfOrderSequence) {
		t.Fatalf("file i3 = %+v, want a duplicate at offset 0 and an out-of-order refusal", r)
	}
	if st, err := s.PartitionState(ctx, a.ID, 0); err != nil || st.HighWatermark != 6 {
		t.Fatalf("PartitionState = %+v, %v; want high watermark 6", st, err)
	}
	if known, err := s.KnownFiles(ctx, []string{"i1", "i2", "i3"}); err != nil || !known["i1"] || !known["i2"] || known["i3"] {
		t.Fatalf("KnownFiles = %v, %v; want i1 and i2 recorded, not i3 (it appended nothing)", known, err)
	}
}
