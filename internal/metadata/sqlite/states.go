package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/bits"
	"strings"

	"github.com/sluicehq/sluice/internal/metadata"
)

// sqlPartitionStates answers PartitionStates for a VALUES list (%s) of
// rows (index, topic, partition): one row per partition the store has.
// CROSS JOIN fixes the join order (SQLite never reorders it): the VALUES
// rows are the outer loop, each a primary-key search of partitions
// (EXPLAIN QUERY PLAN). With a plain JOIN SQLite chose to scan partitions
// and probe an automatic index on the VALUES rows: O(all partitions) per
// fetch, 4-5x slower than one lookup per partition at 1,000 partitions.
const sqlPartitionStates = `WITH k(i, t, p) AS (VALUES %s)
	SELECT k.i, p.log_start, p.next_offset FROM k CROSS JOIN partitions p ON p.topic_id = k.t AND p.partition = k.p`

// statesRowsLog bounds the rows of one PartitionStates statement to
// 1<<statesRowsLog (768 bound values, under SQLite's limit); the statement
// is prepared for every power of two up to it, so n partitions take at
// most n/256 + 8 statements.
const statesRowsLog = 8

// statesStmts are sqlPartitionStates prepared on the read pool; byLog[k]
// carries 1<<k rows.
type statesStmts struct {
	byLog [statesRowsLog + 1]*sql.Stmt
}

func (st *statesStmts) prepare(ctx context.Context, db *sql.DB) error {
	const row = "(?, ?, ?)"
	for k := range st.byLog {
		values := row + strings.Repeat(", "+row, 1<<k-1)
		s, err := db.PrepareContext(ctx, fmt.Sprintf(sqlPartitionStates, values))
		if err != nil {
			return fmt.Errorf("sqlite: prepare partition states: %w", err)
		}
		st.byLog[k] = s
	}
	return nil
}

func (st *statesStmts) close() error {
	var errs []error
	for _, s := range st.byLog {
		if s != nil {
			errs = append(errs, s.Close())
		}
	}
	return errors.Join(errs...)
}

// PartitionStates implements metadata.Log. The chunks are separate
// statements, so partitions of different chunks may come from different
// commits; each partition's bounds are consistent.
func (s *Store) PartitionStates(ctx context.Context, ps []metadata.TopicPartition) ([]metadata.PartitionStateResult, error) {
	out := make([]metadata.PartitionStateResult, len(ps))
	found := make([]bool, len(ps))
	args := make([]any, 0, 3*min(len(ps), 1<<statesRowsLog))
	for start := 0; start < len(ps); {
		k := bits.Len(uint(min(len(ps)-start, 1<<statesRowsLog))) - 1
		end := start + 1<<k
		args = args[:0]
		for i := start; i < end; i++ {
			args = append(args, int64(i), ps[i].Topic[:], int64(ps[i].Partition))
		}
		if err := statesChunk(ctx, s.read.states.byLog[k], args, out, found); err != nil {
			return nil, fmt.Errorf("sqlite: partition states: %w", err)
		}
		start = end
	}
	for i, p := range ps {
		if !found[i] {
			out[i].Err = fmt.Errorf("%w: %s/%d", metadata.ErrUnknownPartition, p.Topic, p.Partition)
		}
	}
	return out, nil
}

func statesChunk(ctx context.Context, st *sql.Stmt, args []any, out []metadata.PartitionStateResult, found []bool) error {
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var i, ls, hw int64
		if err := rows.Scan(&i, &ls, &hw); err != nil {
			return err
		}
		if i < 0 || i >= int64(len(out)) {
			return fmt.Errorf("row for partition %d of %d", i, len(out))
		}
		out[i].LogStartOffset, out[i].HighWatermark = ls, hw
		found[i] = true
	}
	return rows.Err()
}
