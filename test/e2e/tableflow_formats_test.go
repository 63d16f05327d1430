package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bufbuild/protocompile"
	"github.com/twmb/avro"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

const (
	tfNestedAvro = `{"type":"record","name":"Order","namespace":"shop","fields":[
		{"name":"id","type":"long"},
		{"name":"customer","type":{"type":"record","name":"Customer","fields":[
			{"name":"name","type":"string"},
			{"name":"tier","type":{"type":"enum","name":"Tier","symbols":["GOLD","SILVER"]}}]}},
		{"name":"lines","type":{"type":"array","items":{"type":"record","name":"Line","fields":[
			{"name":"sku","type":"string"},{"name":"qty","type":"int"}]}}},
		{"name":"attrs","type":{"type":"map","values":"string"}},
		{"name":"note","type":["null","string"],"default":null},
		{"name":"at","type":{"type":"long","logicalType":"timestamp-millis"}},
		{"name":"v","type":["null","string","long"],"default":null}]}`
	tfOrderProto = `syntax = "proto3";
package shop;
import "google/protobuf/timestamp.proto";
message Order {
  int64 id = 1;
  Status status = 2;
  Address ship_to = 3;
  repeated string tags = 4;
  map<string, int32> counts = 5;
  google.protobuf.Timestamp created = 6;
  message Address { string city = 1; int32 zip = 2; }
}
enum Status { UNKNOWN = 0; NEW = 1; SHIPPED = 2; }
`
)

// compileProto compiles one .proto file (with the well-known types).
func compileProto(ctx context.Context, t *testing.T, text string) protoreflect.FileDescriptor {
	t.Helper()
	c := protocompile.Compiler{Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{
		Accessor: protocompile.SourceAccessorFromMap(map[string]string{"order.proto": text}),
	})}
	files, err := c.Compile(ctx, "order.proto")
	if err != nil {
		t.Fatal(err)
	}
	return files[0]
}

// TestTableflowNestedAvroAndProtobuf produces a nested Avro topic and a
// Protobuf topic through franz-go's sr serde against Sluice's own schema
// registry, runs `sluice tableflow`, and reads the nested columns back
// with iceberg-go's scan and with DuckDB's read_parquet.
func TestTableflowNestedAvroAndProtobuf(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 2*time.Minute)
	a := StartAgent(t, "")
	a.CreateTopic("tf-nested", 2)
	a.CreateTopic("tf-proto", 2)
	regURL := "http://" + a.SchemaRegistryAddr
	rc, err := sr.NewClient(sr.URLs(regURL))
	if err != nil {
		t.Fatal(err)
	}
	as, err := rc.CreateSchema(ctx, "tf-nested-value", sr.Schema{Schema: tfNestedAvro, Type: sr.TypeAvro})
	if err != nil {
		t.Fatal(err)
	}
	ps, err := rc.CreateSchema(ctx, "tf-proto-value", sr.Schema{Schema: tfOrderProto, Type: sr.TypeProtobuf})
	if err != nil {
		t.Fatal(err)
	}
	avroSchema := avro.MustParse(tfNestedAvro)
	var avroSerde, protoSerde sr.Serde
	avroSerde.Register(as.ID, map[string]any{}, sr.EncodeFn(func(v any) ([]byte, error) { return avroSchema.Encode(v) }))
	protoSerde.Register(ps.ID, &dynamicpb.Message{}, sr.Index(0), sr.EncodeFn(func(v any) ([]byte, error) { return proto.Marshal(v.(*dynamicpb.Message)) }))
	md := compileProto(ctx, t, tfOrderProto).Messages().ByName("Order")

	var recs []*kgo.Record
	for i := 0; i < 40; i++ {
		b, err := avroSerde.Encode(map[string]any{
			"id":       int64(i),
			"customer": map[string]any{"name": fmt.Sprintf("c%d", i), "tier": []string{"GOLD", "SILVER"}[i%2]},
			"lines":    []any{map[string]any{"sku": "a", "qty": int32(i)}, map[string]any{"sku": "b", "qty": int32(1)}},
			"attrs":    map[string]any{"src": "web"},
			"note":     nil,
			"at":       time.Date(2026, 12, 1, 10, 0, i, 0, time.UTC),
			"v":        []any{nil, fmt.Sprintf("s%d", i), int64(i)}[i%3],
		})
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, &kgo.Record{Topic: "tf-nested", Value: b})
		m := dynamicpb.NewMessage(md)
		js := fmt.Sprintf(`{"id": %d, "status": "SHIPPED", "shipTo": {"city": "Paris", "zip": %d}, "tags": ["t%d", "x"], "counts": {"n": %d}, "created": "2026-12-01T10:00:%02dZ"}`, i, 75000+i, i, i, i)
		if err := protojson.Unmarshal([]byte(js), m); err != nil {
			t.Fatal(err)
		}
		if b, err = protoSerde.Encode(m); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, &kgo.Record{Topic: "tf-proto", Value: b})
	}
	if err := a.Client().ProduceSync(ctx, recs...).FirstErr(); err != nil {
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
  - {name: shop.nested, source_topic: tf-nested, format: avro, subject: tf-nested-value}
  - {name: shop.proto, source_topic: tf-proto, format: protobuf, subject: tf-proto-value, message: shop.Order, partition_by: ["day(created)"]}
`, a.KafkaAddr, dir, dir, regURL))
	tf := startTableflow(t, cfgPath)
	catURL := "http://" + tf.addr

	// Avro: the scan, then DuckDB on the live data files.
	_, rows := waitTable(ctx, t, catURL, "shop.nested", 40)
	checkExactlyOnce(t, rows, a.ConsumeAll(ctx, "tf-nested"), func(r tfRow, rec *kgo.Record) {
		id := r["id"].(int64)
		want := fmt.Sprintf(`{"name":"c%d","tier":"%s"}`, id, []string{"GOLD", "SILVER"}[id%2])
		if r["customer"] != want || r["lines"] != fmt.Sprintf(`[{"qty":%d,"sku":"a"},{"qty":1,"sku":"b"}]`, id) || r["attrs"] != `[{"key":"src","value":"web"}]` || r["note"] != nil {
			t.Fatalf("row %v", r)
		}
		// A multi-type union: a struct with a field per branch.
		if v := []any{nil, fmt.Sprintf(`{"long":null,"string":"s%d"}`, id), fmt.Sprintf(`{"long":%d,"string":null}`, id)}[id%3]; r["v"] != v {
			t.Fatalf("row %d: v = %v, want %v", id, r["v"], v)
		}
	})
	tbl, _, err := scanTable(ctx, t, catURL, "shop.nested")
	if err != nil {
		t.Fatal(err)
	}
	if types, drows, ok := duckRead(ctx, t, liveDataFiles(t, tbl, len(rows))); ok {
		for col, want := range map[string]string{"customer": "STRUCT(", "lines": "STRUCT(", "attrs": "MAP(VARCHAR, VARCHAR)", "at": "TIMESTAMP WITH TIME ZONE", "v": "STRUCT(string VARCHAR, long BIGINT)"} {
			if !strings.HasPrefix(types[col], want) {
				t.Errorf("DuckDB sees %s as %s, want %s…", col, types[col], want)
			}
		}
		if !strings.HasSuffix(types["lines"], "[]") || !strings.Contains(types["customer"], "tier VARCHAR") {
			t.Errorf("DuckDB types %v", types)
		}
		if len(drows) != 40 {
			t.Fatalf("DuckDB read %d rows, want 40", len(drows))
		}
		for _, r := range drows {
			c, _ := r["customer"].(map[string]any)
			lines, _ := r["lines"].([]any)
			id := fmt.Sprint(r["id"])
			if c["name"] != "c"+id || len(lines) != 2 || fmt.Sprint(lines[0].(map[string]any)["qty"]) != id {
				t.Fatalf("DuckDB row %v", r)
			}
		}
	}

	// Protobuf.
	_, rows = waitTable(ctx, t, catURL, "shop.proto", 40)
	checkExactlyOnce(t, rows, a.ConsumeAll(ctx, "tf-proto"), func(r tfRow, rec *kgo.Record) {
		id := r["id"].(int64)
		if r["status"] != "SHIPPED" || r["ship_to"] != fmt.Sprintf(`{"city":"Paris","zip":%d}`, 75000+id) ||
			r["tags"] != fmt.Sprintf(`["t%d","x"]`, id) || r["counts"] != fmt.Sprintf(`[{"key":"n","value":%d}]`, id) ||
			!r["created"].(time.Time).Equal(time.Date(2026, 12, 1, 10, 0, int(id), 0, time.UTC)) {
			t.Fatalf("row %v", r)
		}
	})
	tbl, _, err = scanTable(ctx, t, catURL, "shop.proto")
	if err != nil {
		t.Fatal(err)
	}
	if types, drows, ok := duckRead(ctx, t, liveDataFiles(t, tbl, len(rows))); ok {
		for col, want := range map[string]string{"ship_to": "STRUCT(city VARCHAR, zip INTEGER)", "tags": "VARCHAR[]", "counts": "MAP(VARCHAR, INTEGER)", "created": "TIMESTAMP WITH TIME ZONE", "status": "VARCHAR", "id": "BIGINT"} {
			if types[col] != want {
				t.Errorf("DuckDB sees %s as %s, want %s", col, types[col], want)
			}
		}
		for _, r := range drows {
			s, _ := r["ship_to"].(map[string]any)
			tags, _ := r["tags"].([]any)
			if s["city"] != "Paris" || len(tags) != 2 || tags[0] != "t"+fmt.Sprint(r["id"]) {
				t.Fatalf("DuckDB row %v", r)
			}
		}
	}
}

// duckRead reads data files with DuckDB (test/e2e/duckdb/read.js) and
// returns the column types and rows it sees; ok is false when DuckDB is
// not installed outside CI.
func duckRead(ctx context.Context, t *testing.T, files []string) (types map[string]string, rows []map[string]any, ok bool) {
	t.Helper()
	node, err := exec.LookPath("node")
	modules := filepath.Join("duckdb", "node_modules", "@duckdb", "node-api", "package.json")
	if _, serr := os.Stat(modules); err != nil || serr != nil {
		msg := "node or @duckdb/node-api is missing; run scripts/install-test-deps.sh"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Log(msg + ": skipping the DuckDB check")
		return nil, nil, false
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
	return res.Types, res.Rows, true
}
