package segment

import (
	"bytes"
	"slices"
	"testing"

	"github.com/sluicehq/sluice/internal/records"
)

// TestFinishSplitIsFinishInto checks that the pieces FinishSplit returns
// join into exactly the file FinishInto encodes, with the same entries and
// positions, that the batch pieces are the added slices themselves (no
// copy), and that the joined file parses.
func TestFinishSplitIsFinishInto(t *testing.T) {
	t1, t2 := [16]byte{1}, [16]byte{2}
	batches := [][]byte{fakeBatch(3, 100, "a"), fakeBatch(1, 50, "bb"), fakeBatch(2, 120, "ccc"), fakeBatch(4, 130, "dddd")}
	add := func(w *Writer) {
		w.Add(t1, 0, batches[0], records.BatchInfo{Records: 3, MinTimestamp: 90, MaxTimestamp: 100, ProducerID: -1, CRCChecked: true})
		w.Add(t2, 5, batches[1], records.BatchInfo{Records: 1, MinTimestamp: 50, MaxTimestamp: 50, ProducerID: 7})
		w.Add(t1, 0, batches[2], records.BatchInfo{Records: 2, MinTimestamp: 110, MaxTimestamp: 120, ProducerID: -1, Transactional: true})
		w.Add(t2, 5, batches[3], records.BatchInfo{Records: 4, MinTimestamp: 125, MaxTimestamp: 130, ProducerID: 7, CRCChecked: true})
	}
	var a, b Writer
	add(&a)
	add(&b)
	want, wantEntries, wantPos := a.FinishInto(nil)
	pieces, entries, pos := b.FinishSplit()
	if got := bytes.Join(pieces, nil); !bytes.Equal(got, want) {
		t.Fatalf("joined pieces (%d bytes) differ from FinishInto's file (%d bytes)", len(got), len(want))
	}
	if !slices.Equal(entries, wantEntries) || !slices.Equal(pos, wantPos) {
		t.Fatalf("entries/positions %v %v, want %v %v", entries, pos, wantEntries, wantPos)
	}
	// File order is chunk order: t1's two batches, then t2's.
	for i, bi := range []int{0, 2, 1, 3} {
		if &pieces[1+i][0] != &batches[bi][0] {
			t.Fatalf("piece %d is a copy, not batch %d", 1+i, bi)
		}
	}
	if len(pieces) != len(batches)+2 {
		t.Fatalf("%d pieces, want header + %d batches + trailer", len(pieces), len(batches))
	}
	if _, err := Parse(want); err != nil {
		t.Fatal(err)
	}
	var empty Writer
	pieces, _, _ = empty.FinishSplit()
	if got, want := bytes.Join(pieces, nil), func() []byte { var w Writer; d, _ := w.Finish(); return d }(); !bytes.Equal(got, want) {
		t.Fatal("empty file differs")
	}
}
