package segment

import (
	"encoding/binary"
	"fmt"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Byte positions inside a Kafka v2 record batch header.
const (
	batchLengthEnd     = 12 // baseOffset(8) + batchLength(4)
	lastOffsetDeltaPos = 23
	maxTimestampPos    = 35
	// BatchHeaderSize is the size of a v2 record batch header.
	BatchHeaderSize = 61
)

// LeaderEpoch is the partition leader epoch Sluice reports everywhere
// (Metadata, Fetch, ListOffsets and the batches themselves): with no leaders
// there are no leader changes, so it never advances.
const LeaderEpoch int32 = 0

// NextBatch splits the first record batch off b. It checks only that the
// batch's length field fits in b; content validation is the producer path's
// job.
func NextBatch(b []byte) (batch, rest []byte, err error) {
	if len(b) < BatchHeaderSize {
		return nil, nil, fmt.Errorf("%w: %d trailing bytes are not a batch", ErrCorrupt, len(b))
	}
	n := int64(binary.BigEndian.Uint32(b[8:12]))
	size := int64(batchLengthEnd) + n
	if int32(n) < BatchHeaderSize-batchLengthEnd || size > int64(len(b)) {
		return nil, nil, fmt.Errorf("%w: batch length %d does not fit in %d bytes", ErrCorrupt, int32(n), len(b))
	}
	return b[:size], b[size:], nil
}

// BatchOffsets returns the number of offsets a batch occupies.
func BatchOffsets(batch []byte) int64 {
	return int64(int32(binary.BigEndian.Uint32(batch[lastOffsetDeltaPos:]))) + 1
}

// BatchMaxTimestamp returns a batch's max timestamp field.
func BatchMaxTimestamp(batch []byte) int64 {
	return int64(binary.BigEndian.Uint64(batch[maxTimestampPos:]))
}

// PatchBaseOffsets rewrites, in place, the base offset of every batch in chunk
// so the first batch starts at base and each next batch follows the previous
// one, and sets each batch's partition leader epoch to LeaderEpoch, the only
// epoch a leaderless log has. It returns the offset after the last batch.
func PatchBaseOffsets(chunk []byte, base int64) (int64, error) {
	for len(chunk) > 0 {
		batch, rest, err := NextBatch(chunk)
		if err != nil {
			return base, err
		}
		binary.BigEndian.PutUint64(batch, uint64(base))
		binary.BigEndian.PutUint32(batch[batchLengthEnd:], uint32(LeaderEpoch))
		base += BatchOffsets(batch)
		chunk = rest
	}
	return base, nil
}

// InfoOf returns what the file index needs to know of a decoded v2 batch.
// Records is the offsets the batch occupies (lastOffsetDelta+1), which for
// a batch key compaction thinned out is more than the records it holds.
func InfoOf(b *kmsg.RecordBatch) BatchInfo {
	return BatchInfo{
		Records:       int64(b.LastOffsetDelta) + 1,
		MinTimestamp:  b.FirstTimestamp,
		MaxTimestamp:  b.MaxTimestamp,
		ProducerID:    b.ProducerID,
		ProducerEpoch: b.ProducerEpoch,
		FirstSequence: b.FirstSequence,
		LastSequence:  b.FirstSequence + b.LastOffsetDelta,
		Transactional: b.Attributes&0x10 != 0,
	}
}
