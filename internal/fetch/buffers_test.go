package fetch

import "testing"

// TestRecordBuffers: buffers come in power-of-two classes from 64 KiB to
// 16 MiB, are handed out empty with room for the request, and only
// buffers of exactly a class's size are taken back.
func TestRecordBuffers(t *testing.T) {
	for _, c := range []struct{ n, class int }{
		{1, 0}, {64 << 10, 0}, {64<<10 + 1, 1}, {1 << 20, 4}, {16 << 20, 8}, {16<<20 + 1, -1}, {0, -1},
	} {
		if got := poolClass(c.n); got != c.class {
			t.Errorf("poolClass(%d) = %d, want %d", c.n, got, c.class)
		}
	}
	b := takeRecords(100 << 10)
	if len(b) != 0 || cap(b) != 128<<10 {
		t.Fatalf("takeRecords(100 KiB): len %d cap %d", len(b), cap(b))
	}
	b = append(b, 1, 2, 3)
	ReleaseRecords(b)
	// Whatever the pool hands out next is empty and big enough.
	if c := takeRecords(70 << 10); len(c) != 0 || cap(c) < 70<<10 {
		t.Fatalf("takeRecords(70 KiB) after a release: len %d cap %d", len(c), cap(c))
	}
	ReleaseRecords(make([]byte, 0, 100<<10)) // not a class size: dropped, no panic
	if big := takeRecords(32 << 20); cap(big) != 32<<20 {
		t.Fatalf("takeRecords(32 MiB) cap %d", cap(big))
	}
}
