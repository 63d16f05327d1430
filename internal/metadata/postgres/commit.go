package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/metadata/sequencer"
)

type partKey = sequencer.PartitionKey

func partLess(a, b partKey) bool {
	if c := bytes.Compare(a.Topic[:], b.Topic[:]); c != 0 {
		return c < 0
	}
	return a.Partition < b.Partition
}

// commitCostMigration makes a commit's per-row work cheaper (issue #24,
// Scale; docs/performance.md, "Metadata commit"):
//   - extents lose their foreign key to files. Its check was a trigger
//     call per inserted extent, and it guarded nothing the code does not:
//     extents are only inserted in the transaction that inserts their
//     file's row, and ForgetFiles deletes only files no extent references.
//   - producers.recent is text (sequencer.AppendRecent's JSON, now
//     AppendRecentCompact's form: recentCompactMigration), not
//     jsonb: the database never looks inside it, and jsonb's parse on
//     every write and output on every read cost more than the rest of
//     the row's work.
//   - partitions and producers, whose rows commits rewrite, keep half of
//     each page free, so an update can stay on its page (a HOT update,
//     which adds no index entry).
const commitCostMigration = `ALTER TABLE extents DROP CONSTRAINT extents_file_id_fkey;
	ALTER TABLE producers SET (fillfactor = 50);
	ALTER TABLE producers ALTER COLUMN recent TYPE text USING recent::text;
	ALTER TABLE partitions SET (fillfactor = 50);`

// recentCompactMigration changes no table: from it on, producers.recent is
// written in sequencer.AppendRecentCompact's form (a fifth of the JSON's
// width for five batches, and every commit rewrites the row), which
// binaries before it cannot read, so they refuse the schema. Rows written
// before keep their JSON until their producer next commits; ParseRecent
// reads both.
const recentCompactMigration = `COMMENT ON COLUMN producers.recent IS
	'recent batches: sequencer.AppendRecentCompact (older rows: JSON)';`

// CommitFile implements metadata.Log. One transaction in two round trips
// whatever the number of partitions: BEGIN, the commit locks of the
// touched partitions (commitLocks), the reads of their rows, of the
// producers' state and of open transactions travel in one pipelined batch;
// the file is sequenced (sequencer.Commit); the file, the extents, the new
// next offsets, producer state, the transaction index, the commit
// notification and COMMIT travel in a second. A partition that does not
// exist costs one more round trip, and each transactional producer one,
// for its transaction; a commit that appends nothing ends with a ROLLBACK.
func (s *Store) CommitFile(ctx context.Context, c metadata.FileCommit) ([]metadata.BatchResult, error) {
	results, err := pipelinedCommit(ctx, s, func(ctx context.Context, conn *pgx.Conn) ([]metadata.BatchResult, error) {
		return sequencer.Commit(ctx, &commitRows{conn: conn, arena: arenaFor(conn), file: c, beforeWrite: s.beforeCommitWrite}, c)
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: commit file %s: %w", c.Key, err)
	}
	return results, nil
}

// CommitFiles implements metadata.Log in one transaction. The first round
// trip begins it, locks every partition of every file in key order (the
// global order every commit takes its locks in) and reads their next
// offsets and which keys are recorded. Files without producer state (the
// journal's: journaled batches carry no producer ID) are then sequenced
// one after the other in memory, from those offsets, and the group's
// writes are merged (groupWrites: one statement each for the partitions'
// next offsets, the files with their extents, the journal marks and the
// notification, however many files) and travel with COMMIT in a second
// round trip: two round trips, four statements and one commit (one WAL
// flush) for the group, where CommitFile costs two round trips and as
// many statements and one commit for each file. A group with producer
// state reads and writes each file in two round trips, as CommitFile
// does, inside the one transaction.
func (s *Store) CommitFiles(ctx context.Context, files []metadata.FileCommit) ([]metadata.FileResult, error) {
	out, err := pipelinedCommit(ctx, s, func(ctx context.Context, conn *pgx.Conn) ([]metadata.FileResult, error) {
		return commitGroup(ctx, conn, files)
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: commit %d files: %w", len(files), err)
	}
	return out, nil
}

// pipelinedCommit runs attempt, a transaction that opens and commits
// itself by statements in its pipelined batches (pgx.Tx would cost a
// round trip each), on one pooled connection, up to five times while it
// fails as inTx retries (deadlocks and serialization failures, which the
// lock order should prevent) or finds a partition moved by a writer that
// does not take the commit locks (errPartitionMoved).
func pipelinedCommit[T any](ctx context.Context, s *Store, attempt func(context.Context, *pgx.Conn) (T, error)) (T, error) {
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	var (
		out T
		err error
	)
	for range 5 {
		out, err = pipelinedAttempt(ctx, s, attempt)
		if !retryable(err) && !errors.Is(err, errPartitionMoved) {
			break
		}
		s.commitRetries.Add(1)
	}
	return out, err
}

// pipelinedAttempt is one attempt of pipelinedCommit.
func pipelinedAttempt[T any](ctx context.Context, s *Store, attempt func(context.Context, *pgx.Conn) (T, error)) (T, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		var zero T
		return zero, err
	}
	// Release destroys a connection still in a transaction, which it is
	// only if the ROLLBACK below failed.
	defer conn.Release()
	out, err := attempt(ctx, conn.Conn())
	if conn.Conn().PgConn().TxStatus() != 'I' {
		// A failed commit, or one that appended nothing (the write batch
		// and its COMMIT were never sent): nothing was written. The
		// context may be done, so the ROLLBACK gets its own deadline.
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		_, _ = conn.Exec(rctx, `ROLLBACK`)
		rcancel()
	}
	return out, err
}

// errPartitionMoved fails a commit whose next-offset compare-and-set
// found a partition moved since its read (by a writer that takes no
// commit lock); pipelinedCommit retries it.
var errPartitionMoved = errors.New("a partition moved since the commit read it")

// errRecordedMeanwhile fails a group one of whose keys another commit
// recorded after the group read the recorded keys: the unique violation
// has aborted the whole transaction, and a retry finds the key recorded.
// It does not wrap metadata.ErrFileCommitted, which would say the group
// was committed.
var errRecordedMeanwhile = errors.New("a file of the group was recorded by another commit meanwhile; nothing committed")

// commitGroup runs CommitFiles's transaction on conn. It leaves the
// transaction open (for the caller's ROLLBACK) when it fails or when no
// file appended anything.
func commitGroup(ctx context.Context, conn *pgx.Conn, files []metadata.FileCommit) ([]metadata.FileResult, error) {
	var all []metadata.BatchCommit
	keys := make([]string, len(files))
	for i := range files {
		all = append(all, files[i].Batches...)
		keys[i] = files[i].Key
	}
	union := sequencer.NewPlan(all)
	recorded := make(map[string]bool)
	first := &pgx.Batch{}
	first.Queue(`BEGIN`)
	first.Queue(`SET LOCAL plan_cache_mode = force_generic_plan`)
	// The union's lock reads no producer state (nil commitRows): a group
	// without producers never writes producer_states (groupWrites), and
	// each file of a group with producers reads its rows' again, under
	// this lock (commitRows.Read).
	queueCommitLocks(first, union, nil)
	queueReadPartitions(first, union, nil, nil)
	first.Queue(`SELECT key FROM files WHERE key = ANY($1::text[])`, keys).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				return err
			}
			recorded[k] = true
		}
		return rows.Err()
	})
	if err := conn.SendBatch(ctx, first).Close(); err != nil {
		return nil, err
	}
	if err := resolveMissing(ctx, conn, union); err != nil {
		return nil, err
	}
	writes := &groupWrites{union: union}
	var rows sequencer.CommitRows
	if len(union.Producers) > 0 {
		writes = nil
	}
	out := make([]metadata.FileResult, len(files))
	wrote := false
	for i, c := range files {
		if recorded[c.Key] {
			out[i].Err = fmt.Errorf("file %s: %w", c.Key, metadata.ErrFileCommitted)
			continue
		}
		var appended bool
		if writes != nil {
			rows = &memRows{writes: writes, file: c, wrote: &appended}
		} else {
			rows = &commitRows{conn: conn, file: c, group: true, wrote: &appended}
		}
		res, err := sequencer.Commit(ctx, rows, c)
		if errors.Is(err, metadata.ErrFileCommitted) {
			return nil, fmt.Errorf("file %s: %w", c.Key, errRecordedMeanwhile)
		}
		if err != nil {
			return nil, fmt.Errorf("file %s: %w", c.Key, err)
		}
		out[i].Batches = res
		if appended {
			recorded[c.Key], wrote = true, true
		}
	}
	if !wrote {
		return out, nil
	}
	if writes == nil {
		_, err := conn.Exec(ctx, `COMMIT`)
		return out, err
	}
	batch := writes.queue()
	batch.Queue(`COMMIT`)
	if err := conn.SendBatch(ctx, batch).Close(); err != nil {
		if isUniqueViolation(err) && strings.Contains(err.Error(), "files_key") {
			return nil, fmt.Errorf("write commit: %w", errRecordedMeanwhile)
		}
		if isCheckFailure(err) {
			return nil, fmt.Errorf("write commit: %w: %w", errPartitionMoved, checkFailure(err))
		}
		return nil, fmt.Errorf("write commit: %w", checkFailure(err))
	}
	return out, nil
}

// memRows is CommitFiles's side of one file without producer state
// (sequencer.CommitRows): it reads the partitions from the group's plan,
// whose rows the transaction locked and read first and whose next
// offsets it keeps as each file advances them, and adds the file's
// writes to the group's.
type memRows struct {
	writes *groupWrites
	file   metadata.FileCommit
	wrote  *bool
}

func (r *memRows) Read(ctx context.Context, p *sequencer.Plan) error {
	return p.ReadFrom(r.writes.union)
}

func (r *memRows) ProducerTxn(context.Context, int64) (metadata.Transaction, error) {
	return metadata.Transaction{}, errors.New("group commit: a file without producer state asked for a transaction")
}

func (r *memRows) Write(ctx context.Context, p *sequencer.Plan) error {
	r.writes.add(p, r.file)
	*r.wrote = true
	return nil
}

// groupWrites are the merged writes of a group's files without producer
// state. The group's plan (union) holds each partition's next offset as
// read (Start) and as the files sequenced so far leave it (Next).
type groupWrites struct {
	union *sequencer.Plan

	keys  []string
	sizes []int64
	// The extents' columns; eKey names each one's file.
	eKey            []string
	eTopic          [][16]byte
	ePart, eBatches []int32
	eBase, eEnd     []int64
	eOff, eLen, eTS []int64
	marks           map[journalGen]uint64
}

type journalGen struct {
	agent string
	gen   uint64
}

// add takes one sequenced file's writes.
func (w *groupWrites) add(p *sequencer.Plan, file metadata.FileCommit) {
	w.keys, w.sizes = append(w.keys, file.Key), append(w.sizes, file.Size)
	for _, e := range p.Extents {
		pc := &p.Partitions[e.Part]
		w.eKey, w.eTopic, w.ePart = append(w.eKey, file.Key), append(w.eTopic, pc.Topic), append(w.ePart, pc.Partition)
		w.eBase, w.eEnd, w.eOff, w.eLen = append(w.eBase, e.BaseOffset), append(w.eEnd, e.EndOffset), append(w.eOff, e.ByteOffset), append(w.eLen, e.ByteLength)
		w.eBatches, w.eTS = append(w.eBatches, e.Batches), append(w.eTS, e.MaxTimestamp)
	}
	p.AdvanceGroup(w.union)
	if m := file.Journal; m != nil {
		if w.marks == nil {
			w.marks = make(map[journalGen]uint64)
		}
		k := journalGen{m.Agent, m.Generation}
		w.marks[k] = max(w.marks[k], m.Sequence)
	}
}

// queue returns the batch of the group's writes: each partition moved
// from the offset the group read to the one its last file left, checked
// as CommitFile checks it; the files and their extents; the journal
// marks; one notification.
func (w *groupWrites) queue() *pgx.Batch {
	var (
		pTopic        [][16]byte
		pPart         []int32
		pNext, pStart []int64
	)
	for i := range w.union.Partitions {
		if pc := &w.union.Partitions[i]; pc.Advanced() {
			pTopic, pPart, pNext, pStart = append(pTopic, pc.Topic), append(pPart, pc.Partition), append(pNext, pc.Next), append(pStart, pc.Start)
		}
	}
	batch := &pgx.Batch{}
	batch.Queue(`WITH moved AS (UPDATE partitions p SET next_offset = u.next
		FROM unnest($1::uuid[], $2::int[], $3::bigint[], $4::bigint[]) AS u(topic_id, partition, next, start)
		WHERE p.topic_id = u.topic_id AND p.partition = u.partition AND p.next_offset = u.start
		RETURNING 1)
		SELECT `+failUnless(`count(*) = $5`, `($5 - count(*)) || ' of ' || $5 || ' partitions moved during commit'`)+` FROM moved`,
		pTopic, pPart, pNext, pStart, int64(len(pTopic)))
	batch.Queue(`WITH f AS (INSERT INTO files(key, size, committed_at) SELECT k, s, now() FROM unnest($10::text[], $11::bigint[]) AS g(k, s) RETURNING id, key)
		INSERT INTO extents(topic_id, partition, base_offset, end_offset, file_id, byte_offset, byte_length, batches, max_timestamp, committed_at)
		SELECT t, p, b, e, f.id, o, l, n, ts, now()
		FROM unnest($1::uuid[], $2::int[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[], $7::int[], $8::bigint[], $9::text[]) AS u(t, p, b, e, o, l, n, ts, k)
		JOIN f ON f.key = u.k`,
		w.eTopic, w.ePart, w.eBase, w.eEnd, w.eOff, w.eLen, w.eBatches, w.eTS, w.eKey, w.keys, w.sizes)
	for k, seq := range w.marks {
		batch.Queue(sqlMarkJournal, k.agent, int64(k.gen), int64(seq))
	}
	notice := make([]metadata.TopicPartition, len(pTopic))
	for i := range pTopic {
		notice[i] = metadata.TopicPartition{Topic: pTopic[i], Partition: pPart[i]}
	}
	batch.Queue(`SELECT pg_notify($1, $2)`, commitChannel, metadata.EncodeCommitNotice(notice))
	return batch
}

// commitRows is PostgreSQL's side of one CommitFile
// (sequencer.CommitRows), on the connection that runs its transaction.
// In a group (CommitFiles) the transaction is begun, and its partitions
// locked, before the first file and committed after the last: Read sends
// no BEGIN and Write no COMMIT, and Write sets *wrote.
type commitRows struct {
	conn *pgx.Conn
	// arena holds the column arrays of the batches (nil: each column its
	// own buffer; a group's files do not use the connection's arena).
	arena *colArena
	file  metadata.FileCommit
	// group: the file is one of a CommitFiles group (above); Write sets
	// *wrote when it sends the file's writes.
	group bool
	wrote *bool
	// beforeWrite, when set (tests), runs before Write sends the writes.
	beforeWrite func()
	// inRow is, by index in Plan.Partitions, the producer state the
	// partition's row holds (producerInRowMigration), as Read found it.
	inRow [][]rowProducer
	// fromRow reports, by index in Plan.Producers, that Read loaded the
	// producer's state from its partition's row.
	fromRow []bool
}

// Read implements sequencer.CommitRows in one round trip (two when a
// partition is missing), which also begins the transaction: the lock
// comes first, so the producer and open-transaction rows are read under
// it.
func (r *commitRows) Read(ctx context.Context, p *sequencer.Plan) error {
	reads := &pgx.Batch{}
	r.arena.reset()
	if !r.group {
		reads.Queue(`BEGIN`)
		// The commit's statements take column arrays, whose lengths a
		// custom plan would be made for: PostgreSQL replanned each of
		// them on every commit, which cost more than executing them for
		// small flushes. The generic plan (an index lookup per array
		// element) is the right one for every length.
		reads.Queue(`SET LOCAL plan_cache_mode = force_generic_plan`)
	}
	// In a group the partitions are locked already (commitGroup), and
	// this read, in the same transaction, sees the next offsets and
	// producer_states the group's earlier files wrote.
	if !r.group {
		queueCommitLocks(reads, p, r.arena)
	}
	r.inRow = make([][]rowProducer, len(p.Partitions))
	r.fromRow = make([]bool, len(p.Producers))
	queueReadPartitions(reads, p, r, r.arena)
	r.queueReadProducers(reads, p)
	queueReadOpenTxns(reads, p, r.arena)
	if err := r.conn.SendBatch(ctx, reads).Close(); err != nil {
		return err
	}
	return resolveMissing(ctx, r.conn, p)
}

// ProducerTxn implements sequencer.CommitRows. The transaction row is
// read FOR SHARE: EndTxn's move to PrepareCommit/PrepareAbort waits for
// this commit, so its markers come after the batch.
func (r *commitRows) ProducerTxn(ctx context.Context, producerID int64) (metadata.Transaction, error) {
	t, err := scanTxn(r.conn.QueryRow(ctx, txnSelect+` WHERE producer_id = $1 ORDER BY updated_at DESC LIMIT 1 FOR SHARE`, producerID))
	if err != nil && !errors.Is(err, metadata.ErrNotFound) {
		err = fmt.Errorf("read transaction: %w", err)
	}
	return t, err
}

// checkPrefix starts the message of failUnless's error.
const checkPrefix = "sluice check: "

// failUnless returns a SQL expression that is 0 if cond holds and
// otherwise fails its statement, and with it the rest of the pipelined
// transaction, with msg (an expression of type text): the cast of a
// message to integer is an error that quotes it, and no extension or
// function is needed. cond must depend on the rows, so that the planner
// cannot fold the cast into a constant.
func failUnless(cond, msg string) string {
	return `CASE WHEN ` + cond + ` THEN 0 ELSE ('` + checkPrefix + `' || ` + msg + `)::int END`
}

// isCheckFailure reports whether err is failUnless's.
func isCheckFailure(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "22P02" && strings.Contains(pe.Message, checkPrefix)
}

// checkFailure turns failUnless's error into one that says what failed.
func checkFailure(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "22P02" {
		if i := strings.Index(pe.Message, checkPrefix); i >= 0 {
			return errors.New(strings.TrimSuffix(pe.Message[i+len(checkPrefix):], `"`))
		}
	}
	return err
}

// Write implements sequencer.CommitRows with set-based statements over
// column arrays, in one pipelined round trip that ends with COMMIT (in a
// group, without: commitGroup commits after the last file).
func (r *commitRows) Write(ctx context.Context, p *sequencer.Plan) error {
	batch := &pgx.Batch{}
	r.arena.reset()
	r.queueWrites(batch, p)
	if r.group {
		*r.wrote = true
	} else {
		batch.Queue(`COMMIT`)
	}
	if r.beforeWrite != nil {
		r.beforeWrite()
	}
	if err := r.conn.SendBatch(ctx, batch).Close(); err != nil {
		if isUniqueViolation(err) && strings.Contains(err.Error(), "files_key") {
			return fmt.Errorf("write commit: %w", metadata.ErrFileCommitted)
		}
		if isCheckFailure(err) {
			return fmt.Errorf("write commit: %w: %w", errPartitionMoved, checkFailure(err))
		}
		return fmt.Errorf("write commit: %w", checkFailure(err))
	}
	return nil
}

// queueWrites queues the writes of the file's sequenced plan p, with the
// producer state Read found in the partitions rows (r.inRow).
func (r *commitRows) queueWrites(batch *pgx.Batch, p *sequencer.Plan) {
	a := r.arena
	eTopic, ePart, eBase, eEnd := a.col(pgtype.UUIDArrayOID), a.col(pgtype.Int4ArrayOID), a.col(pgtype.Int8ArrayOID), a.col(pgtype.Int8ArrayOID)
	eOff, eLen, eBatches, eTS := a.col(pgtype.Int8ArrayOID), a.col(pgtype.Int8ArrayOID), a.col(pgtype.Int4ArrayOID), a.col(pgtype.Int8ArrayOID)
	for _, e := range p.Extents {
		pc := &p.Partitions[e.Part]
		eTopic.appendUUID(pc.Topic)
		ePart.appendInt4(pc.Partition)
		eBase.appendInt8(e.BaseOffset)
		eEnd.appendInt8(e.EndOffset)
		eOff.appendInt8(e.ByteOffset)
		eLen.appendInt8(e.ByteLength)
		eBatches.appendInt4(e.Batches)
		eTS.appendInt8(e.MaxTimestamp)
	}
	// Every producer whose state changed is saved in its partition's
	// row; the producers a row then holds too many of move to the
	// producers table, upserted over any outdated row they have there.
	var (
		displaced = newProducerColumns(a)
		rows      = newPartitionColumns(a)
		recent    []byte
		notice    []metadata.TopicPartition
		changed   = make([]bool, len(p.Partitions))
	)
	for i := range p.Producers {
		pr := &p.Producers[i]
		if !pr.Dirty {
			continue
		}
		recent = sequencer.AppendRecentCompact(recent[:0], pr.Recent)
		last := int64(-1)
		if n := len(pr.Recent); n > 0 {
			last = pr.Recent[n-1].Base
		}
		r.inRow[pr.Part] = setRowProducer(r.inRow[pr.Part], rowProducer{id: pr.ProducerID, epoch: pr.Epoch, recent: string(recent), last: last})
		changed[pr.Part] = true
	}
	for i := range p.Partitions {
		pc := &p.Partitions[i]
		if !pc.Exists {
			continue
		}
		if pc.Advanced() {
			// The notification names the partitions that got data, so
			// other agents wake only the long polls waiting on them.
			notice = append(notice, metadata.TopicPartition{Topic: pc.Topic, Partition: pc.Partition})
		} else if !changed[i] {
			continue
		}
		var states []byte
		if changed[i] {
			kept, evicted := evictRowProducers(r.inRow[i])
			for _, e := range evicted {
				displaced.add(pc.Topic, pc.Partition, e.id, e.epoch, e.recent)
			}
			states = appendRowProducers(recent[:0], kept)
		}
		rows.add(pc, changed[i], states)
	}

	// The compare-and-set on next_offset, checked in the statement, fails
	// the commit (errPartitionMoved: pipelinedCommit retries it) rather
	// than write overlapping offsets should a writer that does not take
	// the commit locks have moved a partition.
	// producer_states changes only where the commit changed a producer's
	// state (hs).
	queueArrays(batch, `WITH moved AS (UPDATE partitions p SET next_offset = u.next,
			producer_states = CASE WHEN u.hs THEN u.st ELSE p.producer_states END
		FROM unnest($1::uuid[], $2::int[], $3::bigint[], $4::bigint[], $5::bool[], $6::text[]) AS u(topic_id, partition, next, start, hs, st)
		WHERE p.topic_id = u.topic_id AND p.partition = u.partition AND p.next_offset = u.start
		RETURNING 1)
		SELECT `+failUnless(`count(*) = $7`, `($7 - count(*)) || ' of ' || $7 || ' partitions moved during commit'`)+` FROM moved`,
		rows.topic, rows.part, rows.next, rows.start, rows.set, rows.states, int64(rows.topic.n))
	// The file row and its extents in one statement: the CTE's insert
	// runs even when no extent is indexed.
	queueArrays(batch, `WITH f AS (INSERT INTO files(key, size, committed_at) VALUES ($9, $10, now()) RETURNING id)
		INSERT INTO extents(topic_id, partition, base_offset, end_offset, file_id, byte_offset, byte_length, batches, max_timestamp, committed_at)
		SELECT t, p, b, e, f.id, o, l, n, ts, now()
		FROM unnest($1::uuid[], $2::int[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[], $7::int[], $8::bigint[]) AS u(t, p, b, e, o, l, n, ts)
		CROSS JOIN f`,
		eTopic, ePart, eBase, eEnd, eOff, eLen, eBatches, eTS, r.file.Key, r.file.Size)
	if displaced.topic.n > 0 {
		queueArrays(batch, `INSERT INTO producers(topic_id, partition, producer_id, epoch, recent, updated_at)
			SELECT t, p, id, ep, r, now() FROM unnest($1::uuid[], $2::int[], $3::bigint[], $4::smallint[], $5::text[]) AS u(t, p, id, ep, r)
			ON CONFLICT (topic_id, partition, producer_id) DO UPDATE SET epoch = excluded.epoch, recent = excluded.recent, updated_at = excluded.updated_at`,
			displaced.topic, displaced.part, displaced.id, displaced.epoch, displaced.state)
	}
	queueTxnIndexWrites(batch, p, a)
	batch.Queue(`SELECT pg_notify($1, $2)`, commitChannel, metadata.EncodeCommitNotice(notice))
	queueMarkJournal(batch, r.file.Journal)
}

// producerColumns are the column arrays of producer state rows to write.
type producerColumns struct {
	topic, part, id, epoch, state *arrayCol
}

func newProducerColumns(a *colArena) producerColumns {
	return producerColumns{topic: a.col(pgtype.UUIDArrayOID), part: a.col(pgtype.Int4ArrayOID), id: a.col(pgtype.Int8ArrayOID),
		epoch: a.col(pgtype.Int2ArrayOID), state: a.col(pgtype.TextArrayOID)}
}

func (c *producerColumns) add(topic metadata.TopicID, part int32, id int64, epoch int16, recent string) {
	c.topic.appendUUID(topic)
	c.part.appendInt4(part)
	c.id.appendInt8(id)
	c.epoch.appendInt2(epoch)
	c.state.appendText(recent)
}

// partitionColumns are the column arrays of the partitions update: the
// next offset, compared with the start, and where set is, the row's new
// producer_states.
type partitionColumns struct {
	topic, part, next, start, set, states *arrayCol
}

func newPartitionColumns(a *colArena) partitionColumns {
	return partitionColumns{topic: a.col(pgtype.UUIDArrayOID), part: a.col(pgtype.Int4ArrayOID), next: a.col(pgtype.Int8ArrayOID),
		start: a.col(pgtype.Int8ArrayOID), set: a.col(pgtype.BoolArrayOID), states: a.col(pgtype.TextArrayOID)}
}

func (c *partitionColumns) add(pc *sequencer.Partition, set bool, states []byte) {
	c.topic.appendUUID(pc.Topic)
	c.part.appendInt4(pc.Partition)
	c.next.appendInt8(pc.Next)
	c.start.appendInt8(pc.Start)
	c.set.appendBool(set)
	c.states.appendTextBytes(states)
}

// commitLockBuckets is how many commit locks there are: a partition's is
// commitLockBucket's. Commits whose partitions share no bucket run at once;
// a commit takes at most this many locks (PostgreSQL's shared lock table
// holds max_locks_per_transaction × max_connections, 6,400 by default).
const commitLockBuckets = 256

// commitLockClass is the first key of the commit locks (two-int4 advisory
// locks: a space apart from migrationLock's bigint key).
const commitLockClass = 0x73636d74 // "scmt"

// commitLockBucket returns the commit lock of a partition: FNV-1a of the
// topic ID and the partition number, modulo commitLockBuckets. Every
// binary that shares a database must compute the same one
// (commitLockMigration).
func commitLockBucket(k partKey) int32 {
	h := uint32(2166136261)
	for _, c := range k.Topic {
		h = (h ^ uint32(c)) * 16777619
	}
	for sh := 24; sh >= 0; sh -= 8 {
		h = (h ^ uint32(byte(k.Partition>>sh))) * 16777619
	}
	return int32(h % commitLockBuckets)
}

// commitLockMigration changes no table: from it on, commits serialise on
// the commit locks (queueCommitLocks) instead of the partitions rows'
// locks, which older binaries still take, so they refuse the schema.
const commitLockMigration = `COMMENT ON TABLE partitions IS
	'commits hold the advisory lock (0x73636d74, FNV-1a(topic_id, partition) % 256) of each partition they write';`

// queueCommitLocks queues the statement that takes, in ascending order,
// the commit locks of the partitions the plan touches: transaction-level
// advisory locks, one per bucket (commitLockBucket). Every commit of a
// file or group takes them before it reads the partitions it writes, so
// two commits that share a partition run one after the other, and taking
// them in one order across commits cannot deadlock. They replace locking
// the partitions rows (SELECT … FOR UPDATE in key order), which wrote a
// WAL record per row (59 KB for 1,000 partitions) before the update wrote
// another; an advisory lock is in memory only. Every other writer of
// partitions rows takes them too (takeCommitLocks); the next-offset
// compare-and-set stays as the guard against any that does not (an
// older binary, which the migration keeps out; a manual UPDATE).
func queueCommitLocks(batch *pgx.Batch, p *sequencer.Plan, a *colArena) {
	keys := make([]partKey, len(p.Partitions))
	for i := range p.Partitions {
		keys[i] = p.Partitions[i].PartitionKey
	}
	buckets := a.col(pgtype.Int4ArrayOID)
	for _, b := range commitLocks(keys) {
		buckets.appendInt4(b)
	}
	queueArrays(batch, sqlCommitLocks, int32(commitLockClass), buckets)
}

// sqlCommitLocks takes the commit locks $2 (ascending) of class $1.
const sqlCommitLocks = `SELECT count(pg_advisory_xact_lock($1::int, b)) FROM unnest($2::int[]) AS b`

// commitLocks returns the commit locks of partitions keys, ascending.
func commitLocks(keys []partKey) []int32 {
	var seen [commitLockBuckets]bool
	buckets := make([]int32, 0, min(len(keys), commitLockBuckets))
	for _, k := range keys {
		if b := commitLockBucket(k); !seen[b] {
			seen[b] = true
			buckets = append(buckets, b)
		}
	}
	slices.Sort(buckets)
	return buckets
}

// takeCommitLocks takes in tx the commit locks of partitions keys, as
// every other writer of partitions rows (deleting a topic, moving a log
// start, replacing extents) does before it locks them: those writers and
// commits then never hold row locks another waits on in a cycle.
func takeCommitLocks(ctx context.Context, tx pgx.Tx, keys []partKey) error {
	_, err := tx.Exec(ctx, sqlCommitLocks, int32(commitLockClass), commitLocks(keys))
	return err
}

// queueReadPartitions queues the read of the partitions rows the plan
// touches, under the commit locks. With r (one file's commit), it reads
// the producer state each row holds into r.inRow and loads the state of
// the plan's producers from there (r.fromRow). Without (the union read of
// a CommitFiles group), it reads only the next offsets.
func queueReadPartitions(batch *pgx.Batch, p *sequencer.Plan, r *commitRows, a *colArena) {
	topicsArg, partsArg := a.col(pgtype.UUIDArrayOID), a.col(pgtype.Int4ArrayOID)
	for i := range p.Partitions {
		topicsArg.appendUUID(p.Partitions[i].Topic)
		partsArg.appendInt4(p.Partitions[i].Partition)
	}
	statesCol := `p.producer_states`
	if r == nil {
		statesCol = `NULL::text`
	}
	queueArrays(batch, `SELECT p.topic_id, p.partition, p.next_offset, `+statesCol+` FROM partitions p
		JOIN unnest($1::uuid[], $2::int[]) AS k(topic_id, partition) ON p.topic_id = k.topic_id AND p.partition = k.partition`,
		topicsArg, partsArg).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var (
				pk     partKey
				next   int64
				states *string
			)
			if err := rows.Scan((*[16]byte)(&pk.Topic), &pk.Partition, &next, &states); err != nil {
				return fmt.Errorf("read partitions: %w", err)
			}
			i, ok := p.PartitionIndex(pk)
			if !ok {
				return errors.New("read partitions: unexpected row")
			}
			p.Partitions[i].Found(next)
			if r == nil || states == nil {
				continue
			}
			held, err := parseRowProducers(*states)
			if err != nil {
				return fmt.Errorf("read partitions: %w", err)
			}
			r.inRow[i] = held
			for _, h := range held {
				if j, ok := p.ProducerIndex(sequencer.Key{Topic: pk.Topic, Partition: pk.Partition, ProducerID: h.id}); ok {
					if err := p.Producers[j].Load(h.epoch, []byte(h.recent)); err != nil {
						return fmt.Errorf("read partitions: read %w", err)
					}
					r.fromRow[j] = true
				}
			}
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read partitions: %w", err)
		}
		return nil
	})
}

// resolveMissing marks partitions without a row missing, with the error
// their batches get: one more round trip, only when there are any.
func resolveMissing(ctx context.Context, tx *pgx.Conn, p *sequencer.Plan) error {
	var unknown [][16]byte
	for i := range p.Partitions {
		if !p.Partitions[i].Exists {
			unknown = append(unknown, p.Partitions[i].Topic)
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
	for i := range p.Partitions {
		if pc := &p.Partitions[i]; !pc.Exists {
			pc.NotFound(known[pc.Topic])
		}
	}
	return nil
}

// queueReadProducers queues the read of the producers rows of every
// producer the plan names (a partition that does not exist has none). The
// partitions rows are locked and read first, so the state cannot change
// before the transaction ends, and a producer whose state its partition's
// row holds keeps that state: its producers row, if any, is outdated.
func (r *commitRows) queueReadProducers(batch *pgx.Batch, p *sequencer.Plan) {
	if len(p.Producers) == 0 {
		return
	}
	a := r.arena
	topicsArg, partsArg, idsArg := a.col(pgtype.UUIDArrayOID), a.col(pgtype.Int4ArrayOID), a.col(pgtype.Int8ArrayOID)
	for i := range p.Producers {
		pr := &p.Producers[i]
		topicsArg.appendUUID(pr.Topic)
		partsArg.appendInt4(pr.Partition)
		idsArg.appendInt8(pr.ProducerID)
	}
	queueArrays(batch, `SELECT pr.topic_id, pr.partition, pr.producer_id, pr.epoch, pr.recent FROM producers pr
		JOIN unnest($1::uuid[], $2::int[], $3::bigint[]) AS k(topic_id, partition, producer_id)
		ON pr.topic_id = k.topic_id AND pr.partition = k.partition AND pr.producer_id = k.producer_id`,
		topicsArg, partsArg, idsArg).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var (
				k      sequencer.Key
				epoch  int16
				recent []byte
			)
			if err := rows.Scan((*[16]byte)(&k.Topic), &k.Partition, &k.ProducerID, &epoch, &recent); err != nil {
				return fmt.Errorf("read producer state: %w", err)
			}
			i, ok := p.ProducerIndex(k)
			if !ok {
				return errors.New("read producer state: unexpected row")
			}
			if r.fromRow[i] {
				continue
			}
			if err := p.Producers[i].Load(epoch, recent); err != nil {
				return fmt.Errorf("read %w", err)
			}
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read producer state: %w", err)
		}
		return nil
	})
}

// queueReadOpenTxns queues the read of the txn_open rows the plan names.
func queueReadOpenTxns(batch *pgx.Batch, p *sequencer.Plan, a *colArena) {
	if len(p.OpenTxns) == 0 {
		return
	}
	topicsArg, partsArg, idsArg := a.col(pgtype.UUIDArrayOID), a.col(pgtype.Int4ArrayOID), a.col(pgtype.Int8ArrayOID)
	for i := range p.OpenTxns {
		o := &p.OpenTxns[i]
		topicsArg.appendUUID(o.Topic)
		partsArg.appendInt4(o.Partition)
		idsArg.appendInt8(o.ProducerID)
	}
	queueArrays(batch, `SELECT o.topic_id, o.partition, o.producer_id, o.first_offset FROM txn_open o
		JOIN unnest($1::uuid[], $2::int[], $3::bigint[]) AS k(topic_id, partition, producer_id)
		ON o.topic_id = k.topic_id AND o.partition = k.partition AND o.producer_id = k.producer_id`,
		topicsArg, partsArg, idsArg).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var (
				k     sequencer.Key
				first int64
			)
			if err := rows.Scan((*[16]byte)(&k.Topic), &k.Partition, &k.ProducerID, &first); err != nil {
				return fmt.Errorf("read open transactions: %w", err)
			}
			i, ok := p.OpenTxnIndex(k)
			if !ok {
				return errors.New("read open transactions: unexpected row")
			}
			p.OpenTxns[i].Load(first)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read open transactions: %w", err)
		}
		return nil
	})
}

// queueTxnIndexWrites queues the set-based writes of the open
// transactions and aborted ranges.
func queueTxnIndexWrites(batch *pgx.Batch, p *sequencer.Plan, a *colArena) {
	if len(p.OpenTxns) > 0 {
		upT, upP, upID, upFirst := a.col(pgtype.UUIDArrayOID), a.col(pgtype.Int4ArrayOID), a.col(pgtype.Int8ArrayOID), a.col(pgtype.Int8ArrayOID)
		delT, delP, delID := a.col(pgtype.UUIDArrayOID), a.col(pgtype.Int4ArrayOID), a.col(pgtype.Int8ArrayOID)
		for i := range p.OpenTxns {
			switch o := &p.OpenTxns[i]; {
			case o.Upsert():
				upT.appendUUID(o.Topic)
				upP.appendInt4(o.Partition)
				upID.appendInt8(o.ProducerID)
				upFirst.appendInt8(o.First)
			case o.Delete():
				delT.appendUUID(o.Topic)
				delP.appendInt4(o.Partition)
				delID.appendInt8(o.ProducerID)
			}
		}
		if upT.n > 0 {
			queueArrays(batch, `INSERT INTO txn_open(topic_id, partition, producer_id, first_offset)
			SELECT * FROM unnest($1::uuid[], $2::int[], $3::bigint[], $4::bigint[])
			ON CONFLICT (topic_id, partition, producer_id) DO UPDATE SET first_offset = excluded.first_offset`,
				upT, upP, upID, upFirst)
		}
		if delT.n > 0 {
			queueArrays(batch, `DELETE FROM txn_open o USING unnest($1::uuid[], $2::int[], $3::bigint[]) AS k(topic_id, partition, producer_id)
			WHERE o.topic_id = k.topic_id AND o.partition = k.partition AND o.producer_id = k.producer_id`,
				delT, delP, delID)
		}
	}
	if len(p.Aborted) > 0 {
		abT, abP, ab, abID, abFirst := a.col(pgtype.UUIDArrayOID), a.col(pgtype.Int4ArrayOID), a.col(pgtype.Int8ArrayOID), a.col(pgtype.Int8ArrayOID), a.col(pgtype.Int8ArrayOID)
		for i := range p.Aborted {
			ar := &p.Aborted[i]
			abT.appendUUID(ar.Topic)
			abP.appendInt4(ar.Partition)
			ab.appendInt8(ar.Last)
			abID.appendInt8(ar.ProducerID)
			abFirst.appendInt8(ar.First)
		}
		queueArrays(batch, `INSERT INTO txn_aborted(topic_id, partition, last_offset, producer_id, first_offset)
			SELECT * FROM unnest($1::uuid[], $2::int[], $3::bigint[], $4::bigint[], $5::bigint[])`,
			abT, abP, ab, abID, abFirst)
	}
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
