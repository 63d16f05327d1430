package segment

import (
	"encoding/binary"
	"hash/crc32"
)

// Byte positions of the v2 batch header fields SetLogAppendTime rewrites.
const (
	crcPos            = 17
	attributesPos     = 21 // the CRC covers attributes..end
	firstTimestampPos = 27
	// attrLogAppendTime is the timestamp-type bit of the batch attributes.
	attrLogAppendTime = 0x08
)

// SetLogAppendTime rewrites, in place, one v2 record batch (as NextBatch
// returns it) for a topic with message.timestamp.type=LogAppendTime, as a
// Kafka broker does on append: it sets the timestamp-type attribute bit,
// sets the first and max timestamps to ts (ms), and recomputes the CRC-32C,
// which covers the attributes and everything after them. Records keep their
// timestamp deltas; readers take every record's timestamp from the batch's
// max timestamp when the bit is set. Compressed records are not touched.
func SetLogAppendTime(batch []byte, ts int64) {
	attrs := binary.BigEndian.Uint16(batch[attributesPos:])
	binary.BigEndian.PutUint16(batch[attributesPos:], attrs|attrLogAppendTime)
	binary.BigEndian.PutUint64(batch[firstTimestampPos:], uint64(ts))
	binary.BigEndian.PutUint64(batch[maxTimestampPos:], uint64(ts))
	binary.BigEndian.PutUint32(batch[crcPos:], crc32.Checksum(batch[attributesPos:], castagnoli))
}
