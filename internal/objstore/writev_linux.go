package objstore

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// maxIOV is the most pieces one writev takes (Linux's IOV_MAX).
const maxIOV = 1024

// writev writes pieces to f in order with as few writev calls as the
// kernel allows, resuming after short writes.
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
	for len(bufs) > 0 {
		var n int
		var werr error
		if err := rc.Write(func(fd uintptr) bool {
			n, werr = unix.Writev(int(fd), bufs[:min(len(bufs), maxIOV)])
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
		for n > 0 {
			if n >= len(bufs[0]) {
				n -= len(bufs[0])
				bufs = bufs[1:]
			} else {
				bufs[0] = bufs[0][n:]
				n = 0
			}
		}
	}
	return nil
}
