package testutil

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Kill crashes the server: SIGKILL to the postmaster and every backend it
// forked, as in a power cut (no checkpoint, open connections reset). Start
// brings it back through crash recovery. It is safe to call when stopped.
func (pg *Postgres) Kill() {
	pg.mu.Lock()
	defer pg.mu.Unlock()
	if !pg.running {
		return
	}
	pid, err := pg.postmasterPID()
	if err != nil {
		pg.t.Errorf("postgres kill: %v", err)
		return
	}
	// Freeze the postmaster so it forks no more backends, kill the
	// backends (they would otherwise outlive it and hold its shared
	// memory), then the postmaster.
	syscall.Kill(pid, syscall.SIGSTOP)
	for _, child := range childPIDs(pid) {
		syscall.Kill(child, syscall.SIGKILL)
	}
	syscall.Kill(pid, syscall.SIGKILL)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		alive := processAlive(pid)
		for _, child := range childPIDs(pid) {
			syscall.Kill(child, syscall.SIGKILL)
			alive = true
		}
		if !alive {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The dead postmaster may linger as a zombie when nothing reaps
	// orphans (PID 1 in some containers), and a new postmaster takes a
	// zombie's pid in a lock file for a live server: remove the lock
	// files (the data directory's and the socket's), as an operator
	// would after a crash.
	os.Remove(filepath.Join(pg.dir, "postmaster.pid"))
	locks, _ := filepath.Glob(filepath.Join(pg.dir, ".s.PGSQL.*.lock"))
	for _, l := range locks {
		os.Remove(l)
	}
	pg.running = false
}

// processAlive reports whether pid exists and is not a zombie.
func processAlive(pid int) bool {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(stat, ')')
	return i >= 0 && !strings.HasPrefix(strings.TrimSpace(string(stat[i+1:])), "Z")
}

// postmasterPID reads the postmaster's pid from its pid file.
func (pg *Postgres) postmasterPID() (int, error) {
	b, err := os.ReadFile(filepath.Join(pg.dir, "postmaster.pid"))
	if err != nil {
		return 0, err
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	return strconv.Atoi(strings.TrimSpace(string(line)))
}

// childPIDs lists the live processes whose parent is pid (from /proc).
func childPIDs(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// Fields after the parenthesised command: state, ppid, …
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 2 || f[0] == "Z" {
			continue
		}
		if ppid, _ := strconv.Atoi(f[1]); ppid == pid {
			out = append(out, n)
		}
	}
	return out
}
