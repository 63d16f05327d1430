package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/metadata/rowscan"
	"github.com/sluicehq/sluice/internal/metadata/sequencer"
)

// txnMigration is the schema of transactions: coordinator state per
// transactional ID, staged transactional offsets, and the per-partition
// transaction index CommitFile maintains (open transactions' first
// offsets, aborted ranges).
const txnMigration = `CREATE TABLE transactions (
		id text PRIMARY KEY,
		version bigint NOT NULL,
		producer_id bigint NOT NULL,
		producer_epoch smallint NOT NULL,
		last_producer_id bigint NOT NULL,
		last_producer_epoch smallint NOT NULL,
		timeout_ms integer NOT NULL,
		state text NOT NULL,
		partitions text NOT NULL,
		txn_groups text NOT NULL,
		started_at bigint NOT NULL,
		updated_at bigint NOT NULL);
	CREATE INDEX transactions_producer ON transactions (producer_id);
	CREATE INDEX transactions_state ON transactions (state);
	CREATE TABLE txn_open (
		topic_id uuid NOT NULL,
		partition integer NOT NULL,
		producer_id bigint NOT NULL,
		first_offset bigint NOT NULL,
		PRIMARY KEY (topic_id, partition, producer_id));
	CREATE TABLE txn_aborted (
		topic_id uuid NOT NULL,
		partition integer NOT NULL,
		last_offset bigint NOT NULL,
		producer_id bigint NOT NULL,
		first_offset bigint NOT NULL,
		PRIMARY KEY (topic_id, partition, last_offset));
	CREATE TABLE txn_offsets (
		transactional_id text NOT NULL,
		group_name text NOT NULL,
		topic text NOT NULL,
		partition integer NOT NULL,
		committed_offset bigint NOT NULL,
		leader_epoch integer NOT NULL,
		metadata text NOT NULL,
		PRIMARY KEY (transactional_id, group_name, topic, partition));
	CREATE INDEX txn_offsets_group ON txn_offsets (group_name);`

const txnSelect = `SELECT id, version, producer_id, producer_epoch, last_producer_id, last_producer_epoch, timeout_ms, state,
	partitions, txn_groups, started_at, updated_at FROM transactions`

func scanTxn(row rowscan.Scanner) (metadata.Transaction, error) {
	t, err := rowscan.Txn(row)
	if errors.Is(err, pgx.ErrNoRows) {
		return t, metadata.ErrNotFound
	}
	return t, err
}

// Transaction implements metadata.Transactions.
func (s *Store) Transaction(ctx context.Context, id string) (metadata.Transaction, error) {
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	return scanTxn(s.pool.QueryRow(ctx, txnSelect+` WHERE id = $1`, id))
}

// ListTransactions implements metadata.Transactions.
func (s *Store) ListTransactions(ctx context.Context) ([]metadata.Transaction, error) {
	return queryAll(ctx, s, scanTxn, txnSelect+` ORDER BY id`)
}

// OpenTransactions implements metadata.Transactions.
func (s *Store) OpenTransactions(ctx context.Context) ([]metadata.Transaction, error) {
	return queryAll(ctx, s, scanTxn, txnSelect+` WHERE state IN ('Ongoing', 'PrepareCommit', 'PrepareAbort') ORDER BY id`)
}

// txnRows is PostgreSQL's side of the transaction writes
// (sequencer.TxnRows), inside one database transaction.
type txnRows struct{ tx pgx.Tx }

// inTxnTx runs fn with txnRows in a transaction (sequencer.InTx).
func (s *Store) inTxnTx(ctx context.Context, fn func(sequencer.TxnRows) error) error {
	return s.inTx(ctx, func(tx pgx.Tx) error { return fn(txnRows{tx}) })
}

// ReadTxn reads the row FOR SHARE, so a concurrent state change waits for
// a staging (and CompleteTransaction then sees the staged offsets) or
// happens first (and the staging sees the new state).
func (r txnRows) ReadTxn(ctx context.Context, id string) (metadata.Transaction, error) {
	return scanTxn(r.tx.QueryRow(ctx, txnSelect+` WHERE id = $1 FOR SHARE`, id))
}

func (r txnRows) InsertTxn(ctx context.Context, t *sequencer.TxnRow) (bool, error) {
	tag, err := r.tx.Exec(ctx, `INSERT INTO transactions(id, version, producer_id, producer_epoch, last_producer_id, last_producer_epoch,
		timeout_ms, state, partitions, txn_groups, started_at, updated_at) VALUES ($1, 1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (id) DO NOTHING`,
		t.ID, t.ProducerID, t.ProducerEpoch, t.LastProducerID, t.LastProducerEpoch, t.TimeoutMs, t.State, t.Partitions, t.Groups, t.StartedAt, t.UpdatedAt)
	return tag.RowsAffected() == 1, err
}

// UpdateTxn takes the row lock: a staging waiting on the row then sees
// the new state.
func (r txnRows) UpdateTxn(ctx context.Context, t *sequencer.TxnRow, version int64) (bool, error) {
	tag, err := r.tx.Exec(ctx, `UPDATE transactions SET version = version + 1, producer_id = $1, producer_epoch = $2, last_producer_id = $3,
		last_producer_epoch = $4, timeout_ms = $5, state = $6, partitions = $7, txn_groups = $8, started_at = $9, updated_at = $10
		WHERE id = $11 AND version = $12`,
		t.ProducerID, t.ProducerEpoch, t.LastProducerID, t.LastProducerEpoch, t.TimeoutMs, t.State, t.Partitions, t.Groups,
		t.StartedAt, t.UpdatedAt, t.ID, version)
	return tag.RowsAffected() == 1, err
}

func (r txnRows) StageOffsets(ctx context.Context, id, group string, offsets []metadata.OffsetCommit) error {
	for _, o := range offsets {
		if _, err := r.tx.Exec(ctx, `INSERT INTO txn_offsets(transactional_id, group_name, topic, partition, committed_offset, leader_epoch, metadata)
			VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (transactional_id, group_name, topic, partition) DO UPDATE SET
			committed_offset = excluded.committed_offset, leader_epoch = excluded.leader_epoch, metadata = excluded.metadata`,
			id, group, o.Topic, o.Partition, o.Offset, o.LeaderEpoch, o.Metadata); err != nil {
			return err
		}
	}
	return nil
}

func (r txnRows) ApplyStagedOffsets(ctx context.Context, id string) error {
	_, err := r.tx.Exec(ctx, `INSERT INTO group_offsets(group_name, topic, partition, committed_offset, leader_epoch, metadata, committed_at)
		SELECT group_name, topic, partition, committed_offset, leader_epoch, metadata, now() FROM txn_offsets WHERE transactional_id = $1
		ON CONFLICT (group_name, topic, partition) DO UPDATE SET committed_offset = excluded.committed_offset,
		leader_epoch = excluded.leader_epoch, metadata = excluded.metadata, committed_at = excluded.committed_at`, id)
	return err
}

func (r txnRows) DropStagedOffsets(ctx context.Context, id string) error {
	_, err := r.tx.Exec(ctx, `DELETE FROM txn_offsets WHERE transactional_id = $1`, id)
	return err
}

// PendingTxnOffsets implements metadata.Transactions.
func (s *Store) PendingTxnOffsets(ctx context.Context, group string) ([]metadata.OffsetCommit, error) {
	return queryAll(ctx, s, rowscan.StagedOffset, `SELECT topic, partition, committed_offset, leader_epoch, metadata FROM txn_offsets
		WHERE group_name = $1 ORDER BY topic, partition`, group)
}

// StableState implements metadata.Transactions (sequencer.StableState).
func (s *Store) StableState(ctx context.Context, topic metadata.TopicID, partition int32, from int64) (metadata.StableState, error) {
	return sequencer.StableState(ctx, stableRows{s}, topic, partition, from)
}

// stableRows is PostgreSQL's side of StableState (sequencer.StableRows).
type stableRows struct{ *Store }

func (r stableRows) FirstOpenTxn(ctx context.Context, topic metadata.TopicID, partition int32) (int64, bool, error) {
	ctx, cancel := r.opContext(ctx)
	defer cancel()
	var first pgtype.Int8
	err := r.pool.QueryRow(ctx, `SELECT min(first_offset) FROM txn_open WHERE topic_id = $1 AND partition = $2`,
		[16]byte(topic), partition).Scan(&first)
	return first.Int64, first.Valid, err
}

func (r stableRows) AbortedTxns(ctx context.Context, topic metadata.TopicID, partition int32, from, below int64) ([]metadata.AbortedTxn, error) {
	ctx, cancel := r.opContext(ctx)
	defer cancel()
	rows, err := r.pool.Query(ctx, `SELECT producer_id, first_offset, last_offset FROM txn_aborted
		WHERE topic_id = $1 AND partition = $2 AND last_offset >= $3 AND first_offset < $4 ORDER BY first_offset`,
		[16]byte(topic), partition, from, below)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return rowscan.AbortedTxns(rows)
}

// PartitionProducers implements metadata.Transactions. The state of a
// producer the partition's row names is the row's
// (producerInRowMigration); its producers row, if any, is outdated.
func (s *Store) PartitionProducers(ctx context.Context, topic metadata.TopicID, partition int32) ([]metadata.ProducerState, error) {
	return queryAll(ctx, s, rowscan.ProducerState, `WITH held AS (SELECT split_part(e, ' ', 1)::bigint AS producer_id,
				split_part(e, ' ', 2)::smallint AS epoch, split_part(e, ' ', 3) AS recent
			FROM partitions, unnest(string_to_array(producer_states, ';')) AS e WHERE topic_id = $1 AND partition = $2),
		p AS (SELECT producer_id, epoch, recent FROM held
			UNION ALL
			SELECT producer_id, epoch, recent FROM producers
			WHERE topic_id = $1 AND partition = $2 AND producer_id NOT IN (SELECT producer_id FROM held))
		SELECT p.producer_id, p.epoch, p.recent, coalesce(o.first_offset, -1) FROM p
		LEFT JOIN txn_open o ON o.topic_id = $1 AND o.partition = $2 AND o.producer_id = p.producer_id
		ORDER BY p.producer_id`, [16]byte(topic), partition)
}
