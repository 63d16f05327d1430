package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/metadata/seq"
)

type partKey struct {
	topic     metadata.TopicID
	partition int32
}

func (a partKey) less(b partKey) bool {
	if c := bytes.Compare(a.topic[:], b.topic[:]); c != 0 {
		return c < 0
	}
	return a.partition < b.partition
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
	batches                           int32
	maxTS                             int64
}

// CommitFile implements metadata.Log. One transaction: lock the touched
// partitions rows in key order and read the producers' state and open
// transactions in one pipelined round trip, sequence every
// batch with the shared rules of package seq, then write the file, the
// extents, the new next offsets, producer state and the transaction index
// in one pipelined round trip together with the commit notification. A
// commit is a fixed number of round trips whatever the number of
// partitions (plus one per transactional producer, for its transaction).
func (s *Store) CommitFile(ctx context.Context, c metadata.FileCommit) ([]metadata.BatchResult, error) {
	var results []metadata.BatchResult
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		results, err = s.commitTx(ctx, tx, c)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: commit file %s: %w", c.Key, err)
	}
	return results, nil
}

func (s *Store) commitTx(ctx context.Context, tx pgx.Tx, c metadata.FileCommit) ([]metadata.BatchResult, error) {
	// One round trip reads everything the sequencing needs: the lock
	// comes first, so the producer and open-transaction rows are read
	// under it.
	reads := &pgx.Batch{}
	parts, keys := queueLockPartitions(reads, c.Batches)
	producers := queueLoadProducers(reads, c.Batches)
	var txns txnCommit
	txns.queueReadOpen(reads, c.Batches)
	if err := tx.SendBatch(ctx, reads).Close(); err != nil {
		return nil, err
	}
	if err := resolveMissing(ctx, tx, parts, keys); err != nil {
		return nil, err
	}
	dirty := map[seq.Key]bool{}
	results := make([]metadata.BatchResult, len(c.Batches))
	appended := 0
	for i, b := range c.Batches {
		pc := parts[partKey{b.TopicID, b.Partition}]
		if !pc.exists {
			results[i].Err = pc.missing
			continue
		}
		if m := b.Marker; m != nil {
			k := seq.Key{Topic: b.TopicID, Partition: b.Partition, ProducerID: m.ProducerID}
			changed, err := producers[k].Mark(m.Epoch)
			if err != nil {
				results[i].Err = err
				continue
			}
			dirty[k] = dirty[k] || changed
			txns.Marked(k, pc.next, m.Commit)
		} else if p := b.Producer; p != nil {
			k := seq.Key{Topic: b.TopicID, Partition: b.Partition, ProducerID: p.ID}
			st := producers[k]
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
				txns.Opened(k, pc.next)
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
		// Nothing references the file: the transaction commits no change,
		// leaving the file to the orphan sweeper. Duplicates still report
		// their original offsets.
		return results, nil
	}

	// Column arrays for the set-based writes below.
	var (
		pTopic          [][16]byte
		pPart           []int32
		pNext, pStart   []int64
		eTopic          [][16]byte
		ePart, eBatches []int32
		eBase, eEnd     []int64
		eOff, eLen, eTS []int64
	)
	for pk, pc := range parts {
		if !pc.exists || pc.next == pc.start {
			continue
		}
		pTopic, pPart, pNext, pStart = append(pTopic, pk.topic), append(pPart, pk.partition), append(pNext, pc.next), append(pStart, pc.start)
		for _, e := range pc.extents {
			eTopic, ePart = append(eTopic, pk.topic), append(ePart, pk.partition)
			eBase, eEnd, eOff, eLen = append(eBase, e.base), append(eEnd, e.end), append(eOff, e.byteOffset), append(eLen, e.byteLength)
			eBatches, eTS = append(eBatches, e.batches), append(eTS, e.maxTS)
		}
	}
	var (
		prTopic [][16]byte
		prPart  []int32
		prID    []int64
		prEpoch []int16
		prState []string
		recent  []byte
	)
	for k := range dirty {
		st := producers[k]
		recent = seq.AppendRecent(recent[:0], st.Recent)
		prTopic, prPart, prID = append(prTopic, k.Topic), append(prPart, k.Partition), append(prID, k.ProducerID)
		prEpoch, prState = append(prEpoch, st.Epoch), append(prState, string(recent))
	}

	batch := &pgx.Batch{}
	// The compare-and-set on next_offset makes the commit fail loudly
	// rather than write overlapping offsets should anything have moved a
	// partition despite the row lock.
	advanced := batch.Queue(`UPDATE partitions p SET next_offset = u.next
		FROM unnest($1::uuid[], $2::int[], $3::bigint[], $4::bigint[]) AS u(topic_id, partition, next, start)
		WHERE p.topic_id = u.topic_id AND p.partition = u.partition AND p.next_offset = u.start`,
		pTopic, pPart, pNext, pStart)
	var advancedRows int64
	advanced.Exec(func(tag pgconn.CommandTag) error { advancedRows = tag.RowsAffected(); return nil })
	// The file row and its extents in one statement: the CTE's insert
	// runs even when no extent is indexed.
	batch.Queue(`WITH f AS (INSERT INTO files(key, size, committed_at) VALUES ($9, $10, now()) RETURNING id)
		INSERT INTO extents(topic_id, partition, base_offset, end_offset, file_id, byte_offset, byte_length, batches, max_timestamp, committed_at)
		SELECT t, p, b, e, f.id, o, l, n, ts, now()
		FROM unnest($1::uuid[], $2::int[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[], $7::int[], $8::bigint[]) AS u(t, p, b, e, o, l, n, ts)
		CROSS JOIN f`,
		eTopic, ePart, eBase, eEnd, eOff, eLen, eBatches, eTS, c.Key, c.Size)
	if len(prTopic) > 0 {
		batch.Queue(`INSERT INTO producers(topic_id, partition, producer_id, epoch, recent, updated_at)
			SELECT t, p, id, ep, r::jsonb, now() FROM unnest($1::uuid[], $2::int[], $3::bigint[], $4::smallint[], $5::text[]) AS u(t, p, id, ep, r)
			ON CONFLICT (topic_id, partition, producer_id) DO UPDATE SET epoch = excluded.epoch, recent = excluded.recent, updated_at = excluded.updated_at`,
			prTopic, prPart, prID, prEpoch, prState)
	}
	txns.queueWrites(batch)
	batch.Queue(`SELECT pg_notify($1, '')`, commitChannel)
	if err := tx.SendBatch(ctx, batch).Close(); err != nil {
		return nil, fmt.Errorf("write commit: %w", err)
	}
	if advancedRows != int64(len(pTopic)) {
		return nil, fmt.Errorf("%d of %d partitions moved during commit", int64(len(pTopic))-advancedRows, len(pTopic))
	}
	return results, nil
}

// queueLockPartitions queues the locking read of the partitions rows the
// batches touch, in key order, and returns their state as it will be once
// the batch has run, and the keys in order.
func queueLockPartitions(batch *pgx.Batch, batches []metadata.BatchCommit) (map[partKey]*partCommit, []partKey) {
	parts := map[partKey]*partCommit{}
	var keys []partKey
	for _, b := range batches {
		pk := partKey{b.TopicID, b.Partition}
		if _, ok := parts[pk]; !ok {
			parts[pk] = &partCommit{lastEnd: -1}
			keys = append(keys, pk)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].less(keys[j]) })
	topicsArg := make([][16]byte, len(keys))
	partsArg := make([]int32, len(keys))
	for i, k := range keys {
		topicsArg[i], partsArg[i] = k.topic, k.partition
	}
	// Rows are locked as the sorted result is produced, so every commit
	// takes its locks in the same global order.
	batch.Queue(`SELECT p.topic_id, p.partition, p.next_offset FROM partitions p
		JOIN unnest($1::uuid[], $2::int[]) AS k(topic_id, partition) ON p.topic_id = k.topic_id AND p.partition = k.partition
		ORDER BY p.topic_id, p.partition FOR UPDATE OF p`, topicsArg, partsArg).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var (
				pk   partKey
				next int64
			)
			if err := rows.Scan((*[16]byte)(&pk.topic), &pk.partition, &next); err != nil {
				return fmt.Errorf("lock partitions: %w", err)
			}
			pc := parts[pk]
			if pc == nil {
				return errors.New("lock partitions: unexpected row")
			}
			pc.exists, pc.next, pc.start = true, next, next
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("lock partitions: %w", err)
		}
		return nil
	})
	return parts, keys
}

// resolveMissing marks partitions without a row missing, with the error
// their batches get: one more round trip, only when there are any.
func resolveMissing(ctx context.Context, tx pgx.Tx, parts map[partKey]*partCommit, keys []partKey) error {
	var unknown [][16]byte
	for _, k := range keys {
		if !parts[k].exists {
			unknown = append(unknown, k.topic)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	known := map[metadata.TopicID]bool{}
	rows, err := tx.Query(ctx, `SELECT id FROM topics WHERE id = ANY($1::uuid[])`, unknown)
	if err != nil {
		return err
	}
	for rows.Next() {
		var id metadata.TopicID
		if err := rows.Scan((*[16]byte)(&id)); err != nil {
			rows.Close()
			return err
		}
		known[id] = true
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, k := range keys {
		pc := parts[k]
		switch {
		case pc.exists:
		case known[k.topic]:
			pc.missing = fmt.Errorf("%w: %s/%d", metadata.ErrUnknownPartition, k.topic, k.partition)
		default:
			pc.missing = fmt.Errorf("%w: %s", metadata.ErrUnknownTopic, k.topic)
		}
	}
	return nil
}

// queueLoadProducers queues the read of the sequence state of every
// idempotent producer the batches carry (a partition that does not exist
// has none) and returns the states as they will be once the batch has
// run. The partitions rows are locked first, so the state cannot change
// before the transaction ends.
func queueLoadProducers(batch *pgx.Batch, batches []metadata.BatchCommit) map[seq.Key]*seq.State {
	states := map[seq.Key]*seq.State{}
	var (
		topicsArg [][16]byte
		partsArg  []int32
		idsArg    []int64
	)
	for _, b := range batches {
		if b.Producer == nil && b.Marker == nil {
			continue
		}
		k := seq.Key{Topic: b.TopicID, Partition: b.Partition}
		if b.Marker != nil {
			k.ProducerID = b.Marker.ProducerID
		} else {
			k.ProducerID = b.Producer.ID
		}
		if _, ok := states[k]; ok {
			continue
		}
		states[k] = &seq.State{}
		topicsArg, partsArg, idsArg = append(topicsArg, k.Topic), append(partsArg, k.Partition), append(idsArg, k.ProducerID)
	}
	if len(states) == 0 {
		return states
	}
	batch.Queue(`SELECT pr.topic_id, pr.partition, pr.producer_id, pr.epoch, pr.recent FROM producers pr
		JOIN unnest($1::uuid[], $2::int[], $3::bigint[]) AS k(topic_id, partition, producer_id)
		ON pr.topic_id = k.topic_id AND pr.partition = k.partition AND pr.producer_id = k.producer_id`,
		topicsArg, partsArg, idsArg).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var (
				k      seq.Key
				epoch  int16
				recent []byte
			)
			if err := rows.Scan((*[16]byte)(&k.Topic), &k.Partition, &k.ProducerID, &epoch, &recent); err != nil {
				return fmt.Errorf("read producer state: %w", err)
			}
			st := states[k]
			if st == nil {
				return errors.New("read producer state: unexpected row")
			}
			batches, err := seq.ParseRecent(recent)
			if err != nil {
				return fmt.Errorf("read producer state: %w", err)
			}
			st.Known, st.Epoch, st.Recent = true, epoch, batches
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read producer state: %w", err)
		}
		return nil
	})
	return states
}

// AllocateProducerID implements metadata.Log with a sequence: IDs are
// unique and increasing across every agent, never reused.
func (s *Store) AllocateProducerID(ctx context.Context) (int64, error) {
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	var id int64
	err := s.pool.QueryRow(ctx, `SELECT nextval('producer_ids')`).Scan(&id)
	return id, err
}
