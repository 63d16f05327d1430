package postgres

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
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
	if err := conn.QueryRow(ctx, `SELECT producer_states FROM partitions`).Scan(&recent); err != nil || recent != "9 0 0:0:1,2:2:1" {
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
// row holds (producerInRowMigration) as producers come and go: the row
// keeps rowProducers of them, those whose newest batch is oldest move to
// the producers table (over an outdated row of their own there), and
// every producer's retries are still recognised wherever its state is;
// PartitionProducers lists each producer once, with its current state.
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
	inRow := func(want ...int64) {
		t.Helper()
		checkRowProducers(t, ctx, s, topic.ID, want...)
	}
	want := func(res metadata.BatchResult, offset int64, duplicate bool) {
		t.Helper()
		if res.Err != nil || res.Duplicate != duplicate || res.BaseOffset != offset {
			t.Fatalf("result %+v, want offset %d, duplicate %v", res, offset, duplicate)
		}
	}
	for i := range int64(4) {
		want(commit([2]int64{10 + i, 0})[0], 2*i, false)
	}
	inRow(10, 11, 12, 13)
	want(commit([2]int64{14, 0})[0], 8, false) // 10's newest batch is oldest: it moves out
	inRow(11, 12, 13, 14)
	want(commit([2]int64{10, 0})[0], 0, true) // from the producers table
	want(commit([2]int64{10, 2})[0], 10, false)
	inRow(10, 12, 13, 14) // 10's producers row is now outdated
	want(commit([2]int64{11, 0})[0], 2, true)
	want(commit([2]int64{12, 2}, [2]int64{13, 2}, [2]int64{14, 2}, [2]int64{11, 2})[3], 18, false)
	inRow(11, 12, 13, 14)
	// 10 moved out again: its state in the table is its newest, not the
	// outdated row it left there.
	want(commit([2]int64{10, 2})[0], 10, true)
	// Three producers enter at once (10 from the table): the three whose
	// newest batches are oldest move out.
	res := commit([2]int64{15, 0}, [2]int64{10, 4}, [2]int64{16, 0}, [2]int64{13, 4})
	want(res[0], 20, false)
	want(res[1], 22, false)
	want(res[2], 24, false)
	want(res[3], 26, false)
	inRow(10, 13, 15, 16)
	for _, retry := range []struct {
		id, seq, offset int64
	}{{11, 2, 18}, {12, 2, 12}, {14, 2, 16}, {15, 0, 20}, {13, 4, 26}, {10, 4, 22}} {
		want(commit([2]int64{retry.id, retry.seq})[0], retry.offset, true)
	}
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
	wantLast := map[int64]int32{10: 5, 11: 3, 12: 3, 13: 5, 14: 3, 15: 1, 16: 1}
	if !maps.Equal(got, wantLast) {
		t.Fatalf("PartitionProducers: last sequences %v, want %v", got, wantLast)
	}
}

// TestRowProducersRoundTrip checks partitions.producer_states' encoding
// and that eviction keeps the producers with the newest batches, in their
// order.
func TestRowProducersRoundTrip(t *testing.T) {
	in := []rowProducer{{id: 7, epoch: 0, recent: "5:0:1"}, {id: -1, epoch: 3, recent: ""}, {id: 1 << 40, epoch: -2, recent: "9:4:0,3:1:2"}}
	text := string(appendRowProducers(nil, in))
	if text != "7 0 5:0:1;-1 3 ;1099511627776 -2 9:4:0,3:1:2" {
		t.Fatalf("encoded %q", text)
	}
	out, err := parseRowProducers(text)
	if err != nil || len(out) != len(in) {
		t.Fatalf("parse = %+v, %v", out, err)
	}
	for i := range in {
		if out[i].id != in[i].id || out[i].epoch != in[i].epoch || out[i].recent != in[i].recent {
			t.Fatalf("entry %d = %+v, want %+v", i, out[i], in[i])
		}
	}
	for _, bad := range []string{"7", "7 0", "x 0 ", "7 99999 ", "7 0 ;"} {
		if _, err := parseRowProducers(bad); err == nil {
			t.Fatalf("parse %q: no error", bad)
		}
	}
	// Newest batches: 5 (id 1), none (2), 9+3=12 (3), 1 (4), 7 (5), 20 (6).
	ps := []rowProducer{{id: 1, recent: "5:0:1"}, {id: 2, recent: ""}, {id: 3, recent: "9:4:0,3:1:2"},
		{id: 4, recent: "1:0:0"}, {id: 5, recent: "7:0:0"}, {id: 6, recent: "20:0:0"}}
	for i := range ps {
		ps[i].last = -1
	}
	kept, evicted := evictRowProducers(ps)
	var k, e []int64
	for _, p := range kept {
		k = append(k, p.id)
	}
	for _, p := range evicted {
		e = append(e, p.id)
	}
	if !slices.Equal(k, []int64{1, 3, 5, 6}) || !slices.Equal(e, []int64{2, 4}) {
		t.Fatalf("kept %v, evicted %v; want [1 3 5 6], [2 4]", k, e)
	}
}

// TestCommitFilesProducerStateInRow: in a CommitFiles group with
// producers, each file sees the producer state the group's earlier files
// wrote, in the partitions row or, moved out of it, in the producers
// table; a group without producers leaves producer_states alone.
func TestCommitFilesProducerStateInRow(t *testing.T) {
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
	// file is a file of one batch of two records from producer id at
	// first sequence seq, or of one plain record when id is 0.
	file := func(key string, id, seq int64) metadata.FileCommit {
		b := metadata.BatchCommit{TopicID: topic.ID, ByteLength: 10, Records: 2, MaxTimestamp: 1,
			Producer: &metadata.ProducerBatch{ID: id, FirstSequence: int32(seq)}}
		if id == 0 {
			b.Records, b.Producer = 1, nil
		}
		return metadata.FileCommit{Key: key, Size: 10, Batches: []metadata.BatchCommit{b}}
	}
	inRow := func(want ...int64) {
		t.Helper()
		checkRowProducers(t, ctx, s, topic.ID, want...)
	}
	group := []metadata.FileCommit{
		file("g1", 10, 0), file("g2", 11, 0), file("g3", 12, 0), file("g4", 13, 0),
		file("g5", 14, 0), // 10 moves out of the row
		file("g6", 10, 0), // a retry, found in the producers table
		file("g7", 10, 2), // 10 back in the row, 11 out
		file("g8", 11, 0), // a retry, found in the producers table
	}
	want := []struct {
		offset    int64
		duplicate bool
	}{{0, false}, {2, false}, {4, false}, {6, false}, {8, false}, {0, true}, {10, false}, {2, true}}
	res, err := s.CommitFiles(ctx, group)
	if err != nil || len(res) != len(group) {
		t.Fatalf("CommitFiles = %+v, %v", res, err)
	}
	for i, r := range res {
		if r.Err != nil || len(r.Batches) != 1 || r.Batches[0].Err != nil || r.Batches[0].BaseOffset != want[i].offset || r.Batches[0].Duplicate != want[i].duplicate {
			t.Fatalf("file %s = %+v, want offset %d, duplicate %v", group[i].Key, r, want[i].offset, want[i].duplicate)
		}
	}
	inRow(10, 12, 13, 14)
	res, err = s.CommitFiles(ctx, []metadata.FileCommit{file("p1", 0, 0), file("p2", 0, 0)})
	if err != nil || res[0].Err != nil || res[1].Err != nil || res[0].Batches[0].BaseOffset != 12 || res[1].Batches[0].BaseOffset != 13 {
		t.Fatalf("CommitFiles without producers = %+v, %v; want offsets 12 and 13", res, err)
	}
	inRow(10, 12, 13, 14)
	for _, retry := range []struct{ id, seq, offset int64 }{{12, 0, 4}, {10, 2, 10}, {11, 0, 2}} {
		r, err := s.CommitFile(ctx, file(fmt.Sprintf("r%d", retry.id), retry.id, retry.seq))
		if err != nil || r[0].Err != nil || !r[0].Duplicate || r[0].BaseOffset != retry.offset {
			t.Fatalf("retry of producer %d = %+v, %v; want a duplicate at offset %d", retry.id, r, err, retry.offset)
		}
	}
}

// checkRowProducers fails t unless the producer_states of the topic's
// partitions row hold exactly the producer IDs want (sorted).
func checkRowProducers(t *testing.T, ctx context.Context, s *Store, topic metadata.TopicID, want ...int64) {
	t.Helper()
	var states string
	if err := s.pool.QueryRow(ctx, `SELECT producer_states FROM partitions WHERE topic_id = $1`, [16]byte(topic)).Scan(&states); err != nil {
		t.Fatal(err)
	}
	held, err := parseRowProducers(states)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, h := range held {
		ids = append(ids, h.id)
	}
	slices.Sort(ids)
	if !slices.Equal(ids, want) {
		t.Fatalf("the row holds producers %v (%q), want %v", ids, states, want)
	}
}
