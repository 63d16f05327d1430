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
