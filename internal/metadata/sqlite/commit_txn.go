package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/sluicehq/sluice/internal/metadata"
)

// txnCommit is the transaction index work of one CommitFile: the
// producers' transactions (by producer ID, read when a transactional batch
// first needs one) and the open-transaction rows of the partitions
// touched (read up front with one query), written at the end with one
// statement per kind of change.
type txnCommit struct {
	cf      *commitFile
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

// readOpen reads the txn_open rows of every (partition, producer) that a
// marker or a transactional batch of the file touches on an existing
// partition.
func (tc *txnCommit) readOpen(ctx context.Context, batches []metadata.BatchCommit) error {
	cf := tc.cf
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
		pk := partKey{b.TopicID, b.Partition}
		if !cf.parts[cf.partIndex[pk]].exists {
			continue
		}
		if tc.open == nil {
			tc.open = map[openKey]*openTxn{}
		}
		k := openKey{pk, pid}
		if _, ok := tc.open[k]; !ok {
			tc.open[k] = &openTxn{closed: true}
			tc.order = append(tc.order, k)
		}
	}
	if len(tc.order) == 0 {
		return nil
	}
	cf.args = cf.args[:0]
	for i := range tc.order {
		k := &tc.order[i]
		t, p := cf.partArgs(k.part)
		cf.args = append(cf.args, i, t, p, k.pid)
	}
	var i, first int64
	err := cf.stmts.readOpenTxns.query(ctx, cf.tx, cf.args, func(rows *sql.Rows) error {
		if err := rows.Scan(&i, &first); err != nil {
			return err
		}
		if i < 0 || i >= int64(len(tc.order)) {
			return fmt.Errorf("unexpected row %d", i)
		}
		o := tc.open[tc.order[i]]
		o.first, o.stored, o.closed = first, true, false
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: read open transactions: %w", err)
	}
	return nil
}

// checkTxn verifies that a transactional batch of producer p is part of
// its producer's ongoing transaction on the batch's partition.
func (tc *txnCommit) checkTxn(ctx context.Context, b metadata.BatchCommit) error {
	if tc.txns == nil {
		tc.txns = map[int64]*metadata.Transaction{}
	}
	p := b.Producer
	t, ok := tc.txns[p.ID]
	if !ok {
		got, err := scanTxn(tc.cf.tx.StmtContext(ctx, tc.cf.stmts.readProducerTxn).QueryRowContext(ctx, p.ID))
		switch {
		case errors.Is(err, metadata.ErrNotFound):
		case err != nil:
			return fmt.Errorf("sqlite: read transaction: %w", err)
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

// marked notes a marker appended at offset: it closes the producer's
// open transaction on the partition, if any.
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

// write saves the open transactions and aborted ranges.
func (tc *txnCommit) write(ctx context.Context) error {
	cf := tc.cf
	cf.args = cf.args[:0]
	for i := range tc.order {
		k := &tc.order[i]
		if o := tc.open[*k]; o.touched && !o.closed {
			t, p := cf.partArgs(k.part)
			cf.args = append(cf.args, t, p, k.pid, o.first)
		}
	}
	if _, err := cf.stmts.upsertOpenTxns.exec(ctx, cf.tx, cf.args); err != nil {
		return fmt.Errorf("sqlite: open transactions: %w", err)
	}
	cf.args = cf.args[:0]
	for i := range tc.order {
		k := &tc.order[i]
		if o := tc.open[*k]; o.touched && o.closed && o.stored {
			t, p := cf.partArgs(k.part)
			cf.args = append(cf.args, t, p, k.pid)
		}
	}
	if _, err := cf.stmts.deleteOpenTxns.exec(ctx, cf.tx, cf.args); err != nil {
		return fmt.Errorf("sqlite: open transactions: %w", err)
	}
	cf.args = cf.args[:0]
	for i := range tc.aborted {
		a := &tc.aborted[i]
		t, p := cf.partArgs(a.key.part)
		cf.args = append(cf.args, t, p, a.last, a.key.pid, a.first)
	}
	if _, err := cf.stmts.insertAborted.exec(ctx, cf.tx, cf.args); err != nil {
		return fmt.Errorf("sqlite: aborted transactions: %w", err)
	}
	return nil
}
