package kafka

import (
	"math/rand/v2"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Incremental fetch sessions (KIP-227). A consumer that fetches many
// partitions from an agent opens a session with a full fetch (session ID
// 0, epoch 0); the agent remembers the partitions, their fetch offsets and
// what it last told the consumer about each. Later fetches (the session's
// ID, the next epoch) send only the partitions whose fetch offset changed
// and the ones to forget, and are answered with only the partitions that
// have news: records, an error, or a changed high watermark, last stable
// offset or log start offset.
//
// Sessions live in the agent's memory: a restarted agent, or one that
// evicted the session, answers FETCH_SESSION_ID_NOT_FOUND, and the client
// starts over with a full fetch, as against a Kafka broker.

// sessionEvictIdle is how long a session must have been unused before a
// new one may evict it when the cache is full (Kafka protects a recently
// used session the same way).
const sessionEvictIdle = 2 * time.Minute

// fetchSessions is the agent's session cache, bounded by slots sessions.
type fetchSessions struct {
	slots int
	now   func() time.Time
	// count, if set, is kept equal to the number of sessions.
	count prometheus.Gauge

	mu     sync.Mutex // guards byID, nextID and every session's fields
	byID   map[int32]*fetchSession
	nextID int32
}

// fetchSession is one client's session.
type fetchSession struct {
	id int32
	// epoch is the epoch the next incremental fetch must carry.
	epoch    int32
	lastUsed time.Time
	// parts are the session's partitions in the order they were added
	// (the order responses list them in); index finds them.
	parts []*sessionPart
	index map[sessionKey]*sessionPart
}

// sessionKey names a partition: by topic name up to Fetch v12, by topic ID
// from v13 (a session's requests are all of one version in practice, and
// a session started by name is never looked up by ID).
type sessionKey struct {
	topic     string
	topicID   [16]byte
	partition int32
}

// sessionPart is a partition of a session: the fetch parameters the client
// last sent, and what the agent last answered.
type sessionPart struct {
	key                         sessionKey
	fetchOffset                 int64
	maxBytes                    int32
	highWatermark, lastStable   int64
	logStart                    int64
	answered                    bool
	currentLeaderEpoch          int32
	lastFetchedEpoch            int32
	logStartOffsetFromFollowers int64
}

func newFetchSessions(slots int, count prometheus.Gauge) *fetchSessions {
	return &fetchSessions{slots: slots, now: time.Now, count: count, byID: make(map[int32]*fetchSession), nextID: rand.Int32N(1 << 30)}
}

// counted updates the gauge; c.mu is held.
func (c *fetchSessions) counted() {
	if c.count != nil {
		c.count.Set(float64(len(c.byID)))
	}
}

// fetchPlan is what a Fetch request reads under its session: the topics
// and partitions to read (the request's own for a full fetch, the
// session's for an incremental one) and, when there is a session, its
// partitions in the same order.
type fetchPlan struct {
	topics      []kmsg.FetchRequestTopic
	session     *fetchSession
	parts       []*sessionPart
	incremental bool
}

// plan applies a Fetch request's session fields (v7+), returning what to
// read or a top-level error code.
func (c *fetchSessions) plan(version int16, m *kmsg.FetchRequest) (fetchPlan, int16) {
	full := fetchPlan{topics: m.Topics}
	if c == nil || version < 7 {
		if version >= 7 && m.SessionID != 0 && m.SessionEpoch > 0 {
			return fetchPlan{}, kerr.FetchSessionIDNotFound.Code
		}
		return full, 0
	}
	byID := version >= 13
	c.mu.Lock()
	defer c.mu.Unlock()
	defer c.counted()
	switch {
	case m.SessionEpoch == -1: // a sessionless full fetch, closing the session named
		delete(c.byID, m.SessionID)
		return full, 0
	case m.SessionEpoch == 0: // a full fetch opening a session (closing the one named)
		delete(c.byID, m.SessionID)
		s := c.create()
		if s == nil {
			return full, 0 // no room: answered without a session
		}
		full.session = s
		s.apply(m.Topics, nil, byID)
		full.parts = s.partsOf(m.Topics, byID)
		return full, 0
	}
	s, ok := c.byID[m.SessionID]
	if !ok || m.SessionID == 0 {
		return fetchPlan{}, kerr.FetchSessionIDNotFound.Code
	}
	if m.SessionEpoch != s.epoch {
		return fetchPlan{}, kerr.InvalidFetchSessionEpoch.Code
	}
	s.epoch = nextEpoch(s.epoch)
	s.lastUsed = c.now()
	s.apply(m.Topics, m.ForgottenTopics, byID)
	p := fetchPlan{session: s, incremental: true, parts: s.parts}
	p.topics = s.requestTopics()
	return p, 0
}

// nextEpoch follows epoch, wrapping to 1 past the largest int32 (0 and -1
// have their own meanings).
func nextEpoch(epoch int32) int32 {
	if epoch == 1<<31-1 {
		return 1
	}
	return epoch + 1
}

// create makes a session, evicting the least recently used one that has
// been idle for sessionEvictIdle when the cache is full; nil when there is
// no room. c.mu is held.
func (c *fetchSessions) create() *fetchSession {
	if c.slots <= 0 {
		return nil
	}
	now := c.now()
	if len(c.byID) >= c.slots {
		var victim *fetchSession
		for _, s := range c.byID {
			if victim == nil || s.lastUsed.Before(victim.lastUsed) {
				victim = s
			}
		}
		if victim == nil || now.Sub(victim.lastUsed) < sessionEvictIdle {
			return nil
		}
		delete(c.byID, victim.id)
	}
	for {
		c.nextID++
		if c.nextID <= 0 {
			c.nextID = 1
		}
		if _, taken := c.byID[c.nextID]; !taken {
			break
		}
	}
	s := &fetchSession{id: c.nextID, epoch: 1, lastUsed: now, index: make(map[sessionKey]*sessionPart)}
	c.byID[s.id] = s
	return s
}

// len is the number of sessions.
func (c *fetchSessions) len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.byID)
}

func keyOf(t *kmsg.FetchRequestTopic, partition int32, byID bool) sessionKey {
	if byID {
		return sessionKey{topicID: t.TopicID, partition: partition}
	}
	return sessionKey{topic: t.Topic, partition: partition}
}

// apply adds or updates the request's partitions and removes the
// forgotten ones.
func (s *fetchSession) apply(topics []kmsg.FetchRequestTopic, forgotten []kmsg.FetchRequestForgottenTopic, byID bool) {
	for i := range topics {
		t := &topics[i]
		for _, rp := range t.Partitions {
			k := keyOf(t, rp.Partition, byID)
			p, ok := s.index[k]
			if !ok {
				p = &sessionPart{key: k}
				s.index[k] = p
				s.parts = append(s.parts, p)
			}
			p.fetchOffset, p.maxBytes = rp.FetchOffset, rp.PartitionMaxBytes
			p.currentLeaderEpoch, p.lastFetchedEpoch, p.logStartOffsetFromFollowers = rp.CurrentLeaderEpoch, rp.LastFetchedEpoch, rp.LogStartOffset
		}
	}
	if len(forgotten) == 0 {
		return
	}
	gone := false
	for _, f := range forgotten {
		for _, partition := range f.Partitions {
			k := sessionKey{topic: f.Topic, partition: partition}
			if byID {
				k = sessionKey{topicID: f.TopicID, partition: partition}
			}
			if _, ok := s.index[k]; ok {
				delete(s.index, k)
				gone = true
			}
		}
	}
	if gone {
		kept := s.parts[:0]
		for _, p := range s.parts {
			if s.index[p.key] == p {
				kept = append(kept, p)
			}
		}
		clear(s.parts[len(kept):])
		s.parts = kept
	}
}

// partsOf returns the session's partitions in the order topics lists them.
func (s *fetchSession) partsOf(topics []kmsg.FetchRequestTopic, byID bool) []*sessionPart {
	var out []*sessionPart
	for i := range topics {
		for _, rp := range topics[i].Partitions {
			out = append(out, s.index[keyOf(&topics[i], rp.Partition, byID)])
		}
	}
	return out
}

// requestTopics is the session's partitions as a full Fetch request would
// list them, consecutive partitions of one topic grouped. The response
// lists them in the same order as s.parts.
func (s *fetchSession) requestTopics() []kmsg.FetchRequestTopic {
	var out []kmsg.FetchRequestTopic
	for _, p := range s.parts {
		if n := len(out); n == 0 || out[n-1].Topic != p.key.topic || out[n-1].TopicID != p.key.topicID {
			t := kmsg.NewFetchRequestTopic()
			t.Topic, t.TopicID = p.key.topic, p.key.topicID
			out = append(out, t)
		}
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition = p.key.partition
		rp.FetchOffset = p.fetchOffset
		rp.PartitionMaxBytes = p.maxBytes
		rp.CurrentLeaderEpoch, rp.LastFetchedEpoch, rp.LogStartOffset = p.currentLeaderEpoch, p.lastFetchedEpoch, p.logStartOffsetFromFollowers
		t := &out[len(out)-1]
		t.Partitions = append(t.Partitions, rp)
	}
	return out
}

// finish records what resp tells the session's client and, for an
// incremental fetch, reports which partitions to leave out: those with no
// records, no error and the same high watermark, last stable offset and
// log start offset as last answered. keep[i] is for the i-th partition of
// resp in order (which is plan.parts' order).
func (c *fetchSessions) finish(p fetchPlan, resp *kmsg.FetchResponse) (keep []bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	keep = make([]bool, 0, len(p.parts))
	i := 0
	for ti := range resp.Topics {
		for pi := range resp.Topics[ti].Partitions {
			op := &resp.Topics[ti].Partitions[pi]
			sp := p.parts[i]
			i++
			changed := !p.incremental || !sp.answered || op.ErrorCode != 0 || len(op.RecordBatches) > 0 ||
				op.HighWatermark != sp.highWatermark || op.LastStableOffset != sp.lastStable || op.LogStartOffset != sp.logStart
			if op.ErrorCode == 0 {
				sp.highWatermark, sp.lastStable, sp.logStart, sp.answered = op.HighWatermark, op.LastStableOffset, op.LogStartOffset, true
			} else {
				sp.answered = false // answered again once it recovers
			}
			keep = append(keep, changed)
		}
	}
	return keep
}
