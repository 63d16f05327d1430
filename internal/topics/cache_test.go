package topics

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/metadata/sqlite"
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
	c := NewCache(flaky, 0)

	if _, err := c.ListTopics(ctx); err != nil {
		t.Fatal(err)
	}
	flaky.down.Store(true)
	if _, err := NewCache(flaky, 0).ListTopics(ctx); !errors.Is(err, errDown) {
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
	if _, err := c.Topic(ctx, "b"); !errors.Is(err, errDown) {
		t.Fatalf("Topic(b), never looked up, during the outage: error %v, want the store's", err)
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
