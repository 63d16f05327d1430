package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/metadata/metadatatest"
	"github.com/sluicehq/sluice/internal/testutil"
)

func TestConformance(t *testing.T) {
	pg := testutil.StartPostgres(t)
	metadatatest.Run(t, func(t *testing.T) metadata.Store {
		s, err := Open(context.Background(), pg.NewDatabase(t))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// openN opens n stores on one database, as n agents would.
func openN(t *testing.T, url string, n int) []*Store {
	t.Helper()
	stores := make([]*Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range stores {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			stores[i], errs[i] = Open(context.Background(), url)
		}(i)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("agent %d: Open: %v", i, err)
		}
		t.Cleanup(func() { stores[i].Close() })
	}
	return stores
}

// TestAgentsShareOneDatabase covers what a cluster adds to the
// conformance suite: agents that start together migrate the schema once,
// and agents committing files that touch the same partitions, listed in
// different orders, never deadlock, collide or leave gaps, with
// idempotent producers checked across agents.
func TestAgentsShareOneDatabase(t *testing.T) {
	pg := testutil.StartPostgres(t)
	url := pg.NewDatabase(t)
	stores := openN(t, url, 4)
	ctx := context.Background()
	ids := map[string]bool{}
	for _, s := range stores {
		id, err := s.ClusterID(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ids[id] = true
	}
	if len(ids) != 1 {
		t.Fatalf("agents see different cluster IDs: %v", ids)
	}
	var version int
	if err := stores[0].pool.QueryRow(ctx, `SELECT version FROM schema_version`).Scan(&version); err != nil || version != len(migrations) {
		t.Fatalf("schema_version = %d, %v; want %d", version, err, len(migrations))
	}

	a, err := stores[0].CreateTopic(ctx, "a", 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := stores[1].CreateTopic(ctx, "b", 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	type part struct {
		topic metadata.TopicID
		p     int32
	}
	all := []part{{a.ID, 0}, {a.ID, 1}, {a.ID, 2}, {b.ID, 0}, {b.ID, 1}}
	const perAgent = 40
	var (
		mu     sync.Mutex
		ranges = map[part][][2]int64{}
		wg     sync.WaitGroup
	)
	for w, s := range stores {
		wg.Add(1)
		go func(w int, s *Store) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			seqs := map[part]int32{}
			for i := 0; i < perAgent; i++ {
				order := rng.Perm(len(all))
				var batches []metadata.BatchCommit
				for j, k := range order[:2+rng.IntN(len(all)-1)] {
					recs := int64(1 + rng.IntN(3))
					pt := all[k]
					bc := metadata.BatchCommit{TopicID: pt.topic, Partition: pt.p, ByteOffset: int64(8 + 10*j), ByteLength: 10, Records: recs}
					if w%2 == 0 { // half the agents carry an idempotent producer each
						bc.Producer = &metadata.ProducerBatch{ID: int64(100 + w), FirstSequence: seqs[pt]}
						seqs[pt] += int32(recs)
					}
					batches = append(batches, bc)
				}
				res, err := s.CommitFile(ctx, metadata.FileCommit{Key: fmt.Sprintf("w%d-%d", w, i), Size: 100, Batches: batches})
				if err != nil {
					t.Errorf("agent %d: CommitFile: %v", w, err)
					return
				}
				mu.Lock()
				for j, r := range res {
					if r.Err != nil || r.Duplicate {
						t.Errorf("agent %d batch %d: %+v", w, j, r)
					}
					pt := part{batches[j].TopicID, batches[j].Partition}
					ranges[pt] = append(ranges[pt], [2]int64{r.BaseOffset, r.BaseOffset + batches[j].Records})
				}
				mu.Unlock()
			}
		}(w, s)
	}
	wg.Wait()
	for pt, rs := range ranges {
		sort.Slice(rs, func(i, j int) bool { return rs[i][0] < rs[j][0] })
		next := int64(0)
		for _, r := range rs {
			if r[0] != next {
				t.Fatalf("%s/%d: range %v follows offset %d (gap or overlap)", pt.topic, pt.p, r, next)
			}
			next = r[1]
		}
		st, _ := stores[3].PartitionState(ctx, pt.topic, pt.p)
		if st.HighWatermark != next {
			t.Fatalf("%s/%d: hwm %d, want %d", pt.topic, pt.p, st.HighWatermark, next)
		}
	}

	// Concurrent claims of one group get distinct epochs; only the last
	// one may write.
	epochs := make([]int64, len(stores))
	for i, s := range stores {
		wg.Add(1)
		go func(i int, s *Store) {
			defer wg.Done()
			g, err := s.ClaimGroup(ctx, "g")
			if err != nil {
				t.Error(err)
			}
			epochs[i] = g.OwnerEpoch
		}(i, s)
	}
	wg.Wait()
	sort.Slice(epochs, func(i, j int) bool { return epochs[i] < epochs[j] })
	for i := 1; i < len(epochs); i++ {
		if epochs[i] == epochs[i-1] {
			t.Fatalf("two claims got epoch %d: %v", epochs[i], epochs)
		}
	}
	for i, e := range epochs {
		err := stores[i].CommitOffsets(ctx, "g", e, []metadata.OffsetCommit{{Topic: "a", Offset: int64(i)}})
		if last := i == len(epochs)-1; last != (err == nil) {
			t.Fatalf("CommitOffsets under epoch %d of %v: %v", e, epochs, err)
		}
	}
}

// TestWatchCommits checks that a commit through one agent's store wakes a
// watcher on another's promptly, and that the watcher survives a database
// restart.
func TestWatchCommits(t *testing.T) {
	pg := testutil.StartPostgres(t)
	stores := openN(t, pg.NewDatabase(t), 2)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	woke := make(chan []metadata.TopicPartition, 100)
	watchCtx, stopWatch := context.WithCancel(ctx)
	watchDone := make(chan error, 1)
	go func() {
		watchDone <- stores[0].WatchCommits(watchCtx, func(committed []metadata.TopicPartition) {
			select {
			case woke <- committed:
			default:
			}
		})
	}()
	tp, err := stores[1].CreateTopic(ctx, "w", 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	commitAndWait := func(key string) time.Duration {
		t.Helper()
		for len(woke) > 0 {
			<-woke
		}
		start := time.Now()
		if _, err := stores[1].CommitFile(ctx, metadata.FileCommit{Key: key, Size: 10,
			Batches: []metadata.BatchCommit{{TopicID: tp.ID, ByteOffset: 8, ByteLength: 1, Records: 1}}}); err != nil {
			t.Fatal(err)
		}
		select {
		case committed := <-woke:
			// The notification names the partition the commit wrote, so
			// only long polls on it wake.
			if want := (metadata.TopicPartition{Topic: tp.ID, Partition: 0}); len(committed) != 1 || committed[0] != want {
				t.Fatalf("commit %s announced partitions %v, want [%v]", key, committed, want)
			}
			return time.Since(start)
		case <-time.After(5 * time.Second):
			t.Fatalf("no wakeup within 5s of commit %s", key)
		}
		return 0
	}
	// The LISTEN may not be in place yet for the first commit: retry it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		for len(woke) > 0 {
			<-woke
		}
		if _, err := stores[1].CommitFile(ctx, metadata.FileCommit{Key: fmt.Sprint("warm", time.Now().UnixNano()), Size: 10,
			Batches: []metadata.BatchCommit{{TopicID: tp.ID, ByteOffset: 8, ByteLength: 1, Records: 1}}}); err != nil {
			t.Fatal(err)
		}
		select {
		case <-woke:
		case <-time.After(200 * time.Millisecond):
			if time.Now().After(deadline) {
				t.Fatal("watcher never woke")
			}
			continue
		}
		break
	}
	var lat []time.Duration
	for i := 0; i < 5; i++ {
		lat = append(lat, commitAndWait(fmt.Sprint("f", i)))
	}
	t.Logf("commit → wakeup latency (commit call included): %v", lat)

	pg.Restart()
	// Pooled connections died with the server: the store reconnects.
	deadline = time.Now().Add(20 * time.Second)
	for {
		_, err := stores[1].ClusterID(ctx)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("store did not recover after restart: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The watcher reconnects on its own and wakes again.
	deadline = time.Now().Add(20 * time.Second)
	for i := 0; ; i++ {
		for len(woke) > 0 {
			<-woke
		}
		_, err := stores[1].CommitFile(ctx, metadata.FileCommit{Key: fmt.Sprint("after", i), Size: 10,
			Batches: []metadata.BatchCommit{{TopicID: tp.ID, ByteOffset: 8, ByteLength: 1, Records: 1}}})
		if err == nil {
			select {
			case <-woke:
			case <-time.After(500 * time.Millisecond):
				err = fmt.Errorf("no wakeup")
			}
		}
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("watcher did not recover after restart: %v", err)
		}
	}
	stopWatch()
	if err := <-watchDone; !errors.Is(err, context.Canceled) {
		t.Fatalf("WatchCommits returned %v, want context.Canceled", err)
	}
}

// BenchmarkCommitFile measures commits of files touching 8 of 64
// partitions from 4 agents (stores) at once, the shape of a busy cluster's
// flushes: go test -run '^$' -bench CommitFile ./internal/metadata/postgres
func BenchmarkCommitFile(b *testing.B) {
	pg := testutil.StartPostgres(b)
	url := pg.NewDatabase(b)
	var stores []*Store
	for i := 0; i < 4; i++ {
		s, err := Open(context.Background(), url)
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		stores = append(stores, s)
	}
	tp, err := stores[0].CreateTopic(context.Background(), "bench", 64, nil)
	if err != nil {
		b.Fatal(err)
	}
	var n atomic.Int64
	b.SetParallelism(2) // 2×GOMAXPROCS committers spread over the stores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := n.Add(1)
		s := stores[i%int64(len(stores))]
		rng := rand.New(rand.NewPCG(uint64(i), 2))
		for pb.Next() {
			var batches []metadata.BatchCommit
			for j, p := range rng.Perm(64)[:8] {
				batches = append(batches, metadata.BatchCommit{TopicID: tp.ID, Partition: int32(p), ByteOffset: int64(8 + 100*j), ByteLength: 100, Records: 10})
			}
			if _, err := s.CommitFile(context.Background(), metadata.FileCommit{Key: fmt.Sprint("f", n.Add(1)), Size: 1000, Batches: batches}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
