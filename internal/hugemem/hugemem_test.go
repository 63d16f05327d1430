package hugemem

import "testing"

// TestAlloc: buffers of any size, advised or not, are zeroed, of the
// length asked, and writable end to end.
func TestAlloc(t *testing.T) {
	for _, n := range []int{0, 1, Min - 1, Min, Min + 12345, 3*Min + 1} {
		b := Alloc(n)
		if len(b) != n {
			t.Fatalf("Alloc(%d): len %d", n, len(b))
		}
		for i := range b {
			if b[i] != 0 {
				t.Fatalf("Alloc(%d): byte %d is %d", n, i, b[i])
			}
			b[i] = byte(i)
		}
	}
}
