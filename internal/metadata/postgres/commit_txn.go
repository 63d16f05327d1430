package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/metadata/seq"
)

// txnCommit is the transaction index work of one CommitFile
// (seq.TxnIndex): the open-transaction rows of the partitions touched are
// read up front in one query and written with the commit's other writes
// in its final pipelined batch. The partitions rows are locked, so
// txn_open rows of those partitions cannot change under us.
type txnCommit struct {
	seq.TxnIndex
}

// queueReadOpen queues the read of the txn_open rows of every (partition,
// producer) that a marker or a transactional batch of the file touches
// (a partition that does not exist has none).
func (tc *txnCommit) queueReadOpen(batch *pgx.Batch, batches []metadata.BatchCommit) {
	var (
		topicsArg [][16]byte
		partsArg  []int32
		idsArg    []int64
	)
	for _, b := range batches {
		if k, ok := seq.TxnKeyOf(b); ok && tc.Want(k) {
			topicsArg, partsArg, idsArg = append(topicsArg, k.Topic), append(partsArg, k.Partition), append(idsArg, k.ProducerID)
		}
	}
	if len(tc.Order) == 0 {
		return
	}
	batch.Queue(`SELECT o.topic_id, o.partition, o.producer_id, o.first_offset FROM txn_open o
		JOIN unnest($1::uuid[], $2::int[], $3::bigint[]) AS k(topic_id, partition, producer_id)
		ON o.topic_id = k.topic_id AND o.partition = k.partition AND o.producer_id = k.producer_id`,
		topicsArg, partsArg, idsArg).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var (
				k     seq.Key
				first int64
			)
			if err := rows.Scan((*[16]byte)(&k.Topic), &k.Partition, &k.ProducerID, &first); err != nil {
				return fmt.Errorf("read open transactions: %w", err)
			}
			if !tc.Loaded(k, first) {
				return errors.New("read open transactions: unexpected row")
			}
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read open transactions: %w", err)
		}
		return nil
	})
}

// checkTxn verifies that a transactional batch is part of its producer's
// ongoing transaction on the batch's partition. The transaction row is
// read FOR SHARE: EndTxn's move to PrepareCommit/PrepareAbort waits for
// this commit, so its markers come after the batch.
func (tc *txnCommit) checkTxn(ctx context.Context, tx pgx.Tx, b metadata.BatchCommit) error {
	return tc.CheckWrite(b, func(pid int64) (metadata.Transaction, error) {
		t, err := scanTxn(tx.QueryRow(ctx, txnSelect+` WHERE producer_id = $1 ORDER BY updated_at DESC LIMIT 1 FOR SHARE`, pid))
		if err != nil && !errors.Is(err, metadata.ErrNotFound) {
			err = fmt.Errorf("read transaction: %w", err)
		}
		return t, err
	})
}

// queueWrites queues the set-based writes of the open transactions and
// aborted ranges on batch.
func (tc *txnCommit) queueWrites(batch *pgx.Batch) {
	var (
		upT, delT, abT       [][16]byte
		upP, delP, abP       []int32
		upID, delID, abID    []int64
		upFirst, abFirst, ab []int64
	)
	for _, k := range tc.Order {
		o := tc.Open[k]
		switch {
		case !o.Touched:
		case !o.Closed:
			upT, upP, upID, upFirst = append(upT, k.Topic), append(upP, k.Partition), append(upID, k.ProducerID), append(upFirst, o.First)
		case o.Stored:
			delT, delP, delID = append(delT, k.Topic), append(delP, k.Partition), append(delID, k.ProducerID)
		}
	}
	for _, a := range tc.Aborted {
		abT, abP, abID = append(abT, a.Key.Topic), append(abP, a.Key.Partition), append(abID, a.Key.ProducerID)
		abFirst, ab = append(abFirst, a.First), append(ab, a.Last)
	}
	if len(upT) > 0 {
		batch.Queue(`INSERT INTO txn_open(topic_id, partition, producer_id, first_offset)
			SELECT * FROM unnest($1::uuid[], $2::int[], $3::bigint[], $4::bigint[])
			ON CONFLICT (topic_id, partition, producer_id) DO UPDATE SET first_offset = excluded.first_offset`,
			upT, upP, upID, upFirst)
	}
	if len(delT) > 0 {
		batch.Queue(`DELETE FROM txn_open o USING unnest($1::uuid[], $2::int[], $3::bigint[]) AS k(topic_id, partition, producer_id)
			WHERE o.topic_id = k.topic_id AND o.partition = k.partition AND o.producer_id = k.producer_id`,
			delT, delP, delID)
	}
	if len(abT) > 0 {
		batch.Queue(`INSERT INTO txn_aborted(topic_id, partition, last_offset, producer_id, first_offset)
			SELECT * FROM unnest($1::uuid[], $2::int[], $3::bigint[], $4::bigint[], $5::bigint[])`,
			abT, abP, ab, abID, abFirst)
	}
}
