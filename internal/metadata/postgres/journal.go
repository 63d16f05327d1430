package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/metadata/rowscan"
)

// journalMarksMigration adds the journal marks (metadata.JournalMarks).
// Generations and sequences are unsigned 64-bit, stored as the bigints of
// the same bits (both stay far below 2^63).
const journalMarksMigration = `CREATE TABLE journal_marks (
	agent text NOT NULL,
	generation bigint NOT NULL,
	sequence bigint NOT NULL,
	PRIMARY KEY (agent, generation)
);`

const sqlMarkJournal = `INSERT INTO journal_marks(agent, generation, sequence) VALUES ($1, $2, $3)
	ON CONFLICT (agent, generation) DO UPDATE SET sequence = GREATEST(journal_marks.sequence, excluded.sequence)`

// queueMarkJournal queues the advance of m's mark in a commit's write
// batch, before its COMMIT.
func queueMarkJournal(batch *pgx.Batch, m *metadata.JournalMark) {
	if m != nil {
		batch.Queue(sqlMarkJournal, m.Agent, int64(m.Generation), int64(m.Sequence))
	}
}

// JournalMarks implements metadata.JournalMarks.
func (s *Store) JournalMarks(ctx context.Context, agent string) (map[uint64]uint64, error) {
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT generation, sequence FROM journal_marks WHERE agent = $1`, agent)
	if err != nil {
		return nil, fmt.Errorf("postgres: journal marks: %w", err)
	}
	defer rows.Close()
	return rowscan.Map[uint64, uint64](rows)
}

// MarkJournal implements metadata.JournalMarks.
func (s *Store) MarkJournal(ctx context.Context, m metadata.JournalMark) error {
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	if _, err := s.pool.Exec(ctx, sqlMarkJournal, m.Agent, int64(m.Generation), int64(m.Sequence)); err != nil {
		return fmt.Errorf("postgres: advance journal mark: %w", err)
	}
	return nil
}
