package postgres

import (
	"context"
	"errors"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/internal/auth"
	"github.com/sluicehq/sluice/internal/metadata/rowscan"
)

// securityMigration adds the SCRAM credential store (internal/auth):
// per user and mechanism the salt, iteration count and derived keys,
// never a password.
const securityMigration = `CREATE TABLE scram_credentials (
		user_name text NOT NULL,
		mechanism smallint NOT NULL,
		salt bytea NOT NULL,
		iterations integer NOT NULL,
		stored_key bytea NOT NULL,
		server_key bytea NOT NULL,
		updated_at timestamptz NOT NULL,
		PRIMARY KEY (user_name, mechanism));
	ALTER TABLE agents ADD COLUMN listeners text NOT NULL DEFAULT '';`

var _ auth.ScramStore = (*Store)(nil)

// ScramCredential implements auth.ScramStore.
func (s *Store) ScramCredential(ctx context.Context, user string, m auth.ScramMechanism) (auth.ScramCredential, error) {
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	c := auth.ScramCredential{User: user, Mechanism: m}
	err := s.pool.QueryRow(ctx, `SELECT salt, iterations, stored_key, server_key FROM scram_credentials WHERE user_name = $1 AND mechanism = $2`,
		user, int16(m)).Scan(&c.Salt, &c.Iterations, &c.StoredKey, &c.ServerKey)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, auth.ErrNoCredential
	}
	return c, err
}

// ScramCredentials implements auth.ScramStore.
func (s *Store) ScramCredentials(ctx context.Context, users []string) ([]auth.ScramCredential, error) {
	all, err := queryAll(ctx, s, func(row rowscan.Scanner) (auth.ScramCredential, error) {
		var (
			c    auth.ScramCredential
			mech int16
		)
		err := row.Scan(&c.User, &mech, &c.Salt, &c.Iterations, &c.StoredKey, &c.ServerKey)
		c.Mechanism = auth.ScramMechanism(mech)
		return c, err
	}, `SELECT user_name, mechanism, salt, iterations, stored_key, server_key FROM scram_credentials ORDER BY user_name, mechanism`)
	if err != nil || users == nil {
		return all, err
	}
	return slices.DeleteFunc(all, func(c auth.ScramCredential) bool { return !slices.Contains(users, c.User) }), nil
}

// UpsertScramCredential implements auth.ScramStore.
func (s *Store) UpsertScramCredential(ctx context.Context, c auth.ScramCredential) error {
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	_, err := s.pool.Exec(ctx, `INSERT INTO scram_credentials(user_name, mechanism, salt, iterations, stored_key, server_key, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, clock_timestamp())
		ON CONFLICT (user_name, mechanism) DO UPDATE SET salt = excluded.salt, iterations = excluded.iterations,
			stored_key = excluded.stored_key, server_key = excluded.server_key, updated_at = excluded.updated_at`,
		c.User, int16(c.Mechanism), c.Salt, c.Iterations, c.StoredKey, c.ServerKey)
	return err
}

// DeleteScramCredential implements auth.ScramStore.
func (s *Store) DeleteScramCredential(ctx context.Context, user string, m auth.ScramMechanism) error {
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	tag, err := s.pool.Exec(ctx, `DELETE FROM scram_credentials WHERE user_name = $1 AND mechanism = $2`, user, int16(m))
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return auth.ErrNoCredential
	}
	return nil
}
