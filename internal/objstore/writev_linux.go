package objstore

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// maxIOV is the most pieces one writev takes (Linux's IOV_MAX).
const maxIOV = 1024

// writeChunk bounds the bytes one writev call writes. The page cache
// sizes the folios a write allocates by the write's length (large folios,
// ext4 since Linux 6.16), and on a virtual machine that hands free memory
// back to its host (free page reporting, e.g. Firecracker) large free
// blocks are the ones handed back: filling a 2 MiB folio first faults its
// memory back in from the host. Writing 512 MiB into new files on such a
// machine cost 1.3-1.6 s of system time in 4 MiB writes and 0.17-0.22 s in
// 64 KiB writes, interleaved runs (docs/performance.md, "Page cache and
// free page reporting"). On other machines the smaller writes cost a few
// more system calls: one per 64 KiB.
const writeChunk = 64 << 10

// writebackEvery is how many written bytes writev lets accumulate before
// it asks the kernel to start writing them to the disk
// (sync_file_range(SYNC_FILE_RANGE_WRITE), which does not wait), so that
// the disk works while the rest of the file is copied and the fsync that
// follows has less left to wait for, as RocksDB's bytes_per_sync does.
// Writing then fsyncing a 14 MiB file on this project's test disk took
// 11.7 ms with one fsync at the end, 7.6 ms with writeback started every
// MiB (docs/performance.md, "Page cache and free page reporting").
const writebackEvery = 1 << 20

// writev writes pieces to f in order, at most writeChunk bytes and maxIOV
// pieces per writev call, resuming after short writes, and starts the
// writeback of every writebackEvery bytes written.
func writev(f *os.File, pieces [][]byte) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	// Skip empty pieces: writev would count them against IOV_MAX.
	bufs := make([][]byte, 0, len(pieces))
	for _, p := range pieces {
		if len(p) > 0 {
			bufs = append(bufs, p)
		}
	}
	call := make([][]byte, 0, min(len(bufs), maxIOV))
	var written, started int64 // bytes written, and handed to writeback
	for len(bufs) > 0 {
		call = nextCall(call[:0], bufs)
		var n int
		var werr error
		if err := rc.Write(func(fd uintptr) bool {
			n, werr = unix.Writev(int(fd), call)
			return werr != unix.EAGAIN
		}); err != nil {
			return err
		}
		if werr == unix.EINTR {
			continue
		}
		if werr != nil {
			return &os.PathError{Op: "writev", Path: f.Name(), Err: werr}
		}
		if n == 0 {
			return io.ErrShortWrite
		}
		written += int64(n)
		if written-started >= writebackEvery {
			// Advisory: a failure here shows up in the caller's fsync.
			_ = rc.Control(func(fd uintptr) {
				_ = unix.SyncFileRange(int(fd), started, written-started, unix.SYNC_FILE_RANGE_WRITE)
			})
			started = written
		}
		bufs = skip(bufs, n)
	}
	return nil
}

// skip drops the first n bytes of bufs, which a write has written.
func skip(bufs [][]byte, n int) [][]byte {
	for n > 0 {
		if n >= len(bufs[0]) {
			n -= len(bufs[0])
			bufs = bufs[1:]
		} else {
			bufs[0] = bufs[0][n:]
			n = 0
		}
	}
	return bufs
}

// nextCall appends to call the pieces of one writev call: the first
// writeChunk bytes of bufs, in at most maxIOV pieces.
func nextCall(call, bufs [][]byte) [][]byte {
	size := 0
	for _, b := range bufs {
		if len(call) == maxIOV || size == writeChunk {
			break
		}
		take := min(len(b), writeChunk-size)
		call = append(call, b[:take])
		size += take
	}
	return call
}
