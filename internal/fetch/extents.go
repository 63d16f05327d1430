package fetch

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/metadata"
)

// extentRuns remembers, per partition, the run of extents the last index
// lookup returned. A consumer reads a partition a partition_max_bytes at a
// time, usually far less than one extent, so its next Fetch starts inside
// the run its last one looked up: answering that from memory saves an index
// query per partition per Fetch (with SQLite about a fifth of the agent's
// CPU while it served consumers; with PostgreSQL a round trip).
//
// A remembered extent can only go stale by being replaced (compaction) or
// dropped (retention, DeleteRecords). Reads check the log bounds with the
// store on every Fetch, so dropped extents are never asked for; a replaced
// one still names a file that stays readable for the file grace period (an
// hour by default), and holds the same offsets. Runs are forgotten after
// extentRunTTL, far inside that period, and at once when a read finds a
// file gone.
type extentRuns struct {
	ttl time.Duration
	now func() time.Time

	mu   sync.Mutex // guards runs
	runs map[partitionKey]extentRun
}

type partitionKey struct {
	topic     metadata.TopicID
	partition int32
}

// extentRun is a contiguous run of extents in offset order, as one lookup
// returned it; it is never modified once stored, so lookups share it.
type extentRun struct {
	extents []metadata.Extent
	at      time.Time
}

// extentRunTTL bounds how long a remembered run is used.
const extentRunTTL = 10 * time.Second

// maxExtentRuns bounds the partitions remembered; the table is cleared when
// full (a consumer of more partitions than this at once costs queries, as
// before, rather than memory).
const maxExtentRuns = 1 << 16

func newExtentRuns() *extentRuns {
	return &extentRuns{ttl: extentRunTTL, now: time.Now, runs: map[partitionKey]extentRun{}}
}

// lookup returns the remembered extents of k from the one that contains
// offset from on, or nil. The result is shared: callers must not modify it.
func (c *extentRuns) lookup(k partitionKey, from int64) []metadata.Extent {
	c.mu.Lock()
	run, ok := c.runs[k]
	c.mu.Unlock()
	if !ok || c.now().Sub(run.at) > c.ttl {
		return nil
	}
	exts := run.extents
	i := sort.Search(len(exts), func(i int) bool { return exts[i].EndOffset > from })
	if i == len(exts) || exts[i].BaseOffset > from {
		return nil
	}
	return exts[i:len(exts):len(exts)]
}

// store remembers extents (as a lookup returned them; not modified after)
// as k's run, replacing the one before.
func (c *extentRuns) store(k partitionKey, extents []metadata.Extent) {
	if len(extents) == 0 {
		return
	}
	at := c.now()
	c.mu.Lock()
	if len(c.runs) >= maxExtentRuns {
		clear(c.runs)
	}
	c.runs[k] = extentRun{extents: extents, at: at}
	c.mu.Unlock()
}

// forget drops k's run.
func (c *extentRuns) forget(k partitionKey) {
	c.mu.Lock()
	delete(c.runs, k)
	c.mu.Unlock()
}

// extents returns up to extentsPerLookup extents of a partition from the one
// that contains offset from on, from the remembered run when it holds from,
// else from the index (and remembers what the index returned). The result
// is shared: callers must not modify it.
func (r *Reader) extents(ctx context.Context, topic metadata.TopicID, partition int32, from int64) ([]metadata.Extent, error) {
	k := partitionKey{topic, partition}
	if exts := r.runs.lookup(k, from); exts != nil {
		r.metrics.extentHits.Inc()
		return exts, nil
	}
	r.metrics.extentMisses.Inc()
	exts, err := r.log.Extents(ctx, topic, partition, from, extentsPerLookup)
	if err != nil {
		return nil, err
	}
	r.runs.store(k, exts)
	return exts, nil
}
