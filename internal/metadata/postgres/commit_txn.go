package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/internal/metadata"
)

// txnCommit is the transaction index work of one CommitFile: the
// producers' transactions (by producer ID, read when a transactional batch
// first needs one) and the open-transaction rows of the partitions touched
// (read up front in one query), written with the commit's other writes in
// its final pipelined batch. The partitions rows are locked, so txn_open
// rows of those partitions cannot change under us.
type txnCommit struct {
	txns    map[int64]*metadata.Transaction // nil value: no transaction
	open    map[openKey]*openTxn
	order   []openKey // keys of open, in order of first appearance
	aborted []abortedRow
}

type openKey struct {
	part partKey
	pid  int64
}

type openTxn struct {
	first   int64
	stored  bool // a row exists in txn_open
	closed  bool
	touched bool // a batch or marker of this commit changed it
}

type abortedRow struct {
	key         openKey
	first, last int64
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
		var pid int64
		switch {
		case b.Marker != nil:
			pid = b.Marker.ProducerID
		case b.Producer != nil && b.Transactional:
			pid = b.Producer.ID
		default:
			continue
		}
		if tc.open == nil {
			tc.open = map[openKey]*openTxn{}
		}
		pk := partKey{b.TopicID, b.Partition}
		k := openKey{pk, pid}
		if _, ok := tc.open[k]; !ok {
			tc.open[k] = &openTxn{closed: true}
			tc.order = append(tc.order, k)
			topicsArg, partsArg, idsArg = append(topicsArg, pk.topic), append(partsArg, pk.partition), append(idsArg, pid)
		}
	}
	if len(tc.order) == 0 {
		return
	}
	batch.Queue(`SELECT o.topic_id, o.partition, o.producer_id, o.first_offset FROM txn_open o
		JOIN unnest($1::uuid[], $2::int[], $3::bigint[]) AS k(topic_id, partition, producer_id)
		ON o.topic_id = k.topic_id AND o.partition = k.partition AND o.producer_id = k.producer_id`,
		topicsArg, partsArg, idsArg).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var (
				k     openKey
				first int64
			)
			if err := rows.Scan((*[16]byte)(&k.part.topic), &k.part.partition, &k.pid, &first); err != nil {
				return fmt.Errorf("read open transactions: %w", err)
			}
			o := tc.open[k]
			if o == nil {
				return errors.New("read open transactions: unexpected row")
			}
			o.first, o.stored, o.closed = first, true, false
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
	if tc.txns == nil {
		tc.txns = map[int64]*metadata.Transaction{}
	}
	p := b.Producer
	t, ok := tc.txns[p.ID]
	if !ok {
		got, err := scanTxn(tx.QueryRow(ctx, txnSelect+` WHERE producer_id = $1 ORDER BY updated_at DESC LIMIT 1 FOR SHARE`, p.ID))
		switch {
		case errors.Is(err, metadata.ErrNotFound):
		case err != nil:
			return fmt.Errorf("read transaction: %w", err)
		default:
			t = &got
		}
		tc.txns[p.ID] = t
	}
	return metadata.CheckTxnWrite(t, p.Epoch, b.TopicID, b.Partition)
}

// opened notes a transactional batch appended at base. readOpen has read
// the row of every key a commit can pass here.
func (tc *txnCommit) opened(k openKey, base int64) {
	if o := tc.open[k]; o.closed {
		o.first, o.closed, o.touched = base, false, true
	}
}

// marked notes a marker appended at offset: it closes the producer's open
// transaction on the partition, if any.
func (tc *txnCommit) marked(k openKey, offset int64, commit bool) {
	o := tc.open[k]
	if o.closed {
		return
	}
	o.closed, o.touched = true, true
	if !commit {
		tc.aborted = append(tc.aborted, abortedRow{key: k, first: o.first, last: offset})
	}
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
	for _, k := range tc.order {
		o := tc.open[k]
		switch {
		case !o.touched:
		case !o.closed:
			upT, upP, upID, upFirst = append(upT, k.part.topic), append(upP, k.part.partition), append(upID, k.pid), append(upFirst, o.first)
		case o.stored:
			delT, delP, delID = append(delT, k.part.topic), append(delP, k.part.partition), append(delID, k.pid)
		}
	}
	for _, a := range tc.aborted {
		abT, abP, abID = append(abT, a.key.part.topic), append(abP, a.key.part.partition), append(abID, a.key.pid)
		abFirst, ab = append(abFirst, a.first), append(ab, a.last)
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
