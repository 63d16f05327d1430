package postgres

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"

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
