package segment

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"testing"

	"github.com/sluicehq/sluice/internal/records"
)

// fakeBatch builds a minimal v2 batch header with the given record count and
// max timestamp, followed by payload bytes. Only the fields this package reads
// are meaningful.
func fakeBatch(count int32, maxTS int64, payload string) []byte {
	b := make([]byte, records.HeaderSize, records.HeaderSize+len(payload))
	b = append(b, payload...)
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
	b[16] = 2
	binary.BigEndian.PutUint32(b[records.LastOffsetDeltaAt:], uint32(count-1))
	binary.BigEndian.PutUint64(b[records.MaxTimestampAt:], uint64(maxTS))
	binary.BigEndian.PutUint32(b[57:], uint32(count))
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], castagnoli))
	return b
}

func TestRoundTrip(t *testing.T) {
	t1 := [16]byte{1}
	t2 := [16]byte{2}
	var w Writer
	w.Add(t1, 0, fakeBatch(3, 100, "a"), records.BatchInfo{Records: 3, MinTimestamp: 90, MaxTimestamp: 100, ProducerID: -1})
	w.Add(t2, 5, fakeBatch(1, 50, "bb"), records.BatchInfo{Records: 1, MinTimestamp: 50, MaxTimestamp: 50, ProducerID: 7, ProducerEpoch: 1, FirstSequence: 0, LastSequence: 0})
	w.Add(t1, 0, fakeBatch(2, 120, "ccc"), records.BatchInfo{Records: 2, MinTimestamp: 110, MaxTimestamp: 120, ProducerID: -1, Transactional: true})
	data, entries := w.Finish()
	if len(entries) != 2 {
		t.Fatalf("entries = %d, want 2 (one per partition)", len(entries))
	}
	f, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	e := f.Entries[0]
	if e.TopicID != t1 || e.Partition != 0 || e.Batches != 2 || e.Records != 5 || e.MinTimestamp != 90 || e.MaxTimestamp != 120 || e.Attributes&AttrTransactional == 0 {
		t.Fatalf("entry 0 = %+v", e)
	}
	if f.Entries[1].ProducerID != 7 || f.Entries[1].Records != 1 {
		t.Fatalf("entry 1 = %+v", f.Entries[1])
	}
	if entries[0] != f.Entries[0] || entries[1] != f.Entries[1] {
		t.Fatalf("Finish entries %+v differ from parsed %+v", entries, f.Entries)
	}
	chunk := bytes.Clone(f.Chunk(0))
	end, err := records.PatchBaseOffsets(chunk, 40)
	if err != nil || end != 45 {
		t.Fatalf("PatchBaseOffsets = %d, %v; want 45", end, err)
	}
	first, rest, _ := records.Next(chunk)
	second, rest, _ := records.Next(rest)
	if len(rest) != 0 || binary.BigEndian.Uint64(first) != 40 || binary.BigEndian.Uint64(second) != 43 {
		t.Fatalf("patched offsets %d, %d", binary.BigEndian.Uint64(first), binary.BigEndian.Uint64(second))
	}
	// Patching leaves the batch CRC valid: it covers bytes from 21 on.
	if got := crc32.Checksum(second[21:], castagnoli); got != binary.BigEndian.Uint32(second[17:]) {
		t.Fatal("patched batch CRC no longer matches")
	}
}

func TestEmptyFile(t *testing.T) {
	var w Writer
	data, entries := w.Finish()
	f, err := Parse(data)
	if err != nil || len(entries) != 0 || len(f.Entries) != 0 {
		t.Fatalf("empty file: %v, %d entries", err, len(f.Entries))
	}
}

func TestParseRejectsCorruption(t *testing.T) {
	var w Writer
	w.Add([16]byte{9}, 1, fakeBatch(2, 1, "payload"), records.BatchInfo{Records: 2})
	good, _ := w.Finish()
	cases := map[string]func([]byte) []byte{
		"flipped data byte": func(b []byte) []byte { b[headerSize+3] ^= 0xff; return b },
		"flipped index":     func(b []byte) []byte { b[len(b)-trailerSize-5] ^= 1; return b },
		"truncated":         func(b []byte) []byte { return b[:len(b)-1] },
		"bad version":       func(b []byte) []byte { b[5] = 9; return b },
		"bad magic":         func(b []byte) []byte { b[0] = 'X'; return b },
		"too short":         func(b []byte) []byte { return b[:10] },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Parse(mutate(bytes.Clone(good)))
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Parse = %v, want ErrCorrupt", err)
			}
		})
	}
}

// FuzzParse checks that Parse never panics and that whatever it accepts is
// internally consistent: every chunk lies inside the file.
func FuzzParse(f *testing.F) {
	var w Writer
	w.Add([16]byte{1}, 0, fakeBatch(1, 1, "x"), records.BatchInfo{Records: 1})
	w.Add([16]byte{2}, 3, fakeBatch(4, 1, "yy"), records.BatchInfo{Records: 4})
	good, _ := w.Finish()
	f.Add(good)
	var empty Writer
	e, _ := empty.Finish()
	f.Add(e)
	f.Add([]byte("SLCF"))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse(data)
		if err != nil {
			return
		}
		for i := range file.Entries {
			c := file.Chunk(i)
			for len(c) > 0 {
				_, rest, err := records.Next(c)
				if err != nil {
					break
				}
				c = rest
			}
		}
	})
}
