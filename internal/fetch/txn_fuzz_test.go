package fetch

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/sluicehq/sluice/internal/records"
)

// FuzzRecordsBelow feeds recordsBelow (the read_committed cut at the last
// stable offset) arbitrary bytes and limits: it must never panic, must
// return a prefix of its input made of whole batches that all start below
// the limit, and must count the offsets of what it cut.
func FuzzRecordsBelow(f *testing.F) {
	var chunk []byte
	base := int64(0)
	for _, n := range []int{3, 1, 4} {
		b := benchBatch(int32(n), 5)
		binary.BigEndian.PutUint64(b, uint64(base))
		chunk = append(chunk, b...)
		base += int64(n)
	}
	for _, limit := range []int64{0, 2, 3, 4, 5, 8, 100, -1} {
		f.Add(chunk, limit)
	}
	f.Add(chunk[:70], int64(1))
	f.Add([]byte{}, int64(0))
	f.Fuzz(func(t *testing.T, data []byte, limit int64) {
		orig := bytes.Clone(data)
		kept, cut := recordsBelow(data, limit)
		if !bytes.Equal(data, orig) {
			t.Fatal("recordsBelow modified its input")
		}
		if !bytes.HasPrefix(data, kept) {
			t.Fatal("result is not a prefix of the input")
		}
		if cut < 0 {
			t.Fatalf("cut %d offsets", cut)
		}
		if len(kept) == len(data) {
			return
		}
		var want int64
		rest := data[len(kept):]
		for len(rest) > 0 {
			b, next, err := records.Next(rest)
			if err != nil {
				break
			}
			want += max(records.Offsets(b), 0)
			rest = next
		}
		if want != cut {
			t.Fatalf("cut %d offsets, the cut batches span %d", cut, want)
		}
		for k := kept; len(k) > 0; {
			b, next, err := records.Next(k)
			if err != nil {
				t.Fatalf("kept bytes are not whole batches: %v", err)
			}
			if int64(binary.BigEndian.Uint64(b)) >= limit {
				t.Fatalf("kept a batch at %d, limit %d", int64(binary.BigEndian.Uint64(b)), limit)
			}
			k = next
		}
	})
}
