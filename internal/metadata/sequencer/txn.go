package sequencer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/internal/metadata"
)

// TxnRows is a backend's side of the metadata.Transactions writes, inside
// the database transaction it opened for one call. Errors other than the
// ones named are the backend's, returned as they are.
type TxnRows interface {
	// ReadTxn reads a transactional ID's row (metadata.ErrNotFound if
	// none). A backend with concurrent writers locks it (shared) until the
	// transaction ends.
	ReadTxn(ctx context.Context, id string) (metadata.Transaction, error)
	// InsertTxn stores r, with version 1, unless a row with its ID exists,
	// and reports whether it did.
	InsertTxn(ctx context.Context, r *TxnRow) (bool, error)
	// UpdateTxn replaces the row of r.ID, setting version+1, if its version
	// is still version, and reports whether it did.
	UpdateTxn(ctx context.Context, r *TxnRow, version int64) (bool, error)
	// StageOffsets upserts offsets staged by transactional ID id for group.
	StageOffsets(ctx context.Context, id, group string, offsets []metadata.OffsetCommit) error
	// ApplyStagedOffsets upserts the offsets id staged into their groups'
	// committed offsets, stamped with the backend's clock.
	ApplyStagedOffsets(ctx context.Context, id string) error
	// DropStagedOffsets deletes the offsets id staged.
	DropStagedOffsets(ctx context.Context, id string) error
}

// TxnRow is a Transaction as every backend stores it: partitions and
// groups as JSON arrays, times as Unix milliseconds (0: no start).
type TxnRow struct {
	ID                string
	Version           int64
	ProducerID        int64
	ProducerEpoch     int16
	LastProducerID    int64
	LastProducerEpoch int16
	TimeoutMs         int32
	State             string
	Partitions        string
	Groups            string
	StartedAt         int64
	UpdatedAt         int64
}

// Fields returns pointers to the row's fields in the stored column order
// (id, version, producer_id, producer_epoch, last_producer_id,
// last_producer_epoch, timeout_ms, state, partitions, txn_groups,
// started_at, updated_at), to scan a row into.
func (r *TxnRow) Fields() []any {
	return []any{&r.ID, &r.Version, &r.ProducerID, &r.ProducerEpoch, &r.LastProducerID, &r.LastProducerEpoch,
		&r.TimeoutMs, &r.State, &r.Partitions, &r.Groups, &r.StartedAt, &r.UpdatedAt}
}

// Transaction decodes the row.
func (r *TxnRow) Transaction() (metadata.Transaction, error) {
	t := metadata.Transaction{ID: r.ID, Version: r.Version, ProducerID: r.ProducerID, ProducerEpoch: r.ProducerEpoch,
		LastProducerID: r.LastProducerID, LastProducerEpoch: r.LastProducerEpoch, TimeoutMs: r.TimeoutMs, State: r.State}
	if err := json.Unmarshal([]byte(r.Partitions), &t.Partitions); err != nil {
		return t, fmt.Errorf("transaction %s partitions: %w", t.ID, err)
	}
	if err := json.Unmarshal([]byte(r.Groups), &t.Groups); err != nil {
		return t, fmt.Errorf("transaction %s groups: %w", t.ID, err)
	}
	if r.StartedAt != 0 {
		t.StartedAt = time.UnixMilli(r.StartedAt).UTC()
	}
	t.UpdatedAt = time.UnixMilli(r.UpdatedAt).UTC()
	return t, nil
}

// InTx runs fn inside one database transaction of a backend's, which it
// commits if fn returns nil; it may run fn again to retry the transaction.
type InTx func(ctx context.Context, fn func(TxnRows) error) error

// TxnWrites implements the writes of metadata.Transactions
// (SaveTransaction, CompleteTransaction, StageTxnOffsets) for a backend,
// which embeds it: every write runs in a transaction of InTx, with Now
// (the backend's clock) as its update time.
type TxnWrites struct {
	InTx InTx
	Now  func() time.Time
}

// SaveTransaction creates t if t.Version is 0, replaces it if its stored
// version is still t.Version (metadata.ErrTxnVersion otherwise), and
// returns it with its new version. On any error it returns t as given.
func (w TxnWrites) SaveTransaction(ctx context.Context, t metadata.Transaction) (metadata.Transaction, error) {
	now := w.Now()
	return runTxn(ctx, w.InTx, t, func(rows TxnRows) (metadata.Transaction, error) { return saveTxn(ctx, rows, t, now) })
}

// CompleteTransaction, if the stored version is still t.Version, moves t
// to Completed(t, commit) and applies (commit) or drops its staged
// offsets. The versioned save comes first (it takes the row lock where
// there is one, so a staging waiting on the row sees the completed
// state). On any error it returns t as given.
func (w TxnWrites) CompleteTransaction(ctx context.Context, t metadata.Transaction, commit bool) (metadata.Transaction, error) {
	now := w.Now()
	return runTxn(ctx, w.InTx, t, func(rows TxnRows) (metadata.Transaction, error) {
		out, err := saveTxn(ctx, rows, Completed(t, commit), now)
		if err != nil {
			return t, err
		}
		if commit {
			if err := rows.ApplyStagedOffsets(ctx, t.ID); err != nil {
				return t, fmt.Errorf("apply transactional offsets: %w", err)
			}
		}
		if err := rows.DropStagedOffsets(ctx, t.ID); err != nil {
			return t, err
		}
		return out, nil
	})
}

// StageTxnOffsets records offsets the transaction of producerID commits
// for group, if CheckTxnOffsets allows it (metadata.ErrInvalidTxnState for
// an unknown transactional ID).
func (w TxnWrites) StageTxnOffsets(ctx context.Context, id string, producerID int64, epoch int16, group string, offsets []metadata.OffsetCommit) error {
	return w.InTx(ctx, func(rows TxnRows) error {
		t, err := rows.ReadTxn(ctx, id)
		if errors.Is(err, metadata.ErrNotFound) {
			return fmt.Errorf("%w: unknown transactional id %s", metadata.ErrInvalidTxnState, id)
		}
		if err != nil {
			return err
		}
		if err := CheckTxnOffsets(t, producerID, epoch, group); err != nil {
			return err
		}
		if err := rows.StageOffsets(ctx, id, group, offsets); err != nil {
			return fmt.Errorf("stage offsets: %w", err)
		}
		return nil
	})
}

// runTxn runs fn in a transaction of inTx and returns its result once the
// transaction has committed, t if anything failed.
func runTxn(ctx context.Context, inTx InTx, t metadata.Transaction, fn func(TxnRows) (metadata.Transaction, error)) (metadata.Transaction, error) {
	out := t
	err := inTx(ctx, func(rows TxnRows) error {
		var err error
		out, err = fn(rows)
		return err
	})
	if err != nil {
		return t, err
	}
	return out, nil
}

// saveTxn writes t with rows, as SaveTransaction, with now as its update
// time.
func saveTxn(ctx context.Context, rows TxnRows, t metadata.Transaction, now time.Time) (metadata.Transaction, error) {
	out := t
	if out.Partitions == nil {
		out.Partitions = []metadata.TxnPartition{}
	}
	if out.Groups == nil {
		out.Groups = []string{}
	}
	parts, err := json.Marshal(out.Partitions)
	if err != nil {
		return t, err
	}
	groups, err := json.Marshal(out.Groups)
	if err != nil {
		return t, err
	}
	now = now.UTC().Truncate(time.Millisecond)
	r := TxnRow{ID: t.ID, Version: t.Version, ProducerID: t.ProducerID, ProducerEpoch: t.ProducerEpoch, LastProducerID: t.LastProducerID,
		LastProducerEpoch: t.LastProducerEpoch, TimeoutMs: t.TimeoutMs, State: t.State, Partitions: string(parts), Groups: string(groups),
		UpdatedAt: now.UnixMilli()}
	if !t.StartedAt.IsZero() {
		r.StartedAt = t.StartedAt.UnixMilli()
	}
	var ok bool
	if t.Version == 0 {
		ok, err = rows.InsertTxn(ctx, &r)
	} else {
		ok, err = rows.UpdateTxn(ctx, &r, t.Version)
	}
	if err != nil {
		return t, fmt.Errorf("save transaction %s: %w", t.ID, err)
	}
	if !ok {
		return t, fmt.Errorf("%w: %s version %d", metadata.ErrTxnVersion, t.ID, t.Version)
	}
	out.Version++
	out.UpdatedAt = now
	return out, nil
}

// Completed is the state CompleteTransaction moves t to: CompleteCommit
// (commit) or CompleteAbort, covering no partitions or groups.
func Completed(t metadata.Transaction, commit bool) metadata.Transaction {
	t.State = metadata.TxnCompleteAbort
	if commit {
		t.State = metadata.TxnCompleteCommit
	}
	t.Partitions, t.Groups, t.StartedAt = nil, nil, time.Time{}
	return t
}

// CheckTxnWrite applies the rule Commit checks for a transactional batch
// of epoch on a partition, given the producer's transaction (nil if it has
// none): an older epoch is fenced (ErrInvalidProducerEpoch); otherwise the
// transaction must be Ongoing under that epoch and cover the partition
// (ErrInvalidTxnState). This is the server-side verification of KIP-890
// part 1, made where offsets are assigned, so a late write can never land
// after the transaction's marker.
func CheckTxnWrite(t *metadata.Transaction, epoch int16, topic metadata.TopicID, partition int32) error {
	switch {
	case t == nil:
		return fmt.Errorf("%w: producer has no transaction", metadata.ErrInvalidTxnState)
	case epoch < t.ProducerEpoch:
		return fmt.Errorf("%w: batch epoch %d, transaction epoch %d", metadata.ErrInvalidProducerEpoch, epoch, t.ProducerEpoch)
	case epoch != t.ProducerEpoch || t.State != metadata.TxnOngoing:
		return fmt.Errorf("%w: transaction %s is %s at epoch %d", metadata.ErrInvalidTxnState, t.ID, t.State, t.ProducerEpoch)
	case !t.HasPartition(topic, partition):
		return fmt.Errorf("%w: partition %s/%d was not added to transaction %s", metadata.ErrInvalidTxnState, topic, partition, t.ID)
	}
	return nil
}

// CheckTxnOffsets is StageTxnOffsets' rule: the producer must own the
// transaction, at its current epoch, and the transaction must be Ongoing
// with group added.
func CheckTxnOffsets(t metadata.Transaction, producerID int64, epoch int16, group string) error {
	switch {
	case producerID != t.ProducerID:
		return fmt.Errorf("%w: producer %d does not own transactional id %s", metadata.ErrUnknownProducerID, producerID, t.ID)
	case epoch < t.ProducerEpoch:
		return fmt.Errorf("%w: epoch %d, transaction epoch %d", metadata.ErrInvalidProducerEpoch, epoch, t.ProducerEpoch)
	case epoch != t.ProducerEpoch || t.State != metadata.TxnOngoing:
		return fmt.Errorf("%w: transaction %s is %s", metadata.ErrInvalidTxnState, t.ID, t.State)
	}
	for _, g := range t.Groups {
		if g == group {
			return nil
		}
	}
	return fmt.Errorf("%w: group %s was not added to transaction %s", metadata.ErrInvalidTxnState, group, t.ID)
}
