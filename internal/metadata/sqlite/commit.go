package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/metadata/seq"
)

// A commit runs a number of statements that grows with the number of
// partitions it touches only by one per maxRows: every per-partition read
// and write is a set-based statement over a VALUES list of up to maxRows
// rows, and every statement is prepared once per Store (commitStmts)
// instead of being parsed again for each partition. EXPLAIN QUERY PLAN of
// each: the VALUES rows are the outer loop, each one primary-key search.
//
// The queries below have %s where their VALUES rows go.
const (
	// Rows: (index, topic, partition). A partition without a row reports
	// whether its topic exists (NULL when the partition exists).
	sqlReadPartitions = `WITH k(i, t, p) AS (VALUES %s)
		SELECT k.i, p.next_offset, CASE WHEN p.next_offset IS NULL THEN EXISTS (SELECT 1 FROM topics WHERE id = k.t) END
		FROM k LEFT JOIN partitions p ON p.topic_id = k.t AND p.partition = k.p`
	// Rows: (index, topic, partition, producer id).
	sqlReadProducers = `WITH k(i, t, p, id) AS (VALUES %s)
		SELECT k.i, pr.epoch, pr.recent FROM k CROSS JOIN producers pr
		WHERE pr.topic_id = k.t AND pr.partition = k.p AND pr.producer_id = k.id`
	// Rows: (index, topic, partition, producer id).
	sqlReadOpenTxns = `WITH k(i, t, p, id) AS (VALUES %s)
		SELECT k.i, o.first_offset FROM k CROSS JOIN txn_open o
		WHERE o.topic_id = k.t AND o.partition = k.p AND o.producer_id = k.id`
	// Rows: (topic, partition, next, start). The compare-and-set on
	// next_offset makes the commit fail loudly rather than write
	// overlapping offsets if anything else moved a partition inside this
	// transaction.
	sqlAdvancePartitions = `WITH k(t, p, n, s) AS (VALUES %s)
		UPDATE partitions SET next_offset = k.n FROM k
		WHERE partitions.topic_id = k.t AND partitions.partition = k.p AND partitions.next_offset = k.s`
	sqlInsertExtents = `INSERT INTO extents(topic_id, partition, base_offset, end_offset, file_id, byte_offset, byte_length, batches, max_timestamp, committed_at)
		VALUES %s`
	sqlUpsertProducers = `INSERT INTO producers(topic_id, partition, producer_id, epoch, recent, updated_at) VALUES %s
		ON CONFLICT(topic_id, partition, producer_id) DO UPDATE SET epoch = excluded.epoch, recent = excluded.recent, updated_at = excluded.updated_at`
	sqlUpsertOpenTxns = `INSERT INTO txn_open(topic_id, partition, producer_id, first_offset) VALUES %s
		ON CONFLICT(topic_id, partition, producer_id) DO UPDATE SET first_offset = excluded.first_offset`
	sqlDeleteOpenTxns = `DELETE FROM txn_open WHERE (topic_id, partition, producer_id) IN (VALUES %s)`
	sqlInsertAborted  = `INSERT INTO txn_aborted(topic_id, partition, last_offset, producer_id, first_offset) VALUES %s`

	sqlReadProducerTxn = txnSelect + ` WHERE producer_id = ? ORDER BY updated_at DESC LIMIT 1`
	sqlInsertFile      = `INSERT INTO files(key, size, committed_at) VALUES (?, ?, ?)`
)

// maxRows is the most rows one statement carries. rowsStmt prepares each
// statement for every power of two up to it, so n rows take at most
// n/maxRows + log2(maxRows) statements.
const (
	maxRowsLog = 6
	maxRows    = 1 << maxRowsLog
)

// rowsStmt is a statement over a VALUES list of rows of width parameters,
// prepared for 1, 2, 4 … maxRows rows.
type rowsStmt struct {
	width int
	byLog [maxRowsLog + 1]*sql.Stmt // byLog[k] carries 1<<k rows
}

func (r *rowsStmt) prepare(ctx context.Context, db *sql.DB, query string, width int) error {
	r.width = width
	row := "(?" + strings.Repeat(", ?", width-1) + ")"
	for k := range r.byLog {
		values := row + strings.Repeat(", "+row, 1<<k-1)
		st, err := db.PrepareContext(ctx, fmt.Sprintf(query, values))
		if err != nil {
			return err
		}
		r.byLog[k] = st
	}
	return nil
}

func (r *rowsStmt) close() error {
	var errs []error
	for _, st := range r.byLog {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	return errors.Join(errs...)
}

// chunks calls fn with the arguments of successive chunks of the rows in
// args (width values a row) and the statement prepared for that many rows.
func (r *rowsStmt) chunks(ctx context.Context, tx *sql.Tx, args []any, fn func(st *sql.Stmt, args []any) error) error {
	n := len(args) / r.width
	for start := 0; start < n; {
		k := bits.Len(uint(min(n-start, maxRows))) - 1
		end := start + 1<<k
		if err := fn(tx.StmtContext(ctx, r.byLog[k]), args[start*r.width:end*r.width]); err != nil {
			return err
		}
		start = end
	}
	return nil
}

// exec runs the statement over the rows in args and returns the number of
// rows changed.
func (r *rowsStmt) exec(ctx context.Context, tx *sql.Tx, args []any) (int64, error) {
	var changed int64
	err := r.chunks(ctx, tx, args, func(st *sql.Stmt, args []any) error {
		res, err := st.ExecContext(ctx, args...)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		changed += n
		return err
	})
	return changed, err
}

// query runs the statement over the rows in args and calls scan for each
// row of the results.
func (r *rowsStmt) query(ctx context.Context, tx *sql.Tx, args []any, scan func(*sql.Rows) error) error {
	return r.chunks(ctx, tx, args, func(st *sql.Stmt, args []any) error {
		rows, err := st.QueryContext(ctx, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			if err := scan(rows); err != nil {
				return err
			}
		}
		return rows.Err()
	})
}

// commitStmts are CommitFile's statements, prepared once on the writer
// pool (one connection) and bound to each commit's transaction with
// Tx.StmtContext, which reuses the connection's prepared statement.
type commitStmts struct {
	readPartitions, readProducers, readOpenTxns       rowsStmt
	advancePartitions, insertExtents, upsertProducers rowsStmt
	upsertOpenTxns, deleteOpenTxns, insertAborted     rowsStmt
	readProducerTxn, insertFile                       *sql.Stmt
}

func (c *commitStmts) prepare(ctx context.Context, db *sql.DB) error {
	for _, r := range []struct {
		stmt  *rowsStmt
		query string
		width int
	}{
		{&c.readPartitions, sqlReadPartitions, 3},
		{&c.readProducers, sqlReadProducers, 4},
		{&c.readOpenTxns, sqlReadOpenTxns, 4},
		{&c.advancePartitions, sqlAdvancePartitions, 4},
		{&c.insertExtents, sqlInsertExtents, 10},
		{&c.upsertProducers, sqlUpsertProducers, 6},
		{&c.upsertOpenTxns, sqlUpsertOpenTxns, 4},
		{&c.deleteOpenTxns, sqlDeleteOpenTxns, 3},
		{&c.insertAborted, sqlInsertAborted, 5},
	} {
		if err := r.stmt.prepare(ctx, db, r.query, r.width); err != nil {
			return fmt.Errorf("sqlite: prepare commit statement: %w", err)
		}
	}
	var err error
	if c.readProducerTxn, err = db.PrepareContext(ctx, sqlReadProducerTxn); err != nil {
		return fmt.Errorf("sqlite: prepare commit statement: %w", err)
	}
	if c.insertFile, err = db.PrepareContext(ctx, sqlInsertFile); err != nil {
		return fmt.Errorf("sqlite: prepare commit statement: %w", err)
	}
	return nil
}

func (c *commitStmts) close() error {
	errs := []error{c.readPartitions.close(), c.readProducers.close(), c.readOpenTxns.close(),
		c.advancePartitions.close(), c.insertExtents.close(), c.upsertProducers.close(),
		c.upsertOpenTxns.close(), c.deleteOpenTxns.close(), c.insertAborted.close()}
	for _, st := range []*sql.Stmt{c.readProducerTxn, c.insertFile} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	return errors.Join(errs...)
}

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
	// lastExt indexes the partition's last extent in commitFile.extents,
	// -1 before its first; lastEnd is the file position after the last
	// accepted batch, so an adjacent accepted batch extends that extent.
	lastExt int
	lastEnd int64
}

type extentRow struct {
	part                              int // index in commitFile.keys
	base, end, byteOffset, byteLength int64
	batches                           int
	maxTS                             int64
}

// commitFile is the state of one CommitFile: the partitions and producers
// it touches (in order of first appearance, so statements are
// deterministic) and the extents it appends.
type commitFile struct {
	tx    *sql.Tx
	stmts *commitStmts

	keys      []partKey
	keyArgs   []any // by partition index: the topic and partition arguments, boxed once
	parts     []partCommit
	partIndex map[partKey]int
	extents   []extentRow

	prodKeys  []seq.Key
	producers []seq.State
	prodIndex map[seq.Key]int
	dirty     []bool // by producer index

	args []any // statement arguments, reused
}

// CommitFile implements metadata.Log.
func (s *Store) CommitFile(ctx context.Context, c metadata.FileCommit) ([]metadata.BatchResult, error) {
	now := time.Now().UnixMilli()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("sqlite: begin commit: %w", err)
	}
	defer tx.Rollback()

	cf := commitFile{tx: tx, stmts: &s.commit}
	if err := cf.readPartitions(ctx, c.Batches); err != nil {
		return nil, err
	}
	if err := cf.readProducers(ctx, c.Batches); err != nil {
		return nil, err
	}
	txns := txnCommit{cf: &cf}
	if err := txns.readOpen(ctx, c.Batches); err != nil {
		return nil, err
	}
	results := make([]metadata.BatchResult, len(c.Batches))
	appended := 0
	for i, b := range c.Batches {
		pk := partKey{b.TopicID, b.Partition}
		pi := cf.partIndex[pk]
		pc := &cf.parts[pi]
		if !pc.exists {
			results[i].Err = pc.missing
			continue
		}
		if m := b.Marker; m != nil {
			k := seq.Key{Topic: b.TopicID, Partition: b.Partition, ProducerID: m.ProducerID}
			si := cf.prodIndex[k]
			changed, err := cf.producers[si].Mark(m.Epoch)
			if err != nil {
				results[i].Err = err
				continue
			}
			cf.dirty[si] = cf.dirty[si] || changed
			txns.Marked(k, pc.next, m.Commit)
		} else if p := b.Producer; p != nil {
			k := seq.Key{Topic: b.TopicID, Partition: b.Partition, ProducerID: p.ID}
			si := cf.prodIndex[k]
			st := &cf.producers[si]
			res := st.Check(p.Epoch, p.FirstSequence, b.Records)
			if res.Err != nil || res.Duplicate {
				results[i] = res
				continue
			}
			if b.Transactional {
				if err := txns.checkTxn(ctx, b); err != nil {
					if !errors.Is(err, metadata.ErrInvalidTxnState) && !errors.Is(err, metadata.ErrInvalidProducerEpoch) {
						return nil, err
					}
					results[i].Err = err
					continue
				}
				txns.Opened(k, pc.next)
			}
			st.Record(p.Epoch, p.FirstSequence, b.Records, pc.next)
			cf.dirty[si] = true
		}
		results[i].BaseOffset = pc.next
		if pc.lastExt >= 0 && pc.lastEnd == b.ByteOffset {
			e := &cf.extents[pc.lastExt]
			e.end += b.Records
			e.byteLength += b.ByteLength
			e.batches++
			e.maxTS = max(e.maxTS, b.MaxTimestamp)
		} else {
			pc.lastExt = len(cf.extents)
			cf.extents = append(cf.extents, extentRow{part: pi, base: pc.next, end: pc.next + b.Records, byteOffset: b.ByteOffset,
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
	res, err := tx.StmtContext(ctx, s.commit.insertFile).ExecContext(ctx, c.Key, c.Size, now)
	if err != nil {
		return nil, fmt.Errorf("sqlite: record file %s: %w", c.Key, err)
	}
	fileID, err := res.LastInsertId()
	if err != nil {
		return nil, err
	}
	if err := cf.write(ctx, fileID, now); err != nil {
		return nil, err
	}
	if err := txns.write(ctx); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("sqlite: commit file %s: %w", c.Key, err)
	}
	return results, nil
}

// readPartitions reads the state of every partition the batches touch, up
// to maxRows a statement; partitions without a row are marked missing with
// the error their batches get.
func (cf *commitFile) readPartitions(ctx context.Context, batches []metadata.BatchCommit) error {
	cf.partIndex = make(map[partKey]int)
	for _, b := range batches {
		pk := partKey{b.TopicID, b.Partition}
		if _, ok := cf.partIndex[pk]; !ok {
			cf.partIndex[pk] = len(cf.keys)
			cf.keys = append(cf.keys, pk)
		}
	}
	cf.parts = make([]partCommit, len(cf.keys))
	cf.keyArgs = make([]any, 0, 2*len(cf.keys))
	cf.args = cf.args[:0]
	for i := range cf.keys {
		cf.keyArgs = append(cf.keyArgs, cf.keys[i].topic[:], int64(cf.keys[i].partition))
		cf.args = append(cf.args, i, cf.keyArgs[2*i], cf.keyArgs[2*i+1])
	}
	seen := 0
	var (
		i          int64
		next       sql.NullInt64
		topicKnown sql.NullBool
	)
	err := cf.stmts.readPartitions.query(ctx, cf.tx, cf.args, func(rows *sql.Rows) error {
		if err := rows.Scan(&i, &next, &topicKnown); err != nil {
			return err
		}
		if i < 0 || i >= int64(len(cf.keys)) {
			return fmt.Errorf("unexpected row %d", i)
		}
		pk, pc := cf.keys[i], &cf.parts[i]
		pc.lastExt, pc.lastEnd = -1, -1
		switch {
		case next.Valid:
			pc.exists, pc.next, pc.start = true, next.Int64, next.Int64
		case topicKnown.Bool:
			pc.missing = fmt.Errorf("%w: %s/%d", metadata.ErrUnknownPartition, pk.topic, pk.partition)
		default:
			pc.missing = fmt.Errorf("%w: %s", metadata.ErrUnknownTopic, pk.topic)
		}
		seen++
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: read partitions: %w", err)
	}
	if seen != len(cf.keys) {
		return fmt.Errorf("sqlite: read partitions: %d rows for %d partitions", seen, len(cf.keys))
	}
	return nil
}

// partArgs returns the boxed topic and partition arguments of a partition
// readPartitions has read.
func (cf *commitFile) partArgs(pk partKey) (topic, partition any) {
	i := cf.partIndex[pk]
	return cf.keyArgs[2*i], cf.keyArgs[2*i+1]
}

// readProducers reads the sequence state of every idempotent or
// transactional producer the batches carry on an existing partition.
func (cf *commitFile) readProducers(ctx context.Context, batches []metadata.BatchCommit) error {
	cf.prodIndex = make(map[seq.Key]int)
	for _, b := range batches {
		if b.Producer == nil && b.Marker == nil {
			continue
		}
		if !cf.parts[cf.partIndex[partKey{b.TopicID, b.Partition}]].exists {
			continue
		}
		k := seq.Key{Topic: b.TopicID, Partition: b.Partition}
		if b.Marker != nil {
			k.ProducerID = b.Marker.ProducerID
		} else {
			k.ProducerID = b.Producer.ID
		}
		if _, ok := cf.prodIndex[k]; !ok {
			cf.prodIndex[k] = len(cf.prodKeys)
			cf.prodKeys = append(cf.prodKeys, k)
		}
	}
	cf.producers = make([]seq.State, len(cf.prodKeys))
	cf.dirty = make([]bool, len(cf.prodKeys))
	if len(cf.prodKeys) == 0 {
		return nil
	}
	cf.args = cf.args[:0]
	for i := range cf.prodKeys {
		k := &cf.prodKeys[i]
		t, p := cf.partArgs(partKey{k.Topic, k.Partition})
		cf.args = append(cf.args, i, t, p, k.ProducerID)
	}
	var (
		i, epoch int64
		recent   sql.RawBytes
	)
	err := cf.stmts.readProducers.query(ctx, cf.tx, cf.args, func(rows *sql.Rows) error {
		if err := rows.Scan(&i, &epoch, &recent); err != nil {
			return err
		}
		if i < 0 || i >= int64(len(cf.prodKeys)) {
			return fmt.Errorf("unexpected row %d", i)
		}
		st := &cf.producers[i]
		st.Known, st.Epoch = true, int16(epoch)
		var err error
		st.Recent, err = seq.ParseRecent(recent)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: read producer state: %w", err)
	}
	return nil
}

// write advances the partitions, indexes the extents and saves the
// producers' state.
func (cf *commitFile) write(ctx context.Context, fileID, now int64) error {
	fileArg, nowArg := any(fileID), any(now)
	cf.args = cf.args[:0]
	advanced := 0
	for i := range cf.parts {
		pc := &cf.parts[i]
		if !pc.exists || pc.next == pc.start {
			continue
		}
		cf.args = append(cf.args, cf.keyArgs[2*i], cf.keyArgs[2*i+1], pc.next, pc.start)
		advanced++
	}
	if n, err := cf.stmts.advancePartitions.exec(ctx, cf.tx, cf.args); err != nil {
		return fmt.Errorf("sqlite: advance partitions: %w", err)
	} else if n != int64(advanced) {
		return fmt.Errorf("sqlite: %d of %d partitions moved during commit", int64(advanced)-n, advanced)
	}

	// Extents of a partition whose batches hold no records are not
	// indexed: they cover no offsets.
	cf.args = cf.args[:0]
	indexed := 0
	for _, e := range cf.extents {
		if pc := &cf.parts[e.part]; pc.next == pc.start {
			continue
		}
		cf.args = append(cf.args, cf.keyArgs[2*e.part], cf.keyArgs[2*e.part+1], e.base, e.end, fileArg, e.byteOffset, e.byteLength, e.batches, e.maxTS, nowArg)
		indexed++
	}
	if n, err := cf.stmts.insertExtents.exec(ctx, cf.tx, cf.args); err != nil {
		return fmt.Errorf("sqlite: index extents: %w", err)
	} else if n != int64(indexed) {
		return fmt.Errorf("sqlite: indexed %d of %d extents", n, indexed)
	}

	// The producers' recent batches are stored as JSON, built in one
	// buffer.
	var recent []byte
	var ends []int
	for i := range cf.prodKeys {
		if cf.dirty[i] {
			recent = seq.AppendRecent(recent, cf.producers[i].Recent)
			ends = append(ends, len(recent))
		}
	}
	all := string(recent)
	cf.args = cf.args[:0]
	from := 0
	for i := range cf.prodKeys {
		if !cf.dirty[i] {
			continue
		}
		k, end := &cf.prodKeys[i], ends[0]
		t, p := cf.partArgs(partKey{k.Topic, k.Partition})
		cf.args = append(cf.args, t, p, k.ProducerID, cf.producers[i].Epoch, all[from:end], nowArg)
		from, ends = end, ends[1:]
	}
	if _, err := cf.stmts.upsertProducers.exec(ctx, cf.tx, cf.args); err != nil {
		return fmt.Errorf("sqlite: producer state: %w", err)
	}
	return nil
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
