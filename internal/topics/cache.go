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
//
// While the metadata store cannot answer, lookups and listings are served
// from what the cache last saw, however old, as a Kafka broker answers
// Metadata from its metadata cache while the controller is unreachable: a
// client then keeps its topics (and retries its produce against them)
// instead of seeing them vanish.
type Cache struct {
	metadata.Topics
	ttl time.Duration

	mu     sync.Mutex // guards byName, byID, list and listed
	byName map[string]cached
	byID   map[metadata.TopicID]cached
	// list is the last listing the store returned; listed says whether
	// there has been one.
	list   []metadata.Topic
	listed bool
}

type cached struct {
	topic   metadata.Topic
	err     error // metadata.ErrUnknownTopic is cached too
	fetched time.Time
}

// NewCache wraps topics with a cache whose entries live for ttl.
func NewCache(topics metadata.Topics, ttl time.Duration) *Cache {
	return &Cache{Topics: topics, ttl: ttl, byName: make(map[string]cached), byID: make(map[metadata.TopicID]cached)}
}

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
		if ok && ctx.Err() == nil && e.err == nil {
			return e.topic, nil // stale, while the store is away
		}
		return t, err
	}
	c.mu.Lock()
	c.byName[name] = cached{topic: t, err: err, fetched: time.Now()}
	c.mu.Unlock()
	return t, err
}

// TopicByID returns a topic by ID (as Fetch v13+ and Metadata name
// topics), from the cache when fresh, like Topic.
func (c *Cache) TopicByID(ctx context.Context, id metadata.TopicID) (metadata.Topic, error) {
	c.mu.Lock()
	e, ok := c.byID[id]
	c.mu.Unlock()
	if ok && time.Since(e.fetched) < c.ttl {
		return e.topic, e.err
	}
	t, err := c.Topics.TopicByID(ctx, id)
	if err != nil && !errors.Is(err, metadata.ErrUnknownTopic) {
		if ok && ctx.Err() == nil && e.err == nil {
			return e.topic, nil // stale, while the store is away
		}
		return t, err
	}
	c.mu.Lock()
	c.byID[id] = cached{topic: t, err: err, fetched: time.Now()}
	c.mu.Unlock()
	return t, err
}

// ListTopics lists the topics through the store, or, when the store
// fails, returns the last listing it gave (an error only if it never gave
// one).
func (c *Cache) ListTopics(ctx context.Context) ([]metadata.Topic, error) {
	list, err := c.Topics.ListTopics(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		if c.listed && ctx.Err() == nil {
			return append([]metadata.Topic(nil), c.list...), nil
		}
		return nil, err
	}
	c.list, c.listed = append(c.list[:0:0], list...), true
	// A listing is as fresh as a lookup: it refreshes every listed
	// topic's entries, so the by-name Metadata requests that follow a
	// client's all-topics one (franz-go asks for each of its topics) are
	// answered from memory instead of with a query per topic.
	now := time.Now()
	for _, t := range list {
		e := cached{topic: t, fetched: now}
		c.byName[t.Name] = e
		c.byID[t.ID] = e
	}
	return list, nil
}

// CreateTopic creates through the store and invalidates the entry.
func (c *Cache) CreateTopic(ctx context.Context, name string, partitions int32, configs map[string]string) (metadata.Topic, error) {
	t, err := c.Topics.CreateTopic(ctx, name, partitions, configs)
	c.invalidate(name, t)
	return t, err
}

// DeleteTopic deletes through the store and invalidates the entry.
func (c *Cache) DeleteTopic(ctx context.Context, name string) (metadata.Topic, error) {
	t, err := c.Topics.DeleteTopic(ctx, name)
	c.invalidate(name, t)
	return t, err
}

// invalidate drops name's entry, and the entry of the ID a change through
// the cache returned (t, when it has one).
func (c *Cache) invalidate(name string, t metadata.Topic) {
	c.mu.Lock()
	if e, ok := c.byName[name]; ok {
		delete(c.byID, e.topic.ID)
	}
	delete(c.byName, name)
	delete(c.byID, t.ID)
	c.mu.Unlock()
}

// AlterTopicConfigs alters through the store and invalidates the entry.
func (c *Cache) AlterTopicConfigs(ctx context.Context, name string, fn func(map[string]string) (map[string]string, error)) (metadata.Topic, error) {
	t, err := c.Topics.AlterTopicConfigs(ctx, name, fn)
	c.invalidate(name, t)
	return t, err
}

// AddPartitions adds through the store and invalidates the entry.
func (c *Cache) AddPartitions(ctx context.Context, name string, count int32) (metadata.Topic, error) {
	t, err := c.Topics.AddPartitions(ctx, name, count)
	c.invalidate(name, t)
	return t, err
}
