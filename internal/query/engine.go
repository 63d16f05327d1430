package query

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/events"
	"github.com/sluicehq/sluice/internal/fetch"
	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/records"
)

// Source is the agent's read path (fetch.Reader).
type Source interface {
	Read(ctx context.Context, topic metadata.TopicID, partition int32, offset int64, maxBytes int, minOne bool) (fetch.Result, error)
	OffsetForTimestamp(ctx context.Context, topic metadata.TopicID, partition int32, ts int64) (offset, timestamp int64, found bool, err error)
}

// Store finds topics and their log bounds (the metadata store).
type Store interface {
	Topic(ctx context.Context, name string) (metadata.Topic, error)
	PartitionState(ctx context.Context, topic metadata.TopicID, partition int32) (metadata.PartitionState, error)
}

// Errors of Run besides *SyntaxError.
var (
	// ErrBusy: MaxConcurrent queries are already running.
	ErrBusy = errors.New("query: too many queries running; try again shortly")
	// ErrInvalid wraps a query that parses but cannot run (a range too
	// long, a limit too large, an unknown stream).
	ErrInvalid = errors.New("query: invalid")
)

// Limits protect the agent from its queries (docs/events.md, "Limits").
type Limits struct {
	// MaxRange is the longest time range a query may cover (24h).
	MaxRange time.Duration
	// DefaultRange is the range of a query without since (1h).
	DefaultRange time.Duration
	// MaxScanBytes bounds the record bytes one query reads (1 GiB).
	MaxScanBytes int64
	// MaxMemoryBytes bounds what one query holds: kept events and groups
	// (64 MiB).
	MaxMemoryBytes int64
	// MaxConcurrent bounds queries running at once on this agent (2).
	MaxConcurrent int
	// Timeout bounds one query's run (30s).
	Timeout time.Duration
	// DefaultLimit and MaxLimit bound the events or groups returned
	// (100, 10000).
	DefaultLimit, MaxLimit int
	// TaskOffsets is the offsets one task covers (4096).
	TaskOffsets int64
	// Parallelism is the tasks of one query read at once (2).
	Parallelism int
	// Skew is how far timestamps may run backwards along a partition's
	// offsets (clock skew between the agents writing events, and records
	// stamped before they are batched); planning and pruning widen the
	// range by it so they never skip an event in range (30s).
	Skew time.Duration
	// ReadBytes is the bytes one read asks for (1 MiB).
	ReadBytes int
}

func (l *Limits) setDefaults() {
	def := func(v *int64, d int64) {
		if *v <= 0 {
			*v = d
		}
	}
	if l.MaxRange <= 0 {
		l.MaxRange = 24 * time.Hour
	}
	if l.DefaultRange <= 0 {
		l.DefaultRange = time.Hour
	}
	def(&l.MaxScanBytes, 1<<30)
	def(&l.MaxMemoryBytes, 64<<20)
	def(&l.TaskOffsets, 4096)
	if l.MaxConcurrent <= 0 {
		l.MaxConcurrent = 2
	}
	if l.Timeout <= 0 {
		l.Timeout = 30 * time.Second
	}
	if l.DefaultLimit <= 0 {
		l.DefaultLimit = 100
	}
	if l.MaxLimit <= 0 {
		l.MaxLimit = 10000
	}
	if l.Parallelism <= 0 {
		l.Parallelism = 2
	}
	if l.Skew <= 0 {
		l.Skew = 30 * time.Second
	}
	if l.ReadBytes <= 0 {
		l.ReadBytes = 1 << 20
	}
}

// Engine runs queries. It is safe for concurrent use.
type Engine struct {
	src    Source
	store  Store
	limits Limits
	sem    chan struct{} // a token per running query
}

// NewEngine returns an Engine reading through src.
func NewEngine(src Source, store Store, l Limits) *Engine {
	l.setDefaults()
	return &Engine{src: src, store: store, limits: l, sem: make(chan struct{}, l.MaxConcurrent)}
}

// Limits returns the engine's limits (defaults applied).
func (e *Engine) Limits() Limits { return e.limits }

// Options adjust one run.
type Options struct {
	// Now is the time relative bounds count back from (zero: time.Now).
	Now time.Time
	// Since and Until, when set, replace the query's own bounds.
	Since, Until *TimeSpec
	// Limit, when positive, replaces the query's limit.
	Limit int
	// PageToken continues a list where the previous page's
	// NextPageToken left it.
	PageToken string
	// NoIndex plans every partition's whole log instead of the offsets
	// the timestamp index gives; NoPruning turns watermark pruning and
	// top-N pruning off. Both exist to measure what they save.
	NoIndex, NoPruning bool
}

// Event is one event of a list.
type Event struct {
	Topic     string          `json:"topic"`
	Partition int32           `json:"partition"`
	Offset    int64           `json:"offset"`
	Time      time.Time       `json:"time"`
	Event     json.RawMessage `json:"event"`
}

// Group is the count of one group (Key maps each group-by field to its
// value; "" for missing).
type Group struct {
	Key   map[string]string `json:"key"`
	Count int64             `json:"count"`
}

// Bucket is one timeline bucket, [Start, Start+width).
type Bucket struct {
	Start  time.Time `json:"start"`
	Count  int64     `json:"count"`
	Groups []Group   `json:"groups,omitempty"`
}

// Stats describe a run: what planning found and what execution read.
type Stats struct {
	Partitions int `json:"partitions"`
	// TasksTotal is how many tasks a scan of every partition's whole log
	// would take; TasksPlanned how many the timestamp index left;
	// TasksScanned how many were read and TasksPruned how many were
	// skipped thanks to the timestamps the read ones showed (or because
	// the list was complete).
	TasksTotal     int     `json:"tasks_total"`
	TasksPlanned   int     `json:"tasks_planned"`
	TasksScanned   int     `json:"tasks_scanned"`
	TasksPruned    int     `json:"tasks_pruned"`
	BytesScanned   int64   `json:"bytes_scanned"`
	RecordsScanned int64   `json:"records_scanned"`
	RecordsMatched int64   `json:"records_matched"`
	MetadataOnly   bool    `json:"metadata_only"`
	EarlyExit      bool    `json:"early_exit"`
	DurationMs     float64 `json:"duration_ms"`
}

// Result is a query's answer. Kind says which of Events, Count, Groups or
// Timeline holds it.
type Result struct {
	Kind     string    `json:"kind"` // events, count, groups, timeline
	Events   []Event   `json:"events,omitempty"`
	Count    int64     `json:"count"`
	Groups   []Group   `json:"groups,omitempty"`
	Timeline []Bucket  `json:"timeline,omitempty"`
	Since    time.Time `json:"since"`
	Until    time.Time `json:"until"`
	Sort     string    `json:"sort,omitempty"`
	// Partial is set when a limit stopped the query before it read
	// everything in range; LimitsHit names the limits (scan_bytes,
	// memory, timeout).
	Partial       bool     `json:"partial"`
	LimitsHit     []string `json:"limits_hit,omitempty"`
	NextPageToken string   `json:"next_page_token,omitempty"`
	Stats         Stats    `json:"stats"`
}

// pageToken continues a sorted list.
type pageToken struct {
	T    int64    `json:"t"`    // the last page's last timestamp (ms)
	Seen []string `json:"seen"` // events at T already returned
}

// Run executes q.
func (e *Engine) Run(ctx context.Context, q *Query, o Options) (*Result, error) {
	select {
	case e.sem <- struct{}{}:
	default:
		return nil, ErrBusy
	}
	defer func() { <-e.sem }()
	start := time.Now()
	now := o.Now
	if now.IsZero() {
		now = start
	}
	ex, err := e.prepare(q, o, now)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, e.limits.Timeout)
	defer cancel()
	if err := ex.plan(ctx); err != nil {
		return nil, err
	}
	ex.run(ctx)
	res := ex.result()
	if ctx.Err() != nil && !ex.complete() {
		res.Partial = true
		res.LimitsHit = append(res.LimitsHit, "timeout")
	}
	res.Stats.DurationMs = float64(time.Since(start).Microseconds()) / 1000
	return res, nil
}

// exec is one query's execution state.
type exec struct {
	e          *Engine
	q          *Query
	o          Options
	since      int64 // ms, inclusive
	until      int64 // ms, inclusive
	limit      int
	skew       int64
	sort       Sort
	list       bool
	metaOnly   bool
	fastCount  bool // batch headers alone answer the query
	streams    []string
	seen       map[string]bool // page token's already returned events
	parts      []*partPlan
	order      []*task
	scanned    atomic.Int64
	stopReason atomic.Value // string: why the query stopped early

	mu sync.Mutex // guards the fields below, and every task's state and watermarks
	// next is the index in order from which the scheduler looks for a
	// pending task.
	next     int
	stats    Stats
	events   []Event
	memory   int64
	count    int64
	groups   map[string]*Group
	timeline map[int64]map[string]*Group
	stop     bool
	hit      []string
}

type partPlan struct {
	topic metadata.Topic
	p     int32
	tasks []*task
}

const (
	pending = iota
	running
	done
	pruned
)

type task struct {
	part     *partPlan
	idx      int
	from, to int64
	state    int
	// minTS and maxTS are the timestamps the task saw (when it saw any).
	minTS, maxTS int64
	seenAny      bool
}

func (e *Engine) prepare(q *Query, o Options, now time.Time) (*exec, error) {
	l := e.limits
	sinceSpec, untilSpec := q.Since, q.Until
	if o.Since != nil {
		sinceSpec = o.Since
	}
	if o.Until != nil {
		untilSpec = o.Until
	}
	until := now
	if untilSpec != nil {
		until = untilSpec.At(now)
	}
	since := until.Add(-l.DefaultRange)
	if sinceSpec != nil {
		since = sinceSpec.At(now)
	}
	if !until.After(since) {
		return nil, fmt.Errorf("%w: the time range is empty (since %s, until %s)", ErrInvalid, since.Format(time.RFC3339), until.Format(time.RFC3339))
	}
	if until.Sub(since) > l.MaxRange {
		return nil, fmt.Errorf("%w: the time range is %s, longer than the %s allowed (--events-query-max-range)", ErrInvalid, until.Sub(since).Round(time.Second), l.MaxRange)
	}
	limit := q.Limit
	if o.Limit > 0 {
		limit = o.Limit
	}
	if limit == 0 {
		limit = l.DefaultLimit
	}
	if limit > l.MaxLimit {
		return nil, fmt.Errorf("%w: limit %d is above the maximum %d", ErrInvalid, limit, l.MaxLimit)
	}
	if q.Timeline > 0 && until.Sub(since)/q.Timeline > 10000 {
		return nil, fmt.Errorf("%w: a %s timeline over %s has more than 10000 buckets", ErrInvalid, q.Timeline, until.Sub(since))
	}
	ex := &exec{e: e, q: q, o: o, since: since.UnixMilli(), until: until.UnixMilli(), limit: limit,
		skew: l.Skew.Milliseconds(), sort: q.Sort, list: !q.Count && q.Timeline == 0,
		groups: map[string]*Group{}, timeline: map[int64]map[string]*Group{}}
	if ex.sort == SortDefault {
		ex.sort = SortDesc
	}
	ex.metaOnly = !needsValue(q)
	ex.fastCount = q.Count && len(q.GroupBy) == 0 && q.Filter == nil
	ex.stats.MetadataOnly = ex.metaOnly
	from := q.From
	if len(from) == 0 {
		for _, s := range events.Streams {
			from = append(from, string(s))
		}
	}
	for _, name := range from {
		st, ok := events.ParseStream(name)
		if !ok {
			return nil, fmt.Errorf("%w: unknown stream %q (agent_logs, audit, jobs, acl)", ErrInvalid, name)
		}
		if !slices.Contains(ex.streams, st.Topic()) {
			ex.streams = append(ex.streams, st.Topic())
		}
	}
	if o.PageToken != "" {
		if !ex.list || ex.sort == SortNone {
			return nil, fmt.Errorf("%w: a page token continues only a list sorted by time", ErrInvalid)
		}
		raw, err := base64.RawURLEncoding.DecodeString(o.PageToken)
		var pt pageToken
		if err == nil {
			err = json.Unmarshal(raw, &pt)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: malformed page token", ErrInvalid)
		}
		if ex.sort == SortDesc {
			ex.until = min(ex.until, pt.T)
		} else {
			ex.since = max(ex.since, pt.T)
		}
		ex.seen = map[string]bool{}
		for _, s := range pt.Seen {
			ex.seen[s] = true
		}
	}
	return ex, nil
}

// plan resolves each partition's offset range for the time range and
// splits it into tasks, ordered for scheduling.
func (ex *exec) plan(ctx context.Context) error {
	taskOffsets := ex.e.limits.TaskOffsets
	var perPart [][]*task
	for _, name := range ex.streams {
		t, err := ex.e.store.Topic(ctx, name)
		if errors.Is(err, metadata.ErrUnknownTopic) {
			continue // nothing written yet
		}
		if err != nil {
			return err
		}
		for p := int32(0); p < t.Partitions; p++ {
			st, err := ex.e.store.PartitionState(ctx, t.ID, p)
			if err != nil {
				return err
			}
			ex.stats.Partitions++
			lo, hi := st.LogStartOffset, st.HighWatermark
			ex.stats.TasksTotal += int((hi - lo + taskOffsets - 1) / taskOffsets)
			if !ex.o.NoIndex && hi > lo {
				// The first record at or after since (less the skew):
				// everything before it is older, whatever the order.
				off, _, found, err := ex.e.src.OffsetForTimestamp(ctx, t.ID, p, ex.since-ex.skew)
				if err != nil {
					return fmt.Errorf("query: timestamp index of %s/%d: %w", name, p, err)
				}
				if !found {
					lo = hi
				} else {
					lo = max(lo, off)
				}
				// The first record past until (plus the skew): what
				// follows it is later, within the skew.
				if lo < hi && ex.until+ex.skew+1 < math.MaxInt64 {
					off, _, found, err := ex.e.src.OffsetForTimestamp(ctx, t.ID, p, ex.until+ex.skew+1)
					if err != nil {
						return fmt.Errorf("query: timestamp index of %s/%d: %w", name, p, err)
					}
					if found {
						hi = min(hi, off)
					}
				}
			}
			pp := &partPlan{topic: t, p: p}
			for from := lo; from < hi; from += taskOffsets {
				pp.tasks = append(pp.tasks, &task{part: pp, idx: len(pp.tasks), from: from, to: min(from+taskOffsets, hi)})
			}
			ex.stats.TasksPlanned += len(pp.tasks)
			ex.parts = append(ex.parts, pp)
			ord := goldenOrder(len(pp.tasks))
			ts := make([]*task, len(ord))
			for i, k := range ord {
				ts[i] = pp.tasks[k]
			}
			perPart = append(perPart, ts)
		}
	}
	// Interleave the partitions' orders, so every partition's first
	// probes run early.
	for i := 0; ; i++ {
		added := false
		for _, ts := range perPart {
			if i < len(ts) {
				ex.order = append(ex.order, ts[i])
				added = true
			}
		}
		if !added {
			break
		}
	}
	return nil
}

// goldenOrder orders n tasks by the Kronecker sequence frac(1/2 + k/φ):
// the middle first, then points that always fall in the largest gap left,
// so the first few tasks sample the whole offset range and their
// timestamps prune most of the rest.
func goldenOrder(n int) []int {
	const invPhi = 0.6180339887498949
	seen := make([]bool, n)
	out := make([]int, 0, n)
	x := 0.5
	for k := 0; k < 2*n && len(out) < n; k++ {
		if i := int(x * float64(n)); !seen[i] {
			seen[i] = true
			out = append(out, i)
		}
		if x += invPhi; x >= 1 {
			x--
		}
	}
	for i := range n {
		if !seen[i] {
			out = append(out, i)
		}
	}
	return out
}

func (ex *exec) run(ctx context.Context) {
	var wg sync.WaitGroup
	for range ex.e.limits.Parallelism {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				t := ex.take()
				if t == nil || ctx.Err() != nil {
					return
				}
				acc, err := ex.scan(ctx, t)
				ex.finish(t, acc, err)
			}
		}()
	}
	wg.Wait()
}

// take returns the next pending task in scheduling order, or nil.
func (ex *exec) take() *task {
	ex.mu.Lock()
	defer ex.mu.Unlock()
	if ex.stop {
		return nil
	}
	for ; ex.next < len(ex.order); ex.next++ {
		if t := ex.order[ex.next]; t.state == pending {
			t.state = running
			ex.next++
			return t
		}
	}
	return nil
}

// complete reports whether every task was read or pruned.
func (ex *exec) complete() bool {
	ex.mu.Lock()
	defer ex.mu.Unlock()
	for _, t := range ex.order {
		if t.state == pending || t.state == running {
			return false
		}
	}
	return true
}

// acc is what one task found, merged into the query under mu.
type acc struct {
	bytes, records, matched int64
	count                   int64
	events                  []Event
	groups                  map[string]*Group
	timeline                map[int64]map[string]*Group
	minTS, maxTS            int64
	seenAny                 bool
	full                    bool // stopped because the list is complete
}

func (a *acc) see(ts int64) {
	if !a.seenAny {
		a.minTS, a.maxTS, a.seenAny = ts, ts, true
		return
	}
	a.minTS, a.maxTS = min(a.minTS, ts), max(a.maxTS, ts)
}

// errLimit stops a scan that hit a query limit.
var errLimit = errors.New("query: limit reached")

// scan reads one task's offsets and evaluates its records.
func (ex *exec) scan(ctx context.Context, t *task) (*acc, error) {
	a := &acc{groups: map[string]*Group{}, timeline: map[int64]map[string]*Group{}}
	pp := t.part
	off := t.from
	for off < t.to {
		if ex.stopped() {
			return a, nil
		}
		res, err := ex.e.src.Read(ctx, pp.topic.ID, pp.p, off, ex.e.limits.ReadBytes, true)
		if errors.Is(err, fetch.ErrOffsetOutOfRange) {
			// Retention moved the log start past off meanwhile.
			st, serr := ex.e.store.PartitionState(ctx, pp.topic.ID, pp.p)
			if serr == nil && off < st.LogStartOffset {
				off = st.LogStartOffset
				continue
			}
			return a, nil
		}
		if err != nil {
			return a, err
		}
		stop, err := ex.scanBatches(res.Records, t, off, a)
		next := res.NextOffset
		fetch.ReleaseRecords(res.Records)
		if err != nil || stop {
			return a, err
		}
		if next <= off {
			break
		}
		off = next
	}
	return a, nil
}

func (ex *exec) stopped() bool {
	ex.mu.Lock()
	defer ex.mu.Unlock()
	return ex.stop
}

// scanBatches evaluates the records of data in [max(t.from, off), t.to).
func (ex *exec) scanBatches(data []byte, t *task, off int64, a *acc) (stop bool, err error) {
	for len(data) > 0 {
		batch, rest, err := records.Next(data)
		if err != nil {
			return true, err
		}
		data = rest
		h, err := records.ReadHeader(batch)
		if err != nil {
			return true, err
		}
		base, last := h.BaseOffset, h.BaseOffset+int64(h.LastOffsetDelta)
		if base >= t.to {
			return true, nil
		}
		if last < off {
			continue
		}
		a.bytes += int64(len(batch))
		if ex.scanned.Add(int64(len(batch))) > ex.e.limits.MaxScanBytes {
			ex.limitHit("scan_bytes")
			return true, nil
		}
		if h.Attributes&records.AttrControl != 0 {
			continue
		}
		logAppend := h.Attributes&records.AttrLogAppendTime != 0
		if ex.fastCount && base >= off && last < t.to {
			lo, hi := h.FirstTimestamp, h.MaxTimestamp
			if logAppend {
				lo = hi
			}
			if lo >= ex.since && hi <= ex.until {
				a.see(lo)
				a.see(hi)
				a.records += int64(h.NumRecords)
				a.matched += int64(h.NumRecords)
				a.count += int64(h.NumRecords)
				continue
			}
		}
		if h.MaxTimestamp < ex.since && base >= off && last < t.to {
			// Every record is older than the window: only the
			// watermarks need the batch.
			a.see(h.FirstTimestamp)
			a.see(h.MaxTimestamp)
			a.records += int64(h.NumRecords)
			continue
		}
		section, err := records.Section(batch, records.MaxDecompressedBatch)
		if err != nil {
			return true, err
		}
		it := records.NewRecordIter(section)
		for i := int32(0); i < h.NumRecords && it.Next(); i++ {
			// The offset and timestamp first (two varints); the rest
			// of the record only when it is in the task and the window.
			rd := kbin.Reader{Src: it.Fields()}
			rd.Int8()
			tsDelta, offDelta := rd.Varlong(), rd.Varint()
			if !rd.Ok() {
				return true, fmt.Errorf("query: record %d of batch at %d is truncated", i, base)
			}
			o := base + int64(offDelta)
			if o < off || o < t.from || o >= t.to {
				continue
			}
			ts := h.FirstTimestamp + tsDelta
			if logAppend {
				ts = h.MaxTimestamp
			}
			a.records++
			a.see(ts)
			if ts < ex.since || ts > ex.until {
				continue
			}
			if ex.fastCount {
				a.matched++
				a.count++
				continue
			}
			var rec kmsg.Record
			if err := rec.ReadFrom(it.Record()); err != nil {
				return true, fmt.Errorf("query: record %d of batch at %d: %w", i, base, err)
			}
			if ex.seen != nil && ex.seen[eventKey(t.part.topic.Name, t.part.p, o)] {
				continue
			}
			r := record{ts: ts}
			for _, hd := range rec.Headers {
				switch hd.Key {
				case events.HeaderType:
					r.typ = string(hd.Value)
				case events.HeaderSource:
					r.source = string(hd.Value)
				}
			}
			if !ex.metaOnly {
				if err := json.Unmarshal(rec.Value, &r.value); err != nil || r.value == nil {
					continue // not an event: not ours to judge
				}
			}
			if !eval(ex.q.Filter, &r) {
				continue
			}
			a.matched++
			if ex.add(a, &r, t, o, rec.Value) {
				return true, nil
			}
		}
		if err := it.Err(); err != nil {
			return true, err
		}
	}
	return false, nil
}

// add records one matching event in a; it reports whether the task can
// stop (an unsorted list has all it needs).
func (ex *exec) add(a *acc, r *record, t *task, o int64, value []byte) bool {
	switch {
	case ex.list:
		a.events = append(a.events, Event{Topic: t.part.topic.Name, Partition: t.part.p, Offset: o,
			Time: time.UnixMilli(r.ts).UTC(), Event: append(json.RawMessage(nil), value...)})
		if ex.sort == SortNone && len(a.events) >= ex.limit {
			a.full = true
			return true
		}
		if ex.sort != SortNone && len(a.events) >= 2*ex.limit {
			a.events = ex.best(a.events)
		}
	case ex.q.Timeline > 0:
		w := ex.q.Timeline.Milliseconds()
		b := ex.since + (r.ts-ex.since)/w*w
		m := a.timeline[b]
		if m == nil {
			m = map[string]*Group{}
			a.timeline[b] = m
		}
		ex.bump(m, r, 1)
	case len(ex.q.GroupBy) > 0:
		ex.bump(a.groups, r, 1)
	default:
		a.count++
	}
	return false
}

// bump adds n to r's group in m.
func (ex *exec) bump(m map[string]*Group, r *record, n int64) {
	vals := make([]string, len(ex.q.GroupBy))
	for i, f := range ex.q.GroupBy {
		vals[i] = groupKey(r, f)
	}
	k := strings.Join(vals, "\x00")
	g := m[k]
	if g == nil {
		g = &Group{Key: map[string]string{}}
		for i, f := range ex.q.GroupBy {
			g.Key[f.String()] = vals[i]
		}
		m[k] = g
	}
	g.Count += n
}

func eventKey(topic string, p int32, o int64) string {
	return topic + "/" + strconv.Itoa(int(p)) + "/" + strconv.FormatInt(o, 10)
}

// less orders events for the query's sort (time, then position).
func (ex *exec) less(a, b *Event) bool {
	if !a.Time.Equal(b.Time) {
		if ex.sort == SortAsc {
			return a.Time.Before(b.Time)
		}
		return a.Time.After(b.Time)
	}
	if a.Topic != b.Topic {
		return a.Topic < b.Topic
	}
	if a.Partition != b.Partition {
		return a.Partition < b.Partition
	}
	if ex.sort == SortAsc {
		return a.Offset < b.Offset
	}
	return a.Offset > b.Offset
}

// best sorts evs and keeps the first limit.
func (ex *exec) best(evs []Event) []Event {
	sort.Slice(evs, func(i, j int) bool { return ex.less(&evs[i], &evs[j]) })
	if len(evs) > ex.limit {
		clear(evs[ex.limit:])
		evs = evs[:ex.limit]
	}
	return evs
}

func (ex *exec) limitHit(name string) {
	ex.mu.Lock()
	defer ex.mu.Unlock()
	ex.stopLocked(name)
}

func (ex *exec) stopLocked(name string) {
	ex.stop = true
	if name != "" && !slices.Contains(ex.hit, name) {
		ex.hit = append(ex.hit, name)
	}
}

// finish merges a task's findings, records its watermarks and prunes.
func (ex *exec) finish(t *task, a *acc, err error) {
	ex.mu.Lock()
	defer ex.mu.Unlock()
	t.state = done
	ex.stats.TasksScanned++
	ex.stats.BytesScanned += a.bytes
	ex.stats.RecordsScanned += a.records
	ex.stats.RecordsMatched += a.matched
	if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		ex.stopLocked("error: " + err.Error())
	}
	t.minTS, t.maxTS, t.seenAny = a.minTS, a.maxTS, a.seenAny
	ex.count += a.count
	for _, ev := range a.events {
		ex.memory += int64(len(ev.Event)) + 128
	}
	ex.events = append(ex.events, a.events...)
	merge := func(dst, src map[string]*Group) {
		for k, g := range src {
			if d := dst[k]; d != nil {
				d.Count += g.Count
				continue
			}
			dst[k] = g
			ex.memory += int64(len(k)) + 128
		}
	}
	merge(ex.groups, a.groups)
	for b, m := range a.timeline {
		d := ex.timeline[b]
		if d == nil {
			d = map[string]*Group{}
			ex.timeline[b] = d
			ex.memory += 64
		}
		merge(d, m)
	}
	boundsChanged := false
	if ex.list {
		switch {
		case ex.sort == SortNone && len(ex.events) >= ex.limit:
			ex.stats.EarlyExit = true
			ex.stopLocked("")
		case ex.sort != SortNone && len(ex.events) >= ex.limit:
			if len(ex.events) > ex.limit {
				ex.events = ex.best(ex.events)
				ex.memory = 0
				for _, ev := range ex.events {
					ex.memory += int64(len(ev.Event)) + 128
				}
			}
			boundsChanged = true
		}
	}
	if ex.memory > ex.e.limits.MaxMemoryBytes {
		ex.stopLocked("memory")
	}
	if ex.o.NoPruning {
		return
	}
	if boundsChanged {
		for _, pp := range ex.parts {
			ex.pruneLocked(pp)
		}
	} else {
		ex.pruneLocked(t.part)
	}
}

// windowLocked is the range events must still fall in to matter: the
// query's, narrowed for a full sorted list to what could still displace
// its last event.
func (ex *exec) windowLocked() (lo, hi int64) {
	lo, hi = ex.since, ex.until
	if ex.list && ex.sort != SortNone && len(ex.events) >= ex.limit {
		last := ex.events[ex.limit-1].Time.UnixMilli()
		if ex.sort == SortDesc {
			lo = max(lo, last)
		} else {
			hi = min(hi, last)
		}
	}
	return lo, hi
}

// pruneLocked skips a partition's pending tasks that the finished tasks'
// timestamps place outside the window. Timestamps grow with offsets,
// within the skew: a task after a finished task whose newest record is
// later than the window's end (plus the skew) holds only later records,
// and a task before a finished task whose oldest record is earlier than
// the window's start (less the skew) only earlier ones.
func (ex *exec) pruneLocked(pp *partPlan) {
	lo, hi := ex.windowLocked()
	below, above := -1, len(pp.tasks)
	for _, t := range pp.tasks {
		if t.state != done || !t.seenAny {
			continue
		}
		if t.minTS+ex.skew < lo {
			below = max(below, t.idx)
		}
		if t.maxTS-ex.skew > hi {
			above = min(above, t.idx)
		}
	}
	for _, t := range pp.tasks {
		if t.state == pending && (t.idx < below || t.idx > above) {
			t.state = pruned
			ex.stats.TasksPruned++
		}
	}
}

func (ex *exec) result() *Result {
	ex.mu.Lock()
	defer ex.mu.Unlock()
	res := &Result{Since: time.UnixMilli(ex.since).UTC(), Until: time.UnixMilli(ex.until).UTC(), Stats: ex.stats}
	for _, h := range ex.hit {
		res.LimitsHit = append(res.LimitsHit, h)
		res.Partial = true
	}
	if ex.stats.EarlyExit {
		for _, t := range ex.order {
			if t.state == pending {
				t.state = pruned
				res.Stats.TasksPruned++
			}
		}
	}
	switch {
	case ex.list:
		res.Kind = "events"
		res.Sort = ex.sort.String()
		evs := ex.events
		if ex.sort != SortNone {
			evs = ex.best(evs)
		} else if len(evs) > ex.limit {
			evs = evs[:ex.limit]
		}
		res.Events = evs
		res.Count = int64(len(evs))
		if ex.sort != SortNone && len(evs) == ex.limit {
			last := evs[len(evs)-1]
			pt := pageToken{T: last.Time.UnixMilli()}
			for _, ev := range evs {
				if ev.Time.Equal(last.Time) {
					pt.Seen = append(pt.Seen, eventKey(ev.Topic, ev.Partition, ev.Offset))
				}
			}
			for s := range ex.seen { // earlier pages' events at the same time
				if pt.T == ex.until || pt.T == ex.since {
					pt.Seen = append(pt.Seen, s)
				}
			}
			b, _ := json.Marshal(pt)
			res.NextPageToken = base64.RawURLEncoding.EncodeToString(b)
		}
	case ex.q.Timeline > 0:
		res.Kind = "timeline"
		w := ex.q.Timeline.Milliseconds()
		for b := ex.since; b <= ex.until; b += w {
			bk := Bucket{Start: time.UnixMilli(b).UTC()}
			for _, g := range ex.timeline[b] {
				bk.Count += g.Count
				if len(ex.q.GroupBy) > 0 {
					bk.Groups = append(bk.Groups, *g)
				}
			}
			sortGroups(bk.Groups)
			res.Count += bk.Count
			res.Timeline = append(res.Timeline, bk)
		}
	case len(ex.q.GroupBy) > 0:
		res.Kind = "groups"
		for _, g := range ex.groups {
			res.Groups = append(res.Groups, *g)
			res.Count += g.Count
		}
		sortGroups(res.Groups)
		if len(res.Groups) > ex.limit {
			res.Groups = res.Groups[:ex.limit]
		}
	default:
		res.Kind = "count"
		res.Count = ex.count
	}
	return res
}

// sortGroups orders groups by count, largest first (then by key).
func sortGroups(gs []Group) {
	sort.Slice(gs, func(i, j int) bool {
		if gs[i].Count != gs[j].Count {
			return gs[i].Count > gs[j].Count
		}
		return fmt.Sprint(gs[i].Key) < fmt.Sprint(gs[j].Key)
	})
}
