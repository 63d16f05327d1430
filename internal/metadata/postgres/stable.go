package postgres

import (
	"context"
	"fmt"

	"github.com/sluicehq/sluice/internal/metadata"
)

// sqlStableStates answers StableStates in one statement (one round trip,
// one snapshot) for arrays of topics, partitions and from offsets: one row
// per aborted range a partition reports, or one with NULL range columns
// when it reports none; a partition the store lacks has no row.
const sqlStableStates = `WITH k AS (
		SELECT * FROM unnest($1::uuid[], $2::int[], $3::bigint[]) WITH ORDINALITY AS k(t, p, f, i)),
	s AS (SELECT k.i, k.t, k.p, k.f, p.log_start AS ls, p.next_offset AS hw,
		least(p.next_offset, (SELECT min(o.first_offset) FROM txn_open o WHERE o.topic_id = k.t AND o.partition = k.p)) AS lso
		FROM k JOIN partitions p ON p.topic_id = k.t AND p.partition = k.p)
	SELECT s.i, s.ls, s.hw, s.lso, a.producer_id, a.first_offset, a.last_offset
	FROM s LEFT JOIN txn_aborted a ON a.topic_id = s.t AND a.partition = s.p AND a.last_offset >= s.f AND a.first_offset < s.lso
	ORDER BY s.i, a.first_offset`

// StableStates implements metadata.StableReader.
func (s *Store) StableStates(ctx context.Context, qs []metadata.StableQuery) ([]metadata.StableResult, error) {
	out := make([]metadata.StableResult, len(qs))
	if len(qs) == 0 {
		return out, nil
	}
	topics := make([][16]byte, len(qs))
	parts := make([]int32, len(qs))
	froms := make([]int64, len(qs))
	for i, q := range qs {
		topics[i], parts[i], froms[i] = q.Topic, q.Partition, q.From
	}
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, sqlStableStates, topics, parts, froms)
	if err != nil {
		return nil, fmt.Errorf("postgres: stable states: %w", err)
	}
	defer rows.Close()
	found := make([]bool, len(qs))
	for rows.Next() {
		var (
			i                        int64
			ls, hw, lso              int64
			producer, first, lastOff *int64
		)
		if err := rows.Scan(&i, &ls, &hw, &lso, &producer, &first, &lastOff); err != nil {
			return nil, fmt.Errorf("postgres: stable states: %w", err)
		}
		i-- // WITH ORDINALITY counts from 1
		if i < 0 || i >= int64(len(out)) {
			return nil, fmt.Errorf("postgres: stable states: row for query %d of %d", i, len(out))
		}
		r := &out[i]
		found[i] = true
		r.LogStartOffset, r.HighWatermark, r.LastStableOffset = ls, hw, lso
		if producer != nil {
			r.Aborted = append(r.Aborted, metadata.AbortedTxn{ProducerID: *producer, FirstOffset: *first, LastOffset: *lastOff})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: stable states: %w", err)
	}
	for i, q := range qs {
		if !found[i] {
			out[i].Err = fmt.Errorf("%w: %s/%d", metadata.ErrUnknownPartition, q.Topic, q.Partition)
		}
	}
	return out, nil
}

// sqlPartitionStates answers PartitionStates in one statement (one round
// trip, one snapshot): one row per partition the store has.
const sqlPartitionStates = `SELECT k.i, p.log_start, p.next_offset
	FROM unnest($1::uuid[], $2::int[]) WITH ORDINALITY AS k(t, p, i)
	JOIN partitions p ON p.topic_id = k.t AND p.partition = k.p`

// PartitionStates implements metadata.Log.
func (s *Store) PartitionStates(ctx context.Context, ps []metadata.TopicPartition) ([]metadata.PartitionStateResult, error) {
	out := make([]metadata.PartitionStateResult, len(ps))
	if len(ps) == 0 {
		return out, nil
	}
	topics := make([][16]byte, len(ps))
	parts := make([]int32, len(ps))
	for i, p := range ps {
		topics[i], parts[i] = p.Topic, p.Partition
	}
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, sqlPartitionStates, topics, parts)
	if err != nil {
		return nil, fmt.Errorf("postgres: partition states: %w", err)
	}
	defer rows.Close()
	found := make([]bool, len(ps))
	for rows.Next() {
		var i, ls, hw int64
		if err := rows.Scan(&i, &ls, &hw); err != nil {
			return nil, fmt.Errorf("postgres: partition states: %w", err)
		}
		i-- // WITH ORDINALITY counts from 1
		if i < 0 || i >= int64(len(out)) {
			return nil, fmt.Errorf("postgres: partition states: row for partition %d of %d", i, len(out))
		}
		out[i].LogStartOffset, out[i].HighWatermark = ls, hw
		found[i] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: partition states: %w", err)
	}
	for i, p := range ps {
		if !found[i] {
			out[i].Err = fmt.Errorf("%w: %s/%d", metadata.ErrUnknownPartition, p.Topic, p.Partition)
		}
	}
	return out, nil
}
