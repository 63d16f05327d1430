package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"github.com/sluicehq/sluice/internal/schemaregistry/srstore"
)

// schemaRegistryMigration holds the schema registry's rows
// (srstore): schemas by global ID, their references, subject versions and
// config/mode settings.
const schemaRegistryMigration = `CREATE TABLE sr_schemas (
		id INTEGER PRIMARY KEY,
		type TEXT NOT NULL,
		schema TEXT NOT NULL,
		refs TEXT NOT NULL,
		fingerprint TEXT NOT NULL);
	CREATE INDEX sr_schemas_fingerprint ON sr_schemas (fingerprint, id);
	CREATE TABLE sr_refs (
		schema_id INTEGER NOT NULL,
		subject TEXT NOT NULL,
		version INTEGER NOT NULL,
		PRIMARY KEY (subject, version, schema_id)) WITHOUT ROWID;
	CREATE TABLE sr_versions (
		subject TEXT NOT NULL,
		version INTEGER NOT NULL,
		schema_id INTEGER NOT NULL,
		deleted INTEGER NOT NULL,
		PRIMARY KEY (subject, version)) WITHOUT ROWID;
	CREATE INDEX sr_versions_schema ON sr_versions (schema_id);
	CREATE TABLE sr_settings (
		kind TEXT NOT NULL,
		subject TEXT NOT NULL,
		value TEXT NOT NULL,
		PRIMARY KEY (kind, subject)) WITHOUT ROWID;`

var _ srstore.Store = (*Store)(nil)

// SchemaRegistryUpdate implements srstore.Store. SQLite has one writer, so
// write transactions are serialised by the database itself.
func (s *Store) SchemaRegistryUpdate(ctx context.Context, fn func(srstore.Tx) error) error {
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		err = s.srUpdateOnce(ctx, fn)
		if !errors.Is(err, srstore.ErrConflict) {
			return err
		}
	}
	return err
}

func (s *Store) srUpdateOnce(ctx context.Context, fn func(srstore.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(srRows{tx}); err != nil {
		return err
	}
	return tx.Commit()
}

// SchemaRegistryView implements srstore.Store: a deferred transaction on a
// reader connection sees one WAL snapshot without blocking the writer.
func (s *Store) SchemaRegistryView(ctx context.Context, fn func(srstore.Tx) error) error {
	conn, err := s.r.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `BEGIN DEFERRED`); err != nil {
		return err
	}
	defer conn.ExecContext(context.Background(), `ROLLBACK`)
	return fn(srRows{conn})
}

type srQuerier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// srRows is SQLite's side of srstore.Tx.
type srRows struct{ q srQuerier }

const srSchemaSelect = `SELECT id, type, schema, refs, fingerprint FROM sr_schemas`

func scanSRSchema(row interface{ Scan(...any) error }) (srstore.Schema, error) {
	var s srstore.Schema
	var refs string
	if err := row.Scan(&s.ID, &s.Type, &s.Text, &refs, &s.Fingerprint); err != nil {
		return s, err
	}
	err := json.Unmarshal([]byte(refs), &s.Refs)
	return s, err
}

func (r srRows) schemas(ctx context.Context, query string, args ...any) ([]srstore.Schema, error) {
	rows, err := r.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []srstore.Schema
	for rows.Next() {
		s, err := scanSRSchema(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

func (r srRows) SchemaByID(ctx context.Context, id int64) (srstore.Schema, bool, error) {
	s, err := scanSRSchema(r.q.QueryRowContext(ctx, srSchemaSelect+` WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return s, false, nil
	}
	return s, err == nil, err
}

func (r srRows) SchemasByFingerprint(ctx context.Context, fp string) ([]srstore.Schema, error) {
	return r.schemas(ctx, srSchemaSelect+` WHERE fingerprint = ? ORDER BY id`, fp)
}

func (r srRows) Schemas(ctx context.Context) ([]srstore.Schema, error) {
	return r.schemas(ctx, srSchemaSelect+` ORDER BY id`)
}

func (r srRows) MaxSchemaID(ctx context.Context) (int64, error) {
	var id int64
	err := r.q.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM sr_schemas`).Scan(&id)
	return id, err
}

func (r srRows) InsertSchema(ctx context.Context, s srstore.Schema) error {
	refs, err := json.Marshal(nonNilRefs(s.Refs))
	if err != nil {
		return err
	}
	res, err := r.q.ExecContext(ctx, `INSERT INTO sr_schemas(id, type, schema, refs, fingerprint) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT(id) DO NOTHING`, s.ID, s.Type, s.Text, string(refs), s.Fingerprint)
	if ok, err := changedOne(res, err); err != nil {
		return err
	} else if !ok {
		return srstore.ErrConflict
	}
	for _, ref := range s.Refs {
		if _, err := r.q.ExecContext(ctx, `INSERT INTO sr_refs(schema_id, subject, version) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
			s.ID, ref.Subject, ref.Version); err != nil {
			return err
		}
	}
	return nil
}

func nonNilRefs(refs []srstore.Reference) []srstore.Reference {
	if refs == nil {
		return []srstore.Reference{}
	}
	return refs
}

func (r srRows) versions(ctx context.Context, query string, args ...any) ([]srstore.Version, error) {
	rows, err := r.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []srstore.Version
	for rows.Next() {
		var v srstore.Version
		if err := rows.Scan(&v.Subject, &v.Version, &v.SchemaID, &v.Deleted); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func (r srRows) Versions(ctx context.Context, subject string) ([]srstore.Version, error) {
	if subject == "" {
		return r.versions(ctx, `SELECT subject, version, schema_id, deleted FROM sr_versions ORDER BY subject, version`)
	}
	return r.versions(ctx, `SELECT subject, version, schema_id, deleted FROM sr_versions WHERE subject = ? ORDER BY version`, subject)
}

func (r srRows) VersionsOfSchema(ctx context.Context, id int64) ([]srstore.Version, error) {
	return r.versions(ctx, `SELECT subject, version, schema_id, deleted FROM sr_versions WHERE schema_id = ? ORDER BY subject, version`, id)
}

func (r srRows) ReferencingSchemas(ctx context.Context, subject string, version int) ([]int64, error) {
	rows, err := r.q.QueryContext(ctx, `SELECT schema_id FROM sr_refs WHERE subject = ? AND version = ? ORDER BY schema_id`, subject, version)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

func (r srRows) PutVersion(ctx context.Context, v srstore.Version) error {
	_, err := r.q.ExecContext(ctx, `INSERT INTO sr_versions(subject, version, schema_id, deleted) VALUES (?, ?, ?, ?)
		ON CONFLICT(subject, version) DO UPDATE SET schema_id = excluded.schema_id, deleted = excluded.deleted`,
		v.Subject, v.Version, v.SchemaID, v.Deleted)
	return err
}

func (r srRows) DeleteVersion(ctx context.Context, subject string, version int) error {
	_, err := r.q.ExecContext(ctx, `DELETE FROM sr_versions WHERE subject = ? AND version = ?`, subject, version)
	return err
}

func (r srRows) Setting(ctx context.Context, kind, subject string) (string, bool, error) {
	var v string
	err := r.q.QueryRowContext(ctx, `SELECT value FROM sr_settings WHERE kind = ? AND subject = ?`, kind, subject).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	return v, err == nil, err
}

func (r srRows) PutSetting(ctx context.Context, kind, subject, value string) error {
	_, err := r.q.ExecContext(ctx, `INSERT INTO sr_settings(kind, subject, value) VALUES (?, ?, ?)
		ON CONFLICT(kind, subject) DO UPDATE SET value = excluded.value`, kind, subject, value)
	return err
}

func (r srRows) DeleteSetting(ctx context.Context, kind, subject string) (bool, error) {
	res, err := r.q.ExecContext(ctx, `DELETE FROM sr_settings WHERE kind = ? AND subject = ?`, kind, subject)
	return changedOne(res, err)
}
