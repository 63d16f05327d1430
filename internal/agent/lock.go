//go:build unix

package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// ErrDataDirLocked is returned by LockDataDir when another process holds
// the data directory.
var ErrDataDirLocked = errors.New("data directory in use by another sluice process")

// LockDataDir takes an exclusive lock on dir (creating it if needed) for
// as long as this process runs or until the returned release is called, so
// two `sluice dev` processes never share one SQLite store and bucket (both
// would run as node 1). The lock is an flock on dir/LOCK, which the kernel
// drops when the process dies, so a crash never leaves it held; the file
// records the holder's PID for the error message.
func LockDataDir(dir string) (release func() error, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("agent: data dir: %w", err)
	}
	path := filepath.Join(dir, "LOCK")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("agent: lock data dir: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			pid := strings.TrimSpace(string(holder))
			if pid == "" {
				pid = "unknown"
			}
			return nil, fmt.Errorf("%w: %s is locked by process %s; stop it or use another --data-dir", ErrDataDirLocked, dir, pid)
		}
		return nil, fmt.Errorf("agent: lock data dir: %w", err)
	}
	f.Truncate(0)
	f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return func() error {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		return f.Close()
	}, nil
}
