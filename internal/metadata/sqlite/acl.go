package sqlite

import (
	"context"
	"database/sql"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/acl"
)

// aclMigration holds the Kafka ACLs (internal/acl) and the version every
// change bumps, which agents poll to invalidate their caches.
const aclMigration = `CREATE TABLE acls (
		resource_type INTEGER NOT NULL,
		resource_name TEXT NOT NULL,
		pattern_type INTEGER NOT NULL,
		principal TEXT NOT NULL,
		host TEXT NOT NULL,
		operation INTEGER NOT NULL,
		permission INTEGER NOT NULL,
		PRIMARY KEY (resource_type, resource_name, pattern_type, principal, host, operation, permission)) WITHOUT ROWID;
	CREATE TABLE acl_version (
		id INTEGER PRIMARY KEY CHECK (id = 1),
		version INTEGER NOT NULL);
	INSERT INTO acl_version (id, version) VALUES (1, 0);`

var _ acl.Store = (*Store)(nil)

// ACLs implements acl.Store.
func (s *Store) ACLs(ctx context.Context) ([]acl.Binding, int64, error) {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, 0, err
	}
	defer tx.Rollback()
	var v int64
	if err := tx.QueryRowContext(ctx, `SELECT version FROM acl_version WHERE id = 1`).Scan(&v); err != nil {
		return nil, 0, err
	}
	rows, err := tx.QueryContext(ctx, `SELECT resource_type, resource_name, pattern_type, principal, host, operation, permission
		FROM acls ORDER BY resource_type, resource_name, pattern_type, principal, host, operation, permission`)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []acl.Binding
	for rows.Next() {
		var b acl.Binding
		var rt, pt, op, perm int8
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
	var v int64
	err := s.r.QueryRowContext(ctx, `SELECT version FROM acl_version WHERE id = 1`).Scan(&v)
	return v, err
}

// AddACLs implements acl.Store.
func (s *Store) AddACLs(ctx context.Context, bs []acl.Binding) error {
	return s.changeACLs(ctx, bs, `INSERT INTO acls (resource_type, resource_name, pattern_type, principal, host, operation, permission)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`)
}

// RemoveACLs implements acl.Store.
func (s *Store) RemoveACLs(ctx context.Context, bs []acl.Binding) error {
	return s.changeACLs(ctx, bs, `DELETE FROM acls WHERE resource_type = ? AND resource_name = ? AND pattern_type = ?
		AND principal = ? AND host = ? AND operation = ? AND permission = ?`)
}

// changeACLs runs stmt for each binding and bumps the version if a row
// changed, in one write transaction.
func (s *Store) changeACLs(ctx context.Context, bs []acl.Binding, stmt string) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	changed := int64(0)
	for _, b := range bs {
		res, err := tx.ExecContext(ctx, stmt, int8(b.ResourceType), b.ResourceName, int8(b.PatternType), b.Principal, b.Host, int8(b.Operation), int8(b.Permission))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		changed += n
	}
	if changed > 0 {
		if _, err := tx.ExecContext(ctx, `UPDATE acl_version SET version = version + 1 WHERE id = 1`); err != nil {
			return err
		}
	}
	return tx.Commit()
}
