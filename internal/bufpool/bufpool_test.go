package bufpool

import "testing"

// TestPool: buffers come in power-of-two classes, are handed out empty
// with room for the request, and only buffers of exactly a class's size
// are taken back.
func TestPool(t *testing.T) {
	p := New(16, 24) // 64 KiB to 16 MiB
	for _, c := range []struct{ n, class int }{
		{1, 0}, {64 << 10, 0}, {64<<10 + 1, 1}, {1 << 20, 4}, {16 << 20, 8}, {16<<20 + 1, -1}, {0, -1},
	} {
		if got := p.class(c.n); got != c.class {
			t.Errorf("class(%d) = %d, want %d", c.n, got, c.class)
		}
	}
	b := p.Get(100 << 10)
	if len(b) != 0 || cap(b) != 128<<10 {
		t.Fatalf("Get(100 KiB): len %d cap %d", len(b), cap(b))
	}
	b = append(b, 1, 2, 3)
	p.Put(b)
	// Whatever the pool hands out next is empty and big enough.
	if c := p.Get(70 << 10); len(c) != 0 || cap(c) < 70<<10 {
		t.Fatalf("Get(70 KiB) after a Put: len %d cap %d", len(c), cap(c))
	}
	p.Put(make([]byte, 0, 100<<10)) // not a class size: dropped, no panic
	if big := p.Get(32 << 20); cap(big) != 32<<20 {
		t.Fatalf("Get(32 MiB) cap %d", cap(big))
	}
}
