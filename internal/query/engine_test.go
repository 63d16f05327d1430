package query

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/cache"
	"github.com/sluicehq/sluice/internal/events"
	"github.com/sluicehq/sluice/internal/fetch"
	"github.com/sluicehq/sluice/internal/metadata/sqlite"
	"github.com/sluicehq/sluice/internal/objstore"
	"github.com/sluicehq/sluice/internal/produce"
)

// env is a real write and read path (SQLite store, in-memory bucket,
// produce.Batcher, fetch.Reader) with an events.Writer on top.
type env struct {
	store  *sqlite.Store
	reader *fetch.Reader
	writer *events.Writer
}

func newEnv(t testing.TB, bufferEvents int) *env {
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
	b := produce.New(produce.Config{BatchTimeout: time.Millisecond}, store, bucket, nil, nil, nil)
	w := events.NewWriter(events.Config{Source: "sluice://test/node-1", BufferEvents: bufferEvents, Linger: 5 * time.Millisecond}, store, nil, nil)
	w.Start(b)
	// The read path as the agent builds it, with a block cache.
	c := cache.New(bucket, cache.Config{Size: 256 << 20}, nil)
	r := fetch.NewCachedReader(store, c, nil, fetch.Config{})
	t.Cleanup(func() {
		w.Close(ctx)
		b.Close(ctx)
		r.Close()
		c.Close()
		store.Close()
	})
	return &env{store: store, reader: r, writer: w}
}

// base is the time the generated events start at.
var base = time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)

// jitter is a deterministic disorder of up to ±10s, as agents with skewed
// clocks writing one partition produce.
func jitter(i int) time.Duration { return time.Duration((i*7919)%21-10) * time.Second }

// fill writes n agent-log events spread evenly over 24h (with jitter) and
// returns their times.
func (e *env) fill(t testing.TB, n int) []time.Time {
	t.Helper()
	step := 24 * time.Hour / time.Duration(n)
	times := make([]time.Time, n)
	levels := []string{"warn", "error", "warn", "warn"}
	for i := range n {
		times[i] = base.Add(time.Duration(i)*step + jitter(i))
		e.writer.Emit(context.Background(), events.Event{Type: events.TypeAgentLog, Time: times[i], Subject: "test",
			Data: map[string]any{"n": i, "log_level": levels[i%len(levels)], "message": fmt.Sprintf("event %d", i)}})
		// Files of 2000 events, as a steady stream writes them (one
		// flush would make the whole topic one extent).
		if i%2000 == 1999 || i == n-1 {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			if err := e.writer.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			cancel()
		}
	}
	return times
}

func (e *env) engine(l Limits) *Engine { return NewEngine(e.reader, e.store, l) }

func run(t testing.TB, en *Engine, text string, o Options) *Result {
	t.Helper()
	q, err := Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	if o.Now.IsZero() {
		o.Now = base.Add(24 * time.Hour)
	}
	res, err := en.Run(context.Background(), q, o)
	if err != nil {
		t.Fatalf("%s: %v", text, err)
	}
	return res
}

func countIn(times []time.Time, from, to time.Time) int64 {
	var n int64
	for _, ts := range times {
		if !ts.Before(from) && !ts.After(to) {
			n++
		}
	}
	return n
}

// TestPruningScansSmallFraction: a 10-minute window over 24 hours of
// events reads a small fraction of the tasks, through the timestamp index
// and through watermark pruning alone, and counts exactly what a full scan
// counts, although timestamps run backwards by up to 10s along the log.
func TestPruningScansSmallFraction(t *testing.T) {
	const n = 60000
	e := newEnv(t, n)
	times := e.fill(t, n)
	en := e.engine(Limits{TaskOffsets: 250, Skew: 15 * time.Second, Timeout: 10 * time.Minute})
	from, to := base.Add(13*time.Hour), base.Add(13*time.Hour+10*time.Minute)
	text := fmt.Sprintf(`count since "%s" until "%s"`, from.Format(time.RFC3339), to.Format(time.RFC3339))
	want := countIn(times, from, to)
	if want == 0 {
		t.Fatal("no events in the window")
	}
	for _, c := range []struct {
		name     string
		o        Options
		maxShare float64
	}{
		{"pruning only", Options{NoIndex: true}, 0.15},
		{"index and pruning", Options{}, 0.03},
		{"neither", Options{NoIndex: true, NoPruning: true}, 1},
	} {
		res := run(t, en, text, c.o)
		s := res.Stats
		share := float64(s.TasksScanned) / float64(s.TasksTotal)
		t.Logf("%s: count %d, %d of %d tasks scanned (%.1f%%), %d pruned, %d bytes, %.1f ms",
			c.name, res.Count, s.TasksScanned, s.TasksTotal, 100*share, s.TasksPruned, s.BytesScanned, s.DurationMs)
		if res.Count != want {
			t.Errorf("%s: count %d, want %d", c.name, res.Count, want)
		}
		if share > c.maxShare {
			t.Errorf("%s: scanned %.1f%% of the tasks, want at most %.0f%%", c.name, 100*share, 100*c.maxShare)
		}
		if !s.MetadataOnly {
			t.Errorf("%s: a count without filter should not decode values", c.name)
		}
	}
	// A filter on a payload field decodes values and still agrees.
	res := run(t, en, `data.log_level == "error" `+text, Options{})
	var errs int64
	for i, ts := range times {
		if i%4 == 1 && !ts.Before(from) && !ts.After(to) {
			errs++
		}
	}
	if res.Count != errs || res.Stats.MetadataOnly {
		t.Errorf("filtered count %d (metadata only %v), want %d", res.Count, res.Stats.MetadataOnly, errs)
	}
}

// TestTopNExitsEarly: the newest events of a whole day come from a small
// share of the tasks, and an unsorted list stops at its limit.
func TestTopNExitsEarly(t *testing.T) {
	const n = 20000
	e := newEnv(t, n)
	times := e.fill(t, n)
	en := e.engine(Limits{TaskOffsets: 100, Skew: 15 * time.Second, Parallelism: 1})
	res := run(t, en, `sort time desc limit 10 since 24h`, Options{NoIndex: true})
	if len(res.Events) != 10 {
		t.Fatalf("%d events", len(res.Events))
	}
	// The ten newest by time.
	for i, ev := range res.Events {
		if i > 0 && ev.Time.After(res.Events[i-1].Time) {
			t.Errorf("event %d is newer than event %d", i, i-1)
		}
	}
	newer := 0
	for _, ts := range times {
		if ts.After(res.Events[9].Time) {
			newer++
		}
	}
	if newer > 9 {
		t.Errorf("%d events are newer than the 10th returned", newer)
	}
	s := res.Stats
	t.Logf("top 10: %d of %d tasks scanned, %d pruned", s.TasksScanned, s.TasksTotal, s.TasksPruned)
	if float64(s.TasksScanned) > 0.2*float64(s.TasksTotal) {
		t.Errorf("top 10 scanned %d of %d tasks", s.TasksScanned, s.TasksTotal)
	}
	res = run(t, en, `sort none limit 5 since 24h`, Options{})
	if len(res.Events) != 5 || !res.Stats.EarlyExit || res.Stats.TasksScanned != 1 {
		t.Errorf("unsorted limit 5: %d events, early exit %v, %d tasks scanned", len(res.Events), res.Stats.EarlyExit, res.Stats.TasksScanned)
	}
}

// TestPaging: pages of a sorted list, followed by their tokens, return
// every event in range once, even when many share a millisecond.
func TestPaging(t *testing.T) {
	e := newEnv(t, 1000)
	at := base.Add(time.Hour)
	const n = 50
	for i := range n {
		// Five events per millisecond.
		e.writer.Emit(context.Background(), events.Event{Type: events.TypeJobRun, Time: at.Add(time.Duration(i/5) * time.Millisecond),
			Data: events.JobData{Job: "compaction", Figures: map[string]int64{"i": int64(i)}}})
	}
	if err := e.writer.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	en := e.engine(Limits{})
	for _, order := range []string{"desc", "asc"} {
		seen := map[int64]bool{}
		token := ""
		var last time.Time
		for page := 0; ; page++ {
			if page > 20 {
				t.Fatal("paging does not end")
			}
			res := run(t, en, `from jobs sort time `+order+` limit 7 since 2h`, Options{PageToken: token, Now: at.Add(time.Minute)})
			for _, ev := range res.Events {
				if seen[ev.Offset] {
					t.Errorf("%s: offset %d returned twice", order, ev.Offset)
				}
				seen[ev.Offset] = true
				if !last.IsZero() && (order == "desc" && ev.Time.After(last) || order == "asc" && ev.Time.Before(last)) {
					t.Errorf("%s: out of order at offset %d", order, ev.Offset)
				}
				last = ev.Time
			}
			if token = res.NextPageToken; token == "" {
				break
			}
		}
		if len(seen) != n {
			t.Errorf("%s: paged through %d events, want %d", order, len(seen), n)
		}
	}
}

// TestGroupsAndTimeline: counts per group and per bucket add up.
func TestGroupsAndTimeline(t *testing.T) {
	const n = 2400
	e := newEnv(t, n)
	times := e.fill(t, n)
	en := e.engine(Limits{})
	from := base.Add(6 * time.Hour)
	res := run(t, en, fmt.Sprintf(`group by data.log_level since "%s" until "%s"`, from.Format(time.RFC3339), from.Add(6*time.Hour).Format(time.RFC3339)), Options{})
	want := countIn(times, from, from.Add(6*time.Hour))
	if res.Kind != "groups" || len(res.Groups) != 2 || res.Count != want {
		t.Fatalf("groups: %+v", res)
	}
	if res.Groups[0].Key["data.log_level"] != "warn" || res.Groups[0].Count < 2*res.Groups[1].Count {
		t.Errorf("groups %+v: warn should be three times error", res.Groups)
	}
	res = run(t, en, fmt.Sprintf(`timeline 1h group by data.log_level since "%s" until "%s"`, from.Format(time.RFC3339), from.Add(6*time.Hour).Format(time.RFC3339)), Options{})
	if res.Kind != "timeline" || len(res.Timeline) != 7 || res.Count != want {
		t.Fatalf("timeline: kind %s, %d buckets, count %d (want %d)", res.Kind, len(res.Timeline), res.Count, want)
	}
	for _, b := range res.Timeline {
		var sum int64
		for _, g := range b.Groups {
			sum += g.Count
		}
		if sum != b.Count {
			t.Errorf("bucket %s: groups add to %d, count %d", b.Start, sum, b.Count)
		}
		if got := countIn(times, b.Start, b.Start.Add(time.Hour-time.Millisecond)); got != b.Count && b.Start.Before(from.Add(6*time.Hour)) {
			t.Errorf("bucket %s: %d, want %d", b.Start, b.Count, got)
		}
	}
}

// TestLimits: a query over its scan budget says so; too many at once are
// refused; a range over the maximum is invalid.
func TestLimits(t *testing.T) {
	e := newEnv(t, 5000)
	e.fill(t, 5000)
	en := e.engine(Limits{MaxScanBytes: 10 << 10, TaskOffsets: 100})
	res := run(t, en, `data.n >= 0 count since 24h`, Options{NoIndex: true})
	if !res.Partial || len(res.LimitsHit) != 1 || res.LimitsHit[0] != "scan_bytes" {
		t.Errorf("scan limit: partial %v, limits %v", res.Partial, res.LimitsHit)
	}
	en = e.engine(Limits{MaxMemoryBytes: 4 << 10})
	res = run(t, en, `sort none limit 1000 since 24h`, Options{})
	if !res.Partial || res.LimitsHit[0] != "memory" {
		t.Errorf("memory limit: partial %v, limits %v", res.Partial, res.LimitsHit)
	}
	en = e.engine(Limits{MaxConcurrent: 1})
	en.sem <- struct{}{} // one query running
	q, _ := Parse(`count`)
	if _, err := en.Run(context.Background(), q, Options{}); !errors.Is(err, ErrBusy) {
		t.Errorf("second concurrent query: %v, want ErrBusy", err)
	}
	<-en.sem
	for _, text := range []string{`count since 25h`, `from nowhere`, `limit 20000`, `timeline 1s since 24h`} {
		q, _ := Parse(text)
		if _, err := en.Run(context.Background(), q, Options{}); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", text, err)
		}
	}
}
