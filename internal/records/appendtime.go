package records

import "encoding/binary"

// SetLogAppendTime rewrites, in place, one v2 record batch (as Next returns
// it) for a topic with message.timestamp.type=LogAppendTime, as a Kafka
// broker does on append: it sets the timestamp-type attribute bit, sets the
// first and max timestamps to ts (ms), and recomputes the CRC-32C, which
// covers the attributes and everything after them. Records keep their
// timestamp deltas; readers take every record's timestamp from the batch's
// max timestamp when the bit is set. Compressed records are not touched.
func SetLogAppendTime(batch []byte, ts int64) {
	attrs := binary.BigEndian.Uint16(batch[AttributesAt:])
	binary.BigEndian.PutUint16(batch[AttributesAt:], attrs|AttrLogAppendTime)
	binary.BigEndian.PutUint64(batch[FirstTimestampAt:], uint64(ts))
	binary.BigEndian.PutUint64(batch[MaxTimestampAt:], uint64(ts))
	SetCRC(batch)
}
