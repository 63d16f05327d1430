package postgres

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/metadata/rowscan"
	"github.com/sluicehq/sluice/internal/metadata/sequencer"
)

// readLease reads the named lease's row (nil if never taken), judging
// its expiry by the database clock, and locks it (lock: "UPDATE" or
// "SHARE") until the transaction ends.
func readLease(ctx context.Context, tx pgx.Tx, name, lock string) (*sequencer.StoredLease, error) {
	var l sequencer.StoredLease
	err := tx.QueryRow(ctx, `SELECT holder, epoch, expires_at <= now() FROM leases WHERE name = $1 FOR `+lock, name).Scan(&l.Holder, &l.Epoch, &l.Expired)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if l.Epoch == 0 {
		return nil, nil // AcquireLease's placeholder
	}
	return &l, nil
}

// AcquireLease implements metadata.Lifecycle. The lease row is locked for
// the read-modify-write; expiry uses the database clock.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (metadata.Lease, error) {
	l := metadata.Lease{Name: name, Holder: holder}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		// Make sure the row exists so FOR UPDATE has something to lock.
		if _, err := tx.Exec(ctx, `INSERT INTO leases(name, holder, epoch, expires_at) VALUES ($1, '', 0, '-infinity') ON CONFLICT (name) DO NOTHING`, name); err != nil {
			return err
		}
		cur, err := readLease(ctx, tx, name, "UPDATE")
		if err != nil {
			return err
		}
		if l.Epoch, err = sequencer.AcquireLease(cur, name, holder); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `UPDATE leases SET holder = $2, epoch = $3, expires_at = now() + $4::bigint * interval '1 millisecond'
			WHERE name = $1 RETURNING expires_at`, name, holder, l.Epoch, ttl.Milliseconds()).Scan(&l.ExpiresAt)
	})
	if err != nil {
		return metadata.Lease{}, err
	}
	l.ExpiresAt = l.ExpiresAt.UTC()
	return l, nil
}

// ReleaseLease implements metadata.Lifecycle.
func (s *Store) ReleaseLease(ctx context.Context, l metadata.Lease) error {
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	_, err := s.pool.Exec(ctx, `UPDATE leases SET expires_at = '-infinity' WHERE name = $1 AND holder = $2 AND epoch = $3`, l.Name, l.Holder, l.Epoch)
	return err
}

// checkLease fails with ErrFenced unless l is still the current, unexpired
// holding of its lease; it locks the lease row (shared) until the
// transaction ends, so a takeover waits for the fenced write to finish.
func checkLease(ctx context.Context, tx pgx.Tx, l metadata.Lease) error {
	cur, err := readLease(ctx, tx, l.Name, "SHARE")
	if err != nil {
		return err
	}
	return sequencer.CheckLease(cur, l)
}

// AdvanceLogStart implements metadata.Lifecycle. It takes the
// partition's commit lock (takeCommitLocks), so the move and concurrent
// commits serialise, and locks the row.
func (s *Store) AdvanceLogStart(ctx context.Context, topic metadata.TopicID, partition int32, offset int64) (metadata.PartitionState, error) {
	var st metadata.PartitionState
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if err := takeCommitLocks(ctx, tx, []partKey{{Topic: topic, Partition: partition}}); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `SELECT log_start, next_offset FROM partitions WHERE topic_id = $1 AND partition = $2 FOR UPDATE`,
			[16]byte(topic), partition).Scan(&st.LogStartOffset, &st.HighWatermark)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: %s/%d", metadata.ErrUnknownPartition, topic, partition)
		}
		if err != nil {
			return err
		}
		var move bool
		if st, move, err = sequencer.AdvanceLogStart(st, offset); err != nil || !move {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE partitions SET log_start = $3 WHERE topic_id = $1 AND partition = $2`, [16]byte(topic), partition, offset); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM extents WHERE topic_id = $1 AND partition = $2 AND end_offset <= $3`, [16]byte(topic), partition, offset)
		return err
	})
	return st, err
}

// ExtentCounts implements metadata.Lifecycle.
func (s *Store) ExtentCounts(ctx context.Context, smallerThan int64, min, limit int) ([]metadata.PartitionExtentCount, error) {
	return queryAll(ctx, s, func(row rowscan.Scanner) (metadata.PartitionExtentCount, error) {
		var c metadata.PartitionExtentCount
		err := row.Scan((*[16]byte)(&c.TopicID), &c.Partition, &c.Extents)
		return c, err
	}, `SELECT topic_id, partition, count(*) AS n FROM extents WHERE byte_length < $1
		GROUP BY topic_id, partition HAVING count(*) >= $2 ORDER BY n DESC, topic_id, partition LIMIT $3`, smallerThan, min, limit)
}

// ReplaceExtents implements metadata.Lifecycle. It locks the lease row,
// the partitions' commit locks (takeCommitLocks) and the partitions rows
// before checking and swapping.
func (s *Store) ReplaceExtents(ctx context.Context, lease metadata.Lease, r metadata.Replacement) error {
	if err := sequencer.ValidateReplacement(r); err != nil {
		return err
	}
	parts := append([]metadata.PartitionSwap(nil), r.Partitions...)
	sort.Slice(parts, func(i, j int) bool {
		return partLess(partKey{Topic: parts[i].TopicID, Partition: parts[i].Partition}, partKey{Topic: parts[j].TopicID, Partition: parts[j].Partition})
	})
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if err := checkLease(ctx, tx, lease); err != nil {
			return err
		}
		keys := make([]partKey, len(parts))
		for i, p := range parts {
			keys[i] = partKey{Topic: p.TopicID, Partition: p.Partition}
		}
		if err := takeCommitLocks(ctx, tx, keys); err != nil {
			return err
		}
		for _, p := range parts {
			if _, err := tx.Exec(ctx, `SELECT 1 FROM partitions WHERE topic_id = $1 AND partition = $2 FOR UPDATE`, [16]byte(p.TopicID), p.Partition); err != nil {
				return err
			}
		}
		var fileID int64
		if err := tx.QueryRow(ctx, `INSERT INTO files(key, size, committed_at) VALUES ($1, $2, now()) RETURNING id`, r.Key, r.Size).Scan(&fileID); err != nil {
			return fmt.Errorf("record file %s: %w", r.Key, err)
		}
		return sequencer.Replace(ctx, replaceRows{tx, fileID}, parts)
	})
}

// replaceRows is PostgreSQL's side of ReplaceExtents
// (sequencer.ReplaceRows).
type replaceRows struct {
	tx     pgx.Tx
	fileID int64 // the replacement file's
}

func (r replaceRows) CountExtents(ctx context.Context, topic metadata.TopicID, partition int32, from, to int64) (int, error) {
	var n int
	err := r.tx.QueryRow(ctx, `SELECT count(*) FROM extents WHERE topic_id = $1 AND partition = $2 AND base_offset < $3 AND end_offset > $4`,
		[16]byte(topic), partition, to, from).Scan(&n)
	return n, err
}

func (r replaceRows) DeleteExtent(ctx context.Context, topic metadata.TopicID, partition int32, o metadata.ExtentRef) (bool, error) {
	tag, err := r.tx.Exec(ctx, `DELETE FROM extents e USING files f WHERE f.id = e.file_id AND f.key = $5
		AND e.topic_id = $1 AND e.partition = $2 AND e.base_offset = $3 AND e.end_offset = $4`, [16]byte(topic), partition, o.BaseOffset, o.EndOffset, o.FileKey)
	return tag.RowsAffected() == 1, err
}

func (r replaceRows) InsertExtent(ctx context.Context, topic metadata.TopicID, partition int32, e metadata.NewExtent) error {
	_, err := r.tx.Exec(ctx, `INSERT INTO extents(topic_id, partition, base_offset, end_offset, file_id, byte_offset, byte_length, batches, max_timestamp, committed_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`, [16]byte(topic), partition, e.BaseOffset, e.EndOffset, r.fileID, e.ByteOffset, e.ByteLength,
		e.Batches, e.MaxTimestamp, e.CommittedAt)
	return err
}

// MarkReleasedFiles implements metadata.Lifecycle.
func (s *Store) MarkReleasedFiles(ctx context.Context) (int, error) {
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	tag, err := s.pool.Exec(ctx, `UPDATE files f SET released_at = now() WHERE released_at IS NULL
		AND NOT EXISTS (SELECT 1 FROM extents e WHERE e.file_id = f.id)`)
	if err != nil {
		return 0, err
	}
	return int(tag.RowsAffected()), nil
}

const fileSelect = `SELECT key, size, committed_at, released_at FROM files`

func (s *Store) queryFiles(ctx context.Context, q string, args ...any) ([]metadata.FileInfo, error) {
	return queryAll(ctx, s, func(row rowscan.Scanner) (metadata.FileInfo, error) {
		var (
			f        metadata.FileInfo
			released *time.Time
		)
		err := row.Scan(&f.Key, &f.Size, &f.CommittedAt, &released)
		f.CommittedAt = f.CommittedAt.UTC()
		if released != nil {
			f.ReleasedAt = released.UTC()
		}
		return f, err
	}, q, args...)
}

// ReleasedFiles implements metadata.Lifecycle.
func (s *Store) ReleasedFiles(ctx context.Context, grace time.Duration, limit int) ([]metadata.FileInfo, error) {
	return s.queryFiles(ctx, fileSelect+` WHERE released_at IS NOT NULL AND released_at <= now() - $1::bigint * interval '1 millisecond'
		ORDER BY released_at, key LIMIT $2`, grace.Milliseconds(), limit)
}

// ForgetFiles implements metadata.Lifecycle.
func (s *Store) ForgetFiles(ctx context.Context, lease metadata.Lease, keys []string) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if err := checkLease(ctx, tx, lease); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM files f WHERE key = ANY($1::text[]) AND released_at IS NOT NULL
			AND NOT EXISTS (SELECT 1 FROM extents e WHERE e.file_id = f.id)`, keys)
		return err
	})
}

// KnownFiles implements metadata.Lifecycle.
func (s *Store) KnownFiles(ctx context.Context, keys []string) (map[string]bool, error) {
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT key FROM files WHERE key = ANY($1::text[])`, keys)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[string]bool, len(keys))
	return out, rowscan.AddKeys(rows, out)
}

// ListFiles implements metadata.Lifecycle.
func (s *Store) ListFiles(ctx context.Context, after string, limit int) ([]metadata.FileInfo, error) {
	return s.queryFiles(ctx, fileSelect+` WHERE key > $1 ORDER BY key LIMIT $2`, after, limit)
}
