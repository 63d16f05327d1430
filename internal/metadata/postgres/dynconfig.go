package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/internal/dynconfig"
)

// dynconfigMigration holds the dynamic broker configs and client quotas
// (internal/dynconfig) as rows of one table, and the version every change
// bumps, which agents poll to reload them.
const dynconfigMigration = `CREATE TABLE dynamic_configs (
		scope text NOT NULL,
		name text NOT NULL,
		value text NOT NULL,
		PRIMARY KEY (scope, name));
	CREATE TABLE dynamic_config_version (
		id smallint PRIMARY KEY CHECK (id = 1),
		version bigint NOT NULL);
	INSERT INTO dynamic_config_version (id, version) VALUES (1, 0);`

var _ dynconfig.Store = (*Store)(nil)

// DynamicConfigs implements dynconfig.Store. The rows and the version are
// read in one REPEATABLE READ snapshot.
func (s *Store) DynamicConfigs(ctx context.Context) ([]dynconfig.Entry, int64, error) {
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, 0, err
	}
	defer tx.Rollback(ctx)
	var v int64
	if err := tx.QueryRow(ctx, `SELECT version FROM dynamic_config_version WHERE id = 1`).Scan(&v); err != nil {
		return nil, 0, err
	}
	rows, err := tx.Query(ctx, `SELECT scope, name, value FROM dynamic_configs ORDER BY scope COLLATE "C", name COLLATE "C"`)
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
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	var v int64
	err := s.pool.QueryRow(ctx, `SELECT version FROM dynamic_config_version WHERE id = 1`).Scan(&v)
	return v, err
}

// ChangeDynamicConfigs implements dynconfig.Store: the conditional update
// of the version row locks it, which orders concurrent changes.
func (s *Store) ChangeDynamicConfigs(ctx context.Context, ifVersion int64, changes []dynconfig.Change) error {
	if len(changes) == 0 {
		v, err := s.DynamicConfigVersion(ctx)
		if err == nil && v != ifVersion {
			err = dynconfig.ErrVersionChanged
		}
		return err
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE dynamic_config_version SET version = version + 1 WHERE id = 1 AND version = $1`, ifVersion)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return dynconfig.ErrVersionChanged
		}
		for _, c := range changes {
			if c.Remove {
				_, err = tx.Exec(ctx, `DELETE FROM dynamic_configs WHERE scope = $1 AND name = $2`, c.Scope, c.Name)
			} else {
				_, err = tx.Exec(ctx, `INSERT INTO dynamic_configs (scope, name, value) VALUES ($1, $2, $3)
					ON CONFLICT (scope, name) DO UPDATE SET value = excluded.value`, c.Scope, c.Name, c.Value)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}
