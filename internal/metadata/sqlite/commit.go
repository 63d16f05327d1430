package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/metadata/seq"
)

type partKey struct {
	topic     metadata.TopicID
	partition int32
}

// partCommit accumulates one partition's share of a file commit.
type partCommit struct {
	exists  bool
	missing error
	next    int64 // next offset to assign
	start   int64 // next offset when the commit began
	extents []extentRow
	// lastEnd is the file position after the last accepted batch, so an
	// adjacent accepted batch extends the same extent.
	lastEnd int64
}

type extentRow struct {
	base, end, byteOffset, byteLength int64
	batches                           int
	maxTS                             int64
}

// CommitFile implements metadata.Log.
func (s *Store) CommitFile(ctx context.Context, c metadata.FileCommit) ([]metadata.BatchResult, error) {
	now := time.Now().UnixMilli()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("sqlite: begin commit: %w", err)
	}
	defer tx.Rollback()

	parts := map[partKey]*partCommit{}
	producers := map[seq.Key]*seq.State{}
	dirty := map[seq.Key]bool{}
	results := make([]metadata.BatchResult, len(c.Batches))
	var txns txnCommit
	appended := 0
	for i, b := range c.Batches {
		pk := partKey{b.TopicID, b.Partition}
		pc, err := s.loadPartition(ctx, tx, parts, pk)
		if err != nil {
			return nil, err
		}
		if !pc.exists {
			results[i].Err = pc.missing
			continue
		}
		if m := b.Marker; m != nil {
			k := seq.Key{Topic: b.TopicID, Partition: b.Partition, ProducerID: m.ProducerID}
			st, err := loadProducer(ctx, tx, producers, k)
			if err != nil {
				return nil, err
			}
			changed, err := st.Mark(m.Epoch)
			if err != nil {
				results[i].Err = err
				continue
			}
			dirty[k] = dirty[k] || changed
			if err := txns.marked(ctx, tx, openKey{pk, m.ProducerID}, pc.next, m.Commit); err != nil {
				return nil, err
			}
		} else if p := b.Producer; p != nil {
			k := seq.Key{Topic: b.TopicID, Partition: b.Partition, ProducerID: p.ID}
			st, err := loadProducer(ctx, tx, producers, k)
			if err != nil {
				return nil, err
			}
			res := st.Check(p.Epoch, p.FirstSequence, b.Records)
			if res.Err != nil || res.Duplicate {
				results[i] = res
				continue
			}
			if b.Transactional {
				if err := txns.checkTxn(ctx, tx, b); err != nil {
					if !errors.Is(err, metadata.ErrInvalidTxnState) && !errors.Is(err, metadata.ErrInvalidProducerEpoch) {
						return nil, err
					}
					results[i].Err = err
					continue
				}
				if err := txns.opened(ctx, tx, openKey{pk, p.ID}, pc.next); err != nil {
					return nil, err
				}
			}
			st.Record(p.Epoch, p.FirstSequence, b.Records, pc.next)
			dirty[k] = true
		}
		results[i].BaseOffset = pc.next
		if n := len(pc.extents); n > 0 && pc.lastEnd == b.ByteOffset {
			e := &pc.extents[n-1]
			e.end += b.Records
			e.byteLength += b.ByteLength
			e.batches++
			e.maxTS = max(e.maxTS, b.MaxTimestamp)
		} else {
			pc.extents = append(pc.extents, extentRow{base: pc.next, end: pc.next + b.Records, byteOffset: b.ByteOffset,
				byteLength: b.ByteLength, batches: 1, maxTS: b.MaxTimestamp})
		}
		pc.lastEnd = b.ByteOffset + b.ByteLength
		pc.next += b.Records
		appended++
	}
	if appended == 0 {
		// Nothing references the file: roll back, leaving it to the orphan
		// sweeper. Duplicates still report their original offsets.
		return results, nil
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO files(key, size, committed_at) VALUES (?, ?, ?)`, c.Key, c.Size, now)
	if err != nil {
		return nil, fmt.Errorf("sqlite: record file %s: %w", c.Key, err)
	}
	fileID, err := res.LastInsertId()
	if err != nil {
		return nil, err
	}
	for pk, pc := range parts {
		if !pc.exists || pc.next == pc.start {
			continue
		}
		// The compare-and-set on next_offset makes the commit fail loudly
		// rather than write overlapping offsets if anything else moved the
		// partition inside this transaction.
		r, err := tx.ExecContext(ctx, `UPDATE partitions SET next_offset = ? WHERE topic_id = ? AND partition = ? AND next_offset = ?`,
			pc.next, pk.topic[:], pk.partition, pc.start)
		if err != nil {
			return nil, fmt.Errorf("sqlite: advance partition: %w", err)
		}
		if n, _ := r.RowsAffected(); n != 1 {
			return nil, fmt.Errorf("sqlite: partition %s/%d moved during commit", pk.topic, pk.partition)
		}
		for _, e := range pc.extents {
			if _, err := tx.ExecContext(ctx, `INSERT INTO extents(topic_id, partition, base_offset, end_offset, file_id, byte_offset, byte_length, batches, max_timestamp, committed_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, pk.topic[:], pk.partition, e.base, e.end, fileID, e.byteOffset, e.byteLength, e.batches, e.maxTS, now); err != nil {
				return nil, fmt.Errorf("sqlite: index extent: %w", err)
			}
		}
	}
	if err := txns.write(ctx, tx); err != nil {
		return nil, err
	}
	for k := range dirty {
		recent, err := json.Marshal(producers[k].Recent)
		if err != nil {
			return nil, err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO producers(topic_id, partition, producer_id, epoch, recent, updated_at) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT(topic_id, partition, producer_id) DO UPDATE SET epoch = excluded.epoch, recent = excluded.recent, updated_at = excluded.updated_at`,
			k.Topic[:], k.Partition, k.ProducerID, producers[k].Epoch, string(recent), now); err != nil {
			return nil, fmt.Errorf("sqlite: producer state: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("sqlite: commit file %s: %w", c.Key, err)
	}
	return results, nil
}

func (s *Store) loadPartition(ctx context.Context, tx *sql.Tx, parts map[partKey]*partCommit, pk partKey) (*partCommit, error) {
	if pc, ok := parts[pk]; ok {
		return pc, nil
	}
	pc := &partCommit{lastEnd: -1}
	err := tx.QueryRowContext(ctx, `SELECT next_offset FROM partitions WHERE topic_id = ? AND partition = ?`, pk.topic[:], pk.partition).Scan(&pc.next)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM topics WHERE id = ?`, pk.topic[:]).Scan(&n); err != nil {
			return nil, err
		}
		if n == 0 {
			pc.missing = fmt.Errorf("%w: %s", metadata.ErrUnknownTopic, pk.topic)
		} else {
			pc.missing = fmt.Errorf("%w: %s/%d", metadata.ErrUnknownPartition, pk.topic, pk.partition)
		}
	case err != nil:
		return nil, fmt.Errorf("sqlite: read partition: %w", err)
	default:
		pc.exists = true
		pc.start = pc.next
	}
	parts[pk] = pc
	return pc, nil
}

func loadProducer(ctx context.Context, tx *sql.Tx, cache map[seq.Key]*seq.State, k seq.Key) (*seq.State, error) {
	if st, ok := cache[k]; ok {
		return st, nil
	}
	st := &seq.State{}
	var (
		epoch  int16
		recent string
	)
	err := tx.QueryRowContext(ctx, `SELECT epoch, recent FROM producers WHERE topic_id = ? AND partition = ? AND producer_id = ?`,
		k.Topic[:], k.Partition, k.ProducerID).Scan(&epoch, &recent)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return nil, fmt.Errorf("sqlite: read producer state: %w", err)
	default:
		st.Known = true
		st.Epoch = epoch
		if err := json.Unmarshal([]byte(recent), &st.Recent); err != nil {
			return nil, fmt.Errorf("sqlite: producer state: %w", err)
		}
	}
	cache[k] = st
	return st, nil
}

// AllocateProducerID implements metadata.Log.
func (s *Store) AllocateProducerID(ctx context.Context) (int64, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	var v string
	if err := tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'next_producer_id'`).Scan(&v); err != nil {
		return 0, err
	}
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE meta SET value = ? WHERE key = 'next_producer_id'`, strconv.FormatInt(id+1, 10)); err != nil {
		return 0, err
	}
	return id, tx.Commit()
}
