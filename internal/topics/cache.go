package topics

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/metadata"
)

// Cache serves topic lookups from memory, refreshing an entry once it is
// older than its TTL. Changes made through the cache invalidate it at once;
// changes made by other agents are seen within the TTL. It is safe for
// concurrent use.
type Cache struct {
	metadata.Topics
	ttl time.Duration
	// stale serves an expired entry when the store cannot be asked
	// (ripcord: availability over freshness). Set before use.
	stale bool

	mu     sync.Mutex // guards byName
	byName map[string]cached
}

type cached struct {
	topic   metadata.Topic
	err     error // metadata.ErrUnknownTopic is cached too
	fetched time.Time
}

// NewCache wraps topics with a cache whose entries live for ttl.
func NewCache(topics metadata.Topics, ttl time.Duration) *Cache {
	return &Cache{Topics: topics, ttl: ttl, byName: make(map[string]cached)}
}

// ServeStale makes Topic answer from an expired entry when the store
// fails (the agent's --ripcord: produce to existing topics goes on during
// a metadata store outage). Call it before use.
func (c *Cache) ServeStale() { c.stale = true }

// Topic returns a topic by name, from the cache when fresh.
func (c *Cache) Topic(ctx context.Context, name string) (metadata.Topic, error) {
	c.mu.Lock()
	e, ok := c.byName[name]
	c.mu.Unlock()
	if ok && time.Since(e.fetched) < c.ttl {
		return e.topic, e.err
	}
	t, err := c.Topics.Topic(ctx, name)
	if err != nil && !errors.Is(err, metadata.ErrUnknownTopic) {
		if ok && c.stale && e.err == nil {
			return e.topic, nil
		}
		return t, err
	}
	c.mu.Lock()
	c.byName[name] = cached{topic: t, err: err, fetched: time.Now()}
	c.mu.Unlock()
	return t, err
}

// CreateTopic creates through the store and invalidates the entry.
func (c *Cache) CreateTopic(ctx context.Context, name string, partitions int32, configs map[string]string) (metadata.Topic, error) {
	t, err := c.Topics.CreateTopic(ctx, name, partitions, configs)
	c.invalidate(name)
	return t, err
}

// DeleteTopic deletes through the store and invalidates the entry.
func (c *Cache) DeleteTopic(ctx context.Context, name string) (metadata.Topic, error) {
	t, err := c.Topics.DeleteTopic(ctx, name)
	c.invalidate(name)
	return t, err
}

func (c *Cache) invalidate(name string) {
	c.mu.Lock()
	delete(c.byName, name)
	c.mu.Unlock()
}

// AlterTopicConfigs alters through the store and invalidates the entry.
func (c *Cache) AlterTopicConfigs(ctx context.Context, name string, fn func(map[string]string) (map[string]string, error)) (metadata.Topic, error) {
	t, err := c.Topics.AlterTopicConfigs(ctx, name, fn)
	c.invalidate(name)
	return t, err
}

// AddPartitions adds through the store and invalidates the entry.
func (c *Cache) AddPartitions(ctx context.Context, name string, count int32) (metadata.Topic, error) {
	t, err := c.Topics.AddPartitions(ctx, name, count)
	c.invalidate(name)
	return t, err
}
