package postgres

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/internal/metadata/metadatatest"
	"github.com/sluicehq/sluice/internal/testutil"
)

// benchCommitFile runs the shared CommitFile benchmark on a fresh database
// of a PostgreSQL server started for the benchmark (on loopback: each
// statement or pipelined batch is a real round trip). It is skipped when
// no PostgreSQL server binaries are installed.
func benchCommitFile(b *testing.B, topics int, partitions int32, batches int, transactional bool) {
	if m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb"); len(m) == 0 {
		if _, err := exec.LookPath("initdb"); err != nil {
			b.Skip("no PostgreSQL server binaries installed")
		}
	}
	pg := testutil.StartPostgres(b)
	s, err := Open(context.Background(), pg.NewDatabase(b))
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
	if m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb"); len(m) == 0 {
		if _, err := exec.LookPath("initdb"); err != nil {
			b.Skip("no PostgreSQL server binaries installed")
		}
	}
	pg := testutil.StartPostgres(b)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pg.NewDatabase(b))
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
