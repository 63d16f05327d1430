package postgres

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/metadata/metadatatest"
	"github.com/sluicehq/sluice/internal/testutil"
)

// benchDatabase returns the URL of a fresh database for a benchmark. By
// default it is on a PostgreSQL server started for the benchmark
// (testutil.StartPostgres: loopback, so each statement or pipelined batch
// is a real round trip, but fsync=off). With SLUICE_BENCH_POSTGRES set to
// the URL of a server's maintenance database (e.g.
// postgres://postgres@127.0.0.1:5432/postgres), it creates a database
// there instead, for a server configured as in production (fsync on,
// pg_stat_statements loaded). It skips the benchmark when neither is
// available.
func benchDatabase(b *testing.B) string {
	if admin := os.Getenv("SLUICE_BENCH_POSTGRES"); admin != "" {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close(ctx)
		name := fmt.Sprintf("sluice_bench_%d_%d", os.Getpid(), benchDBSeq.Add(1))
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE template0"); err != nil {
			b.Fatal(err)
		}
		u, err := url.Parse(admin)
		if err != nil {
			b.Fatal(err)
		}
		u.Path = "/" + name
		return u.String()
	}
	if m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb"); len(m) == 0 {
		if _, err := exec.LookPath("initdb"); err != nil {
			b.Skip("no PostgreSQL server binaries installed")
		}
	}
	return testutil.StartPostgres(b).NewDatabase(b)
}

var benchDBSeq atomic.Int64

// benchCommitFile runs the shared CommitFile benchmark on a fresh
// database (benchDatabase).
func benchCommitFile(b *testing.B, topics int, partitions int32, batches int, transactional bool) {
	s, err := Open(context.Background(), benchDatabase(b))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	metadatatest.BenchmarkCommitFile(b, s, topics, partitions, batches, transactional)
}

// BenchmarkCommitFile1000Partitions commits a flush whose file holds one
// idempotent batch for each of 1,000 partitions (10 topics × 100).
func BenchmarkCommitFile1000Partitions(b *testing.B) { benchCommitFile(b, 10, 100, 1, false) }

// BenchmarkCommitFile100Partitions commits a flush of one idempotent
// batch for each of 100 partitions (1 topic × 100).
func BenchmarkCommitFile100Partitions(b *testing.B) { benchCommitFile(b, 1, 100, 1, false) }

// BenchmarkCommitFile1Partition commits a flush of one idempotent batch
// for one partition.
func BenchmarkCommitFile1Partition(b *testing.B) { benchCommitFile(b, 1, 1, 1, false) }

// BenchmarkCommitFile8Partitions commits a small flush: 4 idempotent
// batches for each of 8 partitions of one topic.
func BenchmarkCommitFile8Partitions(b *testing.B) { benchCommitFile(b, 1, 8, 4, false) }

// BenchmarkCommitFile1000PartitionsTransactional is the 1,000-partition
// flush of one transactional producer inside its ongoing transaction
// (which adds the transaction check and the open-transaction index).
func BenchmarkCommitFile1000PartitionsTransactional(b *testing.B) {
	benchCommitFile(b, 10, 100, 1, true)
}

// BenchmarkRowFloor1000 is the floor the 1,000-partition commit is
// compared with (docs/performance.md, "Metadata commit"): on the same kind
// of server, one round trip of BEGIN, one set-based statement over 1,000
// rows of a table shaped like partitions (fillfactor 50, as partitions),
// and COMMIT. "update" is an UPDATE … FROM unnest like the commit's
// partitions update; "upsert" is INSERT … ON CONFLICT DO UPDATE over the
// same rows. A commit runs five statements of about that many rows (the
// row lock, the producers read, the partitions update, the extents insert,
// the producers update) in two round trips.
func BenchmarkRowFloor1000(b *testing.B) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, benchDatabase(b))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE TABLE floor_rows (topic_id uuid NOT NULL, partition integer NOT NULL,
		next_offset bigint NOT NULL, PRIMARY KEY (topic_id, partition)) WITH (fillfactor = 50)`); err != nil {
		b.Fatal(err)
	}
	const rows = 1000
	topics := make([][16]byte, rows)
	parts := make([]int32, rows)
	next := make([]int64, rows)
	for i := range rows {
		topics[i][0], topics[i][15] = byte(i/100), 1
		parts[i] = int32(i % 100)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO floor_rows SELECT * FROM unnest($1::uuid[], $2::int[], $3::bigint[])`, topics, parts, next); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct{ name, query string }{
		{"update", `UPDATE floor_rows f SET next_offset = u.next FROM unnest($1::uuid[], $2::int[], $3::bigint[]) AS u(topic_id, partition, next)
			WHERE f.topic_id = u.topic_id AND f.partition = u.partition`},
		{"upsert", `INSERT INTO floor_rows SELECT * FROM unnest($1::uuid[], $2::int[], $3::bigint[])
			ON CONFLICT (topic_id, partition) DO UPDATE SET next_offset = excluded.next_offset`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				for i := range next {
					next[i]++
				}
				batch := &pgx.Batch{}
				batch.Queue(`BEGIN`)
				batch.Queue(bc.query, topics, parts, next)
				batch.Queue(`COMMIT`)
				if err := conn.SendBatch(ctx, batch).Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/commit")
		})
	}
}

// BenchmarkCommitFile1000PartitionsConcurrent is the 1,000-partition
// flush committed by three agents (three stores on one database, one
// idempotent producer each) that all touch the same 1,000 partitions (10
// topics × 100), as three agents in three zones taking a load spread over
// every partition do. Each agent starts its next commit a random time
// after the start of its previous one (uniform in [0, 2×interval): the
// agents' flushes drift relative to each other), or at once when it is
// late; b.N is the number of commits per agent. It reports the p50 and
// p99 of all agents' single commits, which include the waits for the
// partitions' row locks another agent's commit holds.
func BenchmarkCommitFile1000PartitionsConcurrent(b *testing.B) {
	for _, interval := range []time.Duration{250 * time.Millisecond, 100 * time.Millisecond} {
		b.Run(fmt.Sprintf("3agents-every-%s", interval), func(b *testing.B) {
			benchConcurrentCommits(b, 3, 10, 100, interval)
		})
	}
}

func benchConcurrentCommits(b *testing.B, agents, topics int, partitions int32, interval time.Duration) {
	ctx := context.Background()
	dbURL := benchDatabase(b)
	stores := make([]*Store, agents)
	for i := range stores {
		s, err := Open(ctx, dbURL)
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		stores[i] = s
	}
	type part struct {
		topic metadata.TopicID
		p     int32
	}
	var parts []part
	for t := range topics {
		topic, err := stores[0].CreateTopic(ctx, fmt.Sprintf("t%d", t), partitions, nil)
		if err != nil {
			b.Fatal(err)
		}
		for p := range partitions {
			parts = append(parts, part{topic.ID, p})
		}
	}
	var (
		mu   sync.Mutex
		took []time.Duration
		wg   sync.WaitGroup
		n    = b.N
	)
	b.ResetTimer()
	for a, s := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pid, err := s.AllocateProducerID(ctx)
			if err != nil {
				b.Error(err)
				return
			}
			rng := rand.New(rand.NewPCG(uint64(a), 7))
			flush := make([]metadata.BatchCommit, len(parts))
			next := time.Now()
			for i := range n {
				if d := time.Until(next); d > 0 {
					time.Sleep(d) // the agent's batch timer; nothing to wait on
				}
				for j, pt := range parts {
					flush[j] = metadata.BatchCommit{TopicID: pt.topic, Partition: pt.p, ByteOffset: int64(j) * 1024, ByteLength: 1024,
						Records: 1, MaxTimestamp: 1, Producer: &metadata.ProducerBatch{ID: pid, FirstSequence: int32(i)}}
				}
				start := time.Now()
				next = start.Add(time.Duration(rng.Int64N(int64(2 * interval))))
				res, err := s.CommitFile(ctx, metadata.FileCommit{Key: fmt.Sprintf("a%d-f%d", a, i), Size: int64(len(flush)) * 1024, Batches: flush})
				d := time.Since(start)
				if err != nil {
					b.Error(err)
					return
				}
				for j, r := range res {
					if r.Err != nil || r.Duplicate {
						b.Errorf("agent %d commit %d batch %d = %+v", a, i, j, r)
						return
					}
				}
				mu.Lock()
				took = append(took, d)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	if len(took) == 0 {
		return
	}
	slices.Sort(took)
	var sum time.Duration
	for _, d := range took {
		sum += d
	}
	b.ReportMetric(float64(sum.Microseconds())/float64(len(took))/1000, "ms/commit")
	var conflicts int64
	for _, s := range stores {
		conflicts += s.commitRetries.Load()
	}
	// Commit attempts retried (pipelinedCommit), per commit.
	b.ReportMetric(float64(conflicts)/float64(len(took)), "retries/commit")
	testutil.ReportLatencyQuantiles(b, took)
}
