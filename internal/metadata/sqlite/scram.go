package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"slices"

	"github.com/sluicehq/sluice/internal/auth"
)

// securityMigration adds the SCRAM credential store (internal/auth):
// per user and mechanism the salt, iteration count and derived keys,
// never a password.
const securityMigration = `CREATE TABLE scram_credentials (
		user_name TEXT NOT NULL,
		mechanism INTEGER NOT NULL,
		salt BLOB NOT NULL,
		iterations INTEGER NOT NULL,
		stored_key BLOB NOT NULL,
		server_key BLOB NOT NULL,
		updated_at INTEGER NOT NULL,
		PRIMARY KEY (user_name, mechanism)) WITHOUT ROWID;
	ALTER TABLE agents ADD COLUMN listeners TEXT NOT NULL DEFAULT '';`

var _ auth.ScramStore = (*Store)(nil)

// ScramCredential implements auth.ScramStore.
func (s *Store) ScramCredential(ctx context.Context, user string, m auth.ScramMechanism) (auth.ScramCredential, error) {
	c := auth.ScramCredential{User: user, Mechanism: m}
	err := s.r.QueryRowContext(ctx, `SELECT salt, iterations, stored_key, server_key FROM scram_credentials WHERE user_name = ? AND mechanism = ?`,
		user, int(m)).Scan(&c.Salt, &c.Iterations, &c.StoredKey, &c.ServerKey)
	if errors.Is(err, sql.ErrNoRows) {
		return c, auth.ErrNoCredential
	}
	return c, err
}

// ScramCredentials implements auth.ScramStore.
func (s *Store) ScramCredentials(ctx context.Context, users []string) ([]auth.ScramCredential, error) {
	all, err := queryAll(ctx, s.r, func(row rowScanner) (auth.ScramCredential, error) {
		var c auth.ScramCredential
		err := row.Scan(&c.User, &c.Mechanism, &c.Salt, &c.Iterations, &c.StoredKey, &c.ServerKey)
		return c, err
	}, `SELECT user_name, mechanism, salt, iterations, stored_key, server_key FROM scram_credentials ORDER BY user_name, mechanism`)
	if err != nil || users == nil {
		return all, err
	}
	return slices.DeleteFunc(all, func(c auth.ScramCredential) bool { return !slices.Contains(users, c.User) }), nil
}

// UpsertScramCredential implements auth.ScramStore.
func (s *Store) UpsertScramCredential(ctx context.Context, c auth.ScramCredential) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO scram_credentials(user_name, mechanism, salt, iterations, stored_key, server_key, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, unixepoch('subsec') * 1000)
		ON CONFLICT(user_name, mechanism) DO UPDATE SET salt = excluded.salt, iterations = excluded.iterations,
			stored_key = excluded.stored_key, server_key = excluded.server_key, updated_at = excluded.updated_at`,
		c.User, int(c.Mechanism), c.Salt, c.Iterations, c.StoredKey, c.ServerKey)
	return err
}

// DeleteScramCredential implements auth.ScramStore.
func (s *Store) DeleteScramCredential(ctx context.Context, user string, m auth.ScramMechanism) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM scram_credentials WHERE user_name = ? AND mechanism = ?`, user, int(m))
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return auth.ErrNoCredential
	}
	return err
}
