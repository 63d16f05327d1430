package hugemem

import (
	"syscall"
	"unsafe"
)

// Alloc returns a zeroed buffer of n bytes (make([]byte, n)), the whole
// huge pages of which are advised as such when it is at least Min bytes.
func Alloc(n int) []byte {
	b := make([]byte, n)
	if n < Min {
		return b
	}
	base := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	start := (base+hugePage-1)&^(hugePage-1) - base
	end := (base+uintptr(n))&^(hugePage-1) - base
	if end > start {
		// Advice only: an error (an old kernel) changes nothing.
		_ = syscall.Madvise(b[start:end], syscall.MADV_HUGEPAGE)
	}
	return b
}
