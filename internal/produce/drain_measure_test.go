package produce_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/metadata/postgres"
	"github.com/sluicehq/sluice/internal/metadata/sqlite"
	"github.com/sluicehq/sluice/internal/objstore"
	"github.com/sluicehq/sluice/internal/produce"
	"github.com/sluicehq/sluice/internal/testutil"
)

// stalledStore fails every commit while down is set, as a metadata store
// that does not answer would, and counts the store transactions that
// committed files afterwards.
type stalledStore struct {
	metadata.Store
	down  atomic.Bool
	txns  atomic.Int64
	files atomic.Int64
	// first is when the first commit after the outage succeeded.
	mu    sync.Mutex // guards first
	first time.Time
}

var _ metadata.Log = (*stalledStore)(nil)

func (s *stalledStore) committed(files int) {
	s.txns.Add(1)
	s.files.Add(int64(files))
	s.mu.Lock()
	if s.first.IsZero() {
		s.first = time.Now()
	}
	s.mu.Unlock()
}

func (s *stalledStore) CommitFile(ctx context.Context, c metadata.FileCommit) ([]metadata.BatchResult, error) {
	if s.down.Load() {
		return nil, errStoreDown
	}
	res, err := s.Store.CommitFile(ctx, c)
	if err == nil {
		s.committed(1)
	}
	return res, err
}

func (s *stalledStore) CommitFiles(ctx context.Context, files []metadata.FileCommit) ([]metadata.FileResult, error) {
	if s.down.Load() {
		return nil, errStoreDown
	}
	res, err := s.Store.CommitFiles(ctx, files)
	if err == nil {
		s.committed(len(files))
	}
	return res, err
}

// TestMeasureJournalDrain measures how long the backlog ripcord leaves
// takes to sequence once the metadata store answers again: N flushes
// (SLUICE_DRAIN_FLUSHES, default 2000; one batch each, over 8
// partitions) are journaled while every commit fails, then the store
// comes back. Rounds alternate the grouped commits (JournalCommitMaxFiles
// default) with one flush per store transaction (JournalCommitMaxFiles 1:
// the code path before groups), on SQLite (a file, synchronous=FULL) and
// on PostgreSQL (the test server, fsync=off). Run it with
//
//	SLUICE_MEASURE_DRAIN=1 go test -run TestMeasureJournalDrain -v ./internal/produce/
//
// docs/performance.md ("Ripcord: draining the backlog") has the figures.
func TestMeasureJournalDrain(t *testing.T) {
	if os.Getenv("SLUICE_MEASURE_DRAIN") == "" {
		t.Skip("a measurement: set SLUICE_MEASURE_DRAIN=1")
	}
	n := 2000
	if v, err := strconv.Atoi(os.Getenv("SLUICE_DRAIN_FLUSHES")); err == nil && v > 0 {
		n = v
	}
	rounds := 3
	if v, err := strconv.Atoi(os.Getenv("SLUICE_DRAIN_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	var pg *testutil.Postgres
	stores := map[string]func(t *testing.T) metadata.Store{
		"sqlite": func(t *testing.T) metadata.Store {
			s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "metadata.db"))
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		"postgres": func(t *testing.T) metadata.Store {
			if pg == nil {
				pg = testutil.StartPostgres(t)
			}
			s, err := postgres.Open(context.Background(), pg.NewDatabase(t))
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	}
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Logf("%s: load average before: %s", kind, loadAvg())
		drains := map[int][]time.Duration{}
		for round := range rounds {
			for _, maxFiles := range []int{1, 0} {
				r := drainOnce(t, stores[kind](t), n, maxFiles)
				drains[maxFiles] = append(drains[maxFiles], r.drain)
				t.Logf("%s round %d, files per transaction %s: journaled %d flushes in %v; store back → drained %v (first commit → drained %v), %d transactions, ripcord off %v after the store came back",
					kind, round, label(maxFiles), n, r.journal.Round(time.Millisecond), r.total.Round(time.Millisecond), r.drain.Round(time.Millisecond), r.txns, r.ripcordOff.Round(time.Millisecond))
			}
		}
		single, grouped := median(drains[1]), median(drains[0])
		t.Logf("%s: median drain (first commit → drained) %v one per transaction, %v grouped: ratio %.1fx; load average after: %s",
			kind, single.Round(time.Millisecond), grouped.Round(time.Millisecond), float64(single)/float64(grouped), loadAvg())
	}
}

func label(maxFiles int) string {
	if maxFiles == 1 {
		return "1 (before)"
	}
	return "≤64 (grouped)"
}

type drainResult struct {
	journal, total, drain, ripcordOff time.Duration
	txns                              int64
}

func drainOnce(t *testing.T, store metadata.Store, n, maxFiles int) drainResult {
	ctx := context.Background()
	s := &stalledStore{Store: store}
	t.Cleanup(func() { store.Close() })
	bucket, err := objstore.OpenDir(filepath.Join(t.TempDir(), "bucket"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bucket.Close() })
	const partitions = 8
	topic, err := s.CreateTopic(ctx, "drain", partitions, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Every Submit fills its file: one flush each.
	b := produce.New(produce.Config{Agent: "node-1", Ripcord: true, RipcordCommitTimeout: 200 * time.Millisecond,
		BatchTimeout: 5 * time.Millisecond, BatchMaxBytes: 1, MaxBufferedBytes: 1 << 20, MaxInFlight: 4,
		JournalCommitMaxFiles: maxFiles}, s, bucket, nil, nil, nil)
	defer b.Close(ctx)
	s.down.Store(true)
	start := time.Now()
	const producers = 4
	var wg sync.WaitGroup
	errs := make(chan error, producers)
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := p; i < n; i += producers {
				bt := batchOf(topic.ID, int32(i%partitions), values(fmt.Sprint(i), 4)...)
				pend, err := b.Submit(ctx, []produce.Batch{bt})
				if err == nil {
					var res []produce.Result
					if res, err = pend.Wait(ctx); err == nil {
						err = res[0].Err
					}
				}
				if err != nil {
					errs <- fmt.Errorf("flush %d: %w", i, err)
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
	var r drainResult
	r.journal = time.Since(start)
	if st := b.JournalStats(); st.Files != n || !st.Ripcord {
		t.Fatalf("journal after the outage: %+v, want %d files and ripcord active", st, n)
	}
	back := time.Now()
	s.down.Store(false)
	for st := b.JournalStats(); st.Files > 0 || st.Ripcord; st = b.JournalStats() {
		if time.Since(back) > 5*time.Minute {
			t.Fatalf("backlog not drained after 5 minutes: %+v", st)
		}
		time.Sleep(time.Millisecond)
	}
	r.ripcordOff = time.Since(back)
	r.total = r.ripcordOff
	s.mu.Lock()
	r.drain = time.Since(s.first)
	s.mu.Unlock()
	r.txns = s.txns.Load()
	if got := s.files.Load(); got != int64(n) {
		t.Fatalf("%d files committed, want %d", got, n)
	}
	var hw int64
	for p := range int32(partitions) {
		st, err := s.PartitionState(ctx, topic.ID, p)
		if err != nil {
			t.Fatal(err)
		}
		hw += st.HighWatermark
	}
	if hw != int64(4*n) {
		t.Fatalf("%d records sequenced, want %d", hw, 4*n)
	}
	return r
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

// slowReads delays every read by a fixed time, as an S3 GET's first byte
// is tens of milliseconds away.
type slowReads struct {
	objstore.Bucket
	delay time.Duration
}

func (s slowReads) GetRange(ctx context.Context, key string, off, length int64) ([]byte, error) {
	select {
	case <-time.After(s.delay):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return s.Bucket.GetRange(ctx, key, off, length)
}

// TestMeasureRecoveryRead measures how long another agent takes to
// recover a dead agent's journal of N files (SLUICE_RECOVER_FILES,
// default 400) when each GET takes SLUICE_RECOVER_GET_DELAY (default
// 20ms) more than the local directory does, reading the files one at a
// time (before) against recoverReadAhead at a time, alternating. Run it
// with
//
//	SLUICE_MEASURE_DRAIN=1 go test -run TestMeasureRecoveryRead -v ./internal/produce/
func TestMeasureRecoveryRead(t *testing.T) {
	if os.Getenv("SLUICE_MEASURE_DRAIN") == "" {
		t.Skip("a measurement: set SLUICE_MEASURE_DRAIN=1")
	}
	n, delay, rounds := 400, 20*time.Millisecond, 3
	if v, err := strconv.Atoi(os.Getenv("SLUICE_RECOVER_FILES")); err == nil && v > 0 {
		n = v
	}
	if v, err := time.ParseDuration(os.Getenv("SLUICE_RECOVER_GET_DELAY")); err == nil {
		delay = v
	}
	took := map[int][]time.Duration{}
	for round := range rounds {
		for _, ahead := range []int{1, 8} {
			e := newJEnv(t)
			topic := e.topic(fmt.Sprintf("r%d-%d", round, ahead))
			e.log.set(errStoreDown, nil)
			b, crash := e.batcher(produce.Config{Agent: "node-1"})
			for i := range n {
				produceAcked(t, b, topic, fmt.Sprintf("f%04d-", i), 1, 1, true)
			}
			crash()
			e.log.set(nil, nil)
			restore := produce.SetRecoverReadAhead(ahead)
			rec := produce.NewRecoverer(produce.RecovererConfig{Agent: "node-1", Generation: b.Generation() + 1, LeaseTTL: time.Minute, AckBound: 50 * time.Millisecond},
				e.log, slowReads{Bucket: e.bucket, delay: delay}, nil, nil, e.logger)
			start := time.Now()
			err := rec.RunOnce(context.Background())
			d := time.Since(start)
			restore()
			if err != nil {
				t.Fatal(err)
			}
			if got := len(e.readAll(topic)); got != n {
				t.Fatalf("recovered %d records, want %d", got, n)
			}
			took[ahead] = append(took[ahead], d)
			t.Logf("round %d, %d file(s) read at once: recovered %d files in %v (load %s)", round, ahead, n, d.Round(time.Millisecond), loadAvg())
		}
	}
	one, eight := median(took[1]), median(took[8])
	t.Logf("median: %v one at a time, %v eight at a time: %.1fx", one.Round(time.Millisecond), eight.Round(time.Millisecond), float64(one)/float64(eight))
}
