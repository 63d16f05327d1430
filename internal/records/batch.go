package records

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Byte positions of the fields of a v2 record batch header, all big endian.
// The batch length counts the bytes after LengthEnd; the CRC covers the bytes
// from AttributesAt to the end of the batch, so the base offset and the
// partition leader epoch can be rewritten without recomputing it.
const (
	BaseOffsetAt      = 0  // int64
	LengthAt          = 8  // int32
	LengthEnd         = 12 // the batch is LengthEnd+length bytes
	LeaderEpochAt     = 12 // int32, the partition leader epoch
	MagicAt           = 16 // int8, 2
	CRCAt             = 17 // uint32, CRC-32C of batch[AttributesAt:]
	AttributesAt      = 21 // int16, see the Attr bits
	LastOffsetDeltaAt = 23 // int32
	FirstTimestampAt  = 27 // int64
	MaxTimestampAt    = 35 // int64
	ProducerIDAt      = 43 // int64, -1 without one
	ProducerEpochAt   = 51 // int16
	FirstSequenceAt   = 53 // int32
	NumRecordsAt      = 57 // int32
	// HeaderSize is the size of the header; the records follow it.
	HeaderSize = 61
)

// Bits of a batch's attributes.
const (
	AttrCompression   = 0x07 // the codec: CodecNone … CodecZstd
	AttrLogAppendTime = 0x08 // timestamps are the log's append time
	AttrTransactional = 0x10
	AttrControl       = 0x20 // a control batch, such as a transaction marker
)

// LeaderEpoch is the partition leader epoch Sluice reports everywhere
// (Metadata, Fetch, ListOffsets and the batches themselves): with no leaders
// there are no leader changes, so it never advances.
const LeaderEpoch int32 = 0

// Castagnoli is the CRC-32C table: of batch CRCs and of everything else
// Sluice checksums with CRC-32C. It must not be modified.
var Castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Checksum computes the CRC-32C of a batch, over the bytes its CRC field
// covers.
func Checksum(batch []byte) uint32 {
	return crc32.Checksum(batch[AttributesAt:], Castagnoli)
}

// SetCRC writes a batch's computed CRC into its CRC field.
func SetCRC(batch []byte) {
	binary.BigEndian.PutUint32(batch[CRCAt:], Checksum(batch))
}

// ErrCorrupt is returned (wrapped) for bytes that are not whole record
// batches, and by Validate for a batch whose CRC does not match.
var ErrCorrupt = errors.New("records: corrupt batch")

// Next splits the first record batch off b. It checks only that the batch's
// length field fits in b (so the whole header is there); Validate checks
// the rest.
func Next(b []byte) (batch, rest []byte, err error) {
	if len(b) < HeaderSize {
		return nil, nil, fmt.Errorf("%w: %d trailing bytes are not a batch", ErrCorrupt, len(b))
	}
	n := int64(binary.BigEndian.Uint32(b[LengthAt:]))
	size := int64(LengthEnd) + n
	if int32(n) < HeaderSize-LengthEnd || size > int64(len(b)) {
		return nil, nil, fmt.Errorf("%w: batch length %d does not fit in %d bytes", ErrCorrupt, int32(n), len(b))
	}
	return b[:size], b[size:], nil
}

// Offsets returns the number of offsets a batch occupies (lastOffsetDelta+1).
func Offsets(batch []byte) int64 {
	return int64(int32(binary.BigEndian.Uint32(batch[LastOffsetDeltaAt:]))) + 1
}

// BaseOffset returns a batch's base offset field.
func BaseOffset(batch []byte) int64 {
	return int64(binary.BigEndian.Uint64(batch[BaseOffsetAt:]))
}

// MaxTimestamp returns a batch's max timestamp field.
func MaxTimestamp(batch []byte) int64 {
	return int64(binary.BigEndian.Uint64(batch[MaxTimestampAt:]))
}

// PatchBaseOffsets rewrites, in place, the base offset of every batch in chunk
// so the first batch starts at base and each next batch follows the previous
// one, and sets each batch's partition leader epoch to LeaderEpoch, the only
// epoch a leaderless log has. It returns the offset after the last batch.
// Neither field is covered by the CRC.
func PatchBaseOffsets(chunk []byte, base int64) (int64, error) {
	for len(chunk) > 0 {
		batch, rest, err := Next(chunk)
		if err != nil {
			return base, err
		}
		binary.BigEndian.PutUint64(batch[BaseOffsetAt:], uint64(base))
		binary.BigEndian.PutUint32(batch[LeaderEpochAt:], uint32(LeaderEpoch))
		base += Offsets(batch)
		chunk = rest
	}
	return base, nil
}

// Header is the fixed part of a v2 record batch.
type Header struct {
	BaseOffset      int64
	Length          int32
	LeaderEpoch     int32
	Magic           int8
	CRC             uint32
	Attributes      int16
	LastOffsetDelta int32
	FirstTimestamp  int64
	MaxTimestamp    int64
	ProducerID      int64
	ProducerEpoch   int16
	FirstSequence   int32
	NumRecords      int32
}

// ReadHeader decodes the header of the batch b starts with (b may hold
// more bytes after it).
func ReadHeader(b []byte) (Header, error) {
	batch, _, err := Next(b)
	if err != nil {
		return Header{}, err
	}
	return header(batch), nil
}

// header decodes the header of a batch Next returned.
func header(b []byte) Header {
	be := binary.BigEndian
	return Header{
		BaseOffset:      int64(be.Uint64(b[BaseOffsetAt:])),
		Length:          int32(be.Uint32(b[LengthAt:])),
		LeaderEpoch:     int32(be.Uint32(b[LeaderEpochAt:])),
		Magic:           int8(b[MagicAt]),
		CRC:             be.Uint32(b[CRCAt:]),
		Attributes:      int16(be.Uint16(b[AttributesAt:])),
		LastOffsetDelta: int32(be.Uint32(b[LastOffsetDeltaAt:])),
		FirstTimestamp:  int64(be.Uint64(b[FirstTimestampAt:])),
		MaxTimestamp:    int64(be.Uint64(b[MaxTimestampAt:])),
		ProducerID:      int64(be.Uint64(b[ProducerIDAt:])),
		ProducerEpoch:   int16(be.Uint16(b[ProducerEpochAt:])),
		FirstSequence:   int32(be.Uint32(b[FirstSequenceAt:])),
		NumRecords:      int32(be.Uint32(b[NumRecordsAt:])),
	}
}

// Codec returns the batch's compression codec.
func (h *Header) Codec() int8 { return int8(h.Attributes & AttrCompression) }

// Info returns what the file index needs to know of the batch.
func (h *Header) Info() BatchInfo {
	return BatchInfo{
		Records:       int64(h.LastOffsetDelta) + 1,
		MinTimestamp:  h.FirstTimestamp,
		MaxTimestamp:  h.MaxTimestamp,
		ProducerID:    h.ProducerID,
		ProducerEpoch: h.ProducerEpoch,
		FirstSequence: h.FirstSequence,
		LastSequence:  h.FirstSequence + h.LastOffsetDelta,
		Transactional: h.Attributes&AttrTransactional != 0,
		Control:       h.Attributes&AttrControl != 0,
	}
}

// InfoOf returns the BatchInfo of the batch b starts with.
func InfoOf(b []byte) (BatchInfo, error) {
	h, err := ReadHeader(b)
	if err != nil {
		return BatchInfo{}, err
	}
	return h.Info(), nil
}

// BatchInfo is what the produce path and the file index know of a batch.
type BatchInfo struct {
	// Records is the offsets the batch occupies (lastOffsetDelta+1), which
	// for a batch key compaction thinned out is more than the records it
	// holds.
	Records       int64
	MinTimestamp  int64 // the first timestamp
	MaxTimestamp  int64
	ProducerID    int64 // -1 when the producer is not idempotent
	ProducerEpoch int16
	FirstSequence int32
	LastSequence  int32
	Transactional bool
	Control       bool
	// CRCChecked says the batch's CRC field is right for its bytes (the
	// caller verified or computed it, and changed nothing it covers
	// since): the segment writer then derives the file checksum from it
	// rather than reading the batch again. A wrong claim makes a corrupt
	// file.
	CRCChecked bool
}
