package sqlite

import (
	"context"
	"database/sql"

	"github.com/sluicehq/sluice/internal/dynconfig"
)

// dynconfigMigration holds the dynamic broker configs and client quotas
// (internal/dynconfig) as rows of one table, and the version every change
// bumps, which agents poll to reload them.
const dynconfigMigration = `CREATE TABLE dynamic_configs (
		scope TEXT NOT NULL,
		name TEXT NOT NULL,
		value TEXT NOT NULL,
		PRIMARY KEY (scope, name)) WITHOUT ROWID;
	CREATE TABLE dynamic_config_version (
		id INTEGER PRIMARY KEY CHECK (id = 1),
		version INTEGER NOT NULL);
	INSERT INTO dynamic_config_version (id, version) VALUES (1, 0);`

var _ dynconfig.Store = (*Store)(nil)

// DynamicConfigs implements dynconfig.Store.
func (s *Store) DynamicConfigs(ctx context.Context) ([]dynconfig.Entry, int64, error) {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, 0, err
	}
	defer tx.Rollback()
	var v int64
	if err := tx.QueryRowContext(ctx, `SELECT version FROM dynamic_config_version WHERE id = 1`).Scan(&v); err != nil {
		return nil, 0, err
	}
	rows, err := tx.QueryContext(ctx, `SELECT scope, name, value FROM dynamic_configs ORDER BY scope, name`)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []dynconfig.Entry
	for rows.Next() {
		var e dynconfig.Entry
		if err := rows.Scan(&e.Scope, &e.Name, &e.Value); err != nil {
			return nil, 0, err
		}
		out = append(out, e)
	}
	return out, v, rows.Err()
}

// DynamicConfigVersion implements dynconfig.Store.
func (s *Store) DynamicConfigVersion(ctx context.Context) (int64, error) {
	var v int64
	err := s.r.QueryRowContext(ctx, `SELECT version FROM dynamic_config_version WHERE id = 1`).Scan(&v)
	return v, err
}

// ChangeDynamicConfigs implements dynconfig.Store. The single writer
// connection serialises changes; the version check makes them
// compare-and-set.
func (s *Store) ChangeDynamicConfigs(ctx context.Context, ifVersion int64, changes []dynconfig.Change) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE dynamic_config_version SET version = version + 1 WHERE id = 1 AND version = ?`, ifVersion)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return dynconfig.ErrVersionChanged
	}
	if len(changes) == 0 {
		return nil // nothing to change: leave the version alone
	}
	for _, c := range changes {
		if c.Remove {
			_, err = tx.ExecContext(ctx, `DELETE FROM dynamic_configs WHERE scope = ? AND name = ?`, c.Scope, c.Name)
		} else {
			_, err = tx.ExecContext(ctx, `INSERT INTO dynamic_configs (scope, name, value) VALUES (?, ?, ?)
				ON CONFLICT (scope, name) DO UPDATE SET value = excluded.value`, c.Scope, c.Name, c.Value)
		}
		if err != nil {
			return err
		}
	}
	return tx.Commit()
}
