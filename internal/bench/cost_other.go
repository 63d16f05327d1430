//go:build !linux

package bench

import "os/exec"

// dieWithParent does nothing where the kernel cannot tie a child's life to
// its parent's; the benchmark stops its agents when it returns.
func dieWithParent(*exec.Cmd) {}
