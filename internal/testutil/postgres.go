// Package testutil starts the real servers Sluice's cluster tests run
// against: a PostgreSQL server and a versitygw S3 gateway, each on a free
// loopback port in a temporary directory, torn down when the test ends.
// A missing server binary fails the test: scripts/install-test-deps.sh
// installs both.
package testutil

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Postgres is a PostgreSQL server started for a test.
type Postgres struct {
	t       testing.TB
	bin     string // directory of initdb, pg_ctl, postgres
	dir     string // data directory
	port    int
	asUser  string // run the server binaries as this user ("" = as we are)
	mu      sync.Mutex
	running bool
}

var dbSeq atomic.Int64

// FreePort returns a loopback TCP port that was free just now.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// pgBinDir finds the newest PostgreSQL server installation under
// /usr/lib/postgresql (Debian's layout), or the directory of initdb on
// PATH.
func pgBinDir() (string, error) {
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Slice(matches, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(matches[i]))))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(matches[j]))))
		return vi > vj
	})
	if len(matches) > 0 {
		return filepath.Dir(matches[0]), nil
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", fmt.Errorf("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin or on PATH (run scripts/install-test-deps.sh)")
}

// StartPostgres initialises a database cluster in a temporary directory and
// starts PostgreSQL on a free loopback port. initdb refuses to run as root,
// so as root the server runs as user postgres (via runuser). The server is
// stopped and its directory removed when the test ends.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	bin, err := pgBinDir()
	if err != nil {
		t.Fatal(err)
	}
	pg := &Postgres{t: t, bin: bin, port: FreePort(t)}
	root, err := os.MkdirTemp("", "sluice-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	pg.dir = filepath.Join(root, "data")
	if os.Geteuid() == 0 {
		pg.asUser = "postgres"
		u, err := user.Lookup(pg.asUser)
		if err != nil {
			t.Fatalf("running as root needs a postgres user to run PostgreSQL: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		// The temp root must be traversable, the data dir owned by postgres.
		if err := os.Chmod(root, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(pg.dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(pg.dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := pg.command("initdb", "-D", pg.dir, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	pg.Start()
	t.Cleanup(pg.Stop)
	return pg
}

func (pg *Postgres) command(name string, args ...string) *exec.Cmd {
	path := filepath.Join(pg.bin, name)
	if pg.asUser != "" {
		return exec.Command("runuser", append([]string{"-u", pg.asUser, "--", path}, args...)...)
	}
	return exec.Command(path, args...)
}

// Start starts the server (again) on its port and waits until it accepts
// connections.
func (pg *Postgres) Start() {
	pg.t.Helper()
	pg.mu.Lock()
	defer pg.mu.Unlock()
	if pg.running {
		return
	}
	opts := fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -k %s -c fsync=off -c full_page_writes=off -c max_connections=200 -c shared_buffers=32MB",
		pg.port, pg.dir)
	cmd := pg.command("pg_ctl", "-D", pg.dir, "-o", opts, "-l", filepath.Join(pg.dir, "server.log"), "-w", "-t", "60", "start")
	if out, err := cmd.CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(pg.dir, "server.log"))
		pg.t.Fatalf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
	pg.running = true
}

// Stop shuts the server down (fast mode: open connections are dropped, as
// in a restart or a failover). It is safe to call when stopped.
func (pg *Postgres) Stop() {
	pg.mu.Lock()
	defer pg.mu.Unlock()
	if !pg.running {
		return
	}
	if out, err := pg.command("pg_ctl", "-D", pg.dir, "-m", "fast", "-w", "-t", "60", "stop").CombinedOutput(); err != nil {
		pg.t.Errorf("pg_ctl stop: %v\n%s", err, out)
	}
	pg.running = false
}

// Restart stops and starts the server.
func (pg *Postgres) Restart() {
	pg.t.Helper()
	pg.Stop()
	pg.Start()
}

// Addr is the server's host:port.
func (pg *Postgres) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(pg.port)) }

// URL returns the URL of database db on the server.
func (pg *Postgres) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@%s/%s?sslmode=disable", pg.Addr(), db)
}

// NewDatabase creates a fresh, empty database and returns its URL.
func (pg *Postgres) NewDatabase(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("sluice_%d_%d", os.Getpid(), dbSeq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, pg.URL("postgres"))
	if err != nil {
		t.Fatalf("connect to test postgres: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE template0"); err != nil {
		t.Fatalf("create database: %v", err)
	}
	return pg.URL(name)
}
