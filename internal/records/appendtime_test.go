package records

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"testing"
)

func TestSetLogAppendTime(t *testing.T) {
	b := fakeBatch(3, 100, "records")
	binary.BigEndian.PutUint64(b[FirstTimestampAt:], 98)
	binary.BigEndian.PutUint16(b[AttributesAt:], 0x04) // lz4: must survive
	binary.BigEndian.PutUint32(b[CRCAt:], crc32.Checksum(b[AttributesAt:], Castagnoli))
	orig := append([]byte(nil), b...)

	SetLogAppendTime(b, 1_800_000_000_000)

	if got := binary.BigEndian.Uint16(b[AttributesAt:]); got != 0x04|AttrLogAppendTime {
		t.Errorf("attributes = %#x, want %#x", got, 0x04|AttrLogAppendTime)
	}
	if got := int64(binary.BigEndian.Uint64(b[FirstTimestampAt:])); got != 1_800_000_000_000 {
		t.Errorf("first timestamp = %d", got)
	}
	if got := MaxTimestamp(b); got != 1_800_000_000_000 {
		t.Errorf("max timestamp = %d", got)
	}
	if got, want := binary.BigEndian.Uint32(b[CRCAt:]), crc32.Checksum(b[AttributesAt:], Castagnoli); got != want {
		t.Errorf("crc = %08x, want %08x", got, want)
	}
	if bytes.Equal(b[CRCAt:CRCAt+4], orig[CRCAt:CRCAt+4]) {
		t.Error("crc not rewritten")
	}
	// Nothing else moves: offsets, length, epoch, magic, producer fields, records.
	for _, r := range [][2]int{{0, CRCAt}, {AttributesAt + 2, FirstTimestampAt}, {MaxTimestampAt + 8, len(b)}} {
		if !bytes.Equal(b[r[0]:r[1]], orig[r[0]:r[1]]) {
			t.Errorf("bytes %d..%d changed", r[0], r[1])
		}
	}
}
