package tableflow

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/apache/iceberg-go"
	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkIngestJSON measures JSON → Arrow → Parquet → committed snapshot,
// the ingestion path without Kafka: decode, convert, write a data file,
// commit. Bytes are JSON bytes. Besides ns/op and MB/s (wall clock) it
// reports MB/cpu-s: JSON bytes per second of the process's CPU time
// (user + system, every thread: GC and Parquet writing included), the
// per-core figure, which other load on the machine does not skew.
//
// Sub-benchmarks: path=map is the general path (decode into a map,
// convert, add) with iceberg-go's default Parquet settings, as ingestion
// ran before the direct path; path=direct is what JSON tables take now
// (batch.addJSON, and the Parquet settings new tables get). The parquet=
// variants isolate the writer settings.
func BenchmarkIngestJSON(b *testing.B) {
	for _, v := range []struct {
		name   string
		direct bool
		props  iceberg.Properties
	}{
		{"path=map/parquet=default", false, nil},
		{"path=direct/parquet=default", true, nil},
		{"path=direct/parquet=new", true, dataFileProperties()},
	} {
		b.Run(v.name, func(b *testing.B) { benchIngest(b, v.direct, v.props) })
	}
}

func benchIngest(b *testing.B, direct bool, props iceberg.Properties) {
	ctx := context.Background()
	dir := b.TempDir()
	store, err := OpenStore(ctx, "sqlite://"+filepath.Join(dir, "tf.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	wh, err := OpenWarehouse(ctx, "file://"+filepath.Join(dir, "wh"))
	if err != nil {
		b.Fatal(err)
	}
	defer wh.Close()
	cat := NewCatalog(store, wh, "bench")
	if ok, err := store.AcquireLease(ctx, "b.t", "bench", time.Hour); !ok || err != nil {
		b.Fatal(ok, err)
	}
	cfg := TableConfig{Format: "json", Schema: benchSchema()}
	dec, err := newDecoder(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	cols, ids, _ := dec.initialColumns(ctx)
	tbl, err := cat.Create(ctx, Ident("b.t"), initialSchema(cols, ids), *iceberg.UnpartitionedSpec, props)
	if err != nil {
		b.Fatal(err)
	}
	values, size := benchRecords(50000)
	ts := time.Now()
	var fileBytes int64
	b.SetBytes(size)
	b.ResetTimer()
	cpu0 := cpuTime()
	bt, err := newBatch(tbl.Schema())
	if err != nil {
		b.Fatal(err)
	}
	defer bt.release()
	for it := 0; it < b.N; it++ {
		for i, v := range values {
			if direct {
				if !bt.addJSON(v, 0, int64(i), ts, len(v)) {
					b.Fatalf("the direct path refused %s", v)
				}
				continue
			}
			d, err := dec.decode(ctx, v)
			if err != nil {
				b.Fatal(err)
			}
			r, err := bt.convert(d.values, 0, int64(i), ts)
			if err != nil {
				b.Fatal(err)
			}
			bt.add(r, len(v))
		}
		rdr, err := bt.reader()
		if err != nil {
			b.Fatal(err)
		}
		tx := tbl.NewTransaction()
		if err := tx.Append(ctx, rdr, iceberg.Properties{offsetsProperty: encodeOffsets(map[int32]int64{0: int64(it)})}); err != nil {
			b.Fatal(err)
		}
		if tbl, err = tx.Commit(ctx); err != nil {
			b.Fatal(err)
		}
		rdr.Release()
		n, _ := strconv.ParseInt(tbl.CurrentSnapshot().Summary.Properties["added-files-size"], 10, 64)
		fileBytes += n
	}
	cpu := cpuTime() - cpu0
	b.StopTimer()
	b.ReportMetric(float64(size)*float64(b.N)/cpu.Seconds()/1e6, "MB/cpu-s")
	b.ReportMetric(float64(fileBytes)/float64(b.N), "parquet-B/op")
}

// cpuTime is the process's CPU time so far, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkFreshness measures freshness end to end: records are produced
// at a steady rate for a few seconds (to kfake, with a 1s
// target_freshness), and each record's freshness is the time from its
// produce acknowledgement to the first moment the table's committed state
// (the snapshot readers see, and its offsets) includes it. Reports p50,
// p99 and max in seconds. Not a unit test: run it with
// `go test -run XXX -bench BenchmarkFreshness -benchtime 1x ./internal/tableflow/`.
func BenchmarkFreshness(b *testing.B) {
	const (
		rate     = 200 // records per second
		duration = 8 * time.Second
	)
	for i := 0; i < b.N; i++ {
		e := newEnv(b, "fresh")
		cfg := e.config(`
tables:
  - name: bench.fresh
    source_topic: fresh
    format: json
    schema:
      fields:
        - {name: id, type: long, required: true}
        - {name: at, type: timestamp}
`)
		cfg.TargetFreshness = Duration(time.Second)
		svc := start(b, cfg)
		ctx, cancel := context.WithCancel(context.Background())
		acked := map[int64]time.Time{} // offset → acknowledged, partition 0
		visible := map[int64]time.Time{}
		var mu sync.Mutex // guards acked
		done := make(chan struct{})
		go func() { // the poller: when does each offset become visible?
			defer close(done)
			var seen int64
			for ctx.Err() == nil {
				st, err := svc.store.Load(ctx, "bench.fresh")
				now := time.Now()
				if err == nil {
					for ; seen < st.Offsets[0]; seen++ {
						visible[seen] = now
					}
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
		tick := time.NewTicker(time.Second / rate)
		end := time.Now().Add(duration)
		n := int64(0)
		for now := range tick.C {
			if now.After(end) {
				break
			}
			r := &kgo.Record{Topic: "fresh", Partition: 0, Value: []byte(fmt.Sprintf(`{"id": %d, "at": %q}`, n, now.UTC().Format(time.RFC3339Nano)))}
			e.cl.Produce(ctx, r, func(r *kgo.Record, err error) {
				if err == nil {
					mu.Lock()
					acked[r.Offset] = time.Now()
					mu.Unlock()
				}
			})
			n++
		}
		tick.Stop()
		if err := e.cl.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		waitOffsets(b, svc, "bench.fresh", map[int32]int64{0: n})
		time.Sleep(20 * time.Millisecond) // one more poll
		cancel()
		<-done
		mu.Lock()
		var ages []float64
		for off, at := range acked {
			if v, ok := visible[off]; ok {
				ages = append(ages, v.Sub(at).Seconds())
			}
		}
		mu.Unlock()
		if len(ages) < int(n)*9/10 {
			b.Fatalf("%d of %d records seen becoming visible", len(ages), n)
		}
		sort.Float64s(ages)
		pct := func(p float64) float64 { return ages[min(len(ages)-1, int(p*float64(len(ages))))] }
		b.ReportMetric(pct(0.50), "p50-s")
		b.ReportMetric(pct(0.99), "p99-s")
		b.ReportMetric(ages[len(ages)-1], "max-s")
		svc.stopTest()
	}
}

// benchSchema and benchRecords are BenchmarkIngestJSON's table and
// records: about 200 bytes of JSON, 7 columns.
func benchSchema() *InlineSchema {
	return &InlineSchema{Fields: []FieldConfig{
		{Name: "id", Type: "long", Required: true}, {Name: "user", Type: "string"}, {Name: "event", Type: "string"},
		{Name: "amount", Type: "double"}, {Name: "ok", Type: "boolean"}, {Name: "at", Type: "timestamp"}, {Name: "note", Type: "string"},
	}}
}

func benchRecords(n int) ([][]byte, int64) {
	values := make([][]byte, n)
	var size int64
	for i := range values {
		values[i] = []byte(fmt.Sprintf(`{"id": %d, "user": "user-%d", "event": "page_view", "amount": %d.25, "ok": %v, "at": "2026-12-06T10:%02d:%02dZ", "note": "some free text that makes the record a bit longer, like real events"}`,
			i, i%1000, i%500, i%2 == 0, i/60%60, i%60))
		size += int64(len(values[i]))
	}
	return values, size
}
