// Package postgres is the metadata backend for clusters: every agent of a
// cluster connects to one PostgreSQL database (13 or later, or anything
// speaking its protocol and SQL) through jackc/pgx.
//
// Concurrency. Agents commit files at the same time. CommitFile takes the
// commit locks of the partitions it touches (transaction-level advisory
// locks, one per bucket of partitions, in ascending order so two commits
// never deadlock; queueCommitLocks), and only then reads the next offsets
// and the producers' sequence state; offsets of one partition are
// therefore assigned by one transaction at a time, in commit order, with
// no gaps, and a compare-and-set of each next offset guards against any
// writer that does not take them. Group ownership is fenced by the owner epoch, checked under a row
// lock in the same transaction as the write. Agents' heartbeats and
// liveness use the database clock only, so agents' clock skew never matters.
//
// Schema. Migrations are numbered and applied on Open inside one
// transaction that holds a transaction-scoped advisory lock, so agents that
// start together apply them once, in order; an agent whose binary is older
// than the schema refuses to start.
//
// Notifications. Every commit sends NOTIFY sluice_commits in its
// transaction; WatchCommits LISTENs on a dedicated connection so an agent's
// long-polling fetches wake up when any agent commits.
package postgres

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/metadata/rowscan"
	"github.com/sluicehq/sluice/internal/metadata/sequencer"
)

// migrations are applied in order; schema_version records how many ran.
// Never edit a released migration: append a new one.
var migrations = []string{
	`CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL);
	CREATE TABLE topics (
		id uuid PRIMARY KEY,
		name text NOT NULL UNIQUE,
		partitions integer NOT NULL,
		configs jsonb NOT NULL,
		created_at timestamptz NOT NULL);
	CREATE TABLE partitions (
		topic_id uuid NOT NULL,
		partition integer NOT NULL,
		log_start bigint NOT NULL DEFAULT 0,
		next_offset bigint NOT NULL DEFAULT 0,
		PRIMARY KEY (topic_id, partition));
	CREATE TABLE files (
		id bigserial PRIMARY KEY,
		key text NOT NULL UNIQUE,
		size bigint NOT NULL,
		committed_at timestamptz NOT NULL);
	CREATE TABLE extents (
		topic_id uuid NOT NULL,
		partition integer NOT NULL,
		base_offset bigint NOT NULL,
		end_offset bigint NOT NULL,
		file_id bigint NOT NULL REFERENCES files(id),
		byte_offset bigint NOT NULL,
		byte_length bigint NOT NULL,
		batches integer NOT NULL,
		max_timestamp bigint NOT NULL,
		committed_at timestamptz NOT NULL,
		PRIMARY KEY (topic_id, partition, base_offset));
	CREATE INDEX extents_file ON extents (file_id);
	CREATE TABLE agents (
		node_id integer PRIMARY KEY,
		host text NOT NULL,
		port integer NOT NULL,
		zone text NOT NULL,
		instance text NOT NULL,
		heartbeat_at timestamptz NOT NULL);
	CREATE TABLE groups (
		name text PRIMARY KEY,
		owner_epoch bigint NOT NULL,
		generation integer NOT NULL,
		protocol_type text NOT NULL,
		protocol text NOT NULL,
		state text NOT NULL,
		snapshot bytea,
		updated_at timestamptz NOT NULL);
	CREATE TABLE group_offsets (
		group_name text NOT NULL,
		topic text NOT NULL,
		partition integer NOT NULL,
		committed_offset bigint NOT NULL,
		leader_epoch integer NOT NULL,
		metadata text NOT NULL,
		committed_at timestamptz NOT NULL,
		PRIMARY KEY (group_name, topic, partition));
	CREATE INDEX group_offsets_topic ON group_offsets (topic);
	CREATE TABLE producers (
		topic_id uuid NOT NULL,
		partition integer NOT NULL,
		producer_id bigint NOT NULL,
		epoch smallint NOT NULL,
		recent jsonb NOT NULL,
		updated_at timestamptz NOT NULL,
		PRIMARY KEY (topic_id, partition, producer_id));
	CREATE SEQUENCE producer_ids START WITH 1000;`,
	// Zone peer cache: the address peers fetch cached blocks from.
	`ALTER TABLE agents ADD COLUMN peer_addr text NOT NULL DEFAULT '';`,
	// Storage lifecycle (internal/jobs): leases for background jobs and the
	// time a file stopped being referenced.
	`CREATE TABLE leases (
		name text PRIMARY KEY,
		holder text NOT NULL,
		epoch bigint NOT NULL,
		expires_at timestamptz NOT NULL);
	ALTER TABLE files ADD COLUMN released_at timestamptz;
	CREATE INDEX files_released ON files (released_at) WHERE released_at IS NOT NULL;`,
	txnMigration,
	aclMigration,
	schemaRegistryMigration,
	securityMigration,
	// Agent roles and agent groups (--roles, --agent-group).
	`ALTER TABLE agents ADD COLUMN roles text NOT NULL DEFAULT '';
	ALTER TABLE agents ADD COLUMN agent_group text NOT NULL DEFAULT '';`,
	dynconfigMigration,
	commitCostMigration,
	recentCompactMigration,
	journalMarksMigration,
	producerInRowMigration,
	commitLockMigration,
}

// migrationLock is the advisory lock key that serialises migrations
// ("sluice" in ASCII).
const migrationLock = 0x736c75696365

// commitChannel is the NOTIFY channel commits are announced on.
const commitChannel = "sluice_commits"

// defaultOpTimeout bounds a store call whose context has no deadline, so a
// database that stops answering (rather than refusing connections) turns
// into errors instead of hung producers.
const defaultOpTimeout = 30 * time.Second

// Store is the PostgreSQL metadata backend. It is safe for concurrent use
// by one agent, and any number of agents may share the database.
type Store struct {
	pool *pgxpool.Pool
	// connCfg opens the dedicated LISTEN connection of WatchCommits.
	connCfg *pgx.ConnConfig
	// txnWrites implements SaveTransaction, CompleteTransaction and
	// StageTxnOffsets over txnRows in transactions of inTx (inTxnTx).
	txnWrites

	// commitRetries counts the commit attempts pipelinedCommit retried.
	commitRetries atomic.Int64
	// beforeCommitWrite, when set (tests only), runs before a CommitFile
	// attempt sends its writes.
	beforeCommitWrite func()
}

type txnWrites = sequencer.TxnWrites

var (
	_ metadata.Store         = (*Store)(nil)
	_ metadata.CommitWatcher = (*Store)(nil)
)

// DefaultMaxConns is the connection pool's size unless the URL sets
// pool_max_conns. pgx's own default, max(4, CPUs), is 4 on a 2-CPU
// agent: in a five-minute chaos run 41-75% of the busy agents' acquires
// found every connection taken (with 16: 0.4-1.3%). Every agent opens up
// to this many plus one LISTEN connection; PostgreSQL's max_connections
// (100 by default) must cover all agents.
const DefaultMaxConns = 16

// Open connects to the database at url (postgres://user:pass@host/db?…, any
// libpq-style option pgx understands, including pool_max_conns) and applies
// pending migrations.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: bad URL: %w", err)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = DefaultMaxConns
	}
	// Connections are checked before use after an idle spell, so a database
	// restart costs a failed ping, not a failed commit.
	cfg.MaxConnIdleTime = time.Minute
	cfg.HealthCheckPeriod = 10 * time.Second
	cfg.ConnConfig.Tracer = tracer{}
	// Commits send their column arrays pre-encoded (arrayCol), in
	// buffers each connection reuses.
	cfg.AfterConnect, cfg.BeforeClose = afterConnect, beforeClose
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	s := &Store{pool: pool, connCfg: cfg.ConnConfig.Copy()}
	s.txnWrites = txnWrites{InTx: s.inTxnTx, Now: time.Now}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	pools.add(pool)
	return s, nil
}

// migrate applies pending migrations under the advisory lock. The lock is
// transaction-scoped, so a crash mid-migration releases it with the
// rollback.
func (s *Store) migrate(ctx context.Context) error {
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrationLock)); err != nil {
		return fmt.Errorf("postgres: migration lock: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)`); err != nil {
		return fmt.Errorf("postgres: schema_version table: %w", err)
	}
	var version int
	err = tx.QueryRow(ctx, `SELECT version FROM schema_version`).Scan(&version)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		if _, err := tx.Exec(ctx, `INSERT INTO schema_version(version) VALUES (0)`); err != nil {
			return err
		}
	case err != nil:
		return fmt.Errorf("postgres: read schema version: %w", err)
	}
	if version > len(migrations) {
		return fmt.Errorf("postgres: database schema version %d is newer than this binary (%d)", version, len(migrations))
	}
	for i := version; i < len(migrations); i++ {
		if _, err := tx.Exec(ctx, migrations[i]); err != nil {
			return fmt.Errorf("postgres: migration %d: %w", i+1, err)
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE schema_version SET version = $1`, len(migrations)); err != nil {
		return err
	}
	var id [16]byte
	rand.Read(id[:])
	if _, err := tx.Exec(ctx, `INSERT INTO meta(key, value) VALUES ('cluster_id', $1) ON CONFLICT (key) DO NOTHING`,
		base64.RawURLEncoding.EncodeToString(id[:])); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// opContext applies defaultOpTimeout to contexts without a deadline.
func (s *Store) opContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, defaultOpTimeout)
}

// inTx runs fn in a transaction, retrying it a few times when PostgreSQL
// aborts it as a deadlock or serialization failure (which the lock order
// should prevent, but a retry is cheap insurance).
func (s *Store) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		err = pgx.BeginFunc(ctx, s.pool, fn)
		if !retryable(err) {
			return err
		}
	}
	return err
}

func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// queryAll runs a query and scans every row of its result.
func queryAll[T any](ctx context.Context, s *Store, scan func(rowscan.Scanner) (T, error), query string, args ...any) ([]T, error) {
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return rowscan.Collect(rows, scan)
}

// Close closes the connection pool.
func (s *Store) Close() error {
	pools.remove(s.pool)
	s.pool.Close()
	return nil
}

// ClusterID implements metadata.Store.
func (s *Store) ClusterID(ctx context.Context) (string, error) {
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	var id string
	err := s.pool.QueryRow(ctx, `SELECT value FROM meta WHERE key = 'cluster_id'`).Scan(&id)
	return id, err
}

// CreateTopic implements metadata.Topics.
func (s *Store) CreateTopic(ctx context.Context, name string, partitions int32, configs map[string]string) (metadata.Topic, error) {
	res, err := s.CreateTopics(ctx, []metadata.TopicSpec{{Name: name, Partitions: partitions, Configs: configs}})
	if err != nil {
		return metadata.Topic{}, err
	}
	return res[0].Topic, res[0].Err
}

// CreateTopics implements metadata.Topics with two statements for any
// number of topics: the topics (a name that exists is skipped by its
// unique index) and the partitions of those inserted.
func (s *Store) CreateTopics(ctx context.Context, specs []metadata.TopicSpec) ([]metadata.TopicResult, error) {
	ids := make([][16]byte, len(specs))
	names := make([]string, len(specs))
	parts := make([]int32, len(specs))
	cfgs := make([]string, len(specs))
	for i, sp := range specs {
		rand.Read(ids[i][:])
		names[i], parts[i] = sp.Name, sp.Partitions
		c := sp.Configs
		if c == nil {
			c = map[string]string{}
		}
		b, err := json.Marshal(c)
		if err != nil {
			return nil, err
		}
		cfgs[i] = string(b)
	}
	var res []metadata.TopicResult
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		res = make([]metadata.TopicResult, len(specs))
		created := make(map[[16]byte]time.Time, len(specs))
		rows, err := tx.Query(ctx, `INSERT INTO topics(id, name, partitions, configs, created_at)
			SELECT id, name, partitions, configs::jsonb, date_trunc('milliseconds', now())
			FROM unnest($1::uuid[], $2::text[], $3::integer[], $4::text[]) AS t(id, name, partitions, configs)
			ON CONFLICT (name) DO NOTHING RETURNING id, created_at`, ids, names, parts, cfgs)
		if err != nil {
			return err
		}
		for rows.Next() {
			var (
				id [16]byte
				at time.Time
			)
			if err := rows.Scan(&id, &at); err != nil {
				rows.Close()
				return err
			}
			created[id] = at.UTC()
		}
		if err := rows.Err(); err != nil {
			return err
		}
		newIDs := make([][16]byte, 0, len(created))
		newParts := make([]int32, 0, len(created))
		for i, sp := range specs {
			at, ok := created[ids[i]]
			if !ok {
				res[i].Err = fmt.Errorf("%w: %s", metadata.ErrTopicExists, sp.Name)
				continue
			}
			c := sp.Configs
			if c == nil {
				c = map[string]string{}
			}
			res[i].Topic = metadata.Topic{ID: metadata.TopicID(ids[i]), Name: sp.Name, Partitions: sp.Partitions, Configs: c, CreatedAt: at}
			newIDs, newParts = append(newIDs, ids[i]), append(newParts, sp.Partitions)
		}
		if len(newIDs) == 0 {
			return nil
		}
		_, err = tx.Exec(ctx, `INSERT INTO partitions(topic_id, partition)
			SELECT t.id, p FROM unnest($1::uuid[], $2::integer[]) AS t(id, n), generate_series(0, t.n - 1) AS p`, newIDs, newParts)
		return err
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// DeleteTopic implements metadata.Topics. It takes the commit locks of the
// topic's partitions first (as CommitFile does), so a commit in flight
// either finishes before the delete, whose statements then remove its
// extents, or finds the partitions gone.
func (s *Store) DeleteTopic(ctx context.Context, name string) (metadata.Topic, error) {
	var t metadata.Topic
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		t, err = scanTopic(tx.QueryRow(ctx, topicSelect+` WHERE name = $1 FOR UPDATE`, name))
		if err != nil {
			return err
		}
		id := [16]byte(t.ID)
		keys := make([]partKey, t.Partitions)
		for i := range keys {
			keys[i] = partKey{Topic: t.ID, Partition: int32(i)}
		}
		if err := takeCommitLocks(ctx, tx, keys); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SELECT 1 FROM partitions WHERE topic_id = $1 ORDER BY partition FOR UPDATE`, id); err != nil {
			return err
		}
		for _, q := range []string{
			`DELETE FROM partitions WHERE topic_id = $1`,
			`DELETE FROM extents WHERE topic_id = $1`,
			`DELETE FROM producers WHERE topic_id = $1`,
			`DELETE FROM txn_open WHERE topic_id = $1`,
			`DELETE FROM txn_aborted WHERE topic_id = $1`,
			`DELETE FROM topics WHERE id = $1`,
		} {
			if _, err := tx.Exec(ctx, q, id); err != nil {
				return err
			}
		}
		// As in Kafka, committed offsets of a deleted topic go with it.
		_, err = tx.Exec(ctx, `DELETE FROM group_offsets WHERE topic = $1`, name)
		return err
	})
	return t, err
}

const topicSelect = `SELECT id, name, partitions, configs, created_at FROM topics`

func scanTopic(row rowscan.Scanner) (metadata.Topic, error) {
	var t metadata.Topic
	if err := row.Scan((*[16]byte)(&t.ID), &t.Name, &t.Partitions, &t.Configs, &t.CreatedAt); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return metadata.Topic{}, metadata.ErrUnknownTopic
		}
		return metadata.Topic{}, err
	}
	if t.Configs == nil {
		t.Configs = map[string]string{}
	}
	t.CreatedAt = t.CreatedAt.UTC()
	return t, nil
}

// Topic implements metadata.Topics.
func (s *Store) Topic(ctx context.Context, name string) (metadata.Topic, error) {
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	return scanTopic(s.pool.QueryRow(ctx, topicSelect+` WHERE name = $1`, name))
}

// TopicsByName implements metadata.Topics: one statement for all names.
func (s *Store) TopicsByName(ctx context.Context, names []string) (map[string]metadata.Topic, error) {
	out := make(map[string]metadata.Topic, len(names))
	if len(names) == 0 {
		return out, nil
	}
	list, err := queryAll(ctx, s, scanTopic, topicSelect+` WHERE name = ANY($1::text[])`, names)
	if err != nil {
		return nil, fmt.Errorf("postgres: topics by name: %w", err)
	}
	for _, t := range list {
		out[t.Name] = t
	}
	return out, nil
}

// TopicByID implements metadata.Topics.
func (s *Store) TopicByID(ctx context.Context, id metadata.TopicID) (metadata.Topic, error) {
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	return scanTopic(s.pool.QueryRow(ctx, topicSelect+` WHERE id = $1`, [16]byte(id)))
}

// ListTopics implements metadata.Topics.
func (s *Store) ListTopics(ctx context.Context) ([]metadata.Topic, error) {
	return queryAll(ctx, s, scanTopic, topicSelect+` ORDER BY name`)
}

// PartitionState implements metadata.Log.
func (s *Store) PartitionState(ctx context.Context, topic metadata.TopicID, partition int32) (metadata.PartitionState, error) {
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	var st metadata.PartitionState
	err := s.pool.QueryRow(ctx, `SELECT log_start, next_offset FROM partitions WHERE topic_id = $1 AND partition = $2`,
		[16]byte(topic), partition).Scan(&st.LogStartOffset, &st.HighWatermark)
	if errors.Is(err, pgx.ErrNoRows) {
		return st, fmt.Errorf("%w: %s/%d", metadata.ErrUnknownPartition, topic, partition)
	}
	return st, err
}

const extentSelect = `SELECT e.topic_id, e.partition, e.base_offset, e.end_offset, f.key, e.byte_offset, e.byte_length, e.max_timestamp, e.committed_at, f.size
	FROM extents e JOIN files f ON f.id = e.file_id`

func scanExtent(row rowscan.Scanner) (metadata.Extent, error) {
	var e metadata.Extent
	if err := row.Scan((*[16]byte)(&e.TopicID), &e.Partition, &e.BaseOffset, &e.EndOffset, &e.FileKey, &e.ByteOffset, &e.ByteLength, &e.MaxTimestamp, &e.CommittedAt, &e.FileSize); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return e, metadata.ErrNotFound
		}
		return e, err
	}
	e.CommittedAt = e.CommittedAt.UTC()
	return e, nil
}

// Extents implements metadata.Log.
func (s *Store) Extents(ctx context.Context, topic metadata.TopicID, partition int32, from int64, limit int) ([]metadata.Extent, error) {
	out, err := queryAll(ctx, s, scanExtent, extentSelect+`
		WHERE e.topic_id = $1 AND e.partition = $2 AND e.base_offset >= coalesce(
			(SELECT max(base_offset) FROM extents WHERE topic_id = $1 AND partition = $2 AND base_offset <= $3), 0)
		ORDER BY e.base_offset LIMIT $4`, [16]byte(topic), partition, from, limit)
	return sequencer.ExtentsFrom(out, from), err
}

// ExtentAtTimestamp implements metadata.Log.
func (s *Store) ExtentAtTimestamp(ctx context.Context, topic metadata.TopicID, partition int32, ts int64) (metadata.Extent, error) {
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	return scanExtent(s.pool.QueryRow(ctx, extentSelect+`
		WHERE e.topic_id = $1 AND e.partition = $2 AND e.max_timestamp >= $3
		ORDER BY e.base_offset LIMIT 1`, [16]byte(topic), partition, ts))
}
