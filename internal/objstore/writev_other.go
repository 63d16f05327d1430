//go:build !linux

package objstore

import "os"

// writev writes pieces to f in order, one write each.
func writev(f *os.File, pieces [][]byte) error {
	for _, p := range pieces {
		if _, err := f.Write(p); err != nil {
			return err
		}
	}
	return nil
}
