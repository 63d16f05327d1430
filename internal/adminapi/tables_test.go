package adminapi_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/adminapi"
	"github.com/sluicehq/sluice/internal/agent"
	"github.com/sluicehq/sluice/internal/cluster"
	"github.com/sluicehq/sluice/internal/produce"
)

// startTableflowAgent runs an agent with the tableflow role whose
// tableflow.yaml reads topic "orders" of the agent itself into
// shop.orders (partitioned by identity(region)), and a second table
// whose source cluster is elsewhere.
func startTableflowAgent(t *testing.T, readOnly bool) *testAgent {
	t.Helper()
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	kafkaAddr := ln.Addr().String()
	ln.Close()
	cfgPath := filepath.Join(dir, "tableflow.yaml")
	if err := os.WriteFile(cfgPath, []byte(fmt.Sprintf(`source_clusters:
  - name: self
    bootstrap_servers: [%q]
  - name: elsewhere
    bootstrap_servers: ["192.0.2.1:9092"]
destination_bucket_url: file://%s/warehouse
metadata_url: sqlite://%s/tableflow.db
target_freshness: 200ms
tables:
  - name: shop.orders
    source_cluster: self
    source_topic: orders
    format: json
    partition_by: ["identity(region)"]
    schema:
      fields:
        - {name: id, type: long, required: true}
        - {name: region, type: string}
  - name: far.clicks
    source_cluster: elsewhere
    source_topic: clicks
    format: json
    schema:
      fields:
        - {name: id, type: long}
`, kafkaAddr, filepath.ToSlash(dir), filepath.ToSlash(dir))), 0o644); err != nil {
		t.Fatal(err)
	}
	bucket, meta, err := agent.DataDirURLs(dir)
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.Start(context.Background(), agent.Config{BucketURL: bucket, MetadataURL: meta, KafkaAddr: kafkaAddr, HTTPAddr: "127.0.0.1:0",
		NodeID: 1, Produce: produce.Config{BatchTimeout: 5 * time.Millisecond}, ConsoleReadOnly: readOnly,
		Roles: cluster.Roles{Proxy: true, Jobs: true, Tableflow: true}, TableflowConfig: cfgPath})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		a.Close(ctx)
	})
	return &testAgent{Agent: a, base: "http://" + a.HTTPAddr()}
}

// TestTables lists and describes the tableflow role's tables while it
// ingests: the table's schema with field IDs, its partition spec, its
// snapshots with the Kafka offsets they include, and a lag that falls to
// 0; the table of another cluster shows no lag. Read-only mode serves
// them (they change nothing); bad input is a 4xx JSON error.
func TestTables(t *testing.T) {
	t.Parallel()
	ta := startTableflowAgent(t, true)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(ta.KafkaAddr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 2, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	const records = 30
	for i := 0; i < records; i++ {
		r := &kgo.Record{Topic: "orders", Value: []byte(fmt.Sprintf(`{"id": %d, "region": "r%d"}`, i, i%3))}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	var d adminapi.TableDetail
	waitFor(t, "the table to hold every record", func() bool {
		ta.mustOK(t, "GET", "/api/v1/tables/shop.orders", nil, 200, &d)
		return d.Records == records && d.Lag != nil && *d.Lag == 0
	})
	if d.State != "active" || d.SourceTopic != "orders" || d.Format != "json" || d.Snapshots < 1 || d.DataFiles < 1 || d.Bytes <= 0 || d.FreshnessSeconds == nil {
		t.Fatalf("table detail %+v", d)
	}
	if len(d.Columns) != 5 || d.Columns[4].Name != "_kafka_timestamp" || d.Columns[0].Name != "id" || d.Columns[0].ID <= 0 || !d.Columns[0].Required || d.Columns[1].Name != "region" || d.Columns[1].Type != "string" {
		t.Fatalf("columns %+v", d.Columns)
	}
	if len(d.Partitioning) != 1 || d.Partitioning[0].Transform != "identity" || d.Partitioning[0].Source != "region" || d.Partitioning[0].FieldID < 1000 {
		t.Fatalf("partition spec %+v", d.Partitioning)
	}
	// The newest snapshot's offsets are where every partition's lag is
	// counted from: the high watermark.
	if len(d.SnapshotsShown) == 0 || len(d.PartitionLag) == 0 {
		t.Fatalf("snapshots %+v, partition lag %+v", d.SnapshotsShown, d.PartitionLag)
	}
	newest := d.SnapshotsShown[0]
	var total int64
	for _, pl := range d.PartitionLag {
		if newest.KafkaOffsets[fmt.Sprint(pl.Partition)] != pl.HighWatermark || pl.TableOffset != pl.HighWatermark {
			t.Fatalf("partition %+v, newest snapshot's offsets %v", pl, newest.KafkaOffsets)
		}
		total += pl.HighWatermark
	}
	if total != records || newest.TotalRecords != records || newest.Operation != "append" {
		t.Fatalf("newest snapshot %+v, high watermarks sum to %d", newest, total)
	}

	var pg adminapi.TablePage
	ta.mustOK(t, "GET", "/api/v1/tables", nil, 200, &pg)
	if pg.Total != 2 || len(pg.Tables) != 2 || pg.Tables[0].Name != "far.clicks" || pg.Tables[1].Name != "shop.orders" {
		t.Fatalf("tables %+v", pg)
	}
	if far := pg.Tables[0]; far.State != "pending" || far.Lag != nil || far.SourceCluster != "elsewhere" {
		t.Fatalf("the other cluster's table %+v", far)
	}
	if o := pg.Tables[1]; o.Records != records || o.Lag == nil || *o.Lag != 0 {
		t.Fatalf("listed table %+v", o)
	}
	ta.mustOK(t, "GET", "/api/v1/tables?q=SHOP&limit=1", nil, 200, &pg)
	if pg.Total != 1 || pg.Tables[0].Name != "shop.orders" || pg.NextPageToken != "" {
		t.Fatalf("searched tables %+v", pg)
	}
	ta.mustOK(t, "GET", "/api/v1/tables?limit=1", nil, 200, &pg)
	if pg.Total != 2 || len(pg.Tables) != 1 || pg.NextPageToken == "" {
		t.Fatalf("first page %+v", pg)
	}
	ta.mustOK(t, "GET", "/api/v1/tables?limit=1&page_token="+pg.NextPageToken, nil, 200, &pg)
	if len(pg.Tables) != 1 || pg.Tables[0].Name != "shop.orders" {
		t.Fatalf("second page %+v", pg)
	}

	ta.wantError(t, "GET", "/api/v1/tables/shop.missing", nil, 404, "NOT_FOUND")
	ta.wantError(t, "GET", "/api/v1/tables?limit=0", nil, 400, "BAD_REQUEST")
	ta.wantError(t, "GET", "/api/v1/tables?page_token=%25%25", nil, 400, "BAD_REQUEST")
	// Nothing changes a table through the API: no write route exists,
	// and the read-only agent's writes elsewhere are refused.
	if got := ta.raw(t, "POST", "/api/v1/topics", "application/json", nil, nil); got != http.StatusForbidden {
		t.Fatalf("read-only POST /api/v1/topics: %d", got)
	}
}

// TestTablesWithoutRole: an agent without the tableflow role answers 501.
func TestTablesWithoutRole(t *testing.T) {
	t.Parallel()
	ta := startAgent(t, false)
	ta.wantError(t, "GET", "/api/v1/tables", nil, 501, "NOT_AVAILABLE")
	ta.wantError(t, "GET", "/api/v1/tables/shop.orders", nil, 501, "NOT_AVAILABLE")
}
