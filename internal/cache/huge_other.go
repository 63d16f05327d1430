//go:build !linux

package cache

// newBlock returns a buffer for a block of n bytes.
func newBlock(n int64) []byte { return make([]byte, n) }
