package segment

import (
	"hash/crc32"
	"testing"
)

func TestFileCRC32C(t *testing.T) {
	var w Writer
	w.Add([16]byte{1}, 0, fakeBatch(3, 100, "abc"), BatchInfo{Records: 3, ProducerID: -1})
	w.Add([16]byte{2}, 5, fakeBatch(1, 200, "defgh"), BatchInfo{Records: 1, ProducerID: -1})
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
