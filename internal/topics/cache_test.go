package topics_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/metadata/sqlite"
	"github.com/sluicehq/sluice/internal/topics"
)

// flakyTopics fails every call while down is set, as a store does when
// its database is unreachable.
type flakyTopics struct {
	metadata.Topics
	down atomic.Bool
}

var errDown = errors.New("connection refused")

func (f *flakyTopics) Topic(ctx context.Context, name string) (metadata.Topic, error) {
	if f.down.Load() {
		return metadata.Topic{}, errDown
	}
	return f.Topics.Topic(ctx, name)
}

func (f *flakyTopics) TopicsByName(ctx context.Context, names []string) (map[string]metadata.Topic, error) {
	if f.down.Load() {
		return nil, errDown
	}
	return f.Topics.TopicsByName(ctx, names)
}

func (f *flakyTopics) ListTopics(ctx context.Context) ([]metadata.Topic, error) {
	if f.down.Load() {
		return nil, errDown
	}
	return f.Topics.ListTopics(ctx)
}

func TestCacheServesLastKnownTopicsWhileStoreIsDown(t *testing.T) {
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	flaky := &flakyTopics{Topics: store}
	// A TTL of zero makes every lookup go to the store, so the stale
	// answers below can only come from the outage path.
	c := topics.NewCache(flaky, 0)

	if _, err := c.ListTopics(ctx); err != nil {
		t.Fatal(err)
	}
	flaky.down.Store(true)
	if _, err := topics.NewCache(flaky, 0).ListTopics(ctx); !errors.Is(err, errDown) {
		t.Fatalf("a cache that never listed: ListTopics error = %v, want the store's", err)
	}
	flaky.down.Store(false)

	for _, name := range []string{"a", "b"} {
		if _, err := c.CreateTopic(ctx, name, 3, nil); err != nil {
			t.Fatal(err)
		}
	}
	if list, err := c.ListTopics(ctx); err != nil || len(list) != 2 {
		t.Fatalf("ListTopics = %v, %v", list, err)
	}
	if _, err := c.Topic(ctx, "a"); err != nil {
		t.Fatal(err)
	}

	flaky.down.Store(true)
	list, err := c.ListTopics(ctx)
	if err != nil || len(list) != 2 || list[0].Name != "a" || list[1].Name != "b" {
		t.Fatalf("ListTopics during the outage = %v, %v; want the last listing", list, err)
	}
	if tp, err := c.Topic(ctx, "a"); err != nil || tp.Name != "a" || tp.Partitions != 3 {
		t.Fatalf("Topic(a) during the outage = %+v, %v; want the cached topic", tp, err)
	}
	if tp, err := c.Topic(ctx, "b"); err != nil || tp.Name != "b" {
		t.Fatalf("Topic(b), seen only in the listing, during the outage = %+v, %v; want the listed topic", tp, err)
	}
	if _, err := c.Topic(ctx, "never-seen"); !errors.Is(err, errDown) {
		t.Fatalf("Topic(never-seen) during the outage: error %v, want the store's", err)
	}
	got, err := c.TopicsByName(ctx, []string{"a", "b", "never-seen"})
	if !errors.Is(err, errDown) || len(got) != 2 || got["a"].Partitions != 3 || got["b"].Name != "b" {
		t.Fatalf("TopicsByName during the outage = %v, %v; want a and b as last seen, and the store's error", got, err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.ListTopics(cancelled); err == nil {
		t.Fatal("ListTopics with a cancelled context served the stale listing")
	}

	flaky.down.Store(false)
	if _, err := c.DeleteTopic(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if list, err := c.ListTopics(ctx); err != nil || len(list) != 1 {
		t.Fatalf("ListTopics after the outage = %v, %v; want the store's fresh listing", list, err)
	}
}

// countingTopics counts the store's by-name and by-ID lookups.
type countingTopics struct {
	metadata.Topics
	lookups atomic.Int64
	// batches counts TopicsByName calls, names the names they asked for.
	batches, names atomic.Int64
}

func (c *countingTopics) TopicsByName(ctx context.Context, names []string) (map[string]metadata.Topic, error) {
	c.batches.Add(1)
	c.names.Add(int64(len(names)))
	return c.Topics.TopicsByName(ctx, names)
}

func (c *countingTopics) Topic(ctx context.Context, name string) (metadata.Topic, error) {
	c.lookups.Add(1)
	return c.Topics.Topic(ctx, name)
}

func (c *countingTopics) TopicByID(ctx context.Context, id metadata.TopicID) (metadata.Topic, error) {
	c.lookups.Add(1)
	return c.Topics.TopicByID(ctx, id)
}

// TestCacheListingRefreshesEntries checks that a listing fills the cache:
// lookups of listed topics by name and by ID that follow it do not reach
// the store, and a topic created after the listing (by another agent,
// straight in the store) is looked up.
func TestCacheListingRefreshesEntries(t *testing.T) {
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	counting := &countingTopics{Topics: store}
	c := topics.NewCache(counting, time.Hour)
	var ids []metadata.TopicID
	for _, name := range []string{"a", "b", "c"} {
		tp, err := store.CreateTopic(ctx, name, 2, nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, tp.ID)
	}
	if list, err := c.ListTopics(ctx); err != nil || len(list) != 3 {
		t.Fatalf("ListTopics = %v, %v", list, err)
	}
	for i, name := range []string{"a", "b", "c"} {
		if tp, err := c.Topic(ctx, name); err != nil || tp.Name != name || tp.Partitions != 2 {
			t.Fatalf("Topic(%s) = %+v, %v", name, tp, err)
		}
		if tp, err := c.TopicByID(ctx, ids[i]); err != nil || tp.Name != name {
			t.Fatalf("TopicByID(%s) = %+v, %v", name, tp, err)
		}
	}
	if n := counting.lookups.Load(); n != 0 {
		t.Fatalf("%d store lookups after a listing, want 0", n)
	}
	if _, err := store.CreateTopic(ctx, "d", 1, nil); err != nil {
		t.Fatal(err)
	}
	if tp, err := c.Topic(ctx, "d"); err != nil || tp.Name != "d" {
		t.Fatalf("Topic(d) = %+v, %v", tp, err)
	}
	if n := counting.lookups.Load(); n != 1 {
		t.Fatalf("%d store lookups for a topic created after the listing, want 1", n)
	}
}

func openStore(t *testing.T) metadata.Store {
	t.Helper()
	store, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return store
}

// TestCacheTopicsByNameBatches checks that a by-name lookup of many topics
// is one store call for the names the cache lacks (unknown names
// included), none when all are fresh, and that a change made through the
// cache makes the next lookup ask for that name again.
func TestCacheTopicsByNameBatches(t *testing.T) {
	ctx := context.Background()
	store := openStore(t)
	counting := &countingTopics{Topics: store}
	c := topics.NewCache(counting, time.Hour)
	var names []string
	for i := range 300 {
		name := fmt.Sprintf("t%03d", i)
		names = append(names, name)
		if _, err := store.CreateTopic(ctx, name, int32(i%5+1), nil); err != nil {
			t.Fatal(err)
		}
	}
	if tp, err := c.Topic(ctx, "t007"); err != nil || tp.Partitions != 3 {
		t.Fatalf("Topic(t007) = %+v, %v", tp, err)
	}
	ask := append(append([]string{}, names...), "unknown-1", "t001", "unknown-2")
	for round := range 2 {
		got, err := c.TopicsByName(ctx, ask)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(names) {
			t.Fatalf("round %d: %d topics, want %d", round, len(got), len(names))
		}
		for i, name := range names {
			if got[name].Name != name || got[name].Partitions != int32(i%5+1) {
				t.Fatalf("round %d: %s = %+v", round, name, got[name])
			}
		}
		// The first round asks for every name but t007 (fresh from
		// Topic), each once; the second asks for nothing.
		if b, n := counting.batches.Load(), counting.names.Load(); b != 1 || n != int64(len(names)+2-1) {
			t.Fatalf("round %d: %d store calls for %d names, want 1 for %d", round, b, n, len(names)+2-1)
		}
	}
	if _, err := c.Topic(ctx, "unknown-1"); !errors.Is(err, metadata.ErrUnknownTopic) {
		t.Fatalf("Topic(unknown-1) = %v, want ErrUnknownTopic", err)
	}
	if n := counting.lookups.Load(); n != 1 {
		t.Fatalf("%d single lookups, want 1 (the first Topic): TopicsByName should have cached the rest, unknown names too", n)
	}

	if _, err := c.CreateTopic(ctx, "unknown-1", 2, nil); err != nil {
		t.Fatal(err)
	}
	got, err := c.TopicsByName(ctx, []string{"unknown-1", "t002"})
	if err != nil || got["unknown-1"].Partitions != 2 || got["t002"].Name != "t002" {
		t.Fatalf("TopicsByName after CreateTopic = %v, %v", got, err)
	}
	if b, n := counting.batches.Load(), counting.names.Load(); b != 2 || n != int64(len(names)+2) {
		t.Fatalf("after CreateTopic: %d store calls for %d names, want one more for the created name only", b, n)
	}
}

// gatedTopics holds every TopicsByName call until the test releases it,
// and fails it if its context ends first.
type gatedTopics struct {
	metadata.Topics
	calls chan gatedCall
}

type gatedCall struct {
	names   []string
	release chan struct{}
}

func (g *gatedTopics) TopicsByName(ctx context.Context, names []string) (map[string]metadata.Topic, error) {
	call := gatedCall{names: append([]string(nil), names...), release: make(chan struct{})}
	select {
	case g.calls <- call:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case <-call.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return g.Topics.TopicsByName(ctx, names)
}

func (g *gatedTopics) next(t *testing.T) gatedCall {
	t.Helper()
	select {
	case call := <-g.calls:
		slices.Sort(call.names)
		return call
	case <-time.After(10 * time.Second):
		t.Fatal("no store call")
		return gatedCall{}
	}
}

// TestCacheTopicsByNameSharesLookups checks that concurrent lookups of the
// same names share one store call, and that a lookup whose shared call
// failed with its caller's context (not its own) asks the store itself.
func TestCacheTopicsByNameSharesLookups(t *testing.T) {
	ctx := context.Background()
	store := openStore(t)
	for _, name := range []string{"a", "b", "c"} {
		if _, err := store.CreateTopic(ctx, name, 1, nil); err != nil {
			t.Fatal(err)
		}
	}
	gated := &gatedTopics{Topics: store, calls: make(chan gatedCall)}
	c := topics.NewCache(gated, time.Hour)
	type answer struct {
		found map[string]metadata.Topic
		err   error
	}
	lookup := func(ctx context.Context, names ...string) chan answer {
		ch := make(chan answer, 1)
		go func() {
			found, err := c.TopicsByName(ctx, names)
			ch <- answer{found, err}
		}()
		return ch
	}

	// Sharing: the second lookup asks the store only for c, and gets a
	// and b from the first's call.
	first := lookup(ctx, "a", "b")
	callA := gated.next(t)
	second := lookup(ctx, "a", "b", "c", "a")
	callB := gated.next(t) // registered: a and b are in flight
	if !slices.Equal(callA.names, []string{"a", "b"}) || !slices.Equal(callB.names, []string{"c"}) {
		t.Fatalf("store calls for %v and %v, want [a b] and [c]", callA.names, callB.names)
	}
	close(callB.release)
	close(callA.release)
	for _, ch := range []chan answer{first, second} {
		if a := <-ch; a.err != nil || a.found["a"].Name != "a" || a.found["b"].Name != "b" {
			t.Fatalf("lookup = %v, %v", a.found, a.err)
		}
	}

	// A failed shared call: its caller's context ends; the lookup that
	// waited for it asks for those names itself.
	c = topics.NewCache(gated, time.Hour)
	cancelled, cancel := context.WithCancel(ctx)
	first = lookup(cancelled, "a")
	callA = gated.next(t)
	second = lookup(ctx, "a", "x")
	callB = gated.next(t)
	if !slices.Equal(callA.names, []string{"a"}) || !slices.Equal(callB.names, []string{"x"}) {
		t.Fatalf("store calls for %v and %v, want [a] and [x]", callA.names, callB.names)
	}
	cancel()
	if a := <-first; !errors.Is(a.err, context.Canceled) {
		t.Fatalf("cancelled lookup = %v, %v; want context.Canceled", a.found, a.err)
	}
	close(callB.release)
	retry := gated.next(t)
	if !slices.Equal(retry.names, []string{"a"}) {
		t.Fatalf("retry asked for %v, want [a]", retry.names)
	}
	close(retry.release)
	if a := <-second; a.err != nil || len(a.found) != 1 || a.found["a"].Name != "a" {
		t.Fatalf("lookup after the shared call failed = %v, %v; want a only", a.found, a.err)
	}
}

// TestCacheSweepsUnknownNames checks that the entries of names the store
// did not have are dropped once expired (they would grow with every name
// a client ever asks for), while the entries of topics stay, however old,
// for the store's outages.
func TestCacheSweepsUnknownNames(t *testing.T) {
	ctx := context.Background()
	store := openStore(t)
	if _, err := store.CreateTopic(ctx, "kept", 1, nil); err != nil {
		t.Fatal(err)
	}
	c := topics.NewCache(store, time.Hour)
	now := time.Now()
	var clock atomic.Int64
	clock.Store(int64(time.Hour)) // the first lookup sweeps (nothing yet)
	c.SetSweepClock(func() time.Time { return now.Add(time.Duration(clock.Load())) })
	var names []string
	for i := range 100 {
		names = append(names, fmt.Sprintf("unknown-%d", i))
	}
	if got, err := c.TopicsByName(ctx, append(names, "kept")); err != nil || len(got) != 1 {
		t.Fatalf("TopicsByName = %v, %v", got, err)
	}
	if _, err := c.TopicByID(ctx, metadata.TopicID{1}); !errors.Is(err, metadata.ErrUnknownTopic) {
		t.Fatalf("TopicByID(unknown) = %v", err)
	}
	if n, ids := c.Entries(); n != 101 || ids != 1 {
		t.Fatalf("%d entries by name and %d by ID, want 101 and 1", n, ids)
	}
	// Eleven TTLs later (on the sweep's clock), the next lookup that
	// reaches the store sweeps the unknown names and ID.
	clock.Store(int64(12 * time.Hour))
	if _, err := c.Topic(ctx, "another-unknown"); !errors.Is(err, metadata.ErrUnknownTopic) {
		t.Fatalf("Topic(another-unknown) = %v", err)
	}
	if n, ids := c.Entries(); n != 2 || ids != 0 {
		t.Fatalf("after the sweep: %d entries by name and %d by ID, want 2 (kept, another-unknown) and 0", n, ids)
	}
	if tp, err := c.Topic(ctx, "kept"); err != nil || tp.Name != "kept" {
		t.Fatalf("Topic(kept) = %+v, %v", tp, err)
	}
}
