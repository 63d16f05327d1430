// Package metadatatest is the conformance suite every metadata.Store backend
// must pass. A backend's test calls Run with a function that opens a fresh,
// empty store:
//
//	func TestConformance(t *testing.T) {
//		metadatatest.Run(t, func(t *testing.T) metadata.Store { return openEmpty(t) })
//	}
package metadatatest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"

	"github.com/sluicehq/sluice/internal/metadata"
)

// Opener returns a fresh, empty store; the suite closes it.
type Opener func(t *testing.T) metadata.Store

// Run runs every conformance test against stores from open.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(*testing.T, metadata.Store)
	}{
		{"ClusterIDStable", testClusterID},
		{"TopicLifecycle", testTopicLifecycle},
		{"TopicsByName", testTopicsByName},
		{"CreateTopics", testCreateTopics},
		{"CommitAssignsContiguousOffsets", testCommitOffsets},
		{"CommitToDeletedTopic", testCommitDeletedTopic},
		{"CommitManyPartitions", testCommitManyPartitions},
		{"ConcurrentCommitsNeverCollide", testConcurrentCommits},
		{"ExtentsLookup", testExtents},
		{"ExtentAtTimestamp", testExtentAtTimestamp},
		{"Agents", testAgents},
		{"GroupFencing", testGroupFencing},
		{"DeleteTopicDropsOffsets", testDeleteTopicDropsOffsets},
		{"IdempotentProducers", testIdempotentProducers},
		{"AllocateProducerID", testAllocateProducerID},
		{"AlterTopicConfigs", testAlterTopicConfigs},
		{"AddPartitions", testAddPartitions},
		{"PartitionBytes", testPartitionBytes},
		{"ReadPath", testReadPath},
		{"Leases", testLeases},
		{"LeaseRelease", testLeaseRelease},
		{"AdvanceLogStart", testAdvanceLogStart},
		{"ReplaceExtents", testReplaceExtents},
		{"Transactions", testTransactions},
		{"TransactionFailedWrites", testTxnFailedWrites},
		{"DeleteTopicDropsProducerState", testDeleteTopicDropsProducers},
		{"StableStates", testStableStates},
		{"LateMarker", testLateMarker},
		{"PartitionStates", testPartitionStates},
		{"RecommitFile", testRecommitFile},
		{"JournalMarks", testJournalMarks},
		{"CommitFiles", testCommitFiles},
		{"CommitFilesRacingRecovery", testCommitFilesRacingRecovery},
		{"CommitFilesIdempotent", testCommitFilesIdempotent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { s.Close() })
			tt.fn(t, s)
		})
	}
}

func mustCreate(t *testing.T, s metadata.Store, name string, partitions int32) metadata.Topic {
	t.Helper()
	tp, err := s.CreateTopic(context.Background(), name, partitions, map[string]string{"retention.ms": "1000"})
	if err != nil {
		t.Fatalf("CreateTopic(%s): %v", name, err)
	}
	return tp
}

func commit(t *testing.T, s metadata.Store, key string, chunks ...metadata.BatchCommit) []metadata.BatchResult {
	t.Helper()
	res, err := s.CommitFile(context.Background(), metadata.FileCommit{Key: key, Size: 1000, Batches: chunks})
	if err != nil {
		t.Fatalf("CommitFile(%s): %v", key, err)
	}
	if len(res) != len(chunks) {
		t.Fatalf("CommitFile returned %d results for %d chunks", len(res), len(chunks))
	}
	return res
}

func testClusterID(t *testing.T, s metadata.Store) {
	ctx := context.Background()
	a, err := s.ClusterID(ctx)
	if err != nil || a == "" {
		t.Fatalf("ClusterID = %q, %v", a, err)
	}
	b, _ := s.ClusterID(ctx)
	if a != b {
		t.Fatalf("ClusterID changed: %q then %q", a, b)
	}
}

// testCreateTopics: several topics in one call, an existing name failing
// alone, every created topic readable with its partitions and configs.
func testCreateTopics(t *testing.T, s metadata.Store) {
	ctx := context.Background()
	old := mustCreate(t, s, "exists", 2)
	specs := []metadata.TopicSpec{
		{Name: "c-one", Partitions: 3, Configs: map[string]string{"cleanup.policy": "compact"}},
		{Name: "exists", Partitions: 5},
		{Name: "c-two", Partitions: 1},
	}
	res, err := s.CreateTopics(ctx, specs)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != len(specs) {
		t.Fatalf("%d results for %d topics", len(res), len(specs))
	}
	if !errors.Is(res[1].Err, metadata.ErrTopicExists) {
		t.Fatalf("existing name: %v, want ErrTopicExists", res[1].Err)
	}
	if got, err := s.Topic(ctx, "exists"); err != nil || got.ID != old.ID || got.Partitions != 2 {
		t.Fatalf("existing topic after CreateTopics = %+v, %v; want it unchanged", got, err)
	}
	for _, i := range []int{0, 2} {
		r, sp := res[i], specs[i]
		if r.Err != nil || r.Topic.Name != sp.Name || r.Topic.Partitions != sp.Partitions || r.Topic.ID == (metadata.TopicID{}) || r.Topic.CreatedAt.IsZero() {
			t.Fatalf("result %d = %+v", i, r)
		}
		got, err := s.Topic(ctx, sp.Name)
		if err != nil || got.ID != r.Topic.ID || got.Partitions != sp.Partitions || !got.CreatedAt.Equal(r.Topic.CreatedAt) || len(got.Configs) != len(sp.Configs) {
			t.Fatalf("Topic(%s) = %+v, %v; want %+v", sp.Name, got, err, r.Topic)
		}
		for k, v := range sp.Configs {
			if got.Configs[k] != v {
				t.Fatalf("Topic(%s) config %s = %q, want %q", sp.Name, k, got.Configs[k], v)
			}
		}
		for p := int32(0); p < sp.Partitions; p++ {
			if _, err := s.PartitionState(ctx, r.Topic.ID, p); err != nil {
				t.Fatalf("%s partition %d: %v", sp.Name, p, err)
			}
		}
		if _, err := s.PartitionState(ctx, r.Topic.ID, sp.Partitions); !errors.Is(err, metadata.ErrUnknownPartition) {
			t.Fatalf("%s partition %d: %v, want ErrUnknownPartition", sp.Name, sp.Partitions, err)
		}
	}
	if res[0].Topic.ID == res[2].Topic.ID {
		t.Fatal("two topics got the same ID")
	}
	// A second call with only existing names creates nothing.
	res, err = s.CreateTopics(ctx, specs[:1])
	if err != nil || !errors.Is(res[0].Err, metadata.ErrTopicExists) {
		t.Fatalf("CreateTopics of an existing name = %+v, %v", res, err)
	}
	if list, err := s.ListTopics(ctx); err != nil || len(list) != 3 {
		t.Fatalf("ListTopics = %d topics, %v; want 3", len(list), err)
	}
}

func testTopicLifecycle(t *testing.T, s metadata.Store) {
	ctx := context.Background()
	a := mustCreate(t, s, "b-topic", 3)
	mustCreate(t, s, "a-topic", 1)
	if a.ID == (metadata.TopicID{}) || a.Partitions != 3 || a.Configs["retention.ms"] != "1000" {
		t.Fatalf("created topic = %+v", a)
	}
	if _, err := s.CreateTopic(ctx, "b-topic", 1, nil); !errors.Is(err, metadata.ErrTopicExists) {
		t.Fatalf("duplicate CreateTopic = %v, want ErrTopicExists", err)
	}
	got, err := s.Topic(ctx, "b-topic")
	if err != nil || got.ID != a.ID || got.Configs["retention.ms"] != "1000" || !got.CreatedAt.Equal(a.CreatedAt) {
		t.Fatalf("Topic = %+v, %v; want %+v", got, err, a)
	}
	byID, err := s.TopicByID(ctx, a.ID)
	if err != nil || byID.Name != "b-topic" {
		t.Fatalf("TopicByID = %+v, %v", byID, err)
	}
	list, err := s.ListTopics(ctx)
	if err != nil || len(list) != 2 || list[0].Name != "a-topic" || list[1].Name != "b-topic" {
		t.Fatalf("ListTopics = %+v, %v", list, err)
	}
	for p := int32(0); p < 3; p++ {
		st, err := s.PartitionState(ctx, a.ID, p)
		if err != nil || st != (metadata.PartitionState{}) {
			t.Fatalf("new partition %d state = %+v, %v", p, st, err)
		}
	}
	if _, err := s.PartitionState(ctx, a.ID, 3); !errors.Is(err, metadata.ErrUnknownPartition) {
		t.Fatalf("PartitionState(out of range) = %v", err)
	}
	if _, err := s.DeleteTopic(ctx, "b-topic"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Topic(ctx, "b-topic"); !errors.Is(err, metadata.ErrUnknownTopic) {
		t.Fatalf("Topic after delete = %v", err)
	}
	if _, err := s.TopicByID(ctx, a.ID); !errors.Is(err, metadata.ErrUnknownTopic) {
		t.Fatalf("TopicByID after delete = %v", err)
	}
	if _, err := s.DeleteTopic(ctx, "b-topic"); !errors.Is(err, metadata.ErrUnknownTopic) {
		t.Fatalf("second DeleteTopic = %v", err)
	}
	// A re-created topic gets a new ID and an empty log.
	again := mustCreate(t, s, "b-topic", 1)
	if again.ID == a.ID {
		t.Fatal("re-created topic reused the old ID")
	}
}

func testCommitOffsets(t *testing.T, s metadata.Store) {
	ctx := context.Background()
	a := mustCreate(t, s, "a", 2)
	b := mustCreate(t, s, "b", 1)
	res := commit(t, s, "f1",
		metadata.BatchCommit{TopicID: a.ID, Partition: 0, ByteOffset: 8, ByteLength: 100, Records: 5, MaxTimestamp: 10},
		metadata.BatchCommit{TopicID: a.ID, Partition: 1, ByteOffset: 108, ByteLength: 50, Records: 1, MaxTimestamp: 11},
		metadata.BatchCommit{TopicID: b.ID, Partition: 0, ByteOffset: 158, ByteLength: 10, Records: 3, MaxTimestamp: 12},
	)
	want := []int64{0, 0, 0}
	for i, r := range res {
		if r.Err != nil || r.BaseOffset != want[i] {
			t.Fatalf("first commit chunk %d = %+v, want base %d", i, r, want[i])
		}
	}
	res = commit(t, s, "f2",
		metadata.BatchCommit{TopicID: a.ID, Partition: 0, ByteOffset: 8, ByteLength: 20, Records: 2, MaxTimestamp: 20},
	)
	if res[0].Err != nil || res[0].BaseOffset != 5 {
		t.Fatalf("second commit = %+v, want base 5", res[0])
	}
	st, err := s.PartitionState(ctx, a.ID, 0)
	if err != nil || st.HighWatermark != 7 || st.LogStartOffset != 0 {
		t.Fatalf("PartitionState = %+v, %v; want hwm 7", st, err)
	}
	// A chunk for a partition the topic does not have fails alone.
	res = commit(t, s, "f3",
		metadata.BatchCommit{TopicID: a.ID, Partition: 9, ByteOffset: 8, ByteLength: 1, Records: 1},
		metadata.BatchCommit{TopicID: b.ID, Partition: 0, ByteOffset: 9, ByteLength: 1, Records: 1},
	)
	if !errors.Is(res[0].Err, metadata.ErrUnknownPartition) || res[1].Err != nil || res[1].BaseOffset != 3 {
		t.Fatalf("mixed commit = %+v", res)
	}
}

func testCommitDeletedTopic(t *testing.T, s metadata.Store) {
	ctx := context.Background()
	a := mustCreate(t, s, "gone", 1)
	if _, err := s.DeleteTopic(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	res := commit(t, s, "f1", metadata.BatchCommit{TopicID: a.ID, Partition: 0, ByteOffset: 8, ByteLength: 1, Records: 1})
	if !errors.Is(res[0].Err, metadata.ErrUnknownTopic) {
		t.Fatalf("commit to deleted topic = %+v, want ErrUnknownTopic", res[0])
	}
}

func testConcurrentCommits(t *testing.T, s metadata.Store) {
	ctx := context.Background()
	a := mustCreate(t, s, "hot", 2)
	const writers, perWriter = 4, 25
	var (
		mu     sync.Mutex
		ranges = map[int32][][2]int64{}
		wg     sync.WaitGroup
	)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < perWriter; i++ {
				recs := int64(1 + (w+i)%4)
				c := metadata.FileCommit{Key: fmt.Sprintf("w%d-%d", w, i), Size: 10, Batches: []metadata.BatchCommit{
					{TopicID: a.ID, Partition: 0, ByteOffset: 8, ByteLength: 1, Records: recs},
					{TopicID: a.ID, Partition: 1, ByteOffset: 9, ByteLength: 1, Records: 1},
				}}
				res, err := s.CommitFile(ctx, c)
				if err != nil {
					t.Errorf("CommitFile: %v", err)
					return
				}
				mu.Lock()
				ranges[0] = append(ranges[0], [2]int64{res[0].BaseOffset, res[0].BaseOffset + recs})
				ranges[1] = append(ranges[1], [2]int64{res[1].BaseOffset, res[1].BaseOffset + 1})
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	for p, rs := range ranges {
		sort.Slice(rs, func(i, j int) bool { return rs[i][0] < rs[j][0] })
		next := int64(0)
		for _, r := range rs {
			if r[0] != next {
				t.Fatalf("partition %d: range %v follows offset %d (gap or overlap)", p, r, next)
			}
			next = r[1]
		}
		st, _ := s.PartitionState(ctx, a.ID, p)
		if st.HighWatermark != next {
			t.Fatalf("partition %d hwm %d, want %d", p, st.HighWatermark, next)
		}
		ext, err := s.Extents(ctx, a.ID, p, 0, 1000)
		if err != nil || len(ext) != writers*perWriter {
			t.Fatalf("partition %d: %d extents, %v", p, len(ext), err)
		}
	}
}

func testExtents(t *testing.T, s metadata.Store) {
	ctx := context.Background()
	a := mustCreate(t, s, "x", 1)
	// Three files: offsets [0,4) [4,5) [5,10).
	commit(t, s, "f1", metadata.BatchCommit{TopicID: a.ID, Partition: 0, ByteOffset: 8, ByteLength: 40, Records: 4, MaxTimestamp: 100})
	commit(t, s, "f2", metadata.BatchCommit{TopicID: a.ID, Partition: 0, ByteOffset: 16, ByteLength: 10, Records: 1, MaxTimestamp: 200})
	commit(t, s, "f3", metadata.BatchCommit{TopicID: a.ID, Partition: 0, ByteOffset: 8, ByteLength: 50, Records: 5, MaxTimestamp: 300})
	cases := []struct {
		from  int64
		limit int
		keys  []string
	}{
		{0, 10, []string{"f1", "f2", "f3"}},
		{3, 10, []string{"f1", "f2", "f3"}},
		{4, 10, []string{"f2", "f3"}},
		{5, 1, []string{"f3"}},
		{9, 10, []string{"f3"}},
		{10, 10, nil},
		{0, 2, []string{"f1", "f2"}},
	}
	for _, c := range cases {
		ext, err := s.Extents(ctx, a.ID, 0, c.from, c.limit)
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, e := range ext {
			keys = append(keys, e.FileKey)
		}
		if fmt.Sprint(keys) != fmt.Sprint(c.keys) {
			t.Fatalf("Extents(from %d, limit %d) = %v, want %v", c.from, c.limit, keys, c.keys)
		}
	}
	ext, _ := s.Extents(ctx, a.ID, 0, 4, 1)
	e := ext[0]
	if e.BaseOffset != 4 || e.EndOffset != 5 || e.ByteOffset != 16 || e.ByteLength != 10 || e.MaxTimestamp != 200 || e.CommittedAt.IsZero() || e.TopicID != a.ID {
		t.Fatalf("extent = %+v", e)
	}
}

func testExtentAtTimestamp(t *testing.T, s metadata.Store) {
	ctx := context.Background()
	a := mustCreate(t, s, "ts", 1)
	// Timestamps are not monotonic across files: the first extent whose
	// max timestamp reaches ts wins, in offset order.
	commit(t, s, "f1", metadata.BatchCommit{TopicID: a.ID, Partition: 0, ByteOffset: 8, ByteLength: 1, Records: 2, MaxTimestamp: 100})
	commit(t, s, "f2", metadata.BatchCommit{TopicID: a.ID, Partition: 0, ByteOffset: 8, ByteLength: 1, Records: 2, MaxTimestamp: 300})
	commit(t, s, "f3", metadata.BatchCommit{TopicID: a.ID, Partition: 0, ByteOffset: 8, ByteLength: 1, Records: 2, MaxTimestamp: 200})
	for _, c := range []struct {
		ts   int64
		base int64
	}{{0, 0}, {100, 0}, {101, 2}, {250, 2}, {300, 2}} {
		e, err := s.ExtentAtTimestamp(ctx, a.ID, 0, c.ts)
		if err != nil || e.BaseOffset != c.base {
			t.Fatalf("ExtentAtTimestamp(%d) = %+v, %v; want base %d", c.ts, e, err, c.base)
		}
	}
	if _, err := s.ExtentAtTimestamp(ctx, a.ID, 0, 301); !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("ExtentAtTimestamp past the end = %v, want ErrNotFound", err)
	}
}

// testTopicsByName checks the batched by-name lookup: existing topics come
// back keyed by name with what Topic returns, unknown and repeated names
// do not fail the call, and a list longer than any statement's chunk is
// answered whole.
func testTopicsByName(t *testing.T, s metadata.Store) {
	ctx := context.Background()
	if got, err := s.TopicsByName(ctx, nil); err != nil || len(got) != 0 {
		t.Fatalf("TopicsByName(nil) = %v, %v; want an empty map", got, err)
	}
	a := mustCreate(t, s, "tbn-a", 3)
	b := mustCreate(t, s, "tbn-b", 1)
	got, err := s.TopicsByName(ctx, []string{"tbn-b", "missing", "tbn-a", "tbn-b", ""})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("TopicsByName = %v; want tbn-a and tbn-b only", got)
	}
	for _, want := range []metadata.Topic{a, b} {
		tp, ok := got[want.Name]
		if !ok || tp.ID != want.ID || tp.Name != want.Name || tp.Partitions != want.Partitions ||
			tp.Configs["retention.ms"] != "1000" || !tp.CreatedAt.Equal(want.CreatedAt) {
			t.Fatalf("TopicsByName[%s] = %+v (present %v); want %+v", want.Name, tp, ok, want)
		}
	}
	if _, err := s.DeleteTopic(ctx, "tbn-a"); err != nil {
		t.Fatal(err)
	}
	if got, err := s.TopicsByName(ctx, []string{"tbn-a", "tbn-b"}); err != nil || len(got) != 1 || got["tbn-b"].ID != b.ID {
		t.Fatalf("TopicsByName after deleting tbn-a = %v, %v", got, err)
	}

	// 2,000 names, every fourth of an existing topic.
	var names []string
	want := map[string]metadata.TopicID{"tbn-b": b.ID}
	for i := range 2000 {
		name := fmt.Sprintf("tbn-many-%04d", i)
		names = append(names, name)
		if i%4 == 0 {
			want[name] = mustCreate(t, s, name, 1).ID
		}
	}
	names = append(names, "tbn-b")
	got, err = s.TopicsByName(ctx, names)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("TopicsByName of %d names found %d topics, want %d", len(names), len(got), len(want))
	}
	for name, id := range want {
		if got[name].ID != id || got[name].Name != name {
			t.Fatalf("TopicsByName[%s] = %+v, want ID %s", name, got[name], id)
		}
	}
}
