// Package hugemem allocates large byte buffers whose fresh memory the
// kernel may back with transparent huge pages.
//
// Fresh heap memory is faulted in by the first write into it, one fault
// per 4 KiB page, and on a virtual machine those faults were about a fifth
// of an agent's CPU while it read files back for consumers, and most of
// the extra produce CPU once the read cache kept the produce requests'
// buffers (a retained buffer is never reused for the next request, so the
// next one is fresh memory). Alloc advises the whole 2 MiB pages a buffer
// spans as huge pages (MADV_HUGEPAGE; a no-op when the kernel's transparent
// huge pages are off, and on memory already faulted in), which takes one
// fault per 2 MiB.
package hugemem

// hugePage is the size of an x86-64 (and arm64 4K-page) transparent huge
// page.
const hugePage = 2 << 20

// Min is the smallest buffer Alloc advises: a smaller one spans at most
// one whole huge page, not worth a system call.
const Min = 2 * hugePage
