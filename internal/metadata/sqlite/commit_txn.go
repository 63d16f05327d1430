package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/metadata/seq"
)

// txnCommit is the transaction index work of one CommitFile
// (seq.TxnIndex): the open-transaction rows of the partitions touched are
// read up front with one query and written at the end with one statement
// per kind of change.
type txnCommit struct {
	cf *commitFile
	seq.TxnIndex
}

// readOpen reads the txn_open rows of every (partition, producer) that a
// marker or a transactional batch of the file touches on an existing
// partition.
func (tc *txnCommit) readOpen(ctx context.Context, batches []metadata.BatchCommit) error {
	cf := tc.cf
	for _, b := range batches {
		if k, ok := seq.TxnKeyOf(b); ok && cf.parts[cf.partIndex[partKey{b.TopicID, b.Partition}]].exists {
			tc.Want(k)
		}
	}
	if len(tc.Order) == 0 {
		return nil
	}
	cf.args = cf.args[:0]
	for i, k := range tc.Order {
		t, p := cf.partArgs(partKey{k.Topic, k.Partition})
		cf.args = append(cf.args, i, t, p, k.ProducerID)
	}
	var i, first int64
	err := cf.stmts.readOpenTxns.query(ctx, cf.tx, cf.args, func(rows *sql.Rows) error {
		if err := rows.Scan(&i, &first); err != nil {
			return err
		}
		if i < 0 || i >= int64(len(tc.Order)) {
			return fmt.Errorf("unexpected row %d", i)
		}
		tc.Loaded(tc.Order[i], first)
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: read open transactions: %w", err)
	}
	return nil
}

// checkTxn verifies that a transactional batch is part of its producer's
// ongoing transaction on the batch's partition.
func (tc *txnCommit) checkTxn(ctx context.Context, b metadata.BatchCommit) error {
	return tc.CheckWrite(b, func(pid int64) (metadata.Transaction, error) {
		t, err := scanTxn(tc.cf.tx.StmtContext(ctx, tc.cf.stmts.readProducerTxn).QueryRowContext(ctx, pid))
		if err != nil && !errors.Is(err, metadata.ErrNotFound) {
			err = fmt.Errorf("sqlite: read transaction: %w", err)
		}
		return t, err
	})
}

// write saves the open transactions and aborted ranges.
func (tc *txnCommit) write(ctx context.Context) error {
	cf := tc.cf
	cf.args = cf.args[:0]
	for _, k := range tc.Order {
		if o := tc.Open[k]; o.Touched && !o.Closed {
			t, p := cf.partArgs(partKey{k.Topic, k.Partition})
			cf.args = append(cf.args, t, p, k.ProducerID, o.First)
		}
	}
	if _, err := cf.stmts.upsertOpenTxns.exec(ctx, cf.tx, cf.args); err != nil {
		return fmt.Errorf("sqlite: open transactions: %w", err)
	}
	cf.args = cf.args[:0]
	for _, k := range tc.Order {
		if o := tc.Open[k]; o.Touched && o.Closed && o.Stored {
			t, p := cf.partArgs(partKey{k.Topic, k.Partition})
			cf.args = append(cf.args, t, p, k.ProducerID)
		}
	}
	if _, err := cf.stmts.deleteOpenTxns.exec(ctx, cf.tx, cf.args); err != nil {
		return fmt.Errorf("sqlite: open transactions: %w", err)
	}
	cf.args = cf.args[:0]
	for _, a := range tc.Aborted {
		t, p := cf.partArgs(partKey{a.Key.Topic, a.Key.Partition})
		cf.args = append(cf.args, t, p, a.Last, a.Key.ProducerID, a.First)
	}
	if _, err := cf.stmts.insertAborted.exec(ctx, cf.tx, cf.args); err != nil {
		return fmt.Errorf("sqlite: aborted transactions: %w", err)
	}
	return nil
}
