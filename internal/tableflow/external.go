package tableflow

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/apache/iceberg-go/table"
)

// External SQL catalogs.
//
// Tableflow's own store is the source of truth for a table's current
// metadata file. An external catalog is a copy of that pointer in the
// schema Apache Iceberg's JdbcCatalog (Java) and iceberg-go's catalog/sql
// share, so engines pointed at that database (Spark, Trino, PyIceberg,
// iceberg-go) find the tables:
//
//	iceberg_tables (catalog_name, table_namespace, table_name,
//	                metadata_location, previous_metadata_location[, iceberg_type])
//	iceberg_namespace_properties (catalog_name, namespace, property_key, property_value)
//
// iceberg-go's catalog/sql is not used to write: its CommitTable takes
// metadata updates and writes a metadata file of its own (tableflow's store
// would not know that file, and orphan cleanup would delete it), and it has
// no call that registers an existing metadata location. The few statements
// below write the pointer tableflow already committed.

// sqlCatalog is one external Iceberg SQL catalog.
type sqlCatalog struct {
	name     string // the catalog_name column: the catalog's name in the engines
	db       *sql.DB
	postgres bool

	// mu guards ready and typed.
	mu sync.Mutex
	// ready: the catalog tables exist and typed is known.
	ready bool
	// typed: iceberg_tables has the iceberg_type column (the "V1" schema of
	// Iceberg 1.7+ and iceberg-go); a legacy "V0" table lacks it and is
	// never given it.
	typed bool
}

// openSQLCatalog prepares a catalog without connecting: the database may be
// down when tableflow starts, and is reached on the first sync.
func openSQLCatalog(c ExternalCatalogConfig) (*sqlCatalog, error) {
	cat := &sqlCatalog{name: c.Name}
	var err error
	switch {
	case strings.HasPrefix(c.URI, "sqlite://"):
		// Only a busy timeout: the file belongs to the catalog's other
		// users too, so its journal mode is theirs to choose.
		q := url.Values{}
		q.Add("_pragma", "busy_timeout(10000)")
		cat.db, err = sql.Open("sqlite", "file:"+strings.TrimPrefix(c.URI, "sqlite://")+"?"+q.Encode())
		if err == nil {
			cat.db.SetMaxOpenConns(1)
		}
	case strings.HasPrefix(c.URI, "postgres://"), strings.HasPrefix(c.URI, "postgresql://"):
		cat.postgres = true
		cat.db, err = sql.Open("pgx", c.URI)
	default:
		err = fmt.Errorf("want sqlite:// or postgres://")
	}
	if err != nil {
		return nil, fmt.Errorf("tableflow: external catalog %s: %w", c.Name, err)
	}
	return cat, nil
}

func (c *sqlCatalog) Close() error { return c.db.Close() }

// q rewrites ? placeholders to PostgreSQL's $n.
func (c *sqlCatalog) q(query string) string {
	return (&sqlStore{postgres: c.postgres}).q(query)
}

// The DDL of Iceberg's JdbcCatalog (V1 schema), which iceberg-go's
// catalog/sql reads and writes too.
var sqlCatalogDDL = []string{
	`CREATE TABLE IF NOT EXISTS iceberg_tables (
		catalog_name VARCHAR(255) NOT NULL,
		table_namespace VARCHAR(255) NOT NULL,
		table_name VARCHAR(255) NOT NULL,
		metadata_location VARCHAR(1000),
		previous_metadata_location VARCHAR(1000),
		iceberg_type VARCHAR(5),
		PRIMARY KEY (catalog_name, table_namespace, table_name))`,
	`CREATE TABLE IF NOT EXISTS iceberg_namespace_properties (
		catalog_name VARCHAR(255) NOT NULL,
		namespace VARCHAR(255) NOT NULL,
		property_key VARCHAR(255),
		property_value VARCHAR(1000),
		PRIMARY KEY (catalog_name, namespace, property_key))`,
}

// prepare creates the catalog tables if they are missing and finds out
// whether iceberg_tables has the iceberg_type column.
func (c *sqlCatalog) prepare(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ready {
		return nil
	}
	for _, ddl := range sqlCatalogDDL {
		if _, err := c.db.ExecContext(ctx, ddl); err != nil {
			return fmt.Errorf("create catalog tables: %w", err)
		}
	}
	rows, err := c.db.QueryContext(ctx, `SELECT * FROM iceberg_tables WHERE 1 = 0`)
	if err != nil {
		return err
	}
	cols, err := rows.Columns()
	rows.Close()
	if err != nil {
		return err
	}
	for _, col := range cols {
		if strings.EqualFold(col, "iceberg_type") {
			c.typed = true
		}
	}
	c.ready = true
	return nil
}

// errCatalogConflict: the row kept moving under us; the sync is retried.
var errCatalogConflict = errors.New("tableflow: external catalog row changed concurrently")

// register makes the catalog's row for ident point at loc: inserted if
// missing (with its namespace), else moved from the location it holds with
// a compare-and-swap on that location, as JdbcCatalog commits. It is
// idempotent, and never moves a row back to an older metadata file of the
// same table, so a slow process that synced late cannot undo a newer sync.
func (c *sqlCatalog) register(ctx context.Context, ident table.Identifier, loc string) error {
	if err := c.prepare(ctx); err != nil {
		return err
	}
	ns, name := strings.Join(ident[:len(ident)-1], "."), ident[len(ident)-1]
	for range 5 {
		var cur sql.NullString
		var typ sql.NullString
		var err error
		if c.typed {
			err = c.db.QueryRowContext(ctx, c.q(`SELECT metadata_location, iceberg_type FROM iceberg_tables
				WHERE catalog_name = ? AND table_namespace = ? AND table_name = ?`), c.name, ns, name).Scan(&cur, &typ)
		} else {
			err = c.db.QueryRowContext(ctx, c.q(`SELECT metadata_location FROM iceberg_tables
				WHERE catalog_name = ? AND table_namespace = ? AND table_name = ?`), c.name, ns, name).Scan(&cur)
		}
		if errors.Is(err, sql.ErrNoRows) {
			if err := c.ensureNamespace(ctx, ns); err != nil {
				return err
			}
			var res sql.Result
			if c.typed {
				res, err = c.db.ExecContext(ctx, c.q(`INSERT INTO iceberg_tables
					(catalog_name, table_namespace, table_name, metadata_location, previous_metadata_location, iceberg_type)
					VALUES (?, ?, ?, ?, NULL, 'TABLE') ON CONFLICT DO NOTHING`), c.name, ns, name, loc)
			} else {
				res, err = c.db.ExecContext(ctx, c.q(`INSERT INTO iceberg_tables
					(catalog_name, table_namespace, table_name, metadata_location, previous_metadata_location)
					VALUES (?, ?, ?, ?, NULL) ON CONFLICT DO NOTHING`), c.name, ns, name, loc)
			}
			if err != nil {
				return fmt.Errorf("insert %s: %w", identName(ident), err)
			}
			if n, err := res.RowsAffected(); err != nil || n == 1 {
				return err
			}
			continue // inserted by someone else meanwhile: look again
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", identName(ident), err)
		}
		if typ.Valid && typ.String != "TABLE" {
			return fmt.Errorf("%s in catalog %s is a %s, not a table", identName(ident), c.name, typ.String)
		}
		if cur.String == loc || newerMetadata(cur.String, loc) {
			return nil
		}
		// JdbcCatalog's commit: move the pointer only from the location read.
		res, err := c.db.ExecContext(ctx, c.q(`UPDATE iceberg_tables SET metadata_location = ?, previous_metadata_location = ?
			WHERE catalog_name = ? AND table_namespace = ? AND table_name = ? AND metadata_location = ?`),
			loc, cur.String, c.name, ns, name, cur.String)
		if err != nil {
			return fmt.Errorf("update %s: %w", identName(ident), err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
	}
	return fmt.Errorf("%w: %s", errCatalogConflict, identName(ident))
}

// newerMetadata reports whether cur is a later metadata file of the same
// table than loc (tableflow names them NNNNN-uuid.metadata.json in the
// table's metadata directory, numbered up by every commit).
func newerMetadata(cur, loc string) bool {
	return cur != "" && path.Dir(cur) == path.Dir(loc) && metadataVersion(cur) > metadataVersion(loc)
}

// ensureNamespace creates the namespace as JdbcCatalog does (an "exists"
// property) unless it has properties already.
func (c *sqlCatalog) ensureNamespace(ctx context.Context, ns string) error {
	var one int
	err := c.db.QueryRowContext(ctx, c.q(`SELECT 1 FROM iceberg_namespace_properties WHERE catalog_name = ? AND namespace = ? LIMIT 1`), c.name, ns).Scan(&one)
	if err == nil {
		return nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("read namespace %s: %w", ns, err)
	}
	_, err = c.db.ExecContext(ctx, c.q(`INSERT INTO iceberg_namespace_properties (catalog_name, namespace, property_key, property_value)
		VALUES (?, ?, 'exists', 'true') ON CONFLICT DO NOTHING`), c.name, ns)
	if err != nil {
		return fmt.Errorf("create namespace %s: %w", ns, err)
	}
	return nil
}

// catalogSync keeps one external catalog up to date with the store. Commits
// mark their table; the sync goroutine registers each marked table's
// current store location, so it never blocks ingestion and, when the
// catalog is down, retries with backoff until it catches up. Marking every
// table when the service starts repairs a registration a crash skipped
// (after the store's commit, before the catalog's).
type catalogSync struct {
	cat      *sqlCatalog
	store    Store
	metrics  *Metrics
	log      *slog.Logger
	retryMax time.Duration
	wake     chan struct{} // capacity 1: a pending wake-up

	// mu guards dirty: tables whose registration may be behind the store.
	mu    sync.Mutex
	dirty map[string]bool
}

func newCatalogSync(cat *sqlCatalog, store Store, m *Metrics, log *slog.Logger, retryMax time.Duration) *catalogSync {
	return &catalogSync{cat: cat, store: store, metrics: m, log: log.With("catalog", cat.name), retryMax: retryMax,
		wake: make(chan struct{}, 1), dirty: map[string]bool{}}
}

// mark queues a table for registration.
func (s *catalogSync) mark(name string) {
	s.mu.Lock()
	s.dirty[name] = true
	s.metrics.catalogPending.WithLabelValues(s.cat.name).Set(float64(len(s.dirty)))
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// run syncs marked tables until ctx ends. While the catalog fails, commits
// do not trigger attempts: they wait for the backoff, which doubles up to
// retryMax.
func (s *catalogSync) run(ctx context.Context) {
	const retryMin = 500 * time.Millisecond
	backoff := retryMin
	var retry <-chan time.Time
	failing := false
	for {
		select {
		case <-ctx.Done():
			if !failing {
				// A commit just before shutdown: one last attempt, so a
				// clean stop leaves the catalog current.
				fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
				s.syncDirty(fctx)
				cancel()
			}
			return
		case <-s.wake:
			if failing {
				continue
			}
		case <-retry:
		}
		retry = nil
		failed, lastErr := s.syncDirty(ctx)
		if ctx.Err() != nil {
			continue // the last attempt above, unless it was failing
		}
		if failed == 0 {
			if failing {
				s.log.Info("tableflow: external catalog caught up")
			}
			failing, backoff = false, retryMin
			continue
		}
		if !failing {
			// Once per outage; the metric counts every failure.
			s.log.Warn("tableflow: external catalog sync failed; retrying", "tables", failed, "err", lastErr)
		}
		failing = true
		retry = time.After(backoff)
		backoff = min(2*backoff, s.retryMax)
	}
}

// syncDirty registers the marked tables, keeping those that fail marked;
// it returns how many failed, and the last error.
func (s *catalogSync) syncDirty(ctx context.Context) (int, error) {
	s.mu.Lock()
	names := make([]string, 0, len(s.dirty))
	for n := range s.dirty {
		names = append(names, n)
	}
	clear(s.dirty)
	s.mu.Unlock()
	var failed []string
	var lastErr error
	for _, name := range names {
		if err := s.sync(ctx, name); err != nil {
			failed, lastErr = append(failed, name), err
			if ctx.Err() == nil {
				s.metrics.catalogErrors.WithLabelValues(s.cat.name).Inc()
			}
		}
	}
	s.mu.Lock()
	for _, n := range failed {
		s.dirty[n] = true
	}
	s.metrics.catalogPending.WithLabelValues(s.cat.name).Set(float64(len(s.dirty)))
	s.mu.Unlock()
	return len(failed), lastErr
}

// sync registers one table's current store location.
func (s *catalogSync) sync(ctx context.Context, name string) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	st, err := s.store.Load(ctx, name)
	if errors.Is(err, ErrNoTable) {
		return nil // not created yet: its creation marks it again
	}
	if err != nil {
		return err
	}
	return s.cat.register(ctx, Ident(name), st.MetadataLocation)
}
