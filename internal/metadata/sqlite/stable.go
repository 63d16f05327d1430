package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/sluicehq/sluice/internal/metadata"
)

// sqlStableStates answers StableStates for a VALUES list (%s) of rows
// (index, topic, partition, from): one row per aborted range a partition
// reports, or one with NULL range columns when it reports none; a
// partition the store lacks has no row. One statement is one snapshot, so
// each partition's bounds, last stable offset and aborted ranges agree.
// EXPLAIN QUERY PLAN: the VALUES rows are the outer loop, each a
// primary-key search of partitions, txn_open and txn_aborted; CROSS JOIN
// keeps that order (with JOIN SQLite may scan partitions instead, as
// sqlPartitionStates in states.go explains).
const sqlStableStates = `WITH k(i, t, p, f) AS (VALUES %s),
	s AS (SELECT k.i, k.t, k.p, k.f, p.log_start AS ls, p.next_offset AS hw,
		coalesce(min((SELECT min(o.first_offset) FROM txn_open o WHERE o.topic_id = k.t AND o.partition = k.p), p.next_offset), p.next_offset) AS lso
		FROM k CROSS JOIN partitions p ON p.topic_id = k.t AND p.partition = k.p)
	SELECT s.i, s.ls, s.hw, s.lso, a.producer_id, a.first_offset, a.last_offset
	FROM s LEFT JOIN txn_aborted a ON a.topic_id = s.t AND a.partition = s.p AND a.last_offset >= s.f AND a.first_offset < s.lso
	ORDER BY s.i, a.first_offset`

// stableRowsLog bounds the rows of one StableStates statement to
// 1<<stableRowsLog; the statement is prepared for every power of two up to
// it, so n partitions take at most n/64 + 6 statements.
const stableRowsLog = 6

// StableStates implements metadata.StableReader.
func (s *Store) StableStates(ctx context.Context, qs []metadata.StableQuery) ([]metadata.StableResult, error) {
	out := make([]metadata.StableResult, len(qs))
	found := make([]bool, len(qs))
	args := make([]any, 0, 4*len(qs))
	for i := range qs {
		q := &qs[i]
		args = append(args, int64(i), q.Topic[:], int64(q.Partition), q.From)
	}
	err := s.read.stable.chunks(ctx, nil, args, func(st *sql.Stmt, args []any) error {
		return s.stableChunk(ctx, st, args, out, found)
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: stable states: %w", err)
	}
	for i, q := range qs {
		if !found[i] {
			out[i].Err = fmt.Errorf("%w: %s/%d", metadata.ErrUnknownPartition, q.Topic, q.Partition)
		}
	}
	return out, nil
}

func (s *Store) stableChunk(ctx context.Context, st *sql.Stmt, args []any, out []metadata.StableResult, found []bool) error {
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			i                        int64
			ls, hw, lso              int64
			producer, first, lastOff sql.NullInt64
		)
		if err := rows.Scan(&i, &ls, &hw, &lso, &producer, &first, &lastOff); err != nil {
			return err
		}
		if i < 0 || i >= int64(len(out)) {
			return fmt.Errorf("row for query %d of %d", i, len(out))
		}
		r := &out[i]
		found[i] = true
		r.LogStartOffset, r.HighWatermark, r.LastStableOffset = ls, hw, lso
		if producer.Valid {
			r.Aborted = append(r.Aborted, metadata.AbortedTxn{ProducerID: producer.Int64, FirstOffset: first.Int64, LastOffset: lastOff.Int64})
		}
	}
	return rows.Err()
}
