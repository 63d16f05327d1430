package query

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/cache"
	"github.com/sluicehq/sluice/internal/events"
	"github.com/sluicehq/sluice/internal/fetch"
	"github.com/sluicehq/sluice/internal/metadata/sqlite"
	"github.com/sluicehq/sluice/internal/objstore"
	"github.com/sluicehq/sluice/internal/produce"
)

// TestMeasureOneHourWindow measures a one-hour-window query over a day of
// agent-log events written to a file:// bucket, with and without the
// timestamp index and watermark pruning (docs/events.md, "Measurements").
// It runs only when SLUICE_QUERY_MEASURE_EVENTS is set:
//
//	SLUICE_QUERY_MEASURE_EVENTS=10000000 go test -run TestMeasureOneHourWindow -v -timeout 2h ./internal/query/
func TestMeasureOneHourWindow(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("SLUICE_QUERY_MEASURE_EVENTS"))
	if n <= 0 {
		t.Skip("set SLUICE_QUERY_MEASURE_EVENTS to the number of events")
	}
	ctx := context.Background()
	dir := t.TempDir()
	if d := os.Getenv("SLUICE_QUERY_MEASURE_DIR"); d != "" {
		dir = d
	}
	bucket, err := objstore.Open(ctx, "file://"+filepath.Join(dir, "bucket"))
	if err != nil {
		t.Fatal(err)
	}
	store, err := sqlite.Open(ctx, filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	b := produce.New(produce.Config{BatchTimeout: 5 * time.Millisecond}, store, bucket, nil, nil, nil)
	defer b.Close(ctx)
	topic, err := store.CreateTopic(ctx, events.TopicAgentLogs, 1, nil)
	if err != nil {
		t.Fatal(err)
	}

	// Fill: n events over 24h, in batches of 2000, eight batches a submit.
	start := time.Now()
	step := 24 * time.Hour / time.Duration(n)
	levels := []string{"warn", "warn", "warn", "error"}
	const perBatch, perSubmit = 2000, 8
	var bytes int64
	evs := make([]events.Event, 0, perBatch)
	var pend []*produce.Pending
	var sub []produce.Batch
	for i := 0; i < n; {
		evs = evs[:0]
		for ; i < n && len(evs) < perBatch; i++ {
			evs = append(evs, events.Event{Type: events.TypeAgentLog, Time: base.Add(time.Duration(i) * step), Subject: "fetch",
				Data: events.LogData{LogLevel: levels[i%4], Message: "fetch failed", Attrs: map[string]any{"topic": "orders", "partition": i % 12, "n": i}}})
		}
		data, info, err := events.EncodeBatch("sluice://measure/node-1", evs)
		if err != nil {
			t.Fatal(err)
		}
		bytes += int64(len(data))
		sub = append(sub, produce.Batch{Topic: topic.ID, Partition: 0, Data: data, Info: info})
		if len(sub) == perSubmit || i == n {
			p, err := b.Submit(ctx, sub)
			if err != nil {
				t.Fatal(err)
			}
			pend = append(pend, p)
			sub = nil
			if len(pend) >= 4 || i == n {
				for _, p := range pend {
					res, err := p.Wait(ctx)
					if err != nil || res[0].Err != nil {
						t.Fatal(err, res)
					}
				}
				pend = pend[:0]
			}
		}
	}
	t.Logf("wrote %d events (%d MiB) in %s", n, bytes>>20, time.Since(start).Round(time.Millisecond))

	// The read path as the agent builds it: a 256 MiB block cache (the
	// default --cache-size) in front of the bucket.
	c := cache.New(bucket, cache.Config{Size: 256 << 20}, nil)
	defer c.Close()
	r := fetch.NewCachedReader(store, c, nil, fetch.Config{})
	defer r.Close()
	en := NewEngine(r, store, Limits{MaxScanBytes: 1 << 40, Timeout: time.Hour, Skew: 30 * time.Second})
	from := base.Add(14 * time.Hour)
	window := fmt.Sprintf(`since "%s" until "%s"`, from.Format(time.RFC3339), from.Add(time.Hour).Format(time.RFC3339))
	for _, text := range []string{`count ` + window, `data.log_level == "error" count ` + window} {
		for _, c := range []struct {
			name string
			o    Options
		}{{"index+pruning", Options{}}, {"pruning only", Options{NoIndex: true}}, {"no pruning", Options{NoIndex: true, NoPruning: true}}} {
			q, err := Parse(text)
			if err != nil {
				t.Fatal(err)
			}
			c.o.Now = base.Add(24 * time.Hour)
			res, err := en.Run(ctx, q, c.o)
			if err != nil {
				t.Fatal(err)
			}
			s := res.Stats
			t.Logf("%-40.40s %-14s count %8d  tasks %5d/%5d (%.2f%%)  bytes %6d MiB of %d  %8.0f ms",
				text, c.name, res.Count, s.TasksScanned, s.TasksTotal, 100*float64(s.TasksScanned)/float64(s.TasksTotal),
				s.BytesScanned>>20, bytes>>20, s.DurationMs)
		}
	}
}
