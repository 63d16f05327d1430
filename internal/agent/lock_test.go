//go:build unix

package agent

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestLockDataDirExcludesSecondProcess: a data directory locked by one
// process cannot be locked by another, which gets ErrDataDirLocked naming
// the holder; after release it can.
func TestLockDataDirExcludesSecondProcess(t *testing.T) {
	if os.Getenv("SLUICE_LOCK_CHILD") != "" {
		_, err := LockDataDir(os.Getenv("SLUICE_LOCK_CHILD"))
		if err == nil {
			os.Stdout.WriteString("locked\n")
			os.Exit(0)
		}
		os.Stdout.WriteString(err.Error() + "\n")
		if errors.Is(err, ErrDataDirLocked) {
			os.Exit(3)
		}
		os.Exit(1)
	}
	dir := t.TempDir()
	release, err := LockDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	child := func() (string, int) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestLockDataDirExcludesSecondProcess$")
		cmd.Env = append(os.Environ(), "SLUICE_LOCK_CHILD="+dir)
		out, err := cmd.Output()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), code
	}
	out, code := child()
	if code != 3 || !strings.Contains(out, "locked by process") {
		t.Fatalf("second process: exit %d, %q; want ErrDataDirLocked naming the holder", code, out)
	}
	if err := release(); err != nil {
		t.Fatal(err)
	}
	if out, code := child(); code != 0 {
		t.Fatalf("after release: exit %d, %q; want the lock taken", code, out)
	}
}
