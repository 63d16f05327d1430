package tableflow

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	_ "modernc.org/sqlite"             // database/sql driver "sqlite"
)

// Store errors, checked with errors.Is.
var (
	// ErrNoTable: the store has no state for the table.
	ErrNoTable = errors.New("tableflow: no such table")
	// ErrConflict: the table's metadata moved since the caller read it.
	ErrConflict = errors.New("tableflow: table changed concurrently")
	// ErrLeaseLost: the caller no longer holds the table's lease.
	ErrLeaseLost = errors.New("tableflow: table lease lost")
)

// TableState is a table's committed state: the Iceberg metadata file that
// describes it, and the next Kafka offset per source partition. Both change
// together in one statement, which is what makes ingestion exactly once.
type TableState struct {
	Name             string
	MetadataLocation string
	// Offsets maps a source partition to the next offset to ingest.
	Offsets   map[int32]int64
	UpdatedAt time.Time
}

// Commit moves a table from one metadata file to the next.
type Commit struct {
	Name  string
	Owner string // the lease holder; the commit fails unless it holds the lease
	// Prev is the metadata location the commit builds on; empty creates the
	// table.
	Prev string
	Next string
	// Offsets replaces the table's offsets; nil keeps them.
	Offsets map[int32]int64
}

// Store keeps tableflow's state. Implementations are safe for concurrent
// use by several processes.
type Store interface {
	// Load returns a table's state, or ErrNoTable.
	Load(ctx context.Context, name string) (TableState, error)
	// List returns every table's state, ordered by name.
	List(ctx context.Context) ([]TableState, error)
	// Commit applies c atomically: ErrConflict if the table's location is not
	// c.Prev (or, creating, the table exists), ErrLeaseLost if c.Owner does
	// not hold an unexpired lease on the table.
	Commit(ctx context.Context, c Commit) error
	// AcquireLease takes or renews the lease on a table for ttl, reporting
	// whether owner holds it now.
	AcquireLease(ctx context.Context, name, owner string, ttl time.Duration) (bool, error)
	// ReleaseLease gives the lease up if owner holds it.
	ReleaseLease(ctx context.Context, name, owner string) error
	Close() error
}

// sqlStore implements Store on SQLite or PostgreSQL through database/sql.
// Tableflow keeps its own small schema (in its own SQLite file, or the
// tables below in a PostgreSQL database), so it never shares migrations
// with the agent's metadata store.
type sqlStore struct {
	db       *sql.DB
	postgres bool
	now      func() time.Time
}

var storeMigrations = []string{
	`CREATE TABLE IF NOT EXISTS tableflow_tables (
		name TEXT PRIMARY KEY,
		metadata_location TEXT NOT NULL,
		offsets TEXT NOT NULL,
		updated_ms BIGINT NOT NULL
	);
	CREATE TABLE IF NOT EXISTS tableflow_leases (
		name TEXT PRIMARY KEY,
		owner TEXT NOT NULL,
		expires_ms BIGINT NOT NULL
	)`,
}

// OpenStore opens a store by URL: sqlite:///path/file.db or postgres://.
func OpenStore(ctx context.Context, rawURL string) (Store, error) {
	s := &sqlStore{now: time.Now}
	var err error
	switch {
	case strings.HasPrefix(rawURL, "sqlite://"):
		path := strings.TrimPrefix(rawURL, "sqlite://")
		q := url.Values{}
		for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(10000)"} {
			q.Add("_pragma", p)
		}
		q.Set("_txlock", "immediate")
		s.db, err = sql.Open("sqlite", "file:"+path+"?"+q.Encode())
		if err == nil {
			s.db.SetMaxOpenConns(1)
		}
	case strings.HasPrefix(rawURL, "postgres://"), strings.HasPrefix(rawURL, "postgresql://"):
		s.postgres = true
		s.db, err = sql.Open("pgx", rawURL)
	default:
		return nil, fmt.Errorf("tableflow: metadata URL %q: want sqlite:// or postgres://", rawURL)
	}
	if err != nil {
		return nil, fmt.Errorf("tableflow: open store: %w", err)
	}
	if err := s.migrate(ctx); err != nil {
		s.db.Close()
		return nil, err
	}
	return s, nil
}

// migrate creates the schema. The statements are idempotent, so concurrent
// first starts are harmless; schema changes append to storeMigrations.
func (s *sqlStore) migrate(ctx context.Context) error {
	for _, m := range storeMigrations {
		for _, stmt := range strings.Split(m, ";") {
			if _, err := s.db.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("tableflow: migrate store: %w", err)
			}
		}
	}
	return nil
}

// q rewrites ? placeholders to PostgreSQL's $n.
func (s *sqlStore) q(query string) string {
	if !s.postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func encodeOffsets(o map[int32]int64) string {
	m := make(map[string]int64, len(o))
	for p, off := range o {
		m[strconv.Itoa(int(p))] = off
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func decodeOffsets(s string) (map[int32]int64, error) {
	var m map[string]int64
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, err
	}
	o := make(map[int32]int64, len(m))
	for k, v := range m {
		p, err := strconv.Atoi(k)
		if err != nil {
			return nil, err
		}
		o[int32(p)] = v
	}
	return o, nil
}

func (s *sqlStore) scan(row interface{ Scan(...any) error }) (TableState, error) {
	var st TableState
	var offs string
	var ms int64
	if err := row.Scan(&st.Name, &st.MetadataLocation, &offs, &ms); err != nil {
		return st, err
	}
	o, err := decodeOffsets(offs)
	if err != nil {
		return st, fmt.Errorf("tableflow: table %s: bad offsets: %w", st.Name, err)
	}
	st.Offsets, st.UpdatedAt = o, time.UnixMilli(ms)
	return st, nil
}

func (s *sqlStore) Load(ctx context.Context, name string) (TableState, error) {
	st, err := s.scan(s.db.QueryRowContext(ctx, s.q(`SELECT name, metadata_location, offsets, updated_ms FROM tableflow_tables WHERE name = ?`), name))
	if errors.Is(err, sql.ErrNoRows) {
		return st, fmt.Errorf("%w: %s", ErrNoTable, name)
	}
	return st, err
}

func (s *sqlStore) List(ctx context.Context) ([]TableState, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, metadata_location, offsets, updated_ms FROM tableflow_tables ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []TableState
	for rows.Next() {
		st, err := s.scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, rows.Err()
}

// Commit is one conditional statement (plus a lease check in the same
// transaction), so the metadata location and the offsets never disagree.
func (s *sqlStore) Commit(ctx context.Context, c Commit) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	now := s.now().UnixMilli()
	var holder string
	var expires int64
	err = tx.QueryRowContext(ctx, s.q(`SELECT owner, expires_ms FROM tableflow_leases WHERE name = ?`+s.forUpdate()), c.Name).Scan(&holder, &expires)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && (holder != c.Owner || expires <= now)) {
		return fmt.Errorf("%w: %s (held by %q)", ErrLeaseLost, c.Name, holder)
	}
	if err != nil {
		return err
	}
	var res sql.Result
	if c.Prev == "" {
		offs := c.Offsets
		if offs == nil {
			offs = map[int32]int64{}
		}
		res, err = tx.ExecContext(ctx, s.q(`INSERT INTO tableflow_tables (name, metadata_location, offsets, updated_ms) VALUES (?, ?, ?, ?) ON CONFLICT (name) DO NOTHING`),
			c.Name, c.Next, encodeOffsets(offs), now)
	} else if c.Offsets == nil {
		res, err = tx.ExecContext(ctx, s.q(`UPDATE tableflow_tables SET metadata_location = ?, updated_ms = ? WHERE name = ? AND metadata_location = ?`),
			c.Next, now, c.Name, c.Prev)
	} else {
		res, err = tx.ExecContext(ctx, s.q(`UPDATE tableflow_tables SET metadata_location = ?, offsets = ?, updated_ms = ? WHERE name = ? AND metadata_location = ?`),
			c.Next, encodeOffsets(c.Offsets), now, c.Name, c.Prev)
	}
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n != 1 {
		return fmt.Errorf("%w: %s is no longer at %s", ErrConflict, c.Name, c.Prev)
	}
	return tx.Commit()
}

func (s *sqlStore) forUpdate() string {
	if s.postgres {
		return " FOR UPDATE"
	}
	return "" // SQLite transactions here begin IMMEDIATE: already exclusive
}

func (s *sqlStore) AcquireLease(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	now := s.now()
	res, err := s.db.ExecContext(ctx, s.q(`INSERT INTO tableflow_leases (name, owner, expires_ms) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_ms = excluded.expires_ms
		WHERE tableflow_leases.owner = excluded.owner OR tableflow_leases.expires_ms <= ?`),
		name, owner, now.Add(ttl).UnixMilli(), now.UnixMilli())
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func (s *sqlStore) ReleaseLease(ctx context.Context, name, owner string) error {
	_, err := s.db.ExecContext(ctx, s.q(`DELETE FROM tableflow_leases WHERE name = ? AND owner = ?`), name, owner)
	return err
}

func (s *sqlStore) Close() error { return s.db.Close() }
