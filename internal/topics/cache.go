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

	mu     sync.Mutex // guards byName, byID, list, listed, flights, gen and swept
	byName map[string]cached
	byID   map[metadata.TopicID]cached
	// list is the last listing the store returned; listed says whether
	// there has been one.
	list   []metadata.Topic
	listed bool
	// flights are the by-name store lookups in progress, by name: a
	// lookup of a name that is in flight waits for that answer instead of
	// asking the store again.
	flights map[string]*flight
	// gen counts changes made through the cache: a lookup that started
	// before one does not store its (possibly older) answer.
	gen uint64
	// swept is when expired negative entries were last dropped (sweep).
	swept time.Time
	// now is the sweep's clock (time.Now; tests move it).
	now func() time.Time
}

type cached struct {
	topic   metadata.Topic
	err     error // metadata.ErrUnknownTopic is cached too
	fetched time.Time
}

// flight is one store lookup of some names; done is closed once found
// and err are set, and they are not written after.
type flight struct {
	done  chan struct{}
	found map[string]metadata.Topic
	err   error
}

// NewCache wraps topics with a cache whose entries live for ttl.
func NewCache(topics metadata.Topics, ttl time.Duration) *Cache {
	return &Cache{Topics: topics, ttl: ttl, byName: make(map[string]cached), byID: make(map[metadata.TopicID]cached), flights: make(map[string]*flight), now: time.Now}
}

// Topic returns a topic by name, from the cache when fresh. A lookup of
// the name already in flight (TopicsByName) is waited for instead of
// repeated.
func (c *Cache) Topic(ctx context.Context, name string) (metadata.Topic, error) {
	c.mu.Lock()
	e, ok := c.byName[name]
	f := c.flights[name]
	gen := c.gen
	c.mu.Unlock()
	if ok && time.Since(e.fetched) < c.ttl {
		return e.topic, e.err
	}
	if f != nil {
		select {
		case <-f.done:
		case <-ctx.Done():
			return metadata.Topic{}, ctx.Err()
		}
		if f.err == nil {
			if t, found := f.found[name]; found {
				return t, nil
			}
			return metadata.Topic{}, metadata.ErrUnknownTopic
		}
		// The flight failed (perhaps only its own caller's context
		// ended): ask the store ourselves.
	}
	t, err := c.Topics.Topic(ctx, name)
	if err != nil && !errors.Is(err, metadata.ErrUnknownTopic) {
		if ok && ctx.Err() == nil && e.err == nil {
			return e.topic, nil // stale, while the store is away
		}
		return t, err
	}
	c.mu.Lock()
	c.sweep()
	if c.gen == gen {
		c.byName[name] = cached{topic: t, err: err, fetched: time.Now()}
	}
	c.mu.Unlock()
	return t, err
}

// sweep drops the expired negative entries (names and IDs the store did
// not have), at most once every ten TTLs: they would otherwise pile up
// for every name a client ever asked for. Entries of topics stay, however
// old: they are what the cache serves while the store is away. c.mu must
// be held.
func (c *Cache) sweep() {
	now := c.now()
	if now.Sub(c.swept) < 10*c.ttl {
		return
	}
	c.swept = now
	for name, e := range c.byName {
		if e.err != nil && now.Sub(e.fetched) >= c.ttl {
			delete(c.byName, name)
		}
	}
	for id, e := range c.byID {
		if e.err != nil && now.Sub(e.fetched) >= c.ttl {
			delete(c.byID, id)
		}
	}
}

// TopicsByName returns the topics of names that exist, keyed by name,
// from the cache when fresh; the names missing or expired are looked up
// in one store call (metadata.Topics.TopicsByName), shared with the
// lookups in flight for the same names. A name missing from the map is
// unknown, unless an error is returned too: while the store cannot
// answer, the map holds what the cache last saw of the names it could
// not look up (however old) and the error says that the others are not
// known either way.
func (c *Cache) TopicsByName(ctx context.Context, names []string) (map[string]metadata.Topic, error) {
	out := make(map[string]metadata.Topic, len(names))
	var (
		ask     []string // names this call looks up, under mine
		mine    *flight
		waiting map[string]*flight // names other calls are looking up
	)
	now := time.Now()
	c.mu.Lock()
	gen := c.gen
	for _, name := range names {
		if e, ok := c.byName[name]; ok && now.Sub(e.fetched) < c.ttl {
			if e.err == nil {
				out[name] = e.topic
			}
			continue
		}
		if f := c.flights[name]; f != nil {
			if f != mine { // else a repeated name
				if waiting == nil {
					waiting = make(map[string]*flight)
				}
				waiting[name] = f
			}
			continue
		}
		if mine == nil {
			mine = &flight{done: make(chan struct{})}
		}
		c.flights[name] = mine
		ask = append(ask, name)
	}
	c.mu.Unlock()

	var errs []error
	if mine != nil {
		found, err := c.Topics.TopicsByName(ctx, ask)
		mine.found, mine.err = found, err
		c.mu.Lock()
		for _, name := range ask {
			if c.flights[name] == mine {
				delete(c.flights, name)
			}
		}
		if err == nil && c.gen == gen {
			c.sweep()
			fetched := time.Now()
			for _, name := range ask {
				if t, ok := found[name]; ok {
					c.byName[name] = cached{topic: t, fetched: fetched}
				} else {
					c.byName[name] = cached{err: metadata.ErrUnknownTopic, fetched: fetched}
				}
			}
		}
		c.mu.Unlock()
		close(mine.done)
		if err := c.answer(ctx, out, ask, found, err); err != nil {
			errs = append(errs, err)
		}
	}
	// The names other calls look up: their answers, or, where a flight
	// failed (perhaps only because its caller's context ended), a lookup
	// of this call's own.
	var retry []string
	for name, f := range waiting {
		select {
		case <-f.done:
		case <-ctx.Done():
			return out, ctx.Err()
		}
		if f.err != nil {
			retry = append(retry, name)
		} else if t, ok := f.found[name]; ok {
			out[name] = t
		}
	}
	if len(retry) > 0 {
		found, err := c.Topics.TopicsByName(ctx, retry)
		if err := c.answer(ctx, out, retry, found, err); err != nil {
			errs = append(errs, err)
		}
	}
	return out, errors.Join(errs...)
}

// answer adds the store's answer for names (found, err) to out; when the
// store failed, it adds the last known topics of those names instead and
// returns the error.
func (c *Cache) answer(ctx context.Context, out map[string]metadata.Topic, names []string, found map[string]metadata.Topic, err error) error {
	if err == nil {
		for _, name := range names {
			if t, ok := found[name]; ok {
				out[name] = t
			}
		}
		return nil
	}
	if ctx.Err() != nil {
		return err
	}
	c.mu.Lock()
	for _, name := range names {
		if e, ok := c.byName[name]; ok && e.err == nil {
			out[name] = e.topic // stale, while the store is away
		}
	}
	c.mu.Unlock()
	return err
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
	c.sweep()
	c.byID[id] = cached{topic: t, err: err, fetched: time.Now()}
	c.mu.Unlock()
	return t, err
}

// ListTopics lists the topics through the store, or, when the store
// fails, returns the last listing it gave (an error only if it never gave
// one).
func (c *Cache) ListTopics(ctx context.Context) ([]metadata.Topic, error) {
	c.mu.Lock()
	gen := c.gen
	c.mu.Unlock()
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
	// answered from memory instead of with a query per topic. A listing
	// that may predate a change made through the cache refreshes nothing.
	if c.gen != gen {
		return list, nil
	}
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

// CreateTopics creates through the store and invalidates the entries.
func (c *Cache) CreateTopics(ctx context.Context, specs []metadata.TopicSpec) ([]metadata.TopicResult, error) {
	res, err := c.Topics.CreateTopics(ctx, specs)
	for i, sp := range specs {
		var t metadata.Topic
		if i < len(res) {
			t = res[i].Topic
		}
		c.invalidate(sp.Name, t)
	}
	return res, err
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
	// A lookup in flight may have read the store before this change:
	// later lookups ask again, and it does not store its answer.
	delete(c.flights, name)
	c.gen++
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
