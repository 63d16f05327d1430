package events_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/events"
	"github.com/sluicehq/sluice/internal/fetch"
	"github.com/sluicehq/sluice/internal/metadata/sqlite"
	"github.com/sluicehq/sluice/internal/objstore"
	"github.com/sluicehq/sluice/internal/produce"
	"github.com/sluicehq/sluice/internal/records"
)

type env struct {
	store   *sqlite.Store
	batcher *produce.Batcher
	reader  *fetch.Reader
}

func newEnv(t testing.TB, batchTimeout time.Duration) *env {
	t.Helper()
	ctx := context.Background()
	bucket, err := objstore.Open(ctx, "mem://")
	if err != nil {
		t.Fatal(err)
	}
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	b := produce.New(produce.Config{BatchTimeout: batchTimeout}, store, bucket, nil, nil, nil)
	r := fetch.NewReader(store, bucket, nil)
	t.Cleanup(func() {
		b.Close(ctx)
		r.Close()
		store.Close()
	})
	return &env{store: store, batcher: b, reader: r}
}

// rec is a record read back with its timestamp.
type rec struct {
	kmsg.Record
	ts int64
}

// records reads every record of a topic's partition 0.
func (e *env) records(t *testing.T, topic string) []rec {
	t.Helper()
	ctx := context.Background()
	tp, err := e.store.Topic(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	var out []rec
	for off := int64(0); ; {
		res, err := e.reader.Read(ctx, tp.ID, 0, off, 1<<20, true)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Records) == 0 {
			return out
		}
		data := res.Records
		for len(data) > 0 {
			batch, rest, err := records.Next(data)
			if err != nil {
				t.Fatal(err)
			}
			data = rest
			h, _ := records.ReadHeader(batch)
			section, err := records.Section(batch, records.MaxDecompressedBatch)
			if err != nil {
				t.Fatal(err)
			}
			it := records.NewRecordIter(section)
			for i := int32(0); i < h.NumRecords && it.Next(); i++ {
				var r kmsg.Record
				if err := r.ReadFrom(it.Record()); err != nil {
					t.Fatal(err)
				}
				out = append(out, rec{r, h.FirstTimestamp + r.TimestampDelta64})
			}
		}
		off = res.NextOffset
	}
}

// TestWriterWritesCloudEvents: emitted events land in their streams'
// topics, created on demand with the configured retention, as CloudEvents
// 1.0 JSON whose record timestamp is the event time.
func TestWriterWritesCloudEvents(t *testing.T) {
	e := newEnv(t, time.Millisecond)
	w := events.NewWriter(events.Config{Source: "sluice://c1/node-7", Linger: time.Millisecond}, e.store, nil, nil)
	w.Start(e.batcher)
	defer w.Close(context.Background())
	at := time.Date(2026, 12, 6, 9, 0, 0, 123e6, time.UTC)
	w.Emit(context.Background(), events.Event{Type: events.TypeTopicDeleted, Subject: "orders", Time: at,
		Data: events.AdminData{Method: "kafka.DeleteTopics", Principal: "User:alice", ResourceType: "topic", Resource: "orders", Status: "SUCCESS"}})
	w.Emit(context.Background(), events.Event{Type: events.TypeJobRun, Subject: "compaction",
		Data: events.JobData{Job: "compaction", Status: "SUCCESS", Figures: map[string]int64{"bytes_read": 10}}})
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	audit, err := e.store.Topic(context.Background(), events.TopicAudit)
	if err != nil {
		t.Fatal(err)
	}
	if audit.Configs["retention.ms"] != "7776000000" || audit.Partitions != 1 {
		t.Errorf("audit topic: %+v", audit)
	}
	jobs, err := e.store.Topic(context.Background(), events.TopicJobs)
	if err != nil || jobs.Configs["retention.ms"] != "21600000" {
		t.Errorf("jobs topic: %+v %v", jobs, err)
	}
	recs := e.records(t, events.TopicAudit)
	if len(recs) != 1 {
		t.Fatalf("%d audit records", len(recs))
	}
	r := recs[0]
	if r.ts != at.UnixMilli() || string(r.Key) != "orders" {
		t.Errorf("record timestamp %d key %q", r.ts, r.Key)
	}
	hdr := map[string]string{}
	for _, h := range r.Headers {
		hdr[h.Key] = string(h.Value)
	}
	if hdr["content-type"] != events.StructuredContentType || hdr["ce_type"] != events.TypeTopicDeleted || hdr["ce_source"] != "sluice://c1/node-7" {
		t.Errorf("headers %v", hdr)
	}
	var ce map[string]any
	if err := json.Unmarshal(r.Value, &ce); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"specversion": "1.0", "source": "sluice://c1/node-7", "type": events.TypeTopicDeleted,
		"time": "2026-12-06T09:00:00.123Z", "datacontenttype": "application/json", "subject": "orders"} {
		if ce[k] != want {
			t.Errorf("%s = %v, want %v", k, ce[k], want)
		}
	}
	if id, _ := ce["id"].(string); len(id) != 32 {
		t.Errorf("id %q", ce["id"])
	}
	data, _ := ce["data"].(map[string]any)
	if data["principal"] != "User:alice" || data["status"] != "SUCCESS" || data["error_code"] != 0.0 {
		t.Errorf("data %v", data)
	}
	if got := e.records(t, events.TopicJobs); len(got) != 1 {
		t.Errorf("%d job records", len(got))
	}
}

// TestEmitDropsWhenFull: with the write path not draining the buffer,
// Emit returns at once and drops (and counts) what does not fit; disabled
// streams are discarded without counting.
func TestEmitDropsWhenFull(t *testing.T) {
	e := newEnv(t, time.Millisecond)
	streams := events.DefaultStreams()
	streams[events.StreamJobs] = events.StreamConfig{Enabled: false}
	m := events.NewMetrics(nil)
	w := events.NewWriter(events.Config{BufferEvents: 10, Streams: streams}, e.store, m, nil)
	start := time.Now()
	for range 25 {
		w.Emit(context.Background(), events.Event{Type: events.TypeAgentLog, Data: events.LogData{LogLevel: "warn", Message: "x"}})
		w.Emit(context.Background(), events.Event{Type: events.TypeJobRun, Data: events.JobData{Job: "retention"}})
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("50 emits took %s", d)
	}
	if got := m.Dropped(); got != 15 {
		t.Errorf("dropped %d, want 15", got)
	}
	// Once started, the buffered ten are written.
	w.Start(e.batcher)
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := len(e.records(t, events.TopicAgentLogs)); got != 10 {
		t.Errorf("%d agent log records, want 10", got)
	}
	if _, err := e.store.Topic(context.Background(), events.TopicJobs); err == nil {
		t.Error("a disabled stream's topic was created")
	}
	w.Close(context.Background())
	w.Emit(context.Background(), events.Event{Type: events.TypeAgentLog})
	if got := m.Dropped(); got != 16 {
		t.Errorf("after close: dropped %d, want 16", got)
	}
}

// TestWriterRecreatesDeletedTopic: deleting an internal topic does not
// stop its stream: the next write recreates it.
func TestWriterRecreatesDeletedTopic(t *testing.T) {
	e := newEnv(t, time.Millisecond)
	m := events.NewMetrics(nil)
	w := events.NewWriter(events.Config{Linger: time.Millisecond}, e.store, m, nil)
	w.Start(e.batcher)
	defer w.Close(context.Background())
	emit := func() {
		w.Emit(context.Background(), events.Event{Type: events.TypeTopicCreated, Data: events.AdminData{Resource: "x"}})
		if err := w.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	emit()
	if _, err := e.store.DeleteTopic(context.Background(), events.TopicAudit); err != nil {
		t.Fatal(err)
	}
	emit() // fails (unknown topic), counted as dropped
	emit()
	if got := len(e.records(t, events.TopicAudit)); got != 1 {
		t.Errorf("%d records after recreation, want 1", got)
	}
	if m.Dropped() != 1 {
		t.Errorf("dropped %d, want 1", m.Dropped())
	}
}

// recorder is an Emitter that keeps what it is given.
type recorder struct {
	mu  sync.Mutex
	evs []events.Event
}

func (r *recorder) Emit(_ context.Context, e events.Event) {
	r.mu.Lock()
	r.evs = append(r.evs, e)
	r.mu.Unlock()
}

// TestLogHandler: records at or above the level become events with their
// attributes (groups dotted); the inner handler still gets what its own
// level lets through; a burst beyond the rate limit is counted and
// reported by the next event.
func TestLogHandler(t *testing.T) {
	var buf bytes.Buffer
	inner := slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelError})
	rec := &recorder{}
	h := events.NewLogHandler(inner, rec, events.LogConfig{Level: slog.LevelWarn, Rate: 0.001, Burst: 3}, nil)
	log := slog.New(h).With("component", "jobs").WithGroup("run")
	log.Info("ignored", "k", 1)
	log.Warn("lease lost", "job", "compaction", "err", context.DeadlineExceeded, slog.Group("g", "a", true))
	log.Error("bucket failing", "n", 3)
	if !strings.Contains(buf.String(), "bucket failing") || strings.Contains(buf.String(), "lease lost") {
		t.Errorf("inner handler got %q", buf.String())
	}
	if len(rec.evs) != 2 {
		t.Fatalf("%d events, want 2", len(rec.evs))
	}
	e := rec.evs[0]
	d := e.Data.(events.LogData)
	if e.Type != events.TypeAgentLog || e.Subject != "jobs" || d.LogLevel != "warn" || d.Message != "lease lost" {
		t.Errorf("event %+v", e)
	}
	for k, want := range map[string]any{"component": "jobs", "run.job": "compaction", "run.err": "context deadline exceeded", "run.g.a": true} {
		if d.Attrs[k] != want {
			t.Errorf("attr %s = %v, want %v (all: %v)", k, d.Attrs[k], want, d.Attrs)
		}
	}
	for range 10 {
		log.Warn("storm")
	}
	if len(rec.evs) != 3 {
		t.Errorf("%d events after a storm, want 3 (burst of 3)", len(rec.evs))
	}
	if !h.Enabled(context.Background(), slog.LevelWarn) || h.Enabled(context.Background(), slog.LevelInfo) {
		t.Error("Enabled should follow the lower of the two levels")
	}
}

// TestInternal: the internal topic names and the streams.
func TestInternal(t *testing.T) {
	for _, s := range events.Streams {
		if !events.IsInternal(s.Topic()) {
			t.Errorf("%s not internal", s.Topic())
		}
		if got, ok := events.ParseStream(s.Topic()); !ok || got != s {
			t.Errorf("ParseStream(%s) = %v", s.Topic(), got)
		}
	}
	if events.IsInternal("orders") || events.IsInternal("__consumer_offsets") {
		t.Error("user topics are not Sluice's internal topics")
	}
	for typ, want := range map[string]events.Stream{events.TypeAgentLog: events.StreamAgentLogs, events.TypeACLDecision: events.StreamACL,
		events.TypeJobRun: events.StreamJobs, events.TypeAuthFailure: events.StreamAudit, events.TypeGroupDeleted: events.StreamAudit} {
		if got := events.StreamOf(typ); got != want {
			t.Errorf("StreamOf(%s) = %s, want %s", typ, got, want)
		}
	}
}
