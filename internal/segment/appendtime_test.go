package segment

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"testing"
)

func TestSetLogAppendTime(t *testing.T) {
	b := fakeBatch(3, 100, "records")
	binary.BigEndian.PutUint64(b[firstTimestampPos:], 98)
	binary.BigEndian.PutUint16(b[attributesPos:], 0x04) // lz4: must survive
	binary.BigEndian.PutUint32(b[crcPos:], crc32.Checksum(b[attributesPos:], castagnoli))
	orig := append([]byte(nil), b...)

	SetLogAppendTime(b, 1_800_000_000_000)

	if got := binary.BigEndian.Uint16(b[attributesPos:]); got != 0x04|attrLogAppendTime {
		t.Errorf("attributes = %#x, want %#x", got, 0x04|attrLogAppendTime)
	}
	if got := int64(binary.BigEndian.Uint64(b[firstTimestampPos:])); got != 1_800_000_000_000 {
		t.Errorf("first timestamp = %d", got)
	}
	if got := BatchMaxTimestamp(b); got != 1_800_000_000_000 {
		t.Errorf("max timestamp = %d", got)
	}
	if got, want := binary.BigEndian.Uint32(b[crcPos:]), crc32.Checksum(b[attributesPos:], castagnoli); got != want {
		t.Errorf("crc = %08x, want %08x", got, want)
	}
	if bytes.Equal(b[crcPos:crcPos+4], orig[crcPos:crcPos+4]) {
		t.Error("crc not rewritten")
	}
	// Nothing else moves: offsets, length, epoch, magic, producer fields, records.
	for _, r := range [][2]int{{0, crcPos}, {attributesPos + 2, firstTimestampPos}, {maxTimestampPos + 8, len(b)}} {
		if !bytes.Equal(b[r[0]:r[1]], orig[r[0]:r[1]]) {
			t.Errorf("bytes %d..%d changed", r[0], r[1])
		}
	}
}
