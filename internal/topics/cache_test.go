package topics_test

import (
	"context"
	"errors"
	"path/filepath"
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
