package cache

import (
	"syscall"
	"unsafe"
)

// hugePage is the size of an x86-64 (and arm64 4K-page) transparent huge
// page.
const hugePage = 2 << 20

// newBlock returns a buffer for a block of n bytes. Fresh heap memory is
// faulted in by the kernel's copy into it, one fault per 4 KiB page, and
// on a virtual machine those faults were about a fifth of an agent's CPU
// while it read files back for consumers; so the whole huge pages the
// buffer spans are advised as such (MADV_HUGEPAGE; a no-op when the
// kernel's transparent huge pages are off), which takes one fault per
// 2 MiB. Smaller blocks are left as they are.
func newBlock(n int64) []byte {
	b := make([]byte, n)
	if n < 2*hugePage {
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
