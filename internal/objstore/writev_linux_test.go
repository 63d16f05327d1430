package objstore

import (
	"bytes"
	"context"
	"testing"
)

// TestNextCallBoundsWrites: every writev call carries at most writeChunk
// bytes in at most maxIOV pieces, and the calls together write the pieces
// whole and in order.
func TestNextCallBoundsWrites(t *testing.T) {
	sizes := []int{1, writeChunk, 3, 2*writeChunk + 17, writeChunk - 1, 2, 5 * writeChunk}
	for range maxIOV + 10 {
		sizes = append(sizes, 7)
	}
	var pieces [][]byte
	var want []byte
	for i, n := range sizes {
		p := bytes.Repeat([]byte{byte(i)}, n)
		pieces = append(pieces, p)
		want = append(want, p...)
	}
	var got []byte
	bufs := pieces
	calls := 0
	for len(bufs) > 0 {
		call := nextCall(nil, bufs)
		calls++
		size := 0
		for _, c := range call {
			size += len(c)
			got = append(got, c...)
		}
		if size > writeChunk || len(call) > maxIOV || size == 0 {
			t.Fatalf("call %d: %d bytes in %d pieces", calls, size, len(call))
		}
		bufs = skip(bufs, size) // as writev does after a full write
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("calls wrote %d bytes, want the %d bytes of the pieces in order", len(got), len(want))
	}
	if min := (len(want) + writeChunk - 1) / writeChunk; calls < min || calls > min+2 {
		t.Fatalf("%d calls for %d bytes, want about %d", calls, len(want), min)
	}
}

// TestPutSplitLargePieces writes pieces larger than a writev call takes,
// and more bytes than writebackEvery (so writeback is started twice),
// through a local bucket and reads them back.
func TestPutSplitLargePieces(t *testing.T) {
	b, err := OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var pieces [][]byte
	for i, n := range []int{3*writeChunk + 5, 1, writeChunk, 100, 2*writebackEvery + 3} {
		pieces = append(pieces, bytes.Repeat([]byte{byte(i + 1)}, n))
	}
	if err := PutSplit(context.Background(), b, "k", pieces); err != nil {
		t.Fatal(err)
	}
	got, err := b.GetRange(context.Background(), "k", 0, -1)
	if err != nil || !bytes.Equal(got, bytes.Join(pieces, nil)) {
		t.Fatalf("read back %d bytes, %v", len(got), err)
	}
}
