package fetch

import (
	"bytes"
	"context"
	"testing"

	"github.com/sluicehq/sluice/internal/records"
)

// TestBatchIter: batches split over views at every pair of cut points come
// out whole and in order, the same as from the contiguous bytes, gathered
// into the room offered when they straddle views and fit it; bytes that
// end inside a batch are an error.
func TestBatchIter(t *testing.T) {
	var data []byte
	for _, payload := range []int{0, 40, 7} {
		data = append(data, benchBatch(2, payload)...)
	}
	var want [][]byte
	for rest := data; len(rest) > 0; {
		b, r, err := records.Next(rest)
		if err != nil {
			t.Fatal(err)
		}
		want, rest = append(want, b), r
	}
	for i := 0; i <= len(data); i++ {
		for j := i; j <= len(data); j += 5 {
			it := batchIter{views: [][]byte{data[:i], data[i:j], data[j:]}}
			room := make([]byte, 0, 512) // more than any batch here
			for k := 0; ; k++ {
				straddles := false
				for _, v := range it.views {
					if len(v) > 0 {
						straddles = k < len(want) && len(v) < len(want[k])
						break
					}
				}
				offer := room[:0]
				if k%2 == 1 {
					offer = nil // no room: the scratch buffer
				}
				b, err := it.next(offer)
				if straddles && offer != nil && b != nil && &b[0] != &room[:1][0] {
					t.Fatalf("cuts %d,%d: batch %d straddles views but was not gathered into the room", i, j, k)
				}
				if !straddles && b != nil && &b[0] == &room[:1][0] {
					t.Fatalf("cuts %d,%d: batch %d lies in one view but was copied", i, j, k)
				}
				if err != nil {
					t.Fatalf("cuts %d,%d: batch %d: %v", i, j, k, err)
				}
				if b == nil {
					if k != len(want) {
						t.Fatalf("cuts %d,%d: %d batches, want %d", i, j, k, len(want))
					}
					break
				}
				if k >= len(want) || !bytes.Equal(b, want[k]) {
					t.Fatalf("cuts %d,%d: batch %d differs", i, j, k)
				}
			}
		}
	}
	for cut := 1; cut < len(data); cut += 3 {
		it := batchIter{views: [][]byte{data[:cut], data[cut : len(data)-1]}}
		var err error
		for b := []byte{0}; err == nil && b != nil; {
			b, err = it.next(nil)
		}
		if err == nil {
			t.Fatalf("cut %d: bytes ending inside a batch read without error", cut)
		}
	}
}

// TestReadAcrossBlocks: with cache blocks smaller than a batch (every batch
// straddles blocks) and of a few KiB, fetches return the same bytes as
// with blocks that hold whole files.
func TestReadAcrossBlocks(t *testing.T) {
	ctx := context.Background()
	read := func(blockSize int64) [][]byte {
		r, _, topic := readerFixtureBlocks(t, 64<<20, blockSize)
		var reqs []Request
		for p := int32(0); p < testPartitions; p++ {
			reqs = append(reqs, Request{Topic: topic, Partition: p, Offset: 5, MaxBytes: 1 << 20})
		}
		var out [][]byte
		for i, o := range r.ReadFetch(ctx, reqs, 16<<20) {
			if o.Err != nil {
				t.Fatalf("block size %d, partition %d: %v", blockSize, i, o.Err)
			}
			o.Own()
			out = append(out, append([]byte(nil), o.Result.Records...))
		}
		return out
	}
	want := read(1 << 20)
	for _, bs := range []int64{700, 4096} {
		got := read(bs)
		for p := range want {
			if len(want[p]) == 0 || !bytes.Equal(got[p], want[p]) {
				t.Fatalf("block size %d, partition %d: %d bytes, want %d equal bytes", bs, p, len(got[p]), len(want[p]))
			}
		}
	}
}
