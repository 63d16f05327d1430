package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/sluicehq/sluice/internal/metadata/metadatatest"
)

func benchCommitFile(b *testing.B, topics int, partitions int32, batches int, transactional bool) {
	s, err := Open(context.Background(), filepath.Join(b.TempDir(), "meta.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	metadatatest.BenchmarkCommitFile(b, s, topics, partitions, batches, transactional)
}

// BenchmarkCommitFile1000Partitions commits a flush whose file holds one
// idempotent batch for each of 1,000 partitions (10 topics × 100).
func BenchmarkCommitFile1000Partitions(b *testing.B) { benchCommitFile(b, 10, 100, 1, false) }

// BenchmarkCommitFile8Partitions commits a small flush: 4 idempotent
// batches for each of 8 partitions of one topic, the shape of a 5 ms
// batch under the standard bench workload.
func BenchmarkCommitFile8Partitions(b *testing.B) { benchCommitFile(b, 1, 8, 4, false) }

// BenchmarkCommitFile1000PartitionsTransactional is the 1,000-partition
// flush of one transactional producer inside its ongoing transaction
// (which adds the transaction check and the open-transaction index).
func BenchmarkCommitFile1000PartitionsTransactional(b *testing.B) {
	benchCommitFile(b, 10, 100, 1, true)
}
