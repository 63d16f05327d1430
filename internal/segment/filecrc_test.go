package segment

import (
	"hash/crc32"
	"testing"

	"github.com/sluicehq/sluice/internal/records"
)

func TestFileCRC32C(t *testing.T) {
	var w Writer
	w.Add([16]byte{1}, 0, fakeBatch(3, 100, "abc"), records.BatchInfo{Records: 3, ProducerID: -1})
	w.Add([16]byte{2}, 5, fakeBatch(1, 200, "defgh"), records.BatchInfo{Records: 1, ProducerID: -1})
	var empty Writer
	for name, data := range map[string][]byte{"two partitions": func() []byte { b, _ := w.Finish(); return b }(),
		"empty": func() []byte { b, _ := empty.Finish(); return b }()} {
		got, ok := FileCRC32C(data)
		if want := crc32.Checksum(data, castagnoli); !ok || got != want {
			t.Errorf("%s: FileCRC32C = %08x, %v; want %08x, true", name, got, ok, want)
		}
		// A byte changed after Finish: the stored checksum no longer matches
		// the bytes, so the derived value differs from a fresh one.
		bad := append([]byte(nil), data...)
		bad[headerSize] ^= 1 // the first batch byte, or the trailer of an empty file
		if got, ok := FileCRC32C(bad); !ok || got == crc32.Checksum(bad, castagnoli) {
			t.Errorf("%s: corrupted file: FileCRC32C = %08x, %v; want a value that disagrees with its bytes", name, got, ok)
		}
	}
	for name, data := range map[string][]byte{"nil": nil, "short": []byte("SLCF"),
		"not a segment": make([]byte, 100)} {
		if _, ok := FileCRC32C(data); ok {
			t.Errorf("%s: FileCRC32C ok", name)
		}
	}
}

// FuzzFileCRC32C: any input is handled without panicking, and a derived
// checksum equals the CRC-32C of the whole input exactly when the
// trailer's stored checksum is right.
func FuzzFileCRC32C(f *testing.F) {
	var w Writer
	w.Add([16]byte{1}, 0, fakeBatch(2, 10, "xy"), records.BatchInfo{Records: 2, ProducerID: -1})
	good, _ := w.Finish()
	f.Add(good)
	f.Add([]byte("SLCF"))
	f.Add(make([]byte, headerSize+trailerSize))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, ok := FileCRC32C(data)
		if !ok {
			return
		}
		sumEnd := len(data) - trailerSize + 12
		stored := uint32(data[sumEnd])<<24 | uint32(data[sumEnd+1])<<16 | uint32(data[sumEnd+2])<<8 | uint32(data[sumEnd+3])
		storedRight := crc32.Checksum(data[:sumEnd], castagnoli) == stored
		// Continuing a CRC over the same bytes is a bijection of its state,
		// so the derived value is right exactly when the stored one is.
		if whole := crc32.Checksum(data, castagnoli); (got == whole) != storedRight {
			t.Fatalf("stored checksum right: %v; derived %08x, whole-file %08x", storedRight, got, whole)
		}
	})
}
