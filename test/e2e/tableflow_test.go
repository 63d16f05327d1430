package e2e

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/iceberg-go/catalog/rest"
	"github.com/apache/iceberg-go/table"
	"github.com/twmb/avro"
	"github.com/twmb/avro/ocf"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"
)

// tableflowProc is a `sluice tableflow` process.
type tableflowProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	addr   string
	logs   *syncBuffer
	exited chan struct{}
}

// startTableflow runs `sluice tableflow` on a config and waits until it
// serves.
func startTableflow(t *testing.T, cfgPath string) *tableflowProc {
	t.Helper()
	p := &tableflowProc{t: t, addr: freeAddr(t), logs: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(sluiceBin, "tableflow", "--config", cfgPath, "--listen", p.addr, "--lease-ttl", "1500ms", "--log-level", "debug")
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("tableflow log:\n%s", p.logs.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-p.exited:
			t.Fatalf("tableflow exited during start:\n%s", p.logs.String())
		default:
		}
		if resp, err := http.Get("http://" + p.addr + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("tableflow did not serve:\n%s", p.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill sends SIGKILL, as in a crash.
func (p *tableflowProc) kill() {
	select {
	case <-p.exited:
		return
	default:
	}
	p.cmd.Process.Kill()
	<-p.exited
}

// tfRow is a table row keyed by where it came from.
type tfRow map[string]any

// scanTable loads a table through the REST catalog with iceberg-go's
// client and returns its rows sorted by (partition, offset).
func scanTable(ctx context.Context, t *testing.T, catURL, name string) (*table.Table, []tfRow, error) {
	cat, err := rest.NewCatalog(ctx, "sluice", catURL)
	if err != nil {
		return nil, nil, err
	}
	tbl, err := cat.LoadTable(ctx, strings.Split(name, "."))
	if err != nil {
		return nil, nil, err
	}
	if tbl.CurrentSnapshot() == nil {
		return tbl, nil, nil
	}
	at, err := tbl.Scan().ToArrowTable(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer at.Release()
	var rows []tfRow
	tr := array.NewTableReader(at, 4096)
	defer tr.Release()
	for tr.Next() {
		rec := tr.RecordBatch()
		for i := 0; i < int(rec.NumRows()); i++ {
			r := tfRow{}
			for c, f := range rec.Schema().Fields() {
				col := rec.Column(c)
				if col.IsNull(i) {
					continue
				}
				switch a := col.(type) {
				case *array.Int32:
					r[f.Name] = a.Value(i)
				case *array.Int64:
					r[f.Name] = a.Value(i)
				case *array.Float64:
					r[f.Name] = a.Value(i)
				case *array.Boolean:
					r[f.Name] = a.Value(i)
				case *array.String:
					r[f.Name] = a.Value(i)
				case *array.Timestamp:
					r[f.Name] = a.Value(i).ToTime(arrow.Microsecond)
				case *array.Struct, *array.List, *array.Map:
					// Nested values compare as their JSON, keys sorted.
					var v any
					b, err := json.Marshal(a.GetOneForMarshal(i))
					if err == nil {
						err = json.Unmarshal(b, &v)
					}
					if err != nil {
						t.Fatal(err)
					}
					b, _ = json.Marshal(v)
					r[f.Name] = string(b)
				default:
					t.Fatalf("column %s: unexpected arrow type %s", f.Name, col.DataType())
				}
			}
			rows = append(rows, r)
		}
	}
	sort.Slice(rows, func(i, j int) bool {
		pi, pj := rows[i]["_kafka_partition"].(int32), rows[j]["_kafka_partition"].(int32)
		if pi != pj {
			return pi < pj
		}
		return rows[i]["_kafka_offset"].(int64) < rows[j]["_kafka_offset"].(int64)
	})
	return tbl, rows, nil
}

// waitTable scans until the table holds at least n rows.
func waitTable(ctx context.Context, t *testing.T, catURL, name string, n int) (*table.Table, []tfRow) {
	t.Helper()
	for {
		tbl, rows, err := scanTable(ctx, t, catURL, name)
		if err == nil && len(rows) >= n {
			return tbl, rows
		}
		if ctx.Err() != nil {
			t.Fatalf("table %s: %d rows, want %d (last error %v)", name, len(rows), n, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkExactlyOnce checks the table rows are exactly the topic's records:
// one row per (partition, offset), with the values the record holds.
func checkExactlyOnce(t *testing.T, rows []tfRow, topic map[int32][]*kgo.Record, check func(tfRow, *kgo.Record)) {
	t.Helper()
	want := 0
	for _, rs := range topic {
		want += len(rs)
	}
	if len(rows) != want {
		t.Errorf("table has %d rows, topic %d records", len(rows), want)
	}
	seen := map[[2]int64]bool{}
	byPos := map[[2]int64]*kgo.Record{}
	for p, rs := range topic {
		for _, r := range rs {
			byPos[[2]int64{int64(p), r.Offset}] = r
		}
	}
	for _, r := range rows {
		k := [2]int64{int64(r["_kafka_partition"].(int32)), r["_kafka_offset"].(int64)}
		if seen[k] {
			t.Fatalf("record %v appears twice", k)
		}
		seen[k] = true
		rec, ok := byPos[k]
		if !ok {
			t.Fatalf("row %v is no record of the topic", r)
		}
		if ts := r["_kafka_timestamp"].(time.Time); !ts.Equal(rec.Timestamp.Truncate(time.Microsecond)) {
			t.Fatalf("row %v: _kafka_timestamp %v, record %v", k, ts, rec.Timestamp)
		}
		check(r, rec)
	}
}

func writeTableflowConfig(t *testing.T, dir, body string) string {
	t.Helper()
	path := filepath.Join(dir, "tableflow.yaml")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func avroConfluent(t *testing.T, schema string, id int, v map[string]any) []byte {
	t.Helper()
	b, err := avro.MustParse(schema).Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	hdr := []byte{0, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(hdr[1:], uint32(id))
	return append(hdr, b...)
}

// TestTableflowJSONAndAvro ingests a JSON topic and an Avro topic (schemas
// from a Confluent-compatible registry, evolving once) from `sluice dev`,
// and reads both tables back through the REST catalog.
func TestTableflowJSONAndAvro(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 2*time.Minute)
	a := StartAgent(t, "")
	a.CreateTopic("tf-orders", 3)
	a.CreateTopic("tf-clicks", 2)
	reg := srfake.New()
	t.Cleanup(reg.Close)
	const v1 = `{"type":"record","name":"Click","fields":[{"name":"user","type":"long"},{"name":"page","type":"string"},{"name":"ok","type":"boolean"}]}`
	const v2 = `{"type":"record","name":"Click","fields":[{"name":"user","type":"long"},{"name":"page","type":"string"},{"name":"ok","type":"boolean"},{"name":"ms","type":["null","double"],"default":null}]}`
	id1, _, err := reg.RegisterSchema("tf-clicks-value", sr.Schema{Schema: v1})
	if err != nil {
		t.Fatal(err)
	}

	cl := a.Client()
	var recs []*kgo.Record
	for i := 0; i < 300; i++ {
		v := fmt.Sprintf(`{"id": %d, "customer": "c%d", "total": %d.25, "at": "2026-12-0%dT12:00:00Z", "paid": %v}`, i, i%7, i, 1+i%5, i%2 == 0)
		recs = append(recs, &kgo.Record{Topic: "tf-orders", Value: []byte(v)})
	}
	recs = append(recs, &kgo.Record{Topic: "tf-orders", Partition: 0, Value: []byte(`{"id": "seven"}`)})
	for i := 0; i < 100; i++ {
		recs = append(recs, &kgo.Record{Topic: "tf-clicks", Value: avroConfluent(t, v1, id1, map[string]any{"user": int64(i), "page": fmt.Sprintf("/p%d", i), "ok": i%3 == 0})})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	cfgPath := writeTableflowConfig(t, dir, fmt.Sprintf(`
source_clusters:
  - name: dev
    bootstrap_servers: [%q]
destination_bucket_url: file://%s/warehouse
metadata_url: sqlite://%s/tableflow.db
schema_registry_url: %s
target_freshness: 300ms
tables:
  - name: shop.orders
    source_topic: tf-orders
    format: json
    partition_by: ["day(at)"]
    schema:
      fields:
        - {name: id, type: long, required: true}
        - {name: customer, type: string}
        - {name: total, type: double}
        - {name: at, type: timestamp}
        - {name: paid, type: boolean}
  - name: web.clicks
    source_topic: tf-clicks
    format: avro
    subject: tf-clicks-value
    partition_by: ["bucket(8, user)"]
`, a.KafkaAddr, dir, dir, reg.URL()))
	tf := startTableflow(t, cfgPath)
	catURL := "http://" + tf.addr

	_, rows := waitTable(ctx, t, catURL, "shop.orders", 300)
	orders := a.ConsumeAll(ctx, "tf-orders")
	// The bad record is not in the table: drop it from the expectation.
	for p, rs := range orders {
		var keep []*kgo.Record
		for _, r := range rs {
			if !strings.Contains(string(r.Value), `"seven"`) {
				keep = append(keep, r)
			}
		}
		orders[p] = keep
	}
	checkExactlyOnce(t, rows, orders, func(r tfRow, rec *kgo.Record) {
		var v struct {
			ID       int64
			Customer string
			Total    float64
			At       time.Time
			Paid     bool
		}
		if err := json.Unmarshal(rec.Value, &v); err != nil {
			t.Fatal(err)
		}
		if r["id"] != v.ID || r["customer"] != v.Customer || r["total"] != v.Total || r["paid"] != v.Paid || !r["at"].(time.Time).Equal(v.At) {
			t.Fatalf("row %v, record %s", r, rec.Value)
		}
	})
	// The manifests, read with an Avro decoder (not iceberg-go), list live
	// data files holding exactly the table's rows; DuckDB reads those files.
	tbl, _, err := scanTable(ctx, t, catURL, "shop.orders")
	if err != nil {
		t.Fatal(err)
	}
	files := liveDataFiles(t, tbl, len(rows))
	checkWithDuckDB(ctx, t, files, rows)

	dlq := a.ConsumeAll(ctx, "tf-orders.dlq")
	if len(dlq[0]) != 1 || !strings.Contains(string(dlq[0][0].Value), "seven") {
		t.Fatalf("DLQ: %v", dlq)
	}
	var reason string
	for _, h := range dlq[0][0].Headers {
		if h.Key == "tableflow.error" {
			reason = string(h.Value)
		}
	}
	if !strings.Contains(reason, "field id") {
		t.Fatalf("DLQ reason %q does not name the field", reason)
	}

	// The Avro table, then a schema version with a new optional field.
	waitTable(ctx, t, catURL, "web.clicks", 100)
	id2, _, err := reg.RegisterSchema("tf-clicks-value", sr.Schema{Schema: v2})
	if err != nil {
		t.Fatal(err)
	}
	recs = nil
	for i := 100; i < 150; i++ {
		recs = append(recs, &kgo.Record{Topic: "tf-clicks", Value: avroConfluent(t, v2, id2, map[string]any{"user": int64(i), "page": fmt.Sprintf("/p%d", i), "ok": i%3 == 0, "ms": float64(i) / 2})})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	tbl, rows = waitTable(ctx, t, catURL, "web.clicks", 150)
	if f, ok := tbl.Schema().FindFieldByName("ms"); !ok || f.Required {
		t.Fatalf("schema %s lacks an optional ms column", tbl.Schema())
	}
	checkExactlyOnce(t, rows, a.ConsumeAll(ctx, "tf-clicks"), func(r tfRow, rec *kgo.Record) {
		u := r["user"].(int64)
		if r["page"] != fmt.Sprintf("/p%d", u) || r["ok"] != (u%3 == 0) {
			t.Fatalf("row %v", r)
		}
		if u < 100 && r["ms"] != nil || u >= 100 && r["ms"] != float64(u)/2 {
			t.Fatalf("row %v: ms", r)
		}
	})

	// sluice tables reads the same catalog.
	out, err := exec.Command(sluiceBin, "tables", "list", "--catalog", catURL).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "shop.orders") || !strings.Contains(string(out), "web.clicks") {
		t.Fatalf("sluice tables list: %v\n%s", err, out)
	}
	out, err = exec.Command(sluiceBin, "tables", "snapshots", "web.clicks", "--catalog", catURL).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "append") {
		t.Fatalf("sluice tables snapshots: %v\n%s", err, out)
	}
	out, err = exec.Command(sluiceBin, "tables", "describe", "web.clicks", "--catalog", catURL).CombinedOutput()
	if err != nil || !strings.Contains(string(out), " ms ") || !strings.Contains(string(out), "sluice.kafka.offsets") {
		t.Fatalf("sluice tables describe: %v\n%s", err, out)
	}
	// Metrics count what was ingested.
	resp, err := http.Get(catURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var sb strings.Builder
	buf := make([]byte, 1<<16)
	for {
		n, err := resp.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			break
		}
	}
	for _, want := range []string{`sluice_tableflow_records_total{table="shop.orders"} 300`, `sluice_tableflow_dlq_records_total{table="shop.orders"} 1`} {
		if !strings.Contains(sb.String(), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestTableflowCrash kills tableflow with SIGKILL at random points while it
// ingests and maintains a table, again and again; the final table must
// equal the topic exactly.
func TestTableflowCrash(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 3*time.Minute)
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewSource(seed))
	t.Logf("seed %d", seed)
	a := StartAgent(t, "")
	a.CreateTopic("tf-crash", 4)
	dir := t.TempDir()
	cfgPath := writeTableflowConfig(t, dir, fmt.Sprintf(`
source_clusters:
  - name: dev
    bootstrap_servers: [%q]
destination_bucket_url: file://%s/warehouse
metadata_url: sqlite://%s/tableflow.db
target_freshness: 150ms
target_file_size: 64KiB
maintenance:
  interval: 400ms
  compaction_min_files: 3
  keep_snapshots: 3
  snapshot_max_age: 1ms
  orphan_grace_period: 2s
tables:
  - name: crash.events
    source_topic: tf-crash
    format: json
    partition_by: ["identity(kind)"]
    schema:
      fields:
        - {name: n, type: long, required: true}
        - {name: kind, type: string}
        - {name: body, type: string}
`, a.KafkaAddr, dir, dir))

	// A producer writes throughout the crashes.
	cl := a.Client()
	const total = 6000
	produced := make(chan error, 1)
	go func() {
		for i := 0; i < total; i += 100 {
			var recs []*kgo.Record
			for j := i; j < i+100; j++ {
				v := fmt.Sprintf(`{"n": %d, "kind": "k%d", "body": %q}`, j, j%3, strings.Repeat("x", j%50))
				recs = append(recs, &kgo.Record{Topic: "tf-crash", Value: []byte(v)})
			}
			if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				produced <- err
				return
			}
			time.Sleep(120 * time.Millisecond)
		}
		produced <- nil
	}()
	// Each round waits for the new process to commit something (it first
	// waits out the killed one's lease), then kills it at a random point of
	// what follows: mid-append, mid-compaction, mid-cleanup.
	// Once the producer is done and an earlier process committed it all,
	// a new process may have nothing left to commit: the rounds end there
	// and the final check below reads the table.
	lastMeta, kills := "", 0
	var (
		prodDone bool
		prodErr  error
	)
	for i := 0; i < 6 && !prodDone; i++ {
		tf := startTableflow(t, cfgPath)
		catURL := "http://" + tf.addr
		for {
			cat, err := rest.NewCatalog(ctx, "sluice", catURL)
			if err == nil {
				if tbl, err := cat.LoadTable(ctx, []string{"crash", "events"}); err == nil && tbl.CurrentSnapshot() != nil && tbl.MetadataLocation() != lastMeta {
					lastMeta = tbl.MetadataLocation()
					break
				}
			}
			if !prodDone {
				select {
				case prodErr = <-produced:
					prodDone = true
				default:
				}
			}
			if prodDone && kills > 0 {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("round %d: no commit", i)
			}
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(time.Duration(rng.Intn(800)) * time.Millisecond) // a random point to crash at
		tf.kill()
		kills++
	}
	t.Logf("killed tableflow %d times; the last commit before the last kill: %s", kills, lastMeta)
	if !prodDone {
		prodErr = <-produced
	}
	if prodErr != nil {
		t.Fatal(prodErr)
	}
	tf := startTableflow(t, cfgPath)
	tbl, rows := waitTable(ctx, t, "http://"+tf.addr, "crash.events", total)
	checkExactlyOnce(t, rows, a.ConsumeAll(ctx, "tf-crash"), func(r tfRow, rec *kgo.Record) {
		var v struct {
			N    int64
			Kind string
			Body string
		}
		if err := json.Unmarshal(rec.Value, &v); err != nil {
			t.Fatal(err)
		}
		if r["n"] != v.N || r["kind"] != v.Kind || r["body"] != v.Body {
			t.Fatalf("row %v, record %s", r, rec.Value)
		}
	})
	t.Logf("final table: %d snapshots, metadata %s", len(tbl.Metadata().Snapshots()), tbl.MetadataLocation())
}

// readOCF decodes every record of an Avro object container file.
func readOCF(t *testing.T, loc string) []map[string]any {
	t.Helper()
	f, err := os.Open(strings.TrimPrefix(loc, "file://"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := ocf.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", loc, err)
	}
	var out []map[string]any
	for {
		var m map[string]any
		err := r.Decode(&m)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", loc, err)
		}
		out = append(out, m)
	}
}

// liveDataFiles reads the current snapshot's manifest list and manifests
// with a plain Avro decoder and returns the live data files, checking that
// their record counts add up to rows and that they exist.
func liveDataFiles(t *testing.T, tbl *table.Table, rows int) []string {
	t.Helper()
	var files []string
	var records int64
	for _, m := range readOCF(t, tbl.CurrentSnapshot().ManifestList) {
		for _, e := range readOCF(t, m["manifest_path"].(string)) {
			if e["status"].(int32) == 2 { // deleted
				continue
			}
			df := e["data_file"].(map[string]any)
			path := strings.TrimPrefix(df["file_path"].(string), "file://")
			if _, err := os.Stat(path); err != nil {
				t.Fatalf("manifest names a missing file: %v", err)
			}
			if df["file_format"] != "PARQUET" {
				t.Fatalf("data file format %v", df["file_format"])
			}
			files = append(files, path)
			records += df["record_count"].(int64)
		}
	}
	if records != int64(rows) {
		t.Fatalf("manifests count %d records, the scan %d rows", records, rows)
	}
	return files
}

// checkWithDuckDB reads the data files with DuckDB's read_parquet (npm
// @duckdb/node-api) and compares them with the scanned rows.
func checkWithDuckDB(ctx context.Context, t *testing.T, files []string, rows []tfRow) {
	t.Helper()
	node, err := exec.LookPath("node")
	modules := filepath.Join("duckdb", "node_modules", "@duckdb", "node-api", "package.json")
	if _, serr := os.Stat(modules); err != nil || serr != nil {
		msg := "node or @duckdb/node-api is missing; run scripts/install-test-deps.sh"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Log(msg + ": skipping the DuckDB check")
		return
	}
	cmd := exec.CommandContext(ctx, node, append([]string{"read.js"}, files...)...)
	cmd.Dir = "duckdb"
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("duckdb: %v\n%s", err, out)
	}
	var res struct {
		Types map[string]string
		Rows  []map[string]any
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("duckdb output: %v", err)
	}
	for col, want := range map[string]string{"id": "BIGINT", "customer": "VARCHAR", "total": "DOUBLE", "paid": "BOOLEAN", "at": "TIMESTAMP WITH TIME ZONE", "_kafka_partition": "INTEGER", "_kafka_offset": "BIGINT"} {
		if res.Types[col] != want {
			t.Errorf("DuckDB sees %s as %s, want %s", col, res.Types[col], want)
		}
	}
	if len(res.Rows) != len(rows) {
		t.Fatalf("DuckDB read %d rows, the scan %d", len(res.Rows), len(rows))
	}
	for i, r := range res.Rows {
		// DuckDB's JSON form gives BIGINTs as strings.
		if fmt.Sprint(r["id"]) != fmt.Sprint(rows[i]["id"]) || r["customer"] != rows[i]["customer"] || r["total"] != rows[i]["total"] || r["paid"] != rows[i]["paid"] {
			t.Fatalf("DuckDB row %v, scan row %v", r, rows[i])
		}
	}
}
