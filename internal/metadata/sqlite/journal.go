package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/metadata/rowscan"
)

// journalMarksMigration adds the journal marks (metadata.JournalMarks).
// Generations and sequences are unsigned 64-bit; they are stored as the
// signed integers of the same bits (generations are Unix nanoseconds and
// sequences flush counts, far below 2^63 either way).
const journalMarksMigration = `CREATE TABLE journal_marks (
	agent TEXT NOT NULL,
	generation INTEGER NOT NULL,
	sequence INTEGER NOT NULL,
	PRIMARY KEY (agent, generation)
) WITHOUT ROWID;`

const sqlMarkJournal = `INSERT INTO journal_marks(agent, generation, sequence) VALUES (?, ?, ?)
	ON CONFLICT (agent, generation) DO UPDATE SET sequence = max(sequence, excluded.sequence)`

// markJournal advances m's mark inside tx (CommitFile's transaction, or
// MarkJournal's own).
func markJournal(ctx context.Context, tx *sql.Tx, m *metadata.JournalMark) error {
	if m == nil {
		return nil
	}
	if _, err := tx.ExecContext(ctx, sqlMarkJournal, m.Agent, int64(m.Generation), int64(m.Sequence)); err != nil {
		return fmt.Errorf("sqlite: advance journal mark: %w", err)
	}
	return nil
}

// JournalMarks implements metadata.JournalMarks.
func (s *Store) JournalMarks(ctx context.Context, agent string) (map[uint64]uint64, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT generation, sequence FROM journal_marks WHERE agent = ?`, agent)
	if err != nil {
		return nil, fmt.Errorf("sqlite: journal marks: %w", err)
	}
	defer rows.Close()
	return rowscan.Map[uint64, uint64](rows)
}

// MarkJournal implements metadata.JournalMarks.
func (s *Store) MarkJournal(ctx context.Context, m metadata.JournalMark) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	defer tx.Rollback()
	if err := markJournal(ctx, tx, &m); err != nil {
		return err
	}
	return tx.Commit()
}
