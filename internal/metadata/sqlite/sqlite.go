// Package sqlite is the embedded metadata backend: one SQLite database file
// (modernc.org/sqlite, no cgo) in WAL mode with full fsync on commit. It
// serves one agent process; clusters use the PostgreSQL backend.
package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/metadata/rowscan"
	"github.com/sluicehq/sluice/internal/metadata/sequencer"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// migrations are applied in order; PRAGMA user_version records how many ran.
// Never edit a released migration: append a new one.
var migrations = []string{
	`CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
	CREATE TABLE topics (
		id BLOB PRIMARY KEY,
		name TEXT NOT NULL UNIQUE,
		partitions INTEGER NOT NULL,
		configs TEXT NOT NULL,
		created_at INTEGER NOT NULL);
	CREATE TABLE partitions (
		topic_id BLOB NOT NULL,
		partition INTEGER NOT NULL,
		log_start INTEGER NOT NULL DEFAULT 0,
		next_offset INTEGER NOT NULL DEFAULT 0,
		PRIMARY KEY (topic_id, partition)) WITHOUT ROWID;
	CREATE TABLE files (
		id INTEGER PRIMARY KEY,
		key TEXT NOT NULL UNIQUE,
		size INTEGER NOT NULL,
		committed_at INTEGER NOT NULL);
	CREATE TABLE extents (
		topic_id BLOB NOT NULL,
		partition INTEGER NOT NULL,
		base_offset INTEGER NOT NULL,
		end_offset INTEGER NOT NULL,
		file_id INTEGER NOT NULL REFERENCES files(id),
		byte_offset INTEGER NOT NULL,
		byte_length INTEGER NOT NULL,
		batches INTEGER NOT NULL,
		max_timestamp INTEGER NOT NULL,
		committed_at INTEGER NOT NULL,
		PRIMARY KEY (topic_id, partition, base_offset)) WITHOUT ROWID;`,
	`CREATE TABLE agents (
		node_id INTEGER PRIMARY KEY,
		host TEXT NOT NULL,
		port INTEGER NOT NULL,
		zone TEXT NOT NULL,
		instance TEXT NOT NULL,
		heartbeat_at INTEGER NOT NULL);
	CREATE TABLE groups (
		name TEXT PRIMARY KEY,
		owner_epoch INTEGER NOT NULL,
		generation INTEGER NOT NULL,
		protocol_type TEXT NOT NULL,
		protocol TEXT NOT NULL,
		state TEXT NOT NULL,
		snapshot BLOB,
		updated_at INTEGER NOT NULL);
	CREATE TABLE group_offsets (
		group_name TEXT NOT NULL,
		topic TEXT NOT NULL,
		partition INTEGER NOT NULL,
		committed_offset INTEGER NOT NULL,
		leader_epoch INTEGER NOT NULL,
		metadata TEXT NOT NULL,
		committed_at INTEGER NOT NULL,
		PRIMARY KEY (group_name, topic, partition)) WITHOUT ROWID;`,
	`CREATE TABLE producers (
		topic_id BLOB NOT NULL,
		partition INTEGER NOT NULL,
		producer_id INTEGER NOT NULL,
		epoch INTEGER NOT NULL,
		recent TEXT NOT NULL,
		updated_at INTEGER NOT NULL,
		PRIMARY KEY (topic_id, partition, producer_id)) WITHOUT ROWID;
	INSERT INTO meta(key, value) VALUES ('next_producer_id', '1000');`,
	// Zone peer cache: the address peers fetch cached blocks from.
	`ALTER TABLE agents ADD COLUMN peer_addr TEXT NOT NULL DEFAULT '';`,
	// Storage lifecycle (internal/jobs): leases for background jobs, the
	// time a file stopped being referenced, and the index that finds them.
	`CREATE TABLE leases (
		name TEXT PRIMARY KEY,
		holder TEXT NOT NULL,
		epoch INTEGER NOT NULL,
		expires_at INTEGER NOT NULL);
	ALTER TABLE files ADD COLUMN released_at INTEGER;
	CREATE INDEX extents_file ON extents (file_id);
	CREATE INDEX files_released ON files (released_at) WHERE released_at IS NOT NULL;`,
	txnMigration,
	aclMigration,
	schemaRegistryMigration,
	securityMigration,
	// Agent roles and agent groups (--roles, --agent-group).
	`ALTER TABLE agents ADD COLUMN roles TEXT NOT NULL DEFAULT '';
	ALTER TABLE agents ADD COLUMN agent_group TEXT NOT NULL DEFAULT '';`,
	dynconfigMigration,
	// producers.recent is written in sequencer.AppendRecentCompact's form
	// (a fifth of the JSON's width, and every commit rewrites the row),
	// which older binaries cannot read: this migration changes no table,
	// only the schema version, so that they refuse the database. Rows
	// written before keep their JSON until their producer next commits;
	// ParseRecent reads both.
	`SELECT 1;`,
	journalMarksMigration,
}

// Store is the SQLite metadata backend. Writes go through a single
// connection (SQLite has one writer); reads use a small pool that WAL mode
// lets run beside the writer.
type Store struct {
	w      *sql.DB
	r      *sql.DB
	commit commitStmts // prepared on w
	read   readStmts   // prepared on r
	// txnWrites implements SaveTransaction, CompleteTransaction and
	// StageTxnOffsets over txnRows in writer transactions (inTxnTx).
	txnWrites
}

type txnWrites = sequencer.TxnWrites

var _ metadata.Store = (*Store)(nil)

// Open opens (creating if needed) the database at path and migrates it.
func Open(ctx context.Context, path string) (*Store, error) {
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(10000)", "foreign_keys(1)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	dsn := "file:" + path + "?" + q.Encode()
	w, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	r, err := sql.Open("sqlite", dsn)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	r.SetMaxOpenConns(4)
	s := &Store{w: w, r: r}
	s.txnWrites = txnWrites{InTx: s.inTxnTx, Now: time.Now}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.commit.prepare(ctx, w); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.read.prepare(ctx, r); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) migrate(ctx context.Context) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	defer tx.Rollback()
	var version int
	if err := tx.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&version); err != nil {
		return fmt.Errorf("sqlite: read schema version: %w", err)
	}
	if version > len(migrations) {
		return fmt.Errorf("sqlite: database schema version %d is newer than this binary (%d)", version, len(migrations))
	}
	for i := version; i < len(migrations); i++ {
		if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
			return fmt.Errorf("sqlite: migration %d: %w", i+1, err)
		}
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, len(migrations))); err != nil {
		return err
	}
	var id [16]byte
	rand.Read(id[:])
	if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO meta(key, value) VALUES ('cluster_id', ?)`,
		base64.RawURLEncoding.EncodeToString(id[:])); err != nil {
		return err
	}
	return tx.Commit()
}

// Close closes the prepared statements and both connection pools.
func (s *Store) Close() error {
	return errors.Join(s.commit.close(), s.read.close(), s.w.Close(), s.r.Close())
}

// ClusterID implements metadata.Store.
func (s *Store) ClusterID(ctx context.Context) (string, error) {
	var id string
	err := s.r.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'cluster_id'`).Scan(&id)
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

// CreateTopics implements metadata.Topics: one writer transaction, so one
// sync for every topic of a request.
func (s *Store) CreateTopics(ctx context.Context, specs []metadata.TopicSpec) ([]metadata.TopicResult, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	now := time.Now().UTC().Truncate(time.Millisecond)
	res := make([]metadata.TopicResult, len(specs))
	// One statement per topic inserts all its partitions, prepared once.
	addPartitions, err := tx.PrepareContext(ctx, `WITH RECURSIVE n(p) AS (SELECT 0 WHERE ?2 > 0 UNION ALL SELECT p + 1 FROM n WHERE p + 1 < ?2)
		INSERT INTO partitions(topic_id, partition) SELECT ?1, p FROM n`)
	if err != nil {
		return nil, err
	}
	defer addPartitions.Close()
	for i, sp := range specs {
		configs := sp.Configs
		if configs == nil {
			configs = map[string]string{}
		}
		cfg, err := json.Marshal(configs)
		if err != nil {
			return nil, err
		}
		var exists int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM topics WHERE name = ?`, sp.Name).Scan(&exists); err != nil {
			return nil, err
		}
		if exists > 0 {
			res[i].Err = fmt.Errorf("%w: %s", metadata.ErrTopicExists, sp.Name)
			continue
		}
		t := metadata.Topic{Name: sp.Name, Partitions: sp.Partitions, Configs: configs, CreatedAt: now}
		rand.Read(t.ID[:])
		if _, err := tx.ExecContext(ctx, `INSERT INTO topics(id, name, partitions, configs, created_at) VALUES (?, ?, ?, ?, ?)`,
			t.ID[:], t.Name, t.Partitions, string(cfg), t.CreatedAt.UnixMilli()); err != nil {
			return nil, err
		}
		if _, err := addPartitions.ExecContext(ctx, t.ID[:], t.Partitions); err != nil {
			return nil, err
		}
		res[i].Topic = t
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return res, nil
}

// DeleteTopic implements metadata.Topics.
func (s *Store) DeleteTopic(ctx context.Context, name string) (metadata.Topic, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return metadata.Topic{}, err
	}
	defer tx.Rollback()
	t, err := scanTopic(tx.QueryRowContext(ctx, topicSelect+` WHERE name = ?`, name))
	if err != nil {
		return metadata.Topic{}, err
	}
	for _, q := range []string{
		`DELETE FROM extents WHERE topic_id = ?`,
		`DELETE FROM partitions WHERE topic_id = ?`,
		`DELETE FROM producers WHERE topic_id = ?`,
		`DELETE FROM txn_open WHERE topic_id = ?`,
		`DELETE FROM txn_aborted WHERE topic_id = ?`,
		`DELETE FROM topics WHERE id = ?`,
	} {
		if _, err := tx.ExecContext(ctx, q, t.ID[:]); err != nil {
			return metadata.Topic{}, err
		}
	}
	// As in Kafka, committed offsets of a deleted topic go with it.
	if _, err := tx.ExecContext(ctx, `DELETE FROM group_offsets WHERE topic = ?`, name); err != nil {
		return metadata.Topic{}, err
	}
	return t, tx.Commit()
}

const topicSelect = `SELECT id, name, partitions, configs, created_at FROM topics`

type rowScanner = rowscan.Scanner

// queryAll runs a query on db and scans every row of its result.
func queryAll[T any](ctx context.Context, db *sql.DB, scan func(rowScanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return rowscan.Collect(rows, scan)
}

func scanTopic(row rowScanner) (metadata.Topic, error) {
	var (
		t       metadata.Topic
		id      []byte
		cfg     string
		created int64
	)
	if err := row.Scan(&id, &t.Name, &t.Partitions, &cfg, &created); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return t, metadata.ErrUnknownTopic
		}
		return t, err
	}
	copy(t.ID[:], id)
	t.CreatedAt = time.UnixMilli(created).UTC()
	if err := json.Unmarshal([]byte(cfg), &t.Configs); err != nil {
		return t, fmt.Errorf("sqlite: topic %s configs: %w", t.Name, err)
	}
	return t, nil
}

// Topic implements metadata.Topics.
func (s *Store) Topic(ctx context.Context, name string) (metadata.Topic, error) {
	return scanTopic(s.r.QueryRowContext(ctx, topicSelect+` WHERE name = ?`, name))
}

// sqlTopicsByName looks up the names of a JSON array (bound as text) in
// one statement. CROSS JOIN keeps json_each as the outer loop (SQLite
// never reorders it): one search of the name index per name, never a scan
// of topics (TestTopicsByNamePlan).
const sqlTopicsByName = `SELECT t.id, t.name, t.partitions, t.configs, t.created_at
	FROM json_each(?) k CROSS JOIN topics t ON t.name = k.value`

// TopicsByName implements metadata.Topics: one statement for all names.
func (s *Store) TopicsByName(ctx context.Context, names []string) (map[string]metadata.Topic, error) {
	out := make(map[string]metadata.Topic, len(names))
	if len(names) == 0 {
		return out, nil
	}
	arg, err := json.Marshal(names)
	if err != nil {
		return nil, err
	}
	rows, err := s.read.topicsByName.QueryContext(ctx, string(arg))
	if err != nil {
		return nil, fmt.Errorf("sqlite: topics by name: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		t, err := scanTopic(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: topics by name: %w", err)
		}
		out[t.Name] = t
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: topics by name: %w", err)
	}
	return out, nil
}

// TopicByID implements metadata.Topics.
func (s *Store) TopicByID(ctx context.Context, id metadata.TopicID) (metadata.Topic, error) {
	return scanTopic(s.r.QueryRowContext(ctx, topicSelect+` WHERE id = ?`, id[:]))
}

// ListTopics implements metadata.Topics.
func (s *Store) ListTopics(ctx context.Context) ([]metadata.Topic, error) {
	return queryAll(ctx, s.r, scanTopic, topicSelect+` ORDER BY name`)
}

// PartitionState implements metadata.Log.
func (s *Store) PartitionState(ctx context.Context, topic metadata.TopicID, partition int32) (metadata.PartitionState, error) {
	var st metadata.PartitionState
	err := s.read.partitionState.QueryRowContext(ctx, topic[:], partition).Scan(&st.LogStartOffset, &st.HighWatermark)
	if errors.Is(err, sql.ErrNoRows) {
		return st, fmt.Errorf("%w: %s/%d", metadata.ErrUnknownPartition, topic, partition)
	}
	return st, err
}

const extentSelect = `SELECT e.topic_id, e.partition, e.base_offset, e.end_offset, f.key, e.byte_offset, e.byte_length, e.max_timestamp, e.committed_at, f.size
	FROM extents e JOIN files f ON f.id = e.file_id`

func scanExtent(row rowScanner) (metadata.Extent, error) {
	var (
		e         metadata.Extent
		id        []byte
		committed int64
	)
	if err := row.Scan(&id, &e.Partition, &e.BaseOffset, &e.EndOffset, &e.FileKey, &e.ByteOffset, &e.ByteLength, &e.MaxTimestamp, &committed, &e.FileSize); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return e, metadata.ErrNotFound
		}
		return e, err
	}
	copy(e.TopicID[:], id)
	e.CommittedAt = time.UnixMilli(committed).UTC()
	return e, nil
}

// Extents implements metadata.Log.
func (s *Store) Extents(ctx context.Context, topic metadata.TopicID, partition int32, from int64, limit int) ([]metadata.Extent, error) {
	rows, err := s.read.extentsQuery(ctx, s.r, limit, topic[:], partition, from)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out, err := rowscan.Collect(rows, scanExtent)
	return sequencer.ExtentsFrom(out, from), err
}

// ExtentAtTimestamp implements metadata.Log.
func (s *Store) ExtentAtTimestamp(ctx context.Context, topic metadata.TopicID, partition int32, ts int64) (metadata.Extent, error) {
	return scanExtent(s.read.extentAtTimestamp.QueryRowContext(ctx, topic[:], partition, ts))
}

// AlterTopicConfigs implements metadata.Topics.
func (s *Store) AlterTopicConfigs(ctx context.Context, name string, fn func(map[string]string) (map[string]string, error)) (metadata.Topic, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return metadata.Topic{}, err
	}
	defer tx.Rollback()
	t, err := scanTopic(tx.QueryRowContext(ctx, topicSelect+` WHERE name = ?`, name))
	if err != nil {
		return metadata.Topic{}, err
	}
	current := make(map[string]string, len(t.Configs))
	for k, v := range t.Configs {
		current[k] = v
	}
	next, err := fn(current)
	if err != nil {
		return metadata.Topic{}, err
	}
	if next == nil {
		next = map[string]string{}
	}
	cfg, err := json.Marshal(next)
	if err != nil {
		return metadata.Topic{}, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE topics SET configs = ? WHERE id = ?`, string(cfg), t.ID[:]); err != nil {
		return metadata.Topic{}, err
	}
	t.Configs = next
	return t, tx.Commit()
}

// AddPartitions implements metadata.Topics.
func (s *Store) AddPartitions(ctx context.Context, name string, count int32) (metadata.Topic, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return metadata.Topic{}, err
	}
	defer tx.Rollback()
	t, err := scanTopic(tx.QueryRowContext(ctx, topicSelect+` WHERE name = ?`, name))
	if err != nil {
		return metadata.Topic{}, err
	}
	if count <= t.Partitions {
		return metadata.Topic{}, fmt.Errorf("%w: topic %s has %d partitions, %d requested", metadata.ErrPartitionCount, name, t.Partitions, count)
	}
	for p := t.Partitions; p < count; p++ {
		if _, err := tx.ExecContext(ctx, `INSERT INTO partitions(topic_id, partition) VALUES (?, ?)`, t.ID[:], p); err != nil {
			return metadata.Topic{}, err
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE topics SET partitions = ? WHERE id = ?`, count, t.ID[:]); err != nil {
		return metadata.Topic{}, err
	}
	t.Partitions = count
	return t, tx.Commit()
}

// PartitionBytes implements metadata.Log.
func (s *Store) PartitionBytes(ctx context.Context, topic metadata.TopicID) (map[int32]int64, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT partition, sum(byte_length) FROM extents WHERE topic_id = ? GROUP BY partition`, topic[:])
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return rowscan.Map[int32, int64](rows)
}
