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
	"github.com/sluicehq/sluice/internal/metadata/sequencer"
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
// prepared for 1, 2, 4 … 1<<maxLog rows.
type rowsStmt struct {
	width  int
	maxLog int
	byLog  []*sql.Stmt // byLog[k] carries 1<<k rows
}

func (r *rowsStmt) prepare(ctx context.Context, db *sql.DB, query string, width, maxLog int) error {
	r.width, r.maxLog = width, maxLog
	r.byLog = make([]*sql.Stmt, maxLog+1)
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
// args (width values a row) and the statement prepared for that many rows,
// inside tx, or on the statement's own pool when tx is nil.
func (r *rowsStmt) chunks(ctx context.Context, tx *sql.Tx, args []any, fn func(st *sql.Stmt, args []any) error) error {
	n := len(args) / r.width
	for start := 0; start < n; {
		k := bits.Len(uint(min(n-start, 1<<r.maxLog))) - 1
		end := start + 1<<k
		st := r.byLog[k]
		if tx != nil {
			st = tx.StmtContext(ctx, st)
		}
		if err := fn(st, args[start*r.width:end*r.width]); err != nil {
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
		if err := r.stmt.prepare(ctx, db, r.query, r.width, maxRowsLog); err != nil {
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

// commitRows is SQLite's side of one CommitFile (sequencer.CommitRows):
// every read is one set-based statement over the plan's rows, every kind
// of write one more, all inside the writer's transaction, which SQLite
// runs alone.
type commitRows struct {
	tx    *sql.Tx
	stmts *commitStmts
	file  metadata.FileCommit
	now   int64 // the commit time, Unix milliseconds

	keyArgs []any // by partition index: the topic and partition arguments, boxed once
	args    []any // statement arguments, reused
	wrote   bool  // Write ran: the transaction has changes to commit
}

// CommitFile implements metadata.Log.
func (s *Store) CommitFile(ctx context.Context, c metadata.FileCommit) ([]metadata.BatchResult, error) {
	now := time.Now().UnixMilli()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("sqlite: begin commit: %w", err)
	}
	defer tx.Rollback()
	rows := commitRows{tx: tx, stmts: &s.commit, file: c, now: now}
	results, err := sequencer.Commit(ctx, &rows, c)
	if err != nil {
		return nil, err
	}
	if !rows.wrote {
		// Nothing references the file: roll back.
		return results, nil
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("sqlite: commit file %s: %w", c.Key, err)
	}
	return results, nil
}

// CommitFiles implements metadata.Log in one writer transaction: one
// BEGIN and one COMMIT (one WAL sync) for the group instead of one each.
// A group without producer state (the journal's: journaled batches carry
// no producer ID) reads its partitions once, sequences each file from
// them in memory, records each file (its one statement of its own) and
// writes the partitions' next offsets, the extents and the journal marks
// of all its files together (groupRows). A group with producer state
// runs each file's statements as CommitFile does. A file whose key is
// recorded fails its insert (SQLite undoes that statement only, and the
// file has written nothing before it), gets ErrFileCommitted, and the
// transaction goes on.
func (s *Store) CommitFiles(ctx context.Context, files []metadata.FileCommit) ([]metadata.FileResult, error) {
	now := time.Now().UnixMilli()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("sqlite: begin commit: %w", err)
	}
	defer tx.Rollback()
	var all []metadata.BatchCommit
	for i := range files {
		all = append(all, files[i].Batches...)
	}
	group := sequencer.NewPlan(all)
	var g *groupRows
	if len(group.Producers) == 0 {
		if err := (&commitRows{tx: tx, stmts: &s.commit, now: now}).Read(ctx, group); err != nil {
			return nil, err
		}
		g = &groupRows{commitRows: commitRows{tx: tx, stmts: &s.commit, now: now}, group: group}
	}
	out := make([]metadata.FileResult, len(files))
	wrote := false
	for i, c := range files {
		var (
			rows    sequencer.CommitRows
			written *bool
		)
		if g != nil {
			g.file, g.wrote = c, false
			rows, written = g, &g.wrote
		} else {
			r := &commitRows{tx: tx, stmts: &s.commit, file: c, now: now}
			rows, written = r, &r.wrote
		}
		results, err := sequencer.Commit(ctx, rows, c)
		if errors.Is(err, metadata.ErrFileCommitted) {
			out[i].Err = err
			continue
		}
		if err != nil {
			return nil, err
		}
		out[i].Batches = results
		wrote = wrote || *written
	}
	if !wrote {
		return out, nil
	}
	if g != nil {
		if err := g.finish(ctx); err != nil {
			return nil, err
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("sqlite: commit %d files: %w", len(files), err)
	}
	return out, nil
}

// groupRows is CommitFiles's side of the files of a group without
// producer state (sequencer.CommitRows): it reads partitions from the
// group plan, records each file, and keeps the rest of the writes for
// finish.
type groupRows struct {
	commitRows // tx, stmts, now; file and wrote: the current file's
	group      *sequencer.Plan
	extents    []any // insertExtents rows of every file
	marks      map[journalGen]uint64
}

type journalGen struct {
	agent string
	gen   uint64
}

func (g *groupRows) Read(ctx context.Context, p *sequencer.Plan) error { return p.ReadFrom(g.group) }

func (g *groupRows) ProducerTxn(context.Context, int64) (metadata.Transaction, error) {
	return metadata.Transaction{}, errors.New("sqlite: group commit: a file without producer state asked for a transaction")
}

// Write records the file and keeps its extents and mark.
func (g *groupRows) Write(ctx context.Context, p *sequencer.Plan) error {
	fileID, err := g.insertFile(ctx)
	if err != nil {
		return err
	}
	g.wrote = true
	fileArg, nowArg := any(fileID), any(g.now)
	for _, e := range p.Extents {
		pc := &p.Partitions[e.Part]
		g.extents = append(g.extents, pc.Topic[:], int64(pc.Partition), e.BaseOffset, e.EndOffset, fileArg,
			e.ByteOffset, e.ByteLength, e.Batches, e.MaxTimestamp, nowArg)
	}
	p.AdvanceGroup(g.group)
	if m := g.file.Journal; m != nil {
		if g.marks == nil {
			g.marks = make(map[journalGen]uint64)
		}
		k := journalGen{m.Agent, m.Generation}
		g.marks[k] = max(g.marks[k], m.Sequence)
	}
	return nil
}

// finish writes what the group's files kept: each partition moved from
// the offset the group read to where its last file left it (checked as
// CommitFile checks it), the extents, the journal marks.
func (g *groupRows) finish(ctx context.Context) error {
	var args []any
	advanced := 0
	for i := range g.group.Partitions {
		if pc := &g.group.Partitions[i]; pc.Advanced() {
			args = append(args, pc.Topic[:], int64(pc.Partition), pc.Next, pc.Start)
			advanced++
		}
	}
	if n, err := g.stmts.advancePartitions.exec(ctx, g.tx, args); err != nil {
		return fmt.Errorf("sqlite: advance partitions: %w", err)
	} else if n != int64(advanced) {
		return fmt.Errorf("sqlite: %d of %d partitions moved during commit", int64(advanced)-n, advanced)
	}
	if n, err := g.stmts.insertExtents.exec(ctx, g.tx, g.extents); err != nil {
		return fmt.Errorf("sqlite: index extents: %w", err)
	} else if want := int64(len(g.extents) / 10); n != want {
		return fmt.Errorf("sqlite: indexed %d of %d extents", n, want)
	}
	for k, seq := range g.marks {
		if err := markJournal(ctx, g.tx, &metadata.JournalMark{Agent: k.agent, Generation: k.gen, Sequence: seq}); err != nil {
			return err
		}
	}
	return nil
}

// Read implements sequencer.CommitRows: the partitions first, then the
// producers and open transactions of the partitions that exist.
func (r *commitRows) Read(ctx context.Context, p *sequencer.Plan) error {
	r.keyArgs = make([]any, 0, 2*len(p.Partitions))
	r.args = r.args[:0]
	for i := range p.Partitions {
		pk := &p.Partitions[i]
		r.keyArgs = append(r.keyArgs, pk.Topic[:], int64(pk.Partition))
		r.args = append(r.args, i, r.keyArgs[2*i], r.keyArgs[2*i+1])
	}
	seen := 0
	var (
		i          int64
		next       sql.NullInt64
		topicKnown sql.NullBool
	)
	err := r.stmts.readPartitions.query(ctx, r.tx, r.args, func(rows *sql.Rows) error {
		if err := rows.Scan(&i, &next, &topicKnown); err != nil {
			return err
		}
		if i < 0 || i >= int64(len(p.Partitions)) {
			return fmt.Errorf("unexpected row %d", i)
		}
		if next.Valid {
			p.Partitions[i].Found(next.Int64)
		} else {
			p.Partitions[i].NotFound(topicKnown.Bool)
		}
		seen++
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: read partitions: %w", err)
	}
	if seen != len(p.Partitions) {
		return fmt.Errorf("sqlite: read partitions: %d rows for %d partitions", seen, len(p.Partitions))
	}

	r.args = r.args[:0]
	for i := range p.Producers {
		if pr := &p.Producers[i]; p.Partitions[pr.Part].Exists {
			r.args = append(r.args, i, r.keyArgs[2*pr.Part], r.keyArgs[2*pr.Part+1], pr.ProducerID)
		}
	}
	var (
		epoch  int64
		recent sql.RawBytes
	)
	err = r.stmts.readProducers.query(ctx, r.tx, r.args, func(rows *sql.Rows) error {
		if err := rows.Scan(&i, &epoch, &recent); err != nil {
			return err
		}
		if i < 0 || i >= int64(len(p.Producers)) {
			return fmt.Errorf("unexpected row %d", i)
		}
		return p.Producers[i].Load(int16(epoch), recent)
	})
	if err != nil {
		return fmt.Errorf("sqlite: read producer state: %w", err)
	}

	r.args = r.args[:0]
	for i := range p.OpenTxns {
		if o := &p.OpenTxns[i]; p.Partitions[o.Part].Exists {
			r.args = append(r.args, i, r.keyArgs[2*o.Part], r.keyArgs[2*o.Part+1], o.ProducerID)
		}
	}
	var first int64
	err = r.stmts.readOpenTxns.query(ctx, r.tx, r.args, func(rows *sql.Rows) error {
		if err := rows.Scan(&i, &first); err != nil {
			return err
		}
		if i < 0 || i >= int64(len(p.OpenTxns)) {
			return fmt.Errorf("unexpected row %d", i)
		}
		p.OpenTxns[i].Load(first)
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: read open transactions: %w", err)
	}
	return nil
}

// ProducerTxn implements sequencer.CommitRows.
func (r *commitRows) ProducerTxn(ctx context.Context, producerID int64) (metadata.Transaction, error) {
	t, err := scanTxn(r.tx.StmtContext(ctx, r.stmts.readProducerTxn).QueryRowContext(ctx, producerID))
	if err != nil && !errors.Is(err, metadata.ErrNotFound) {
		err = fmt.Errorf("sqlite: read transaction: %w", err)
	}
	return t, err
}

// insertFile records the file and returns its row ID, or fails with
// ErrFileCommitted for a recorded key (the statement alone is undone).
func (r *commitRows) insertFile(ctx context.Context) (int64, error) {
	res, err := r.tx.StmtContext(ctx, r.stmts.insertFile).ExecContext(ctx, r.file.Key, r.file.Size, r.now)
	if err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed: files.key") {
		return 0, fmt.Errorf("sqlite: record file %s: %w", r.file.Key, metadata.ErrFileCommitted)
	}
	if err != nil {
		return 0, fmt.Errorf("sqlite: record file %s: %w", r.file.Key, err)
	}
	return res.LastInsertId()
}

// Write implements sequencer.CommitRows.
func (r *commitRows) Write(ctx context.Context, p *sequencer.Plan) error {
	fileID, err := r.insertFile(ctx)
	if err != nil {
		return err
	}
	fileArg, nowArg := any(fileID), any(r.now)
	r.wrote = true
	if err := markJournal(ctx, r.tx, r.file.Journal); err != nil {
		return err
	}

	r.args = r.args[:0]
	advanced := 0
	for i := range p.Partitions {
		if pc := &p.Partitions[i]; pc.Advanced() {
			r.args = append(r.args, r.keyArgs[2*i], r.keyArgs[2*i+1], pc.Next, pc.Start)
			advanced++
		}
	}
	if n, err := r.stmts.advancePartitions.exec(ctx, r.tx, r.args); err != nil {
		return fmt.Errorf("sqlite: advance partitions: %w", err)
	} else if n != int64(advanced) {
		return fmt.Errorf("sqlite: %d of %d partitions moved during commit", int64(advanced)-n, advanced)
	}

	r.args = r.args[:0]
	for _, e := range p.Extents {
		r.args = append(r.args, r.keyArgs[2*e.Part], r.keyArgs[2*e.Part+1], e.BaseOffset, e.EndOffset, fileArg,
			e.ByteOffset, e.ByteLength, e.Batches, e.MaxTimestamp, nowArg)
	}
	if n, err := r.stmts.insertExtents.exec(ctx, r.tx, r.args); err != nil {
		return fmt.Errorf("sqlite: index extents: %w", err)
	} else if n != int64(len(p.Extents)) {
		return fmt.Errorf("sqlite: indexed %d of %d extents", n, len(p.Extents))
	}

	// The producers' recent batches are stored in the compact form
	// (recentCompactMigration), built in one buffer.
	var recent []byte
	var ends []int
	for i := range p.Producers {
		if pr := &p.Producers[i]; pr.Dirty {
			recent = sequencer.AppendRecentCompact(recent, pr.Recent)
			ends = append(ends, len(recent))
		}
	}
	all := string(recent)
	r.args = r.args[:0]
	from := 0
	for i := range p.Producers {
		pr := &p.Producers[i]
		if !pr.Dirty {
			continue
		}
		end := ends[0]
		r.args = append(r.args, r.keyArgs[2*pr.Part], r.keyArgs[2*pr.Part+1], pr.ProducerID, pr.Epoch, all[from:end], nowArg)
		from, ends = end, ends[1:]
	}
	if _, err := r.stmts.upsertProducers.exec(ctx, r.tx, r.args); err != nil {
		return fmt.Errorf("sqlite: producer state: %w", err)
	}

	r.args = r.args[:0]
	for i := range p.OpenTxns {
		if o := &p.OpenTxns[i]; o.Upsert() {
			r.args = append(r.args, r.keyArgs[2*o.Part], r.keyArgs[2*o.Part+1], o.ProducerID, o.First)
		}
	}
	if _, err := r.stmts.upsertOpenTxns.exec(ctx, r.tx, r.args); err != nil {
		return fmt.Errorf("sqlite: open transactions: %w", err)
	}
	r.args = r.args[:0]
	for i := range p.OpenTxns {
		if o := &p.OpenTxns[i]; o.Delete() {
			r.args = append(r.args, r.keyArgs[2*o.Part], r.keyArgs[2*o.Part+1], o.ProducerID)
		}
	}
	if _, err := r.stmts.deleteOpenTxns.exec(ctx, r.tx, r.args); err != nil {
		return fmt.Errorf("sqlite: open transactions: %w", err)
	}
	r.args = r.args[:0]
	for _, a := range p.Aborted {
		r.args = append(r.args, r.keyArgs[2*a.Part], r.keyArgs[2*a.Part+1], a.Last, a.ProducerID, a.First)
	}
	if _, err := r.stmts.insertAborted.exec(ctx, r.tx, r.args); err != nil {
		return fmt.Errorf("sqlite: aborted transactions: %w", err)
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
