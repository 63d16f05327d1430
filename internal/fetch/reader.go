// Package fetch is the read path: it resolves a partition offset to file
// ranges through the metadata index, reads those ranges from the bucket,
// patches in the committed offsets, and wakes long-polling fetches when new
// data commits.
package fetch

import (
	"context"
	"errors"
	"fmt"

	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/objstore"
	"github.com/sluicehq/sluice/internal/segment"
)

// ErrOffsetOutOfRange is returned for offsets below the log start or above
// the high watermark.
var ErrOffsetOutOfRange = errors.New("fetch: offset out of range")

// ErrStorage wraps bucket read failures and index inconsistencies; a retry
// may succeed.
var ErrStorage = errors.New("fetch: storage error")

// extentsPerLookup is how many extents one index query returns; a read that
// needs more queries again.
const extentsPerLookup = 32

// Reader reads committed batches. It is safe for concurrent use.
type Reader struct {
	log     metadata.Log
	bucket  objstore.Bucket
	metrics *Metrics
}

// NewReader returns a Reader over log and bucket.
func NewReader(log metadata.Log, bucket objstore.Bucket, m *Metrics) *Reader {
	if m == nil {
		m = NewMetrics(nil)
	}
	return &Reader{log: log, bucket: bucket, metrics: m}
}

// Result is what Read found.
type Result struct {
	State metadata.PartitionState
	// Records holds whole record batches with their committed offsets,
	// starting with the batch that contains the requested offset.
	Records []byte
	// Offsets counts the offsets the returned batches span.
	Offsets int64
}

// Read returns the batches of a partition from offset on, at most maxBytes
// of them, except that with minOne it returns the first batch even if it
// alone exceeds maxBytes (so a consumer can always make progress, KIP-74).
// An offset equal to the high watermark returns no records and no error.
func (r *Reader) Read(ctx context.Context, topic metadata.TopicID, partition int32, offset int64, maxBytes int, minOne bool) (Result, error) {
	st, err := r.log.PartitionState(ctx, topic, partition)
	if err != nil {
		return Result{}, err
	}
	res := Result{State: st}
	if offset < st.LogStartOffset || offset > st.HighWatermark {
		return res, fmt.Errorf("%w: %d not in [%d, %d]", ErrOffsetOutOfRange, offset, st.LogStartOffset, st.HighWatermark)
	}
	if maxBytes <= 0 && !minOne {
		return res, nil
	}
	next := offset
	// A file may vanish between the index lookup and the read when
	// compaction replaced it or retention expired it and the grace period
	// ran out meanwhile; the lookup is then retried once.
	retried := false
lookup:
	for next < st.HighWatermark {
		extents, err := r.log.Extents(ctx, topic, partition, next, extentsPerLookup)
		if err != nil {
			return res, err
		}
		if len(extents) == 0 {
			break
		}
		for _, e := range extents {
			if e.BaseOffset > next {
				// Retention or DeleteRecords may have moved the log start
				// past offset since the state was read.
				if now, err := r.log.PartitionState(ctx, topic, partition); err == nil && offset < now.LogStartOffset {
					res.State = now
					return res, fmt.Errorf("%w: %d is below the log start %d", ErrOffsetOutOfRange, offset, now.LogStartOffset)
				}
				return res, fmt.Errorf("%w: index gap at offset %d (next extent starts at %d)", ErrStorage, next, e.BaseOffset)
			}
			full, err := r.appendExtent(ctx, &res, e, offset, maxBytes, minOne)
			if errors.Is(err, objstore.ErrNotFound) && !retried {
				retried = true
				continue lookup
			}
			if err != nil {
				return res, err
			}
			next = e.EndOffset
			if full {
				return res, nil
			}
		}
	}
	return res, nil
}

// appendExtent appends the batches of e at or after offset to res.Records
// while they fit, reporting whether the byte budget is used up.
func (r *Reader) appendExtent(ctx context.Context, res *Result, e metadata.Extent, offset int64, maxBytes int, minOne bool) (full bool, err error) {
	data, err := r.bucket.GetRange(ctx, e.FileKey, e.ByteOffset, e.ByteLength)
	if err != nil {
		return false, fmt.Errorf("%w: %w", ErrStorage, err)
	}
	r.metrics.bucketReads.Inc()
	r.metrics.bucketBytes.Add(float64(len(data)))
	if int64(len(data)) != e.ByteLength {
		return false, fmt.Errorf("%w: %s: read %d bytes of [%d,+%d)", ErrStorage, e.FileKey, len(data), e.ByteOffset, e.ByteLength)
	}
	base := e.BaseOffset
	for len(data) > 0 {
		batch, rest, err := segment.NextBatch(data)
		if err != nil {
			return false, fmt.Errorf("%w: %s: %v", ErrStorage, e.FileKey, err)
		}
		data = rest
		end := base + segment.BatchOffsets(batch)
		if end <= offset {
			base = end
			continue
		}
		if len(res.Records)+len(batch) > maxBytes && !(minOne && len(res.Records) == 0) {
			return true, nil
		}
		if _, err := segment.PatchBaseOffsets(batch, base); err != nil {
			return false, err
		}
		if len(res.Records) == 0 {
			// Keep the bucket's buffer instead of copying it: the following
			// batches of this extent are the bytes right after batch, so
			// appending them below moves nothing (data is ours: the bucket
			// returns a fresh buffer and the batches were patched in place).
			res.Records = batch
		} else {
			res.Records = append(res.Records, batch...)
		}
		res.Offsets += end - base
		base = end
	}
	if base != e.EndOffset {
		return false, fmt.Errorf("%w: %s: batches cover offsets up to %d, index says %d", ErrStorage, e.FileKey, base, e.EndOffset)
	}
	return len(res.Records) >= maxBytes, nil
}
