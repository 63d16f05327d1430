//go:build !unix

package agent

import "errors"

// ErrDataDirLocked is returned by LockDataDir when another process holds
// the data directory.
var ErrDataDirLocked = errors.New("data directory in use by another sluice process")

// LockDataDir does not lock on this platform.
func LockDataDir(string) (func() error, error) { return func() error { return nil }, nil }
