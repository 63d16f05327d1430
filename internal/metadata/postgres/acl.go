package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/acl"
)

// aclMigration holds the Kafka ACLs (internal/acl) and the version every
// change bumps, which agents poll to invalidate their caches.
const aclMigration = `CREATE TABLE acls (
		resource_type smallint NOT NULL,
		resource_name text NOT NULL,
		pattern_type smallint NOT NULL,
		principal text NOT NULL,
		host text NOT NULL,
		operation smallint NOT NULL,
		permission smallint NOT NULL,
		PRIMARY KEY (resource_type, resource_name, pattern_type, principal, host, operation, permission));
	CREATE TABLE acl_version (
		id smallint PRIMARY KEY CHECK (id = 1),
		version bigint NOT NULL);
	INSERT INTO acl_version (id, version) VALUES (1, 0);`

var _ acl.Store = (*Store)(nil)

// ACLs implements acl.Store. The rows and the version are read in one
// REPEATABLE READ snapshot, so the version is never newer than the rows.
func (s *Store) ACLs(ctx context.Context) ([]acl.Binding, int64, error) {
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, 0, err
	}
	defer tx.Rollback(ctx)
	var v int64
	if err := tx.QueryRow(ctx, `SELECT version FROM acl_version WHERE id = 1`).Scan(&v); err != nil {
		return nil, 0, err
	}
	rows, err := tx.Query(ctx, `SELECT resource_type, resource_name, pattern_type, principal, host, operation, permission
		FROM acls ORDER BY resource_type, resource_name, pattern_type, principal, host, operation, permission`)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []acl.Binding
	for rows.Next() {
		var b acl.Binding
		var rt, pt, op, perm int16
		if err := rows.Scan(&rt, &b.ResourceName, &pt, &b.Principal, &b.Host, &op, &perm); err != nil {
			return nil, 0, err
		}
		b.ResourceType, b.PatternType = kmsg.ACLResourceType(rt), kmsg.ACLResourcePatternType(pt)
		b.Operation, b.Permission = kmsg.ACLOperation(op), kmsg.ACLPermissionType(perm)
		out = append(out, b)
	}
	return out, v, rows.Err()
}

// ACLVersion implements acl.Store.
func (s *Store) ACLVersion(ctx context.Context) (int64, error) {
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	var v int64
	err := s.pool.QueryRow(ctx, `SELECT version FROM acl_version WHERE id = 1`).Scan(&v)
	return v, err
}

// AddACLs implements acl.Store.
func (s *Store) AddACLs(ctx context.Context, bs []acl.Binding) error {
	return s.changeACLs(ctx, bs, `INSERT INTO acls (resource_type, resource_name, pattern_type, principal, host, operation, permission)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`)
}

// RemoveACLs implements acl.Store.
func (s *Store) RemoveACLs(ctx context.Context, bs []acl.Binding) error {
	return s.changeACLs(ctx, bs, `DELETE FROM acls WHERE resource_type = $1 AND resource_name = $2 AND pattern_type = $3
		AND principal = $4 AND host = $5 AND operation = $6 AND permission = $7`)
}

// changeACLs runs stmt for each binding and bumps the version if a row
// changed, in one transaction; the version row's lock orders concurrent
// changes.
func (s *Store) changeACLs(ctx context.Context, bs []acl.Binding, stmt string) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		changed := int64(0)
		for _, b := range bs {
			tag, err := tx.Exec(ctx, stmt, int16(b.ResourceType), b.ResourceName, int16(b.PatternType), b.Principal, b.Host, int16(b.Operation), int16(b.Permission))
			if err != nil {
				return err
			}
			changed += tag.RowsAffected()
		}
		if changed > 0 {
			if _, err := tx.Exec(ctx, `UPDATE acl_version SET version = version + 1 WHERE id = 1`); err != nil {
				return err
			}
		}
		return nil
	})
}
