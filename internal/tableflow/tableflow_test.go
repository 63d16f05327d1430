package tableflow

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/iceberg-go/table"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// env is a fake Kafka cluster, a file bucket and a SQLite store.
type env struct {
	t       testing.TB
	cluster *kfake.Cluster
	dir     string
	cl      *kgo.Client
}

func newEnv(t testing.TB, topics ...string) *env {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, topics...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic(topics[0]), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &env{t: t, cluster: c, dir: t.TempDir(), cl: cl}
}

func (e *env) config(extra string) *Config {
	e.t.Helper()
	y := fmt.Sprintf(`
source_clusters:
  - name: src
    bootstrap_servers: [%q]
destination_bucket_url: file://%s/bucket
metadata_url: sqlite://%s/tableflow.db
target_freshness: 200ms
`, e.cluster.ListenAddrs()[0], e.dir, e.dir) + extra
	cfg, err := ParseConfig([]byte(y))
	if err != nil {
		e.t.Fatal(err)
	}
	return cfg
}

func (e *env) produce(topic string, partition int32, values ...string) {
	e.t.Helper()
	var recs []*kgo.Record
	for _, v := range values {
		recs = append(recs, &kgo.Record{Topic: topic, Partition: partition, Value: []byte(v)})
	}
	if err := e.cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		e.t.Fatal(err)
	}
}

// start runs a service until the test ends.
func start(t testing.TB, cfg *Config) *Service {
	t.Helper()
	return startOpts(t, cfg, Options{})
}

// startOpts runs a service with options (the logger and lease TTL are the
// tests') until the test ends.
func startOpts(t testing.TB, cfg *Config, o Options) *Service {
	t.Helper()
	o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	o.LeaseTTL = 3 * time.Second
	svc, err := New(context.Background(), cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); svc.Run(ctx) }()
	var once sync.Once
	svc.stopTest = func() { once.Do(func() { cancel(); <-done; svc.Close() }) }
	t.Cleanup(svc.stopTest)
	return svc
}

// readRows scans the table and returns its rows as maps, sorted by
// (partition, offset).
func readRows(t *testing.T, tbl *table.Table) []map[string]any {
	t.Helper()
	at, err := tbl.Scan().ToArrowTable(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer at.Release()
	var rows []map[string]any
	tr := array.NewTableReader(at, 1024)
	defer tr.Release()
	for tr.Next() {
		rec := tr.RecordBatch()
		for i := 0; i < int(rec.NumRows()); i++ {
			m := map[string]any{}
			for c, f := range rec.Schema().Fields() {
				col := rec.Column(c)
				if col.IsNull(i) {
					continue
				}
				switch a := col.(type) {
				case *array.Int32:
					m[f.Name] = a.Value(i)
				case *array.Int64:
					m[f.Name] = a.Value(i)
				case *array.Float64:
					m[f.Name] = a.Value(i)
				case *array.Boolean:
					m[f.Name] = a.Value(i)
				case *array.String:
					m[f.Name] = a.Value(i)
				case *array.Timestamp:
					m[f.Name] = a.Value(i).ToTime(arrow.Microsecond)
				case *array.Struct, *array.List, *array.Map:
					// Nested values compare as their JSON, keys sorted.
					b, err := json.Marshal(a.GetOneForMarshal(i))
					if err != nil {
						t.Fatal(err)
					}
					var v any
					if err := json.Unmarshal(b, &v); err != nil {
						t.Fatal(err)
					}
					b, _ = json.Marshal(v)
					m[f.Name] = string(b)
				default:
					m[f.Name] = a.ValueStr(i)
				}
			}
			rows = append(rows, m)
		}
	}
	sort.Slice(rows, func(i, j int) bool {
		pi, pj := rows[i][colPartition].(int32), rows[j][colPartition].(int32)
		if pi != pj {
			return pi < pj
		}
		return rows[i][colOffset].(int64) < rows[j][colOffset].(int64)
	})
	return rows
}

// waitRows polls the table until it holds n rows.
func waitRows(t *testing.T, svc *Service, name string, n int) (*table.Table, []map[string]any) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		tbl, err := svc.Catalog().LoadTable(context.Background(), Ident(name))
		if err == nil && tbl.CurrentSnapshot() != nil {
			rows := readRows(t, tbl)
			if len(rows) >= n {
				return tbl, rows
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("table %s did not reach %d rows (err %v)", name, n, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

const ordersTable = `
tables:
  - name: shop.orders
    source_topic: orders
    format: json
    partition_by: ["day(ts)"]
    schema:
      fields:
        - {name: id, type: long, required: true}
        - {name: item, type: string}
        - {name: price, type: double}
        - {name: ts, type: timestamp}
`

func TestIngestJSON(t *testing.T) {
	e := newEnv(t, "orders")
	cfg := e.config(ordersTable)
	svc := start(t, cfg)
	for p := int32(0); p < 2; p++ {
		var vs []string
		for i := 0; i < 50; i++ {
			id := int(p)*1000 + i
			vs = append(vs, fmt.Sprintf(`{"id": %d, "item": "item-%d", "price": %d.5, "ts": "2026-12-0%dT10:00:00Z"}`, id, id, i, 1+i%3))
		}
		e.produce("orders", p, vs...)
	}
	e.produce("orders", 0, `{"id": "not a number"}`, `not json`)
	_, rows := waitRows(t, svc, "shop.orders", 100)
	if len(rows) != 100 {
		t.Fatalf("got %d rows, want 100", len(rows))
	}
	for _, r := range rows {
		p, off := r[colPartition].(int32), r[colOffset].(int64)
		id := r["id"].(int64)
		if id != int64(p)*1000+off {
			t.Fatalf("row %v: id %d at %d/%d", r, id, p, off)
		}
		if r["item"] != fmt.Sprintf("item-%d", id) || r["price"] != float64(off)+0.5 {
			t.Fatalf("row %v: wrong values", r)
		}
		want := time.Date(2026, 12, 1+int(off)%3, 10, 0, 0, 0, time.UTC)
		if ts := r["ts"].(time.Time); !ts.Equal(want) {
			t.Fatalf("row %v: ts %v, want %v", r, ts, want)
		}
	}
	// The two bad records went to the DLQ with their reason.
	dlq := consumeAll(t, e, "orders.dlq", 2)
	for _, r := range dlq {
		var reason string
		for _, h := range r.Headers {
			if h.Key == HeaderError {
				reason = string(h.Value)
			}
		}
		if !strings.Contains(reason, "incompatible") {
			t.Fatalf("DLQ record %q: reason %q", r.Value, reason)
		}
	}
	// The store's offsets cover every record, the two bad ones included.
	waitOffsets(t, svc, "shop.orders", map[int32]int64{0: 52, 1: 50})
}

func waitOffsets(t testing.TB, svc *Service, name string, want map[int32]int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := svc.store.Load(context.Background(), name)
		if err == nil && fmt.Sprint(st.Offsets) == fmt.Sprint(want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("offsets %v, want %v (err %v)", st.Offsets, want, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func consumeAll(t *testing.T, e *env, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.cluster.ListenAddrs()...), kgo.ConsumeTopics(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d from %s", len(out), n, topic)
		}
		out = append(out, fs.Records()...)
	}
	return out
}

func TestConfigErrors(t *testing.T) {
	_, err := ParseConfig([]byte(`
source_clusters: [{name: a, bootstrap_servers: []}]
destination_bucket_url: file:///tmp/x
metadata_url: mysql://x
bogus: 1
`))
	if err == nil || !strings.Contains(err.Error(), "bogus") {
		t.Fatalf("unknown key: %v", err)
	}
	_, err = ParseConfig([]byte(`
source_clusters: [{name: a, bootstrap_servers: []}]
destination_bucket_url: file:///tmp/x
metadata_url: mysql://x
tables:
  - {name: bad, source_topic: t, format: xml, partition_by: ["week(ts)"]}
`))
	for _, want := range []string{"metadata_url", "bootstrap_servers", "namespace.table", "format \"xml\"", "partition_by"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want an error about %s, got %v", want, err)
		}
	}
}
