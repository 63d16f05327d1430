package sequencer

import (
	"context"

	"github.com/sluicehq/sluice/internal/metadata"
)

// ExtentsFrom is what metadata.Log.Extents returns of extents, the ones a
// backend's query found in offset order from the last one that starts at
// or before from: those that end at or before from (below a gap in the
// log) are dropped, in place.
func ExtentsFrom(extents []metadata.Extent, from int64) []metadata.Extent {
	out := extents[:0]
	for _, e := range extents {
		if e.EndOffset > from {
			out = append(out, e)
		}
	}
	return out
}

// StableOffset is a partition's last stable offset: the first offset of
// its earliest open transaction (firstOpen, when open), or the high
// watermark when none is open.
func StableOffset(highWatermark, firstOpen int64, open bool) int64 {
	if open && firstOpen < highWatermark {
		return firstOpen
	}
	return highWatermark
}

// StableRows is a backend's side of metadata.Transactions.StableState.
type StableRows interface {
	// PartitionState reads the partition's bounds.
	PartitionState(ctx context.Context, topic metadata.TopicID, partition int32) (metadata.PartitionState, error)
	// FirstOpenTxn reads the first offset of the partition's earliest
	// open transaction, if it has one.
	FirstOpenTxn(ctx context.Context, topic metadata.TopicID, partition int32) (first int64, open bool, err error)
	// AbortedTxns reads the partition's aborted ranges that end at or
	// after from and start below below, by first offset.
	AbortedTxns(ctx context.Context, topic metadata.TopicID, partition int32, from, below int64) ([]metadata.AbortedTxn, error)
}

// StableState implements metadata.Transactions.StableState over rows. The
// reads run in the order that keeps the answer safe without a snapshot:
// an open transaction found after the bounds can only start at or above
// the high watermark read before, and an aborted range below the stable
// offset was recorded (in the commit that closed it) before the stable
// offset was read.
func StableState(ctx context.Context, rows StableRows, topic metadata.TopicID, partition int32, from int64) (metadata.StableState, error) {
	var st metadata.StableState
	var err error
	if st.PartitionState, err = rows.PartitionState(ctx, topic, partition); err != nil {
		return st, err
	}
	first, open, err := rows.FirstOpenTxn(ctx, topic, partition)
	if err != nil {
		return st, err
	}
	st.LastStableOffset = StableOffset(st.HighWatermark, first, open)
	st.Aborted, err = rows.AbortedTxns(ctx, topic, partition, from, st.LastStableOffset)
	return st, err
}
