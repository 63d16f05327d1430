package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/produce"
	"github.com/sluicehq/sluice/internal/records"
)

// Submitter is the agent's write path (produce.Batcher).
type Submitter interface {
	Submit(ctx context.Context, batches []produce.Batch) (*produce.Pending, error)
}

// TopicStore creates and finds the internal topics (metadata.Topics).
type TopicStore interface {
	Topic(ctx context.Context, name string) (metadata.Topic, error)
	CreateTopic(ctx context.Context, name string, partitions int32, configs map[string]string) (metadata.Topic, error)
}

// Config configures a Writer.
type Config struct {
	// Source is every event's CloudEvents source, e.g. "sluice://node-1".
	Source string
	// Streams configures each stream; a stream missing from the map is
	// disabled. Nil means DefaultStreams().
	Streams map[Stream]StreamConfig
	// BufferEvents bounds the events waiting to be written; beyond it
	// events are dropped. 0 means 8192.
	BufferEvents int
	// Linger is how long an event may wait for others to share its record
	// batch. 0 means 500ms.
	Linger time.Duration
	// BatchEvents bounds the events of one record batch. 0 means 1000.
	BatchEvents int
	// WriteTimeout bounds one write (topic creation, submit, commit). 0
	// means 30s.
	WriteTimeout time.Duration
	// MaxRate bounds the events written per second (all streams
	// together); beyond it the buffer fills and further events are
	// dropped, so a storm cannot take the write path from user traffic.
	// 0 means 2000.
	MaxRate float64
}

func (c *Config) setDefaults() {
	if c.Streams == nil {
		c.Streams = DefaultStreams()
	}
	if c.BufferEvents <= 0 {
		c.BufferEvents = 8192
	}
	if c.Linger <= 0 {
		c.Linger = 500 * time.Millisecond
	}
	if c.BatchEvents <= 0 {
		c.BatchEvents = 1000
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 30 * time.Second
	}
	if c.MaxRate <= 0 {
		c.MaxRate = 2000
	}
}

// Writer is the Emitter the agent uses: a bounded buffer drained by one
// goroutine that writes record batches through the agent's write path.
// Emit is safe for concurrent use and never blocks.
type Writer struct {
	cfg     Config
	topics  TopicStore
	metrics *Metrics
	logger  *slog.Logger

	ch      chan queued
	flushCh chan chan struct{}
	stop    chan struct{} // closed by Close
	done    chan struct{} // closed when the run goroutine returns
	// stopCtx is cancelled by Close, ending a write's wait for its commit.
	stopCtx    context.Context
	cancelStop context.CancelFunc

	startOnce sync.Once
	closeOnce sync.Once

	// Owned by the run goroutine.
	sub  Submitter
	ids  map[Stream]metadata.Topic
	next map[Stream]int32
}

// queued is one encoded event waiting to be written.
type queued struct {
	stream  Stream
	value   []byte
	key     []byte
	ts      int64
	typ     string
	source  string
	written chan struct{} // closed once written (Flush's marker), or nil
}

// NewWriter returns a Writer; Start starts writing. reg may be nil.
func NewWriter(cfg Config, topics TopicStore, m *Metrics, logger *slog.Logger) *Writer {
	cfg.setDefaults()
	if m == nil {
		m = NewMetrics(nil)
	}
	if logger == nil {
		logger = slog.Default()
	}
	stopCtx, cancelStop := context.WithCancel(context.Background())
	return &Writer{cfg: cfg, topics: topics, metrics: m, logger: logger,
		ch: make(chan queued, cfg.BufferEvents), flushCh: make(chan chan struct{}),
		stop: make(chan struct{}), done: make(chan struct{}), stopCtx: stopCtx, cancelStop: cancelStop,
		ids: map[Stream]metadata.Topic{}, next: map[Stream]int32{}}
}

// Enabled reports whether a stream's events are written.
func (w *Writer) Enabled(s Stream) bool { return w.cfg.Streams[s].Enabled }

// Emit encodes e and queues it; it drops it (counted) when the buffer is
// full or the writer closed.
func (w *Writer) Emit(_ context.Context, e Event) {
	st := StreamOf(e.Type)
	if !w.cfg.Streams[st].Enabled {
		return
	}
	if len(w.ch) >= cap(w.ch) {
		// Full: drop before paying for the encoding (a storm of events
		// costs the emitter almost nothing).
		w.metrics.drop("overload", 1)
		return
	}
	e.complete(w.cfg.Source, time.Now())
	value, err := e.Marshal()
	if err != nil {
		w.metrics.drop("encode", 1)
		return
	}
	q := queued{stream: st, value: value, ts: e.Time.UnixMilli(), typ: e.Type, source: e.Source}
	if e.Subject != "" {
		q.key = []byte(e.Subject)
	}
	select {
	case <-w.stop:
		w.metrics.drop("closed", 1)
		return
	default:
	}
	select {
	case w.ch <- q:
	default:
		w.metrics.drop("overload", 1)
	}
}

// Start starts writing through sub.
func (w *Writer) Start(sub Submitter) {
	w.startOnce.Do(func() {
		w.sub = sub
		go w.run()
	})
}

// Flush waits until every event emitted before it is written (or failed),
// or ctx ends. For tests and shutdown.
func (w *Writer) Flush(ctx context.Context) error {
	done := make(chan struct{})
	select {
	case w.flushCh <- done:
	case <-w.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close hands what is buffered to the write path, within ctx, and stops
// the writer, without waiting for the commits: the agent closes the write
// path next, which flushes them. Events emitted afterwards are dropped.
// The write path must still be open.
func (w *Writer) Close(ctx context.Context) error {
	w.closeOnce.Do(func() { close(w.stop); w.cancelStop() })
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (w *Writer) run() {
	defer close(w.done)
	pending := map[Stream][]queued{}
	n := 0
	tick := time.NewTicker(w.cfg.Linger)
	defer tick.Stop()
	write := func() {
		if n > 0 {
			w.write(pending)
			clear(pending)
			n = 0
		}
	}
	// budget is how many more events may be taken before the next tick
	// (MaxRate); at zero the buffer is left to fill.
	perTick := max(1, w.cfg.MaxRate*w.cfg.Linger.Seconds())
	budget := perTick
	for {
		in := w.ch
		if budget < 1 {
			in = nil
		}
		select {
		case q := <-in:
			budget--
			pending[q.stream] = append(pending[q.stream], q)
			n++
			if len(pending[q.stream]) >= w.cfg.BatchEvents {
				write()
			}
		case <-tick.C:
			budget = min(budget+perTick, 2*perTick)
			write()
		case done := <-w.flushCh:
			w.drain(pending, &n)
			write()
			close(done)
		case <-w.stop:
			w.drain(pending, &n)
			write()
			return
		}
	}
}

// drain moves every buffered event into pending.
func (w *Writer) drain(pending map[Stream][]queued, n *int) {
	for {
		select {
		case q := <-w.ch:
			pending[q.stream] = append(pending[q.stream], q)
			*n++
		default:
			return
		}
	}
}

// write submits one record batch per stream (of at most BatchEvents
// events each, so a long backlog makes several) in one Submit, so they
// share one file, and waits for the commit.
func (w *Writer) write(pending map[Stream][]queued) {
	ctx, cancel := context.WithTimeout(context.Background(), w.cfg.WriteTimeout)
	defer cancel()
	var (
		batches []produce.Batch
		streams []Stream
		counts  []int
	)
	for _, st := range Streams {
		evs := pending[st]
		if len(evs) == 0 {
			continue
		}
		t, err := w.topic(ctx, st)
		if err != nil {
			w.metrics.drop("error", len(evs))
			w.logger.Debug("events: internal topic unavailable", "topic", st.Topic(), "err", err)
			continue
		}
		for len(evs) > 0 {
			k := min(len(evs), w.cfg.BatchEvents)
			p := w.next[st] % max(t.Partitions, 1)
			w.next[st] = p + 1
			data, info := encodeBatch(evs[:k])
			batches = append(batches, produce.Batch{Topic: t.ID, Partition: p, Data: data, Info: info})
			streams, counts = append(streams, st), append(counts, k)
			evs = evs[k:]
		}
	}
	if len(batches) == 0 {
		return
	}
	fail := func(reason string) {
		for _, c := range counts {
			w.metrics.drop(reason, c)
		}
	}
	p, err := w.sub.Submit(ctx, batches)
	if err != nil {
		fail("error")
		return
	}
	// The wait ends early when the writer is closed: the batches are with
	// the write path by then, and the agent's shutdown flushes them with
	// the clients' (the write path only flushes a file at its batch
	// timeout or its close, so waiting here would hold the shutdown up).
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	stopWaiting := context.AfterFunc(w.stopCtx, wcancel)
	defer stopWaiting()
	res, err := p.Wait(wctx)
	if err != nil {
		if w.stopCtx.Err() == nil {
			fail("error")
		}
		return
	}
	for i, r := range res {
		if r.Err != nil {
			w.metrics.drop("error", counts[i])
			if errors.Is(r.Err, metadata.ErrUnknownTopic) || errors.Is(r.Err, metadata.ErrUnknownPartition) {
				delete(w.ids, streams[i]) // deleted or changed: look it up again
			}
			continue
		}
		w.metrics.written.WithLabelValues(string(streams[i])).Add(float64(counts[i]))
	}
}

// topic returns a stream's topic, creating it on first use.
func (w *Writer) topic(ctx context.Context, st Stream) (metadata.Topic, error) {
	if t, ok := w.ids[st]; ok {
		return t, nil
	}
	name := st.Topic()
	t, err := w.topics.Topic(ctx, name)
	if errors.Is(err, metadata.ErrUnknownTopic) {
		c := w.cfg.Streams[st]
		t, err = w.topics.CreateTopic(ctx, name, max(c.Partitions, 1), c.topicConfigs())
		if errors.Is(err, metadata.ErrTopicExists) {
			t, err = w.topics.Topic(ctx, name)
		} else if err == nil {
			w.logger.Info("created internal topic", "topic", name, "partitions", t.Partitions, "retention", c.Retention)
		}
	}
	if err != nil {
		return metadata.Topic{}, fmt.Errorf("events: topic %s: %w", name, err)
	}
	w.ids[st] = t
	return t, nil
}

// Header keys of event records. content-type marks structured-mode
// CloudEvents; ce_type and ce_source repeat the envelope's type and source
// so queries on them need not decode the value.
const (
	HeaderContentType = "content-type"
	HeaderType        = "ce_type"
	HeaderSource      = "ce_source"
)

// EncodeBatch encodes events as one uncompressed record batch, as the
// Writer writes them (the envelope completed with source), for tools and
// benchmarks that fill event topics directly.
func EncodeBatch(source string, evs []Event) ([]byte, records.BatchInfo, error) {
	qs := make([]queued, len(evs))
	now := time.Now()
	for i := range evs {
		e := evs[i]
		e.complete(source, now)
		v, err := e.Marshal()
		if err != nil {
			return nil, records.BatchInfo{}, err
		}
		qs[i] = queued{stream: StreamOf(e.Type), value: v, ts: e.Time.UnixMilli(), typ: e.Type, source: e.Source}
		if e.Subject != "" {
			qs[i].key = []byte(e.Subject)
		}
	}
	data, info := encodeBatch(qs)
	return data, info, nil
}

// encodeBatch encodes events as one uncompressed v2 record batch.
func encodeBatch(evs []queued) ([]byte, records.BatchInfo) {
	first, maxTS := evs[0].ts, evs[0].ts
	for _, q := range evs {
		first, maxTS = min(first, q.ts), max(maxTS, q.ts)
	}
	var recs []byte
	var body []byte
	for i, q := range evs {
		r := kmsg.Record{TimestampDelta64: q.ts - first, OffsetDelta: int32(i), Key: q.key, Value: q.value,
			Headers: []kmsg.Header{
				{Key: HeaderContentType, Value: []byte(StructuredContentType)},
				{Key: HeaderType, Value: []byte(q.typ)},
				{Key: HeaderSource, Value: []byte(q.source)},
			}}
		body = r.AppendTo(body[:0])[1:] // drop AppendTo's placeholder length (one-byte varint 0)
		recs = kbin.AppendVarint(recs, int32(len(body)))
		recs = append(recs, body...)
	}
	n := int32(len(evs))
	b := kmsg.RecordBatch{
		Length: int32(records.HeaderSize - 12 + len(recs)), PartitionLeaderEpoch: -1, Magic: 2,
		LastOffsetDelta: n - 1, FirstTimestamp: first, MaxTimestamp: maxTS,
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: n, Records: recs,
	}
	raw := b.AppendTo(nil)
	records.SetCRC(raw)
	return raw, records.BatchInfo{Records: int64(n), MinTimestamp: first, MaxTimestamp: maxTS,
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, LastSequence: -1}
}

// Metrics are the writer's Prometheus metrics.
type Metrics struct {
	dropped *prometheus.CounterVec
	written *prometheus.CounterVec
	logs    *prometheus.CounterVec
	// droppedN totals dropped, for tests and benchmarks.
	droppedN atomic.Int64
}

// NewMetrics registers the events metrics with reg (which may be nil).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_events_dropped_total",
			Help: "Events not written, by reason (overload: buffer full; error: write failed; closed: emitted after shutdown; encode)."}, []string{"reason"}),
		written: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_events_written_total",
			Help: "Events written to their internal topics, by stream."}, []string{"stream"}),
		logs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_events_log_records_suppressed_total",
			Help: "Agent log records at or above --events-log-level not turned into events by the rate limit."}, nil),
	}
	if reg != nil {
		reg.MustRegister(m.dropped, m.written, m.logs)
	}
	return m
}

// Dropped returns how many events were dropped so far, for any reason.
func (m *Metrics) Dropped() int64 { return m.droppedN.Load() }

func (m *Metrics) drop(reason string, n int) {
	m.dropped.WithLabelValues(reason).Add(float64(n))
	m.droppedN.Add(int64(n))
}
