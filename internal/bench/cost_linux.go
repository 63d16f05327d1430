package bench

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the kernel send the agent SIGTERM when the benchmark
// process dies, so a killed benchmark leaves no agents behind.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
