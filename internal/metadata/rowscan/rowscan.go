// Package rowscan reads query results into slices the same way in every
// metadata backend, whatever its driver: *sql.Rows (SQLite) and pgx.Rows
// (PostgreSQL) are both Rows, and their single rows both Scanners.
package rowscan

import (
	"fmt"

	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/metadata/sequencer"
)

// Scanner is one row of a result.
type Scanner interface {
	Scan(dest ...any) error
}

// Rows is a result set being read.
type Rows interface {
	Scanner
	Next() bool
	Err() error
}

// Collect scans every remaining row of rows with scan and returns them in
// order (nil for none), or the first error. The caller closes rows.
func Collect[T any](rows Rows, scan func(Scanner) (T, error)) ([]T, error) {
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// Map scans rows of two columns, a key and its value, into a map (empty,
// not nil, for no rows).
func Map[K comparable, V any](rows Rows) (map[K]V, error) {
	out := map[K]V{}
	for rows.Next() {
		var (
			k K
			v V
		)
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		out[k] = v
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// AddKeys scans rows of one column into the set keys.
func AddKeys[K comparable](rows Rows, keys map[K]bool) error {
	for rows.Next() {
		var k K
		if err := rows.Scan(&k); err != nil {
			return err
		}
		keys[k] = true
	}
	return rows.Err()
}

// The scanners below read row shapes every backend stores alike.

// StagedOffset scans (topic, partition, committed_offset, leader_epoch,
// metadata).
func StagedOffset(row Scanner) (metadata.OffsetCommit, error) {
	var o metadata.OffsetCommit
	err := row.Scan(&o.Topic, &o.Partition, &o.Offset, &o.LeaderEpoch, &o.Metadata)
	return o, err
}

// AbortedTxns scans rows of (producer_id, first_offset, last_offset). It
// is on the read path of every read_committed fetch, so it scans every
// row into one destination, allocated at the first row, instead of one
// that escapes per row.
func AbortedTxns(rows Rows) ([]metadata.AbortedTxn, error) {
	var (
		out  []metadata.AbortedTxn
		a    *metadata.AbortedTxn
		dest []any
	)
	for rows.Next() {
		if a == nil {
			a = new(metadata.AbortedTxn)
			dest = []any{&a.ProducerID, &a.FirstOffset, &a.LastOffset}
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		out = append(out, *a)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// ProducerState scans (producer_id, epoch, recent, first offset of the
// open transaction or -1), recent being the producer's recent batches as
// stored (sequencer.AppendRecent).
func ProducerState(row Scanner) (metadata.ProducerState, error) {
	var (
		p      metadata.ProducerState
		recent []byte
	)
	if err := row.Scan(&p.ProducerID, &p.ProducerEpoch, &recent, &p.TxnStartOffset); err != nil {
		return p, err
	}
	batches, err := sequencer.ParseRecent(recent)
	if err != nil {
		return p, fmt.Errorf("producer state: %w", err)
	}
	st := sequencer.State{Recent: batches}
	p.LastSequence = st.LastSequence()
	return p, nil
}

// Txn scans a transaction's row (sequencer.TxnRow's columns) and decodes
// it; a driver's no-rows error is returned as it is.
func Txn(row Scanner) (metadata.Transaction, error) {
	var r sequencer.TxnRow
	if err := row.Scan(r.Fields()...); err != nil {
		return metadata.Transaction{}, err
	}
	return r.Transaction()
}
