package metadatatest

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/sluicehq/sluice/internal/metadata"
)

// testRecommitFile: committing a key that is already recorded fails with
// ErrFileCommitted and assigns no offsets, whether the commits run one
// after the other or race (journal recovery and the agent's own
// committer may try the same file at once).
func testRecommitFile(t *testing.T, s metadata.Store) {
	ctx := context.Background()
	a := mustCreate(t, s, "a", 1)
	batch := metadata.BatchCommit{TopicID: a.ID, Partition: 0, ByteOffset: 8, ByteLength: 100, Records: 5, MaxTimestamp: 10}
	commit(t, s, "journal-1", batch)
	if _, err := s.CommitFile(ctx, metadata.FileCommit{Key: "journal-1", Size: 1000, Batches: []metadata.BatchCommit{batch}}); !errors.Is(err, metadata.ErrFileCommitted) {
		t.Fatalf("second CommitFile(journal-1) = %v, want ErrFileCommitted", err)
	}
	const racers = 4
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		ok, dupes int
		others    []error
	)
	for range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.CommitFile(ctx, metadata.FileCommit{Key: "journal-2", Size: 1000, Batches: []metadata.BatchCommit{batch}})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, metadata.ErrFileCommitted):
				dupes++
			default:
				others = append(others, err)
			}
		}()
	}
	wg.Wait()
	// A racer may also fail with a retriable conflict (SQLite busy); it
	// must never commit a second time.
	if ok != 1 || dupes+len(others) != racers-1 {
		t.Fatalf("racing commits: %d ok, %d ErrFileCommitted, others %v", ok, dupes, others)
	}
	st, err := s.PartitionState(ctx, a.ID, 0)
	if err != nil || st.HighWatermark != 10 {
		t.Fatalf("PartitionState = %+v, %v; want high watermark 10 (two commits of 5)", st, err)
	}
}

// testJournalMarks: a journaled commit advances its generation's mark in
// its own transaction (a refused recommit advances nothing), marks only
// grow, and they are kept per agent and generation.
func testJournalMarks(t *testing.T, s metadata.Store) {
	ctx := context.Background()
	a := mustCreate(t, s, "a", 1)
	batch := metadata.BatchCommit{TopicID: a.ID, Partition: 0, ByteOffset: 8, ByteLength: 100, Records: 5, MaxTimestamp: 10}
	const gen1, gen2 = uint64(1<<62 + 12345), uint64(7)
	want := func(agent string, marks map[uint64]uint64) {
		t.Helper()
		got, err := s.JournalMarks(ctx, agent)
		if err != nil {
			t.Fatalf("JournalMarks(%s): %v", agent, err)
		}
		if len(got) != len(marks) {
			t.Fatalf("JournalMarks(%s) = %v, want %v", agent, got, marks)
		}
		for g, seq := range marks {
			if got[g] != seq {
				t.Fatalf("JournalMarks(%s) = %v, want %v", agent, got, marks)
			}
		}
	}
	journaled := func(key string, gen, seq uint64) error {
		_, err := s.CommitFile(ctx, metadata.FileCommit{Key: key, Size: 1000, Batches: []metadata.BatchCommit{batch},
			Journal: &metadata.JournalMark{Agent: "node-1", Generation: gen, Sequence: seq}})
		return err
	}
	want("node-1", nil)
	if err := journaled("j-5", gen1, 5); err != nil {
		t.Fatal(err)
	}
	want("node-1", map[uint64]uint64{gen1: 5})
	if err := journaled("j-3", gen1, 3); err != nil {
		t.Fatal(err)
	}
	want("node-1", map[uint64]uint64{gen1: 5})
	if err := journaled("j-5", gen1, 20); !errors.Is(err, metadata.ErrFileCommitted) {
		t.Fatalf("recommit = %v, want ErrFileCommitted", err)
	}
	want("node-1", map[uint64]uint64{gen1: 5})
	if err := s.MarkJournal(ctx, metadata.JournalMark{Agent: "node-1", Generation: gen1, Sequence: 9}); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkJournal(ctx, metadata.JournalMark{Agent: "node-1", Generation: gen1, Sequence: 4}); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkJournal(ctx, metadata.JournalMark{Agent: "node-1", Generation: gen2, Sequence: 1}); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkJournal(ctx, metadata.JournalMark{Agent: "node-2", Generation: gen1, Sequence: 2}); err != nil {
		t.Fatal(err)
	}
	want("node-1", map[uint64]uint64{gen1: 9, gen2: 1})
	want("node-2", map[uint64]uint64{gen1: 2})
	// A plain commit touches no mark.
	commit(t, s, "plain", batch)
	want("node-1", map[uint64]uint64{gen1: 9, gen2: 1})
}
