package records

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"testing"
)

// fakeBatch builds a minimal v2 batch header with the given record count and
// max timestamp, followed by payload bytes (not records). Only the header
// fields are meaningful.
func fakeBatch(count int32, maxTS int64, payload string) []byte {
	b := make([]byte, HeaderSize, HeaderSize+len(payload))
	b = append(b, payload...)
	binary.BigEndian.PutUint32(b[LengthAt:], uint32(len(b)-LengthEnd))
	b[MagicAt] = 2
	binary.BigEndian.PutUint32(b[LastOffsetDeltaAt:], uint32(count-1))
	binary.BigEndian.PutUint64(b[MaxTimestampAt:], uint64(maxTS))
	binary.BigEndian.PutUint32(b[NumRecordsAt:], uint32(count))
	binary.BigEndian.PutUint32(b[CRCAt:], crc32.Checksum(b[AttributesAt:], Castagnoli))
	return b
}

func TestNextBatchRejectsBadLengths(t *testing.T) {
	b := fakeBatch(1, 0, "xyz")
	binary.BigEndian.PutUint32(b[8:], 1<<30)
	if _, _, err := Next(b); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("oversized length: %v", err)
	}
	binary.BigEndian.PutUint32(b[8:], 0xffffffff)
	if _, _, err := Next(b); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("negative length: %v", err)
	}
	if _, _, err := Next(b[:20]); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("short: %v", err)
	}
}

// TestPatchBaseOffsets: each batch of a chunk gets the offset after the
// previous one and epoch LeaderEpoch, and keeps a valid CRC (it covers
// bytes from 21 on).
func TestPatchBaseOffsets(t *testing.T) {
	chunk := append(fakeBatch(3, 100, "a"), fakeBatch(2, 120, "ccc")...)
	binary.BigEndian.PutUint32(chunk[LeaderEpochAt:], 9)
	end, err := PatchBaseOffsets(chunk, 40)
	if err != nil || end != 45 {
		t.Fatalf("PatchBaseOffsets = %d, %v; want 45", end, err)
	}
	first, rest, _ := Next(chunk)
	second, rest, _ := Next(rest)
	if len(rest) != 0 || BaseOffset(first) != 40 || BaseOffset(second) != 43 {
		t.Fatalf("patched offsets %d, %d", BaseOffset(first), BaseOffset(second))
	}
	for _, b := range [][]byte{first, second} {
		if h, _ := ReadHeader(b); h.LeaderEpoch != LeaderEpoch || h.CRC != Checksum(b) {
			t.Fatalf("patched header %+v", h)
		}
	}
	if _, err := PatchBaseOffsets(append(bytes.Clone(chunk), 1, 2, 3), 0); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("trailing bytes: %v", err)
	}
}

// BenchmarkPatchBaseOffsets walks and patches a 128 KiB chunk of 8 batches,
// as every fetch does. The chunk sits 8 bytes into its buffer, where the
// first chunk of a segment file does.
func BenchmarkPatchBaseOffsets(b *testing.B) {
	batch := fakeBatch(16, 1, string(make([]byte, 16*1024)))
	chunk := make([]byte, 8, 8+8*len(batch))
	for range 8 {
		chunk = append(chunk, batch...)
	}
	chunk = chunk[8:]
	b.SetBytes(int64(len(chunk)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := PatchBaseOffsets(chunk, 1000); err != nil {
			b.Fatal(err)
		}
	}
}
