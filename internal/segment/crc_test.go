package segment

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"math/rand/v2"
	"testing"

	"github.com/sluicehq/sluice/internal/records"
)

// TestCRCCombine checks the combined CRC of every split of random data,
// empty parts included, against a CRC over the whole.
func TestCRCCombine(t *testing.T) {
	for _, n := range []int{0, 1, 2, 7, 64, 1000, 5000} {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(rand.IntN(256))
		}
		want := crc32.Checksum(data, castagnoli)
		for cut := 0; cut <= n; cut += 1 + n/97 {
			a, b := data[:cut], data[cut:]
			if got := crcCombine(crc32.Checksum(a, castagnoli), crc32.Checksum(b, castagnoli), len(b)); got != want {
				t.Fatalf("%d bytes cut at %d: combined %08x, want %08x", n, cut, got, want)
			}
		}
	}
	// Long second parts exercise high powers of x.
	long := make([]byte, 3<<20)
	for i := range long {
		long[i] = byte(i * 7)
	}
	if got, want := crcCombine(crc32.Checksum([]byte("head"), castagnoli), crc32.Checksum(long, castagnoli), len(long)),
		crc32.Checksum(append([]byte("head"), long...), castagnoli); got != want {
		t.Fatalf("3 MiB second part: %08x, want %08x", got, want)
	}
}

// testBatch returns a record-batch-shaped buffer of n bytes (n >= 61) with
// random content and a right CRC field.
func testBatch(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rand.IntN(256))
	}
	binary.BigEndian.PutUint32(b[8:], uint32(n-12))
	binary.BigEndian.PutUint32(b[records.CRCAt:], crc32.Checksum(b[records.AttributesAt:], castagnoli))
	return b
}

func TestUpdateBatchCRC(t *testing.T) {
	prefix := []byte("some file bytes before the batch")
	for _, n := range []int{61, combineMinBatch - 1, combineMinBatch, 4096, 100_000} {
		batch := testBatch(n)
		want := crc32.Checksum(append(append([]byte(nil), prefix...), batch...), castagnoli)
		for _, trusted := range []bool{false, true} {
			if got := updateBatchCRC(crc32.Checksum(prefix, castagnoli), batch, trusted); got != want {
				t.Fatalf("%d-byte batch, trusted %v: %08x, want %08x", n, trusted, got, want)
			}
		}
	}
}

func BenchmarkCRCCombine(b *testing.B) {
	for i := 0; i < b.N; i++ {
		crcCombine(uint32(i), 0x12345678, 30_000+i&1023)
	}
}

// TestFinishTrustsCheckedCRCs: a file of batches whose CRCs were checked
// has the checksum of a pass over its bytes (Parse verifies it), for
// batches on both sides of combineMinBatch; a batch claimed checked whose
// CRC field is wrong makes a file Parse rejects, which is the contract.
func TestFinishTrustsCheckedCRCs(t *testing.T) {
	var w Writer
	var topic [16]byte
	for i := 0; i < 40; i++ {
		n := 61 + rand.IntN(3*combineMinBatch)
		w.Add(topic, int32(i%3), testBatch(n), records.BatchInfo{Records: 1, CRCChecked: i%4 != 0})
	}
	data, _ := w.Finish()
	if _, err := Parse(data); err != nil {
		t.Fatalf("file of checked batches: %v", err)
	}
	var bad Writer
	batch := testBatch(2 * combineMinBatch)
	batch[len(batch)-1] ^= 1
	bad.Add(topic, 0, batch, records.BatchInfo{Records: 1, CRCChecked: true})
	data, _ = bad.Finish()
	if _, err := Parse(data); err == nil {
		t.Fatal("a batch with a wrong CRC claimed checked made a file that parses")
	}
}

// TestFinishInto: a buffer with room is encoded into (the result shares its
// array), one without is not used; both give Finish's bytes.
func TestFinishInto(t *testing.T) {
	var w Writer
	var topic [16]byte
	for i := 0; i < 5; i++ {
		w.Add(topic, int32(i%2), testBatch(100+i), records.BatchInfo{Records: 1})
	}
	want, _ := w.Finish()
	if w.Size() != len(want) {
		t.Fatalf("Size %d, file %d bytes", w.Size(), len(want))
	}
	big := make([]byte, 3, 2*len(want))
	got, _, _ := w.FinishInto(big)
	if !bytes.Equal(got, want) || &got[0] != &big[:1][0] {
		t.Fatal("FinishInto with room: wrong bytes or not in the given buffer")
	}
	small := make([]byte, 0, len(want)-1)
	got, _, _ = w.FinishInto(small)
	if !bytes.Equal(got, want) || cap(got) < len(want) {
		t.Fatal("FinishInto without room: wrong bytes")
	}
}
