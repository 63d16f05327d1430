package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/metadata/seq"
)

// txnMigration is the schema of transactions: coordinator state per
// transactional ID, staged transactional offsets, and the per-partition
// transaction index CommitFile maintains (open transactions' first
// offsets, aborted ranges).
const txnMigration = `CREATE TABLE transactions (
		id TEXT PRIMARY KEY,
		version INTEGER NOT NULL,
		producer_id INTEGER NOT NULL,
		producer_epoch INTEGER NOT NULL,
		last_producer_id INTEGER NOT NULL,
		last_producer_epoch INTEGER NOT NULL,
		timeout_ms INTEGER NOT NULL,
		state TEXT NOT NULL,
		partitions TEXT NOT NULL,
		txn_groups TEXT NOT NULL,
		started_at INTEGER NOT NULL,
		updated_at INTEGER NOT NULL);
	CREATE INDEX transactions_producer ON transactions (producer_id);
	CREATE INDEX transactions_state ON transactions (state);
	CREATE TABLE txn_open (
		topic_id BLOB NOT NULL,
		partition INTEGER NOT NULL,
		producer_id INTEGER NOT NULL,
		first_offset INTEGER NOT NULL,
		PRIMARY KEY (topic_id, partition, producer_id)) WITHOUT ROWID;
	CREATE TABLE txn_aborted (
		topic_id BLOB NOT NULL,
		partition INTEGER NOT NULL,
		last_offset INTEGER NOT NULL,
		producer_id INTEGER NOT NULL,
		first_offset INTEGER NOT NULL,
		PRIMARY KEY (topic_id, partition, last_offset)) WITHOUT ROWID;
	CREATE TABLE txn_offsets (
		transactional_id TEXT NOT NULL,
		group_name TEXT NOT NULL,
		topic TEXT NOT NULL,
		partition INTEGER NOT NULL,
		committed_offset INTEGER NOT NULL,
		leader_epoch INTEGER NOT NULL,
		metadata TEXT NOT NULL,
		PRIMARY KEY (transactional_id, group_name, topic, partition)) WITHOUT ROWID;
	CREATE INDEX txn_offsets_group ON txn_offsets (group_name);`

const txnSelect = `SELECT id, version, producer_id, producer_epoch, last_producer_id, last_producer_epoch, timeout_ms, state,
	partitions, txn_groups, started_at, updated_at FROM transactions`

func scanTxn(row rowScanner) (metadata.Transaction, error) {
	var (
		t                metadata.Transaction
		parts, groups    string
		started, updated int64
	)
	if err := row.Scan(&t.ID, &t.Version, &t.ProducerID, &t.ProducerEpoch, &t.LastProducerID, &t.LastProducerEpoch,
		&t.TimeoutMs, &t.State, &parts, &groups, &started, &updated); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return t, metadata.ErrNotFound
		}
		return t, err
	}
	if err := json.Unmarshal([]byte(parts), &t.Partitions); err != nil {
		return t, fmt.Errorf("sqlite: transaction %s partitions: %w", t.ID, err)
	}
	if err := json.Unmarshal([]byte(groups), &t.Groups); err != nil {
		return t, fmt.Errorf("sqlite: transaction %s groups: %w", t.ID, err)
	}
	if started != 0 {
		t.StartedAt = time.UnixMilli(started).UTC()
	}
	t.UpdatedAt = time.UnixMilli(updated).UTC()
	return t, nil
}

// Transaction implements metadata.Transactions.
func (s *Store) Transaction(ctx context.Context, id string) (metadata.Transaction, error) {
	return scanTxn(s.r.QueryRowContext(ctx, txnSelect+` WHERE id = ?`, id))
}

// ListTransactions implements metadata.Transactions.
func (s *Store) ListTransactions(ctx context.Context) ([]metadata.Transaction, error) {
	return s.listTxns(ctx, txnSelect+` ORDER BY id`)
}

// OpenTransactions implements metadata.Transactions.
func (s *Store) OpenTransactions(ctx context.Context) ([]metadata.Transaction, error) {
	return s.listTxns(ctx, txnSelect+` WHERE state IN ('Ongoing', 'PrepareCommit', 'PrepareAbort') ORDER BY id`)
}

func (s *Store) listTxns(ctx context.Context, query string) ([]metadata.Transaction, error) {
	rows, err := s.r.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []metadata.Transaction
	for rows.Next() {
		t, err := scanTxn(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// saveTxnTx writes t inside tx if its version is still t.Version.
func saveTxnTx(ctx context.Context, tx *sql.Tx, t metadata.Transaction) (metadata.Transaction, error) {
	if t.Partitions == nil {
		t.Partitions = []metadata.TxnPartition{}
	}
	if t.Groups == nil {
		t.Groups = []string{}
	}
	parts, err := json.Marshal(t.Partitions)
	if err != nil {
		return t, err
	}
	groups, err := json.Marshal(t.Groups)
	if err != nil {
		return t, err
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	var started int64
	if !t.StartedAt.IsZero() {
		started = t.StartedAt.UnixMilli()
	}
	var res sql.Result
	if t.Version == 0 {
		res, err = tx.ExecContext(ctx, `INSERT INTO transactions(id, version, producer_id, producer_epoch, last_producer_id, last_producer_epoch,
			timeout_ms, state, partitions, txn_groups, started_at, updated_at) VALUES (?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING`,
			t.ID, t.ProducerID, t.ProducerEpoch, t.LastProducerID, t.LastProducerEpoch, t.TimeoutMs, t.State, string(parts), string(groups), started, now.UnixMilli())
	} else {
		res, err = tx.ExecContext(ctx, `UPDATE transactions SET version = version + 1, producer_id = ?, producer_epoch = ?, last_producer_id = ?,
			last_producer_epoch = ?, timeout_ms = ?, state = ?, partitions = ?, txn_groups = ?, started_at = ?, updated_at = ?
			WHERE id = ? AND version = ?`,
			t.ProducerID, t.ProducerEpoch, t.LastProducerID, t.LastProducerEpoch, t.TimeoutMs, t.State, string(parts), string(groups),
			started, now.UnixMilli(), t.ID, t.Version)
	}
	if err != nil {
		return t, fmt.Errorf("sqlite: save transaction %s: %w", t.ID, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return t, fmt.Errorf("%w: %s version %d", metadata.ErrTxnVersion, t.ID, t.Version)
	}
	t.Version++
	t.UpdatedAt = now
	return t, nil
}

// SaveTransaction implements metadata.Transactions.
func (s *Store) SaveTransaction(ctx context.Context, t metadata.Transaction) (metadata.Transaction, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return t, err
	}
	defer tx.Rollback()
	if t, err = saveTxnTx(ctx, tx, t); err != nil {
		return t, err
	}
	return t, tx.Commit()
}

// StageTxnOffsets implements metadata.Transactions.
func (s *Store) StageTxnOffsets(ctx context.Context, id string, producerID int64, epoch int16, group string, offsets []metadata.OffsetCommit) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	t, err := scanTxn(tx.QueryRowContext(ctx, txnSelect+` WHERE id = ?`, id))
	if errors.Is(err, metadata.ErrNotFound) {
		return fmt.Errorf("%w: unknown transactional id %s", metadata.ErrInvalidTxnState, id)
	}
	if err != nil {
		return err
	}
	if err := metadata.CheckTxnOffsets(t, producerID, epoch, group); err != nil {
		return err
	}
	for _, o := range offsets {
		if _, err := tx.ExecContext(ctx, `INSERT INTO txn_offsets(transactional_id, group_name, topic, partition, committed_offset, leader_epoch, metadata)
			VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(transactional_id, group_name, topic, partition) DO UPDATE SET
			committed_offset = excluded.committed_offset, leader_epoch = excluded.leader_epoch, metadata = excluded.metadata`,
			id, group, o.Topic, o.Partition, o.Offset, o.LeaderEpoch, o.Metadata); err != nil {
			return fmt.Errorf("sqlite: stage offsets: %w", err)
		}
	}
	return tx.Commit()
}

// PendingTxnOffsets implements metadata.Transactions.
func (s *Store) PendingTxnOffsets(ctx context.Context, group string) ([]metadata.OffsetCommit, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT topic, partition, committed_offset, leader_epoch, metadata FROM txn_offsets
		WHERE group_name = ? ORDER BY topic, partition`, group)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []metadata.OffsetCommit
	for rows.Next() {
		var o metadata.OffsetCommit
		if err := rows.Scan(&o.Topic, &o.Partition, &o.Offset, &o.LeaderEpoch, &o.Metadata); err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// CompleteTransaction implements metadata.Transactions.
func (s *Store) CompleteTransaction(ctx context.Context, t metadata.Transaction, commit bool) (metadata.Transaction, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return t, err
	}
	defer tx.Rollback()
	if commit {
		if _, err := tx.ExecContext(ctx, `INSERT INTO group_offsets(group_name, topic, partition, committed_offset, leader_epoch, metadata, committed_at)
			SELECT group_name, topic, partition, committed_offset, leader_epoch, metadata, ? FROM txn_offsets WHERE transactional_id = ?
			ON CONFLICT(group_name, topic, partition) DO UPDATE SET committed_offset = excluded.committed_offset,
			leader_epoch = excluded.leader_epoch, metadata = excluded.metadata, committed_at = excluded.committed_at`,
			time.Now().UnixMilli(), t.ID); err != nil {
			return t, fmt.Errorf("sqlite: apply transactional offsets: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM txn_offsets WHERE transactional_id = ?`, t.ID); err != nil {
		return t, err
	}
	t.State = metadata.TxnCompleteAbort
	if commit {
		t.State = metadata.TxnCompleteCommit
	}
	t.Partitions, t.Groups, t.StartedAt = nil, nil, time.Time{}
	if t, err = saveTxnTx(ctx, tx, t); err != nil {
		return t, err
	}
	return t, tx.Commit()
}

// StableState implements metadata.Transactions. The queries run in the
// order that keeps the answer safe without a snapshot: an open
// transaction found after the bounds can only start at or above the high
// watermark read before, and an aborted range below the stable offset was
// recorded (in the commit that closed it) before the stable offset was read.
func (s *Store) StableState(ctx context.Context, topic metadata.TopicID, partition int32, from int64) (metadata.StableState, error) {
	var st metadata.StableState
	var err error
	if st.PartitionState, err = s.PartitionState(ctx, topic, partition); err != nil {
		return st, err
	}
	var first sql.NullInt64
	if err := s.read.firstOpenTxn.QueryRowContext(ctx, topic[:], partition).Scan(&first); err != nil {
		return st, err
	}
	st.LastStableOffset = st.HighWatermark
	if first.Valid && first.Int64 < st.LastStableOffset {
		st.LastStableOffset = first.Int64
	}
	rows, err := s.read.abortedTxns.QueryContext(ctx, topic[:], partition, from, st.LastStableOffset)
	if err != nil {
		return st, err
	}
	defer rows.Close()
	for rows.Next() {
		var a metadata.AbortedTxn
		if err := rows.Scan(&a.ProducerID, &a.FirstOffset, &a.LastOffset); err != nil {
			return st, err
		}
		st.Aborted = append(st.Aborted, a)
	}
	return st, rows.Err()
}

// PartitionProducers implements metadata.Transactions.
func (s *Store) PartitionProducers(ctx context.Context, topic metadata.TopicID, partition int32) ([]metadata.ProducerState, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT p.producer_id, p.epoch, p.recent, coalesce(o.first_offset, -1) FROM producers p
		LEFT JOIN txn_open o ON o.topic_id = p.topic_id AND o.partition = p.partition AND o.producer_id = p.producer_id
		WHERE p.topic_id = ? AND p.partition = ? ORDER BY p.producer_id`, topic[:], partition)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []metadata.ProducerState
	for rows.Next() {
		var (
			p      metadata.ProducerState
			recent string
		)
		if err := rows.Scan(&p.ProducerID, &p.ProducerEpoch, &recent, &p.TxnStartOffset); err != nil {
			return nil, err
		}
		if p.LastSequence, err = lastSequence(recent); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

func lastSequence(recent string) (int32, error) {
	var st seq.State
	if err := json.Unmarshal([]byte(recent), &st.Recent); err != nil {
		return -1, fmt.Errorf("sqlite: producer state: %w", err)
	}
	return st.LastSequence(), nil
}
