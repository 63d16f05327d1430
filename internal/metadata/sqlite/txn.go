package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/metadata/rowscan"
	"github.com/sluicehq/sluice/internal/metadata/sequencer"
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
	t, err := rowscan.Txn(row)
	if errors.Is(err, sql.ErrNoRows) {
		return t, metadata.ErrNotFound
	}
	return t, err
}

// Transaction implements metadata.Transactions.
func (s *Store) Transaction(ctx context.Context, id string) (metadata.Transaction, error) {
	return scanTxn(s.r.QueryRowContext(ctx, txnSelect+` WHERE id = ?`, id))
}

// ListTransactions implements metadata.Transactions.
func (s *Store) ListTransactions(ctx context.Context) ([]metadata.Transaction, error) {
	return queryAll(ctx, s.r, scanTxn, txnSelect+` ORDER BY id`)
}

// OpenTransactions implements metadata.Transactions.
func (s *Store) OpenTransactions(ctx context.Context) ([]metadata.Transaction, error) {
	return queryAll(ctx, s.r, scanTxn, txnSelect+` WHERE state IN ('Ongoing', 'PrepareCommit', 'PrepareAbort') ORDER BY id`)
}

// txnRows is SQLite's side of the transaction writes
// (sequencer.TxnRows), inside the writer's transaction.
type txnRows struct{ tx *sql.Tx }

// inTxnTx runs fn with txnRows in a write transaction, committed unless
// fn fails (sequencer.InTx).
func (s *Store) inTxnTx(ctx context.Context, fn func(sequencer.TxnRows) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(txnRows{tx}); err != nil {
		return err
	}
	return tx.Commit()
}

func (r txnRows) ReadTxn(ctx context.Context, id string) (metadata.Transaction, error) {
	return scanTxn(r.tx.QueryRowContext(ctx, txnSelect+` WHERE id = ?`, id))
}

func (r txnRows) InsertTxn(ctx context.Context, t *sequencer.TxnRow) (bool, error) {
	res, err := r.tx.ExecContext(ctx, `INSERT INTO transactions(id, version, producer_id, producer_epoch, last_producer_id, last_producer_epoch,
		timeout_ms, state, partitions, txn_groups, started_at, updated_at) VALUES (?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING`,
		t.ID, t.ProducerID, t.ProducerEpoch, t.LastProducerID, t.LastProducerEpoch, t.TimeoutMs, t.State, t.Partitions, t.Groups, t.StartedAt, t.UpdatedAt)
	return changedOne(res, err)
}

func (r txnRows) UpdateTxn(ctx context.Context, t *sequencer.TxnRow, version int64) (bool, error) {
	res, err := r.tx.ExecContext(ctx, `UPDATE transactions SET version = version + 1, producer_id = ?, producer_epoch = ?, last_producer_id = ?,
		last_producer_epoch = ?, timeout_ms = ?, state = ?, partitions = ?, txn_groups = ?, started_at = ?, updated_at = ?
		WHERE id = ? AND version = ?`,
		t.ProducerID, t.ProducerEpoch, t.LastProducerID, t.LastProducerEpoch, t.TimeoutMs, t.State, t.Partitions, t.Groups,
		t.StartedAt, t.UpdatedAt, t.ID, version)
	return changedOne(res, err)
}

// changedOne reports whether a statement changed exactly one row.
func changedOne(res sql.Result, err error) (bool, error) {
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func (r txnRows) StageOffsets(ctx context.Context, id, group string, offsets []metadata.OffsetCommit) error {
	for _, o := range offsets {
		if _, err := r.tx.ExecContext(ctx, `INSERT INTO txn_offsets(transactional_id, group_name, topic, partition, committed_offset, leader_epoch, metadata)
			VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(transactional_id, group_name, topic, partition) DO UPDATE SET
			committed_offset = excluded.committed_offset, leader_epoch = excluded.leader_epoch, metadata = excluded.metadata`,
			id, group, o.Topic, o.Partition, o.Offset, o.LeaderEpoch, o.Metadata); err != nil {
			return err
		}
	}
	return nil
}

func (r txnRows) ApplyStagedOffsets(ctx context.Context, id string) error {
	_, err := r.tx.ExecContext(ctx, `INSERT INTO group_offsets(group_name, topic, partition, committed_offset, leader_epoch, metadata, committed_at)
		SELECT group_name, topic, partition, committed_offset, leader_epoch, metadata, ? FROM txn_offsets WHERE transactional_id = ?
		ON CONFLICT(group_name, topic, partition) DO UPDATE SET committed_offset = excluded.committed_offset,
		leader_epoch = excluded.leader_epoch, metadata = excluded.metadata, committed_at = excluded.committed_at`,
		time.Now().UnixMilli(), id)
	return err
}

func (r txnRows) DropStagedOffsets(ctx context.Context, id string) error {
	_, err := r.tx.ExecContext(ctx, `DELETE FROM txn_offsets WHERE transactional_id = ?`, id)
	return err
}

// PendingTxnOffsets implements metadata.Transactions.
func (s *Store) PendingTxnOffsets(ctx context.Context, group string) ([]metadata.OffsetCommit, error) {
	return queryAll(ctx, s.r, rowscan.StagedOffset, `SELECT topic, partition, committed_offset, leader_epoch, metadata FROM txn_offsets
		WHERE group_name = ? ORDER BY topic, partition`, group)
}

// StableState implements metadata.Transactions (sequencer.StableState).
func (s *Store) StableState(ctx context.Context, topic metadata.TopicID, partition int32, from int64) (metadata.StableState, error) {
	return sequencer.StableState(ctx, stableRows{s}, topic, partition, from)
}

// stableRows is SQLite's side of StableState (sequencer.StableRows), with
// the read path's prepared statements.
type stableRows struct{ *Store }

func (r stableRows) FirstOpenTxn(ctx context.Context, topic metadata.TopicID, partition int32) (int64, bool, error) {
	var first sql.NullInt64
	err := r.read.firstOpenTxn.QueryRowContext(ctx, topic[:], partition).Scan(&first)
	return first.Int64, first.Valid, err
}

func (r stableRows) AbortedTxns(ctx context.Context, topic metadata.TopicID, partition int32, from, below int64) ([]metadata.AbortedTxn, error) {
	rows, err := r.read.abortedTxns.QueryContext(ctx, topic[:], partition, from, below)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return rowscan.AbortedTxns(rows)
}

// PartitionProducers implements metadata.Transactions.
func (s *Store) PartitionProducers(ctx context.Context, topic metadata.TopicID, partition int32) ([]metadata.ProducerState, error) {
	return queryAll(ctx, s.r, rowscan.ProducerState, `SELECT p.producer_id, p.epoch, p.recent, coalesce(o.first_offset, -1) FROM producers p
		LEFT JOIN txn_open o ON o.topic_id = p.topic_id AND o.partition = p.partition AND o.producer_id = p.producer_id
		WHERE p.topic_id = ? AND p.partition = ? ORDER BY p.producer_id`, topic[:], partition)
}
