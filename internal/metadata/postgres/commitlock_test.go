package postgres

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/metadata/metadatatest"
	"github.com/sluicehq/sluice/internal/testutil"
)

// TestSharedConformance runs the cases of stores sharing a database on
// two stores (two agents) on one database.
func TestSharedConformance(t *testing.T) {
	pg := testutil.StartPostgres(t)
	metadatatest.RunShared(t, func(t *testing.T) (metadata.Store, metadata.Store) {
		stores := openN(t, pg.NewDatabase(t), 2)
		return stores[0], stores[1]
	})
}

// TestCommitLocks checks how commits that share a partition are ordered
// now that they read the partitions rows without locking them: another
// agent's commit to the partition waits for the commit in progress (its
// commit lock), whether it would move the next offset or only change the
// producer state in the row (a batch of no records under a new epoch
// fences the producer without moving the next offset, so the next-offset
// compare-and-set alone would let the commit in progress overwrite the
// fence); a writer that takes no commit lock and moves the partition
// fails the compare-and-set, and the commit is retried.
func TestCommitLocks(t *testing.T) {
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
	commit := func(s *Store, key string, bc metadata.BatchCommit) (metadata.BatchResult, error) {
		res, err := s.CommitFile(ctx, metadata.FileCommit{Key: key, Size: 100, Batches: []metadata.BatchCommit{bc}})
		if err != nil {
			return metadata.BatchResult{}, err
		}
		return res[0], nil
	}
	// during runs meanwhile once, between a's next read and its write.
	during := func(meanwhile func()) {
		a.beforeCommitWrite = func() {
			a.beforeCommitWrite = nil
			meanwhile()
		}
	}
	// waitingOnB starts bc's commit through b and returns once it waits on
	// a commit lock; the channel gets its outcome.
	waitingOnB := func(key string, bc metadata.BatchCommit) <-chan metadata.BatchResult {
		t.Helper()
		done := make(chan metadata.BatchResult, 1)
		go func() {
			r, err := commit(b, key, bc)
			if err != nil {
				r.Err = err
			}
			done <- r
		}()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			var waiting int
			if err := a.pool.QueryRow(ctx, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
				AND classid = $1::bigint::oid AND objsubid = 2 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
				int64(commitLockClass)).Scan(&waiting); err != nil {
				t.Fatal(err)
			}
			if waiting > 0 {
				return done
			}
			select {
			case r := <-done:
				t.Fatalf("%s committed while another commit to its partition was in progress: %+v", key, r)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s is not waiting on a commit lock", key)
			}
		}
	}

	if r, err := commit(a, "x0", batch(x, 0, 0, 1)); err != nil || r.Err != nil || r.BaseOffset != 0 {
		t.Fatalf("x0: %+v, %v", r, err)
	}

	// A commit that moves the partition waits, then follows.
	var y0 <-chan metadata.BatchResult
	during(func() { y0 = waitingOnB("y0", batch(y, 0, 0, 2)) })
	if r, err := commit(a, "x1", batch(x, 0, 1, 1)); err != nil || r.Err != nil || r.BaseOffset != 1 {
		t.Fatalf("x1: %+v, %v; want appended at 1", r, err)
	}
	if r := <-y0; r.Err != nil || r.BaseOffset != 2 {
		t.Fatalf("y0, which waited for x1: %+v; want appended at 2", r)
	}

	// A commit that only fences x waits, then fences it.
	var fence <-chan metadata.BatchResult
	during(func() { fence = waitingOnB("x-fence", batch(x, 1, 0, 0)) })
	if r, err := commit(a, "x2", batch(x, 0, 2, 1)); err != nil || r.Err != nil || r.BaseOffset != 4 {
		t.Fatalf("x2: %+v, %v; want appended at 4", r, err)
	}
	if r := <-fence; r.Err != nil {
		t.Fatalf("x-fence: %+v", r)
	}
	if r, err := commit(a, "x3", batch(x, 0, 3, 1)); err != nil || !errors.Is(r.Err, metadata.ErrInvalidProducerEpoch) {
		t.Fatalf("x3 after x was fenced: %+v, %v; want %v", r, err, metadata.ErrInvalidProducerEpoch)
	}

	// A writer without the commit lock moves the partition: 5 → 15.
	during(func() {
		if _, err := b.pool.Exec(ctx, `UPDATE partitions SET next_offset = next_offset + 10`); err != nil {
			t.Error(err)
		}
	})
	retries := a.commitRetries.Load()
	if r, err := commit(a, "y1", batch(y, 0, 2, 1)); err != nil || r.Err != nil || r.BaseOffset != 15 {
		t.Fatalf("y1 after the partition moved: %+v, %v; want appended at 15", r, err)
	}
	if n := a.commitRetries.Load() - retries; n != 1 {
		t.Fatalf("y1 was retried %d times; want 1", n)
	}
	if st, err := a.PartitionState(ctx, tp.ID, 0); err != nil || st.HighWatermark != 16 {
		t.Fatalf("partition state %+v, %v; want high watermark 16", st, err)
	}
}

// TestCommitLockBucketStable pins commitLockBucket: agents of one cluster
// must agree on every partition's commit lock, so a change to the hash
// needs a migration (as commitLockMigration), not just a new binary.
func TestCommitLockBucketStable(t *testing.T) {
	topic := metadata.TopicID{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10}
	got := []int32{}
	for _, p := range []int32{0, 1, 2, 99, 1 << 20} {
		got = append(got, commitLockBucket(partKey{Topic: topic, Partition: p}))
	}
	// FNV-1a (32 bits) of the 16 ID bytes and the partition's 4 bytes,
	// big-endian, modulo 256.
	if want := []int32{101, 210, 63, 12, 21}; !slices.Equal(got, want) {
		t.Fatalf("commitLockBucket = %v, want %v", got, want)
	}
	keys := []partKey{{Topic: topic, Partition: 2}, {Topic: topic, Partition: 0}, {Topic: topic, Partition: 2}, {Topic: topic, Partition: 1}}
	if l := commitLocks(keys); !slices.IsSorted(l) || len(l) > 3 {
		t.Fatalf("commitLocks(%v) = %v, want ascending and without repeats", keys, l)
	}
}
