package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

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
// whatever the number of partitions: BEGIN, the lock of the touched
// partitions rows in key order and the reads of the producers' state and
// open transactions travel in one pipelined batch; the file is sequenced
// (sequencer.Commit); the file, the extents, the new next offsets,
// producer state, the transaction index, the commit notification and
// COMMIT travel in a second. A partition that does not exist costs one
// more round trip, and each transactional producer one, for its
// transaction; a commit that appends nothing ends with a ROLLBACK.
func (s *Store) CommitFile(ctx context.Context, c metadata.FileCommit) ([]metadata.BatchResult, error) {
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	var (
		results []metadata.BatchResult
		err     error
	)
	// Retried as inTx retries: deadlocks and serialization failures,
	// which the lock order should prevent.
	for attempt := 0; attempt < 5; attempt++ {
		if results, err = s.commitFile(ctx, c); !retryable(err) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: commit file %s: %w", c.Key, err)
	}
	return results, nil
}

// commitFile is one attempt at CommitFile on one pooled connection. The
// transaction is opened and committed by statements in its pipelined
// batches rather than by pgx.Tx, which would cost a round trip each.
func (s *Store) commitFile(ctx context.Context, c metadata.FileCommit) ([]metadata.BatchResult, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	// Release destroys a connection still in a transaction, which it is
	// only if the ROLLBACK below failed.
	defer conn.Release()
	results, err := sequencer.Commit(ctx, &commitRows{conn: conn.Conn(), file: c}, c)
	if conn.Conn().PgConn().TxStatus() != 'I' {
		// A failed commit, or one that appended nothing (the write batch
		// and its COMMIT were never sent): nothing was written. The
		// context may be done, so the ROLLBACK gets its own deadline.
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		_, _ = conn.Exec(rctx, `ROLLBACK`)
		rcancel()
	}
	return results, err
}

// commitRows is PostgreSQL's side of one CommitFile
// (sequencer.CommitRows), on the connection that runs its transaction.
type commitRows struct {
	conn *pgx.Conn
	file metadata.FileCommit
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
	reads.Queue(`BEGIN`)
	// The commit's statements take column arrays, whose lengths a custom
	// plan would be made for: PostgreSQL replanned each of them on every
	// commit, which cost more than executing them for small flushes. The
	// generic plan (an index lookup per array element) is the right one
	// for every length.
	reads.Queue(`SET LOCAL plan_cache_mode = force_generic_plan`)
	r.inRow = make([][]rowProducer, len(p.Partitions))
	r.fromRow = make([]bool, len(p.Producers))
	r.queueLockPartitions(reads, p)
	r.queueReadProducers(reads, p)
	queueReadOpenTxns(reads, p)
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
// column arrays, in one pipelined round trip that ends with COMMIT.
func (r *commitRows) Write(ctx context.Context, p *sequencer.Plan) error {
	var (
		eTopic          [][16]byte
		ePart, eBatches []int32
		eBase, eEnd     []int64
		eOff, eLen, eTS []int64
	)
	for _, e := range p.Extents {
		pc := &p.Partitions[e.Part]
		eTopic, ePart = append(eTopic, pc.Topic), append(ePart, pc.Partition)
		eBase, eEnd, eOff, eLen = append(eBase, e.BaseOffset), append(eEnd, e.EndOffset), append(eOff, e.ByteOffset), append(eLen, e.ByteLength)
		eBatches, eTS = append(eBatches, e.Batches), append(eTS, e.MaxTimestamp)
	}
	// Every producer whose state changed is saved in its partition's
	// row; the producers a row then holds too many of move to the
	// producers table, upserted over any outdated row they have there.
	var (
		displaced producerColumns
		rows      partitionColumns
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
		rows.add(pc, changed[i], string(states))
	}

	batch := &pgx.Batch{}
	// The compare-and-set on next_offset, checked in the statement, fails
	// the commit loudly rather than write overlapping offsets should
	// anything have moved a partition despite the row lock.
	// producer_states changes only where the commit changed a producer's
	// state (hs).
	batch.Queue(`WITH moved AS (UPDATE partitions p SET next_offset = u.next,
			producer_states = CASE WHEN u.hs THEN u.st ELSE p.producer_states END
		FROM unnest($1::uuid[], $2::int[], $3::bigint[], $4::bigint[], $5::bool[], $6::text[]) AS u(topic_id, partition, next, start, hs, st)
		WHERE p.topic_id = u.topic_id AND p.partition = u.partition AND p.next_offset = u.start
		RETURNING 1)
		SELECT `+failUnless(`count(*) = $7`, `($7 - count(*)) || ' of ' || $7 || ' partitions moved during commit'`)+` FROM moved`,
		rows.topic, rows.part, rows.next, rows.start, rows.set, rows.states, int64(len(rows.topic)))
	// The file row and its extents in one statement: the CTE's insert
	// runs even when no extent is indexed.
	batch.Queue(`WITH f AS (INSERT INTO files(key, size, committed_at) VALUES ($9, $10, now()) RETURNING id)
		INSERT INTO extents(topic_id, partition, base_offset, end_offset, file_id, byte_offset, byte_length, batches, max_timestamp, committed_at)
		SELECT t, p, b, e, f.id, o, l, n, ts, now()
		FROM unnest($1::uuid[], $2::int[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[], $7::int[], $8::bigint[]) AS u(t, p, b, e, o, l, n, ts)
		CROSS JOIN f`,
		eTopic, ePart, eBase, eEnd, eOff, eLen, eBatches, eTS, r.file.Key, r.file.Size)
	if len(displaced.topic) > 0 {
		batch.Queue(`INSERT INTO producers(topic_id, partition, producer_id, epoch, recent, updated_at)
			SELECT t, p, id, ep, r, now() FROM unnest($1::uuid[], $2::int[], $3::bigint[], $4::smallint[], $5::text[]) AS u(t, p, id, ep, r)
			ON CONFLICT (topic_id, partition, producer_id) DO UPDATE SET epoch = excluded.epoch, recent = excluded.recent, updated_at = excluded.updated_at`,
			displaced.topic, displaced.part, displaced.id, displaced.epoch, displaced.state)
	}
	queueTxnIndexWrites(batch, p)
	batch.Queue(`SELECT pg_notify($1, $2)`, commitChannel, metadata.EncodeCommitNotice(notice))
	queueMarkJournal(batch, r.file.Journal)
	batch.Queue(`COMMIT`)
	if err := r.conn.SendBatch(ctx, batch).Close(); err != nil {
		if isUniqueViolation(err) && strings.Contains(err.Error(), "files_key") {
			return fmt.Errorf("write commit: %w", metadata.ErrFileCommitted)
		}
		return fmt.Errorf("write commit: %w", checkFailure(err))
	}
	return nil
}

// producerColumns are the column arrays of producer state rows to write.
type producerColumns struct {
	topic [][16]byte
	part  []int32
	id    []int64
	epoch []int16
	state []string
}

func (c *producerColumns) add(topic metadata.TopicID, part int32, id int64, epoch int16, recent string) {
	c.topic, c.part, c.id = append(c.topic, topic), append(c.part, part), append(c.id, id)
	c.epoch, c.state = append(c.epoch, epoch), append(c.state, recent)
}

// partitionColumns are the column arrays of the partitions update: the
// next offset, compared with the start, and where set is, the row's new
// producer_states.
type partitionColumns struct {
	topic       [][16]byte
	part        []int32
	next, start []int64
	set         []bool
	states      []string
}

func (c *partitionColumns) add(pc *sequencer.Partition, set bool, states string) {
	c.topic, c.part, c.next, c.start = append(c.topic, pc.Topic), append(c.part, pc.Partition), append(c.next, pc.Next), append(c.start, pc.Start)
	c.set, c.states = append(c.set, set), append(c.states, states)
}

// queueLockPartitions queues the locking read of the partitions rows the
// plan touches, in key order, with the producer state each holds: the
// state of a producer of the plan is loaded from there.
func (r *commitRows) queueLockPartitions(batch *pgx.Batch, p *sequencer.Plan) {
	keys := make([]partKey, len(p.Partitions))
	for i := range p.Partitions {
		keys[i] = p.Partitions[i].PartitionKey
	}
	sort.Slice(keys, func(i, j int) bool { return partLess(keys[i], keys[j]) })
	topicsArg := make([][16]byte, len(keys))
	partsArg := make([]int32, len(keys))
	for i, k := range keys {
		topicsArg[i], partsArg[i] = k.Topic, k.Partition
	}
	// Rows are locked as the sorted result is produced, so every commit
	// takes its locks in the same global order.
	batch.Queue(`SELECT p.topic_id, p.partition, p.next_offset, p.producer_states FROM partitions p
		JOIN unnest($1::uuid[], $2::int[]) AS k(topic_id, partition) ON p.topic_id = k.topic_id AND p.partition = k.partition
		ORDER BY p.topic_id, p.partition FOR UPDATE OF p`, topicsArg, partsArg).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var (
				pk     partKey
				next   int64
				states *string
			)
			if err := rows.Scan((*[16]byte)(&pk.Topic), &pk.Partition, &next, &states); err != nil {
				return fmt.Errorf("lock partitions: %w", err)
			}
			i, ok := p.PartitionIndex(pk)
			if !ok {
				return errors.New("lock partitions: unexpected row")
			}
			p.Partitions[i].Found(next)
			if states == nil {
				continue
			}
			held, err := parseRowProducers(*states)
			if err != nil {
				return fmt.Errorf("lock partitions: %w", err)
			}
			r.inRow[i] = held
			for _, h := range held {
				if j, ok := p.ProducerIndex(sequencer.Key{Topic: pk.Topic, Partition: pk.Partition, ProducerID: h.id}); ok {
					if err := p.Producers[j].Load(h.epoch, []byte(h.recent)); err != nil {
						return fmt.Errorf("lock partitions: read %w", err)
					}
					r.fromRow[j] = true
				}
			}
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("lock partitions: %w", err)
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
	topicsArg := make([][16]byte, len(p.Producers))
	partsArg := make([]int32, len(p.Producers))
	idsArg := make([]int64, len(p.Producers))
	for i, pr := range p.Producers {
		topicsArg[i], partsArg[i], idsArg[i] = pr.Topic, pr.Partition, pr.ProducerID
	}
	batch.Queue(`SELECT pr.topic_id, pr.partition, pr.producer_id, pr.epoch, pr.recent FROM producers pr
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
func queueReadOpenTxns(batch *pgx.Batch, p *sequencer.Plan) {
	if len(p.OpenTxns) == 0 {
		return
	}
	topicsArg := make([][16]byte, len(p.OpenTxns))
	partsArg := make([]int32, len(p.OpenTxns))
	idsArg := make([]int64, len(p.OpenTxns))
	for i, o := range p.OpenTxns {
		topicsArg[i], partsArg[i], idsArg[i] = o.Topic, o.Partition, o.ProducerID
	}
	batch.Queue(`SELECT o.topic_id, o.partition, o.producer_id, o.first_offset FROM txn_open o
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
func queueTxnIndexWrites(batch *pgx.Batch, p *sequencer.Plan) {
	var (
		upT, delT, abT       [][16]byte
		upP, delP, abP       []int32
		upID, delID, abID    []int64
		upFirst, abFirst, ab []int64
	)
	for _, o := range p.OpenTxns {
		switch {
		case o.Upsert():
			upT, upP, upID, upFirst = append(upT, o.Topic), append(upP, o.Partition), append(upID, o.ProducerID), append(upFirst, o.First)
		case o.Delete():
			delT, delP, delID = append(delT, o.Topic), append(delP, o.Partition), append(delID, o.ProducerID)
		}
	}
	for _, a := range p.Aborted {
		abT, abP, abID = append(abT, a.Topic), append(abP, a.Partition), append(abID, a.ProducerID)
		abFirst, ab = append(abFirst, a.First), append(ab, a.Last)
	}
	if len(upT) > 0 {
		batch.Queue(`INSERT INTO txn_open(topic_id, partition, producer_id, first_offset)
			SELECT * FROM unnest($1::uuid[], $2::int[], $3::bigint[], $4::bigint[])
			ON CONFLICT (topic_id, partition, producer_id) DO UPDATE SET first_offset = excluded.first_offset`,
			upT, upP, upID, upFirst)
	}
	if len(delT) > 0 {
		batch.Queue(`DELETE FROM txn_open o USING unnest($1::uuid[], $2::int[], $3::bigint[]) AS k(topic_id, partition, producer_id)
			WHERE o.topic_id = k.topic_id AND o.partition = k.partition AND o.producer_id = k.producer_id`,
			delT, delP, delID)
	}
	if len(abT) > 0 {
		batch.Queue(`INSERT INTO txn_aborted(topic_id, partition, last_offset, producer_id, first_offset)
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
