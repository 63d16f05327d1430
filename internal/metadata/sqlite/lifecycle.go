package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/metadata/rowscan"
	"github.com/sluicehq/sluice/internal/metadata/sequencer"
)

// readLease reads the named lease's row (nil if none), judging its
// expiry by now.
func readLease(ctx context.Context, tx *sql.Tx, name string, now time.Time) (*sequencer.StoredLease, error) {
	var (
		l       sequencer.StoredLease
		expires int64
	)
	err := tx.QueryRowContext(ctx, `SELECT holder, epoch, expires_at FROM leases WHERE name = ?`, name).Scan(&l.Holder, &l.Epoch, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	l.Expired = expires <= now.UnixMilli()
	return &l, nil
}

// AcquireLease implements metadata.Lifecycle.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (metadata.Lease, error) {
	now := time.Now()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return metadata.Lease{}, err
	}
	defer tx.Rollback()
	cur, err := readLease(ctx, tx, name, now)
	if err != nil {
		return metadata.Lease{}, err
	}
	epoch, err := sequencer.AcquireLease(cur, name, holder)
	if err != nil {
		return metadata.Lease{}, err
	}
	l := metadata.Lease{Name: name, Holder: holder, Epoch: epoch, ExpiresAt: now.Add(ttl).UTC().Truncate(time.Millisecond)}
	if _, err := tx.ExecContext(ctx, `INSERT INTO leases(name, holder, epoch, expires_at) VALUES (?, ?, ?, ?)
		ON CONFLICT(name) DO UPDATE SET holder = excluded.holder, epoch = excluded.epoch, expires_at = excluded.expires_at`,
		name, holder, epoch, l.ExpiresAt.UnixMilli()); err != nil {
		return metadata.Lease{}, err
	}
	return l, tx.Commit()
}

// ReleaseLease implements metadata.Lifecycle.
func (s *Store) ReleaseLease(ctx context.Context, l metadata.Lease) error {
	_, err := s.w.ExecContext(ctx, `UPDATE leases SET expires_at = 0 WHERE name = ? AND holder = ? AND epoch = ?`, l.Name, l.Holder, l.Epoch)
	return err
}

// checkLease fails with ErrFenced unless l is still the current, unexpired
// holding of its lease.
func checkLease(ctx context.Context, tx *sql.Tx, l metadata.Lease) error {
	cur, err := readLease(ctx, tx, l.Name, time.Now())
	if err != nil {
		return err
	}
	return sequencer.CheckLease(cur, l)
}

// AdvanceLogStart implements metadata.Lifecycle.
func (s *Store) AdvanceLogStart(ctx context.Context, topic metadata.TopicID, partition int32, offset int64) (metadata.PartitionState, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return metadata.PartitionState{}, err
	}
	defer tx.Rollback()
	var st metadata.PartitionState
	err = tx.QueryRowContext(ctx, `SELECT log_start, next_offset FROM partitions WHERE topic_id = ? AND partition = ?`,
		topic[:], partition).Scan(&st.LogStartOffset, &st.HighWatermark)
	if errors.Is(err, sql.ErrNoRows) {
		return st, fmt.Errorf("%w: %s/%d", metadata.ErrUnknownPartition, topic, partition)
	}
	if err != nil {
		return st, err
	}
	st, move, err := sequencer.AdvanceLogStart(st, offset)
	if err != nil || !move {
		return st, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE partitions SET log_start = ? WHERE topic_id = ? AND partition = ?`, offset, topic[:], partition); err != nil {
		return st, err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM extents WHERE topic_id = ? AND partition = ? AND end_offset <= ?`, topic[:], partition, offset); err != nil {
		return st, err
	}
	return st, tx.Commit()
}

// ExtentCounts implements metadata.Lifecycle.
func (s *Store) ExtentCounts(ctx context.Context, smallerThan int64, min, limit int) ([]metadata.PartitionExtentCount, error) {
	return queryAll(ctx, s.r, func(row rowScanner) (metadata.PartitionExtentCount, error) {
		var (
			c  metadata.PartitionExtentCount
			id []byte
		)
		err := row.Scan(&id, &c.Partition, &c.Extents)
		copy(c.TopicID[:], id)
		return c, err
	}, `SELECT topic_id, partition, count(*) AS n FROM extents WHERE byte_length < ?
		GROUP BY topic_id, partition HAVING count(*) >= ? ORDER BY n DESC, topic_id, partition LIMIT ?`, smallerThan, min, limit)
}

// ReplaceExtents implements metadata.Lifecycle.
func (s *Store) ReplaceExtents(ctx context.Context, lease metadata.Lease, r metadata.Replacement) error {
	if err := sequencer.ValidateReplacement(r); err != nil {
		return err
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := checkLease(ctx, tx, lease); err != nil {
		return err
	}
	now := time.Now().UnixMilli()
	res, err := tx.ExecContext(ctx, `INSERT INTO files(key, size, committed_at) VALUES (?, ?, ?)`, r.Key, r.Size, now)
	if err != nil {
		return fmt.Errorf("sqlite: record file %s: %w", r.Key, err)
	}
	fileID, err := res.LastInsertId()
	if err != nil {
		return err
	}
	if err := sequencer.Replace(ctx, replaceRows{tx, fileID}, r.Partitions); err != nil {
		return err
	}
	return tx.Commit()
}

// replaceRows is SQLite's side of ReplaceExtents (sequencer.ReplaceRows).
type replaceRows struct {
	tx     *sql.Tx
	fileID int64 // the replacement file's
}

func (r replaceRows) CountExtents(ctx context.Context, topic metadata.TopicID, partition int32, from, to int64) (int, error) {
	var n int
	err := r.tx.QueryRowContext(ctx, `SELECT count(*) FROM extents WHERE topic_id = ? AND partition = ? AND base_offset < ? AND end_offset > ?`,
		topic[:], partition, to, from).Scan(&n)
	return n, err
}

func (r replaceRows) DeleteExtent(ctx context.Context, topic metadata.TopicID, partition int32, o metadata.ExtentRef) (bool, error) {
	return changedOne(r.tx.ExecContext(ctx, `DELETE FROM extents WHERE topic_id = ? AND partition = ? AND base_offset = ? AND end_offset = ?
		AND file_id = (SELECT id FROM files WHERE key = ?)`, topic[:], partition, o.BaseOffset, o.EndOffset, o.FileKey))
}

func (r replaceRows) InsertExtent(ctx context.Context, topic metadata.TopicID, partition int32, e metadata.NewExtent) error {
	_, err := r.tx.ExecContext(ctx, `INSERT INTO extents(topic_id, partition, base_offset, end_offset, file_id, byte_offset, byte_length, batches, max_timestamp, committed_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, topic[:], partition, e.BaseOffset, e.EndOffset, r.fileID, e.ByteOffset, e.ByteLength,
		e.Batches, e.MaxTimestamp, e.CommittedAt.UnixMilli())
	return err
}

// MarkReleasedFiles implements metadata.Lifecycle.
func (s *Store) MarkReleasedFiles(ctx context.Context) (int, error) {
	res, err := s.w.ExecContext(ctx, `UPDATE files SET released_at = ? WHERE released_at IS NULL
		AND NOT EXISTS (SELECT 1 FROM extents e WHERE e.file_id = files.id)`, time.Now().UnixMilli())
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

const fileSelect = `SELECT key, size, committed_at, coalesce(released_at, 0) FROM files`

func scanFile(row rowScanner) (metadata.FileInfo, error) {
	var (
		f                   metadata.FileInfo
		committed, released int64
	)
	if err := row.Scan(&f.Key, &f.Size, &committed, &released); err != nil {
		return f, err
	}
	f.CommittedAt = time.UnixMilli(committed).UTC()
	if released != 0 {
		f.ReleasedAt = time.UnixMilli(released).UTC()
	}
	return f, nil
}

func (s *Store) queryFiles(ctx context.Context, q string, args ...any) ([]metadata.FileInfo, error) {
	return queryAll(ctx, s.r, scanFile, q, args...)
}

// ReleasedFiles implements metadata.Lifecycle.
func (s *Store) ReleasedFiles(ctx context.Context, grace time.Duration, limit int) ([]metadata.FileInfo, error) {
	cutoff := time.Now().Add(-grace).UnixMilli()
	return s.queryFiles(ctx, fileSelect+` WHERE released_at IS NOT NULL AND released_at <= ? ORDER BY released_at, key LIMIT ?`, cutoff, limit)
}

// ForgetFiles implements metadata.Lifecycle.
func (s *Store) ForgetFiles(ctx context.Context, lease metadata.Lease, keys []string) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := checkLease(ctx, tx, lease); err != nil {
		return err
	}
	for _, k := range keys {
		if _, err := tx.ExecContext(ctx, `DELETE FROM files WHERE key = ? AND released_at IS NOT NULL
			AND NOT EXISTS (SELECT 1 FROM extents e WHERE e.file_id = files.id)`, k); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// KnownFiles implements metadata.Lifecycle.
func (s *Store) KnownFiles(ctx context.Context, keys []string) (map[string]bool, error) {
	out := make(map[string]bool, len(keys))
	const chunk = 500
	for len(keys) > 0 {
		n := min(chunk, len(keys))
		args := make([]any, n)
		for i := range args {
			args[i] = keys[i]
		}
		rows, err := s.r.QueryContext(ctx, `SELECT key FROM files WHERE key IN (?`+strings.Repeat(",?", n-1)+`)`, args...)
		if err != nil {
			return nil, err
		}
		err = rowscan.AddKeys(rows, out)
		rows.Close()
		if err != nil {
			return nil, err
		}
		keys = keys[n:]
	}
	return out, nil
}

// ListFiles implements metadata.Lifecycle.
func (s *Store) ListFiles(ctx context.Context, after string, limit int) ([]metadata.FileInfo, error) {
	return s.queryFiles(ctx, fileSelect+` WHERE key > ? ORDER BY key LIMIT ?`, after, limit)
}
