package postgres

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/internal/schemaregistry/srstore"
)

// schemaRegistryMigration holds the schema registry's rows
// (srstore): schemas by global ID, their references, subject versions and
// config/mode settings.
const schemaRegistryMigration = `CREATE TABLE sr_schemas (
		id bigint PRIMARY KEY,
		type text NOT NULL,
		schema text NOT NULL,
		refs text NOT NULL,
		fingerprint text NOT NULL);
	CREATE INDEX sr_schemas_fingerprint ON sr_schemas (fingerprint, id);
	CREATE TABLE sr_refs (
		schema_id bigint NOT NULL,
		subject text NOT NULL,
		version integer NOT NULL,
		PRIMARY KEY (subject, version, schema_id));
	CREATE TABLE sr_versions (
		subject text NOT NULL,
		version integer NOT NULL,
		schema_id bigint NOT NULL,
		deleted boolean NOT NULL,
		PRIMARY KEY (subject, version));
	CREATE INDEX sr_versions_schema ON sr_versions (schema_id);
	CREATE TABLE sr_settings (
		kind text NOT NULL,
		subject text NOT NULL,
		value text NOT NULL,
		PRIMARY KEY (kind, subject));`

// srWriteLock is the advisory lock key every schema registry write
// transaction takes first ("sr" in ASCII), so that agents assigning IDs
// and version numbers (MAX()+1) do it one transaction at a time.
// Registrations are rare; a single lock is simpler than per-row locking and
// the unique keys stay as a second line of defence.
const srWriteLock = 0x7372

var _ srstore.Store = (*Store)(nil)

// SchemaRegistryUpdate implements srstore.Store.
func (s *Store) SchemaRegistryUpdate(ctx context.Context, fn func(srstore.Tx) error) error {
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		err = s.inTx(ctx, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(srWriteLock)); err != nil {
				return err
			}
			return fn(srRows{tx})
		})
		if isUniqueViolation(err) {
			err = srstore.ErrConflict
		}
		if !errors.Is(err, srstore.ErrConflict) {
			return err
		}
	}
	return err
}

// SchemaRegistryView implements srstore.Store with a REPEATABLE READ
// read-only transaction (one snapshot).
func (s *Store) SchemaRegistryView(ctx context.Context, fn func(srstore.Tx) error) error {
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	return pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		return fn(srRows{tx})
	})
}

// srRows is PostgreSQL's side of srstore.Tx.
type srRows struct{ tx pgx.Tx }

const srSchemaSelect = `SELECT id, type, schema, refs, fingerprint FROM sr_schemas`

func scanSRSchema(row pgx.Row) (srstore.Schema, error) {
	var s srstore.Schema
	var refs string
	if err := row.Scan(&s.ID, &s.Type, &s.Text, &refs, &s.Fingerprint); err != nil {
		return s, err
	}
	err := json.Unmarshal([]byte(refs), &s.Refs)
	return s, err
}

func (r srRows) schemas(ctx context.Context, query string, args ...any) ([]srstore.Schema, error) {
	rows, err := r.tx.Query(ctx, query, args...)
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
	s, err := scanSRSchema(r.tx.QueryRow(ctx, srSchemaSelect+` WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return s, false, nil
	}
	return s, err == nil, err
}

func (r srRows) SchemasByFingerprint(ctx context.Context, fp string) ([]srstore.Schema, error) {
	return r.schemas(ctx, srSchemaSelect+` WHERE fingerprint = $1 ORDER BY id`, fp)
}

func (r srRows) Schemas(ctx context.Context) ([]srstore.Schema, error) {
	return r.schemas(ctx, srSchemaSelect+` ORDER BY id`)
}

func (r srRows) MaxSchemaID(ctx context.Context) (int64, error) {
	var id int64
	err := r.tx.QueryRow(ctx, `SELECT COALESCE(MAX(id), 0) FROM sr_schemas`).Scan(&id)
	return id, err
}

func (r srRows) InsertSchema(ctx context.Context, s srstore.Schema) error {
	refs := s.Refs
	if refs == nil {
		refs = []srstore.Reference{}
	}
	b, err := json.Marshal(refs)
	if err != nil {
		return err
	}
	tag, err := r.tx.Exec(ctx, `INSERT INTO sr_schemas(id, type, schema, refs, fingerprint) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (id) DO NOTHING`, s.ID, s.Type, s.Text, string(b), s.Fingerprint)
	if err != nil {
		return err
	}
	if tag.RowsAffected() != 1 {
		return srstore.ErrConflict
	}
	for _, ref := range s.Refs {
		if _, err := r.tx.Exec(ctx, `INSERT INTO sr_refs(schema_id, subject, version) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
			s.ID, ref.Subject, ref.Version); err != nil {
			return err
		}
	}
	return nil
}

func (r srRows) versions(ctx context.Context, query string, args ...any) ([]srstore.Version, error) {
	rows, err := r.tx.Query(ctx, query, args...)
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
	return r.versions(ctx, `SELECT subject, version, schema_id, deleted FROM sr_versions WHERE subject = $1 ORDER BY version`, subject)
}

func (r srRows) VersionsOfSchema(ctx context.Context, id int64) ([]srstore.Version, error) {
	return r.versions(ctx, `SELECT subject, version, schema_id, deleted FROM sr_versions WHERE schema_id = $1 ORDER BY subject, version`, id)
}

func (r srRows) ReferencingSchemas(ctx context.Context, subject string, version int) ([]int64, error) {
	rows, err := r.tx.Query(ctx, `SELECT schema_id FROM sr_refs WHERE subject = $1 AND version = $2 ORDER BY schema_id`, subject, version)
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
	_, err := r.tx.Exec(ctx, `INSERT INTO sr_versions(subject, version, schema_id, deleted) VALUES ($1, $2, $3, $4)
		ON CONFLICT (subject, version) DO UPDATE SET schema_id = excluded.schema_id, deleted = excluded.deleted`,
		v.Subject, v.Version, v.SchemaID, v.Deleted)
	return err
}

func (r srRows) DeleteVersion(ctx context.Context, subject string, version int) error {
	_, err := r.tx.Exec(ctx, `DELETE FROM sr_versions WHERE subject = $1 AND version = $2`, subject, version)
	return err
}

func (r srRows) Setting(ctx context.Context, kind, subject string) (string, bool, error) {
	var v string
	err := r.tx.QueryRow(ctx, `SELECT value FROM sr_settings WHERE kind = $1 AND subject = $2`, kind, subject).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	return v, err == nil, err
}

func (r srRows) PutSetting(ctx context.Context, kind, subject, value string) error {
	_, err := r.tx.Exec(ctx, `INSERT INTO sr_settings(kind, subject, value) VALUES ($1, $2, $3)
		ON CONFLICT (kind, subject) DO UPDATE SET value = excluded.value`, kind, subject, value)
	return err
}

func (r srRows) DeleteSetting(ctx context.Context, kind, subject string) (bool, error) {
	tag, err := r.tx.Exec(ctx, `DELETE FROM sr_settings WHERE kind = $1 AND subject = $2`, kind, subject)
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil
}
