package postgres

import (
	"context"
	"errors"
	"testing"

	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/metadata/metadatatest"
	"github.com/sluicehq/sluice/internal/testutil"
)

// TestSharedConformance runs the cases of stores sharing a database on
// two stores (two agents) on one database. Their concurrent commits to
// the same partitions make optimistic commits conflict and retry with the
// row locks; how many did is logged (it depends on timing).
func TestSharedConformance(t *testing.T) {
	pg := testutil.StartPostgres(t)
	var opened [][]*Store
	metadatatest.RunShared(t, func(t *testing.T) (metadata.Store, metadata.Store) {
		stores := openN(t, pg.NewDatabase(t), 2)
		opened = append(opened, stores)
		t.Cleanup(func() {
			t.Logf("optimistic commits retried with locks: %d, %d",
				stores[0].optimisticConflicts.Load(), stores[1].optimisticConflicts.Load())
		})
		return stores[0], stores[1]
	})
}

// TestOptimisticCommitRetries makes another agent's commit land between
// an optimistic CommitFile's read and its write, on the partition it
// writes, and checks that the write fails and the commit is retried with
// the row locks, which see the other commit: when the other commit moved
// the next offset (the compare-and-set catches it) and when it changed
// only the producer state in the row (a batch of no records under a new
// epoch, which fences the producer without moving the next offset: the
// compare-and-set alone would miss it, REPEATABLE READ's check of the
// updated row does not).
func TestOptimisticCommitRetries(t *testing.T) {
	pg := testutil.StartPostgres(t)
	stores := openN(t, pg.NewDatabase(t), 2)
	a, b := stores[0], stores[1]
	ctx := context.Background()
	tp, err := a.CreateTopic(ctx, "o", 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	const x, y = 7, 8 // producer IDs
	batch := func(id int64, epoch int16, seq int32, records int64) metadata.BatchCommit {
		return metadata.BatchCommit{TopicID: tp.ID, Records: records, ByteOffset: 8, ByteLength: 10,
			Producer: &metadata.ProducerBatch{ID: id, Epoch: epoch, FirstSequence: seq}}
	}
	commit := func(s *Store, key string, bc metadata.BatchCommit) metadata.BatchResult {
		t.Helper()
		res, err := s.CommitFile(ctx, metadata.FileCommit{Key: key, Size: 100, Batches: []metadata.BatchCommit{bc}})
		if err != nil {
			t.Fatalf("CommitFile(%s): %v", key, err)
		}
		return res[0]
	}
	// between runs meanwhile (once) between a's next optimistic read and
	// its write, and returns the paths a's attempts took.
	between := func(meanwhile func()) *[]bool {
		var paths []bool
		a.beforeCommitWrite = func(optimistic bool) {
			paths = append(paths, optimistic)
			if len(paths) == 1 && meanwhile != nil {
				meanwhile()
			}
		}
		return &paths
	}
	defer func() { a.beforeCommitWrite = nil }()

	paths := between(nil)
	if r := commit(a, "x0", batch(x, 0, 0, 1)); r.Err != nil || r.BaseOffset != 0 {
		t.Fatalf("x0: %+v", r)
	}
	if len(*paths) != 1 || !(*paths)[0] || a.optimisticConflicts.Load() != 0 {
		t.Fatalf("an uncontended commit took paths %v (optimistic?), %d conflicts; want one optimistic attempt", *paths, a.optimisticConflicts.Load())
	}

	// Another commit moves the next offset: 1 → 3.
	paths = between(func() {
		if r := commit(b, "y0", batch(y, 0, 0, 2)); r.Err != nil || r.BaseOffset != 1 {
			t.Errorf("y0: %+v", r)
		}
	})
	if r := commit(a, "x1", batch(x, 0, 1, 1)); r.Err != nil || r.Duplicate || r.BaseOffset != 3 {
		t.Fatalf("x1 after y0 moved the partition: %+v; want appended at 3", r)
	}
	if got := *paths; len(got) != 2 || !got[0] || got[1] || a.optimisticConflicts.Load() != 1 {
		t.Fatalf("x1: attempts %v (optimistic?), %d conflicts; want optimistic, then locked", got, a.optimisticConflicts.Load())
	}

	// Another commit fences x without moving the next offset.
	paths = between(func() {
		if r := commit(b, "x-fence", batch(x, 1, 0, 0)); r.Err != nil {
			t.Errorf("x-fence: %+v", r)
		}
	})
	if r := commit(a, "x2", batch(x, 0, 2, 1)); !errors.Is(r.Err, metadata.ErrInvalidProducerEpoch) {
		t.Fatalf("x2 after x was fenced: %+v; want %v", r, metadata.ErrInvalidProducerEpoch)
	}
	if got := *paths; len(got) != 1 || a.optimisticConflicts.Load() != 2 {
		// The locked retry rejects the batch: nothing to write.
		t.Fatalf("x2: attempts %v, %d conflicts; want one optimistic write, then a locked retry that writes nothing", got, a.optimisticConflicts.Load())
	}
	st, err := a.PartitionState(ctx, tp.ID, 0)
	if err != nil || st.HighWatermark != 4 {
		t.Fatalf("partition state %+v, %v; want high watermark 4", st, err)
	}
	prods, err := a.PartitionProducers(ctx, tp.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, p := range prods {
		if p.ProducerID == x {
			found = true
			if p.ProducerEpoch != 1 {
				t.Fatalf("producer %d has epoch %d after its fence; want 1", x, p.ProducerEpoch)
			}
		}
	}
	if !found {
		t.Fatalf("producer %d has no state: %+v", x, prods)
	}
}
