package postgres

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/testutil"
)

// TestCommitFileEndsItsTransaction checks that CommitFile, which opens and
// commits its transaction with statements of its pipelined batches, leaves
// no transaction open and its connection usable (not destroyed by the
// pool) whether it writes, appends nothing (the write batch and its COMMIT
// are never sent) or fails in the write batch.
func TestCommitFileEndsItsTransaction(t *testing.T) {
	pg := testutil.StartPostgres(t)
	url := pg.NewDatabase(t)
	ctx := context.Background()
	s, err := Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	watch, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close(ctx)
	openTxns := func() int {
		t.Helper()
		var n int
		if err := watch.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	topic, err := s.CreateTopic(ctx, "t", 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	batch := func(p int32, seq int32) metadata.BatchCommit {
		return metadata.BatchCommit{TopicID: topic.ID, Partition: p, ByteLength: 10, Records: 1, MaxTimestamp: 1,
			Producer: &metadata.ProducerBatch{ID: 7, FirstSequence: seq}}
	}
	// The first commit opens the pool's connection.
	if _, err := s.CommitFile(ctx, metadata.FileCommit{Key: "f0", Size: 10, Batches: []metadata.BatchCommit{batch(0, 0)}}); err != nil {
		t.Fatal(err)
	}
	conns := s.pool.Stat().NewConnsCount()

	for _, c := range []struct {
		name      string
		commit    metadata.FileCommit
		wantErr   error
		duplicate bool
	}{
		{name: "writes", commit: metadata.FileCommit{Key: "f1", Size: 20, Batches: []metadata.BatchCommit{batch(0, 1), batch(1, 0)}}},
		{name: "appends nothing", commit: metadata.FileCommit{Key: "f2", Size: 10, Batches: []metadata.BatchCommit{batch(0, 1)}}, duplicate: true},
		{name: "fails in the write batch", commit: metadata.FileCommit{Key: "f1", Size: 10, Batches: []metadata.BatchCommit{batch(0, 2)}},
			wantErr: metadata.ErrFileCommitted},
	} {
		res, err := s.CommitFile(ctx, c.commit)
		if !errors.Is(err, c.wantErr) {
			t.Fatalf("%s: CommitFile = %v, want %v", c.name, err, c.wantErr)
		}
		if err == nil && res[0].Duplicate != c.duplicate {
			t.Fatalf("%s: result %+v, want duplicate %v", c.name, res[0], c.duplicate)
		}
		if n := openTxns(); n != 0 {
			t.Fatalf("%s: %d sessions idle in transaction", c.name, n)
		}
	}
	if n := s.pool.Stat().NewConnsCount(); n != conns {
		t.Fatalf("the pool opened %d connections after the first commit: one was left unusable", n-conns)
	}
	// The failed commit wrote nothing: the next batch takes offset 2.
	res, err := s.CommitFile(ctx, metadata.FileCommit{Key: "f3", Size: 10, Batches: []metadata.BatchCommit{batch(0, 2)}})
	if err != nil || res[0].Err != nil || res[0].BaseOffset != 2 {
		t.Fatalf("CommitFile after the failed one = %+v, %v; want offset 2", res, err)
	}
}

// TestFailUnless checks the in-statement check the write batch relies on
// to stop before its COMMIT.
func TestFailUnless(t *testing.T) {
	pg := testutil.StartPostgres(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pg.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	q := `SELECT ` + failUnless(`count(*) = $1`, `($1 - count(*)) || ' of ' || $1 || ' rows missing'`) + ` FROM generate_series(1, 3)`
	var v int
	if err := conn.QueryRow(ctx, q, int64(3)).Scan(&v); err != nil || v != 0 {
		t.Fatalf("check that holds = %d, %v; want 0, nil", v, err)
	}
	err = conn.QueryRow(ctx, q, int64(5)).Scan(&v)
	if err == nil || checkFailure(err).Error() != "2 of 5 rows missing" {
		t.Fatalf("check that fails: %v, reported as %v", err, checkFailure(err))
	}
}

// TestCommitCostMigrationKeepsProducerState upgrades a database whose
// producer state is jsonb, as the migrations before commitCostMigration
// left it, and checks that the stored state still recognises a retry and
// accepts the next sequence, and that the state a commit then writes (in
// the compact form) does too.
func TestCommitCostMigrationKeepsProducerState(t *testing.T) {
	pg := testutil.StartPostgres(t)
	url := pg.NewDatabase(t)
	ctx := context.Background()
	before := -1
	for i, m := range migrations {
		if m == commitCostMigration {
			before = i
		}
	}
	if before < 0 {
		t.Fatal("commitCostMigration is not a migration")
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE TABLE schema_version (version integer NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for _, m := range migrations[:before] {
		if _, err := conn.Exec(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	topicID := [16]byte{1}
	if _, err := conn.Exec(ctx, `INSERT INTO schema_version(version) VALUES ($1)`, before); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO topics(id, name, partitions, configs, created_at) VALUES ($1, 'old', 1, '{}', now())`,
		`INSERT INTO partitions(topic_id, partition, next_offset) VALUES ($1, 0, 2)`,
		`INSERT INTO producers(topic_id, partition, producer_id, epoch, recent, updated_at)
			VALUES ($1, 0, 9, 0, '[{"first": 0, "last": 1, "base": 0}]'::jsonb, now())`,
	} {
		if _, err := conn.Exec(ctx, q, topicID); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	s, err := Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b := func(at int64, seq int32) metadata.BatchCommit {
		return metadata.BatchCommit{TopicID: metadata.TopicID(topicID), Partition: 0, ByteOffset: at, ByteLength: 10, Records: 2,
			Producer: &metadata.ProducerBatch{ID: 9, FirstSequence: seq}}
	}
	res, err := s.CommitFile(ctx, metadata.FileCommit{Key: "f", Size: 20, Batches: []metadata.BatchCommit{b(0, 0), b(10, 2)}})
	if err != nil {
		t.Fatal(err)
	}
	if !res[0].Duplicate || res[0].BaseOffset != 0 {
		t.Fatalf("retry of the stored batch = %+v, want a duplicate of offset 0", res[0])
	}
	if res[1].Err != nil || res[1].Duplicate || res[1].BaseOffset != 2 {
		t.Fatalf("next batch = %+v, want offset 2", res[1])
	}
	// The commit rewrote the state in the compact form
	// (recentCompactMigration), in the partition's row
	// (producerInRowMigration), which the next commit reads back.
	var recent string
	if err := conn.QueryRow(ctx, `SELECT producer_recent FROM partitions WHERE producer_id = 9`).Scan(&recent); err != nil || recent != "0:0:1,2:2:1" {
		t.Fatalf("stored state = %q, %v; want the compact form 0:0:1,2:2:1", recent, err)
	}
	res, err = s.CommitFile(ctx, metadata.FileCommit{Key: "g", Size: 20, Batches: []metadata.BatchCommit{b(0, 2), b(10, 4)}})
	if err != nil {
		t.Fatal(err)
	}
	if !res[0].Duplicate || res[0].BaseOffset != 2 || res[1].Err != nil || res[1].Duplicate || res[1].BaseOffset != 4 {
		t.Fatalf("retry and next batch after the compact state = %+v, want a duplicate of offset 2 and offset 4", res)
	}
}

// TestProducerStateInPartitionRow checks the producer state a partitions
// row holds (producerInRowMigration) as producers take the row from each
// other: a displaced producer's state moves to the producers table, over
// an outdated row of its own there, and every producer's retries are still
// recognised whichever place holds its state; PartitionProducers lists
// each producer once, with its current state.
func TestProducerStateInPartitionRow(t *testing.T) {
	pg := testutil.StartPostgres(t)
	ctx := context.Background()
	s, err := Open(ctx, pg.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	topic, err := s.CreateTopic(ctx, "t", 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	files := 0
	// commit commits one batch of two records for each producer given as
	// {id, first sequence} and returns the results.
	commit := func(batches ...[2]int64) []metadata.BatchResult {
		t.Helper()
		files++
		var bc []metadata.BatchCommit
		for i, b := range batches {
			bc = append(bc, metadata.BatchCommit{TopicID: topic.ID, ByteOffset: int64(10 * i), ByteLength: 10, Records: 2, MaxTimestamp: 1,
				Producer: &metadata.ProducerBatch{ID: b[0], FirstSequence: int32(b[1])}})
		}
		res, err := s.CommitFile(ctx, metadata.FileCommit{Key: fmt.Sprintf("f%d", files), Size: int64(10 * len(bc)), Batches: bc})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	holder := func() int64 {
		t.Helper()
		var id *int64
		if err := s.pool.QueryRow(ctx, `SELECT producer_id FROM partitions WHERE topic_id = $1`, [16]byte(topic.ID)).Scan(&id); err != nil || id == nil {
			t.Fatalf("the partition's row holds %v, %v", id, err)
		}
		return *id
	}
	want := func(res metadata.BatchResult, offset int64, duplicate bool) {
		t.Helper()
		if res.Err != nil || res.Duplicate != duplicate || res.BaseOffset != offset {
			t.Fatalf("result %+v, want offset %d, duplicate %v", res, offset, duplicate)
		}
	}
	const a, b, c = 10, 11, 12
	want(commit([2]int64{a, 0})[0], 0, false)
	if h := holder(); h != a {
		t.Fatalf("row holds %d, want %d", h, a)
	}
	want(commit([2]int64{b, 0})[0], 2, false) // b takes the row, a moves to the table
	if h := holder(); h != b {
		t.Fatalf("row holds %d, want %d", h, b)
	}
	want(commit([2]int64{a, 0})[0], 0, true) // a's retry, from the table
	want(commit([2]int64{a, 2})[0], 4, false)
	if h := holder(); h != a { // a takes the row back; its table row is outdated
		t.Fatalf("row holds %d, want %d", h, a)
	}
	want(commit([2]int64{b, 0})[0], 2, true)
	// The row's producer keeps it when another producer commits with it.
	res := commit([2]int64{a, 4}, [2]int64{c, 0})
	want(res[0], 6, false)
	want(res[1], 8, false)
	if h := holder(); h != a {
		t.Fatalf("row holds %d, want %d", h, a)
	}
	// c takes the row: a's state in the table must now be its newest, not
	// the outdated row it left there.
	want(commit([2]int64{c, 2})[0], 10, false)
	want(commit([2]int64{a, 4})[0], 6, true)
	want(commit([2]int64{a, 2})[0], 4, true)
	res = commit([2]int64{b, 2}, [2]int64{a, 6}, [2]int64{c, 2})
	want(res[0], 12, false)
	want(res[1], 14, false)
	want(res[2], 10, true)
	ps, err := s.PartitionProducers(ctx, topic.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := map[int64]int32{}
	for _, p := range ps {
		if _, dup := got[p.ProducerID]; dup {
			t.Fatalf("producer %d listed twice: %+v", p.ProducerID, ps)
		}
		got[p.ProducerID] = p.LastSequence
	}
	if len(got) != 3 || got[a] != 7 || got[b] != 3 || got[c] != 3 {
		t.Fatalf("PartitionProducers = %+v, want last sequences a 7, b 3, c 3", ps)
	}
}
