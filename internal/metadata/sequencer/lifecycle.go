package sequencer

import (
	"context"
	"fmt"

	"github.com/sluicehq/sluice/internal/metadata"
)

// StoredLease is a lease's row as a backend read it, with its expiry
// judged by the backend's clock.
type StoredLease struct {
	Holder  string
	Epoch   int64
	Expired bool
}

// AcquireLease decides metadata.Lifecycle.AcquireLease: given the stored
// lease (nil if it was never taken), the epoch holder gets. The holder
// keeps its epoch on renewal (even after releasing it); a new holder takes
// an expired lease with the next epoch and is refused (ErrLeaseHeld) one
// that has not expired.
func AcquireLease(cur *StoredLease, name, holder string) (int64, error) {
	switch {
	case cur == nil:
		return 1, nil
	case cur.Holder == holder:
		return cur.Epoch, nil
	case !cur.Expired:
		return 0, fmt.Errorf("%w: %s by %s", metadata.ErrLeaseHeld, name, cur.Holder)
	default:
		return cur.Epoch + 1, nil
	}
}

// CheckLease fails with ErrFenced unless l is still the current, unexpired
// holding of its lease (cur is the stored lease, nil if none).
func CheckLease(cur *StoredLease, l metadata.Lease) error {
	switch {
	case cur == nil:
		return fmt.Errorf("%w: lease %s not held", metadata.ErrFenced, l.Name)
	case cur.Holder != l.Holder || cur.Epoch != l.Epoch || cur.Expired:
		return fmt.Errorf("%w: lease %s epoch %d (now %s epoch %d)", metadata.ErrFenced, l.Name, l.Epoch, cur.Holder, cur.Epoch)
	}
	return nil
}

// CheckOwnerEpoch fails unless epoch still owns group, given the stored
// owner epoch (found false: the group has no row): ErrGroupNotFound, or
// ErrFenced once another owner has claimed the group.
func CheckOwnerEpoch(group string, stored int64, found bool, epoch int64) error {
	switch {
	case !found:
		return metadata.ErrGroupNotFound
	case stored != epoch:
		return fmt.Errorf("%w: group %s epoch %d, store has %d", metadata.ErrFenced, group, epoch, stored)
	}
	return nil
}

// AdvanceLogStart decides metadata.Lifecycle.AdvanceLogStart for a
// partition in state st: the new state, and whether the log start moves
// (and the extents wholly below it go). An offset outside [0, high
// watermark] fails with ErrOffsetOutOfRange.
func AdvanceLogStart(st metadata.PartitionState, offset int64) (metadata.PartitionState, bool, error) {
	if offset > st.HighWatermark || offset < 0 {
		return st, false, fmt.Errorf("%w: %d not in [0, %d]", metadata.ErrOffsetOutOfRange, offset, st.HighWatermark)
	}
	if offset <= st.LogStartOffset {
		return st, false, nil
	}
	st.LogStartOffset = offset
	return st, true, nil
}

// ValidateReplacement checks the shape of a Replacement before a backend
// applies it: per partition, old extents in offset order without overlap,
// and new extents in offset order, without overlap, inside the old range.
func ValidateReplacement(r metadata.Replacement) error {
	if r.Key == "" || len(r.Partitions) == 0 {
		return fmt.Errorf("metadata: replacement needs a key and partitions")
	}
	for _, p := range r.Partitions {
		if len(p.Old) == 0 || len(p.New) == 0 {
			return fmt.Errorf("metadata: replacement of %s/%d needs old and new extents", p.TopicID, p.Partition)
		}
		for i, o := range p.Old {
			if o.EndOffset <= o.BaseOffset || (i > 0 && o.BaseOffset < p.Old[i-1].EndOffset) {
				return fmt.Errorf("metadata: replacement of %s/%d: old extents out of order", p.TopicID, p.Partition)
			}
		}
		lo, hi := p.Old[0].BaseOffset, p.Old[len(p.Old)-1].EndOffset
		for i, e := range p.New {
			if e.EndOffset <= e.BaseOffset || e.BaseOffset < lo || e.EndOffset > hi || (i > 0 && e.BaseOffset < p.New[i-1].EndOffset) {
				return fmt.Errorf("metadata: replacement of %s/%d: new extents out of order or outside [%d,%d)", p.TopicID, p.Partition, lo, hi)
			}
		}
	}
	return nil
}

// ReplaceRows is a backend's side of metadata.Lifecycle.ReplaceExtents,
// inside the database transaction in which it has checked the lease,
// taken its locks and recorded the replacement file.
type ReplaceRows interface {
	// CountExtents counts a partition's extents that overlap [from, to).
	CountExtents(ctx context.Context, topic metadata.TopicID, partition int32, from, to int64) (int, error)
	// DeleteExtent deletes the extent ref names exactly and reports
	// whether there was one.
	DeleteExtent(ctx context.Context, topic metadata.TopicID, partition int32, ref metadata.ExtentRef) (bool, error)
	// InsertExtent indexes an extent of the replacement file.
	InsertExtent(ctx context.Context, topic metadata.TopicID, partition int32, e metadata.NewExtent) error
}

// Replace swaps, partition by partition, the old extents (which
// ValidateReplacement has checked the shape of) for the new ones. It
// fails with ErrExtentsChanged, having changed what the caller must roll
// back, unless every extent in a swapped range is one of its Old extents
// exactly as given.
func Replace(ctx context.Context, rows ReplaceRows, parts []metadata.PartitionSwap) error {
	for _, p := range parts {
		lo, hi := p.Old[0].BaseOffset, p.Old[len(p.Old)-1].EndOffset
		n, err := rows.CountExtents(ctx, p.TopicID, p.Partition, lo, hi)
		if err != nil {
			return err
		}
		if n != len(p.Old) {
			return fmt.Errorf("%w: %s/%d has %d extents in [%d,%d), want %d", metadata.ErrExtentsChanged, p.TopicID, p.Partition, n, lo, hi, len(p.Old))
		}
		for _, o := range p.Old {
			ok, err := rows.DeleteExtent(ctx, p.TopicID, p.Partition, o)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("%w: %s/%d [%d,%d) in %s", metadata.ErrExtentsChanged, p.TopicID, p.Partition, o.BaseOffset, o.EndOffset, o.FileKey)
			}
		}
		for _, e := range p.New {
			if err := rows.InsertExtent(ctx, p.TopicID, p.Partition, e); err != nil {
				return fmt.Errorf("index extent: %w", err)
			}
		}
	}
	return nil
}
