package agent

import (
	"context"
	"database/sql"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/cluster"
	"github.com/sluicehq/sluice/internal/jobs"
	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/objstore"
)

// counterSum sums the samples of a metric family in a's registry.
func counterSum(t *testing.T, a *Agent, name string) float64 {
	t.Helper()
	mfs, err := a.metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

// TestJobsOnlyOnJobsAgents runs a proxy-only and a jobs-only agent on one
// store and bucket with jobs every few milliseconds: the jobs agent runs
// them many times while the proxy, whose loops would have ticked as often,
// runs none; the jobs agent opens no Kafka listener, and both count one
// jobs agent.
func TestJobsOnlyOnJobsAgents(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, metaURL, err := DataDirURLs(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	raw, err := OpenMetadata(ctx, metaURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() }) // after the agents' Close (cleanups run last first)
	bucket, err := objstore.Open(ctx, "mem://")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bucket.Close() })
	store := metadata.NewBroadcast(raw)
	start := func(node int32, roles cluster.Roles) *Agent {
		a, err := Start(ctx, Config{Store: store, Bucket: bucket, KafkaAddr: "127.0.0.1:0", NodeID: node, Roles: roles,
			HeartbeatInterval: 20 * time.Millisecond, AgentTTL: 10 * time.Second,
			Jobs: jobs.Config{RetentionInterval: 5 * time.Millisecond, CompactionInterval: 5 * time.Millisecond}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := a.Close(ctx); err != nil {
				t.Error(err)
			}
		})
		return a
	}
	proxy := start(1, cluster.Roles{Proxy: true})
	worker := start(2, cluster.Roles{Jobs: true})
	if worker.KafkaAddr() != "" || len(worker.listeners) != 0 {
		t.Fatalf("the jobs-only agent listens for Kafka clients on %q", worker.KafkaAddr())
	}
	for counterSum(t, worker, "sluice_jobs_runs_total") < 20 {
		select {
		case <-ctx.Done():
			t.Fatalf("the jobs agent ran %v jobs", counterSum(t, worker, "sluice_jobs_runs_total"))
		case <-time.After(10 * time.Millisecond):
		}
	}
	if n := counterSum(t, proxy, "sluice_jobs_runs_total"); n != 0 {
		t.Fatalf("the proxy-only agent ran %v jobs", n)
	}
	if err := proxy.RefreshMembership(ctx); err != nil {
		t.Fatal(err)
	}
	if n := counterSum(t, proxy, "sluice_jobs_agents_live"); n != 1 {
		t.Fatalf("the proxy counts %v jobs agents, want 1", n)
	}
	if bs := proxy.registry.Brokers(""); len(bs) != 1 || bs[0].NodeID != 1 {
		t.Fatalf("brokers advertised: %+v, want only the proxy", bs)
	}
}

func TestTableflowRoleNeedsConfig(t *testing.T) {
	_, err := Start(context.Background(), Config{BucketURL: "mem://", MetadataURL: "sqlite:///" + t.TempDir() + "/m.db", KafkaAddr: "127.0.0.1:0",
		Roles: cluster.Roles{Proxy: true, Tableflow: true}})
	if err == nil || !strings.Contains(err.Error(), "--tableflow-config") {
		t.Fatalf("Start with the tableflow role and no config: %v", err)
	}
}

// TestTableflowRole runs the tableflow role in an agent: with no
// metadata_url of its own, the service keeps its state in the agent's
// store and takes its table's lease there (sluice_tableflow_table_owned
// on the agent's registry), the Iceberg REST catalog answers on the
// agent's HTTP listener, and Close stops it cleanly.
func TestTableflowRole(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	kafkaAddr := ln.Addr().String()
	ln.Close()
	cfgPath := filepath.Join(dir, "tableflow.yaml")
	if err := os.WriteFile(cfgPath, []byte(`source_clusters:
  - name: self
    bootstrap_servers: ["`+kafkaAddr+`"]
destination_bucket_url: file://`+filepath.ToSlash(dir)+`/warehouse
tables:
  - name: shop.orders
    source_topic: orders
    format: json
    schema:
      fields:
        - {name: id, type: long, required: true}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	bucket, meta, err := DataDirURLs(dir)
	if err != nil {
		t.Fatal(err)
	}
	// The source topic exists before the role starts: a table whose topic
	// is missing stops and gives its lease back, which raced the lease
	// check below.
	store, err := OpenMetadata(ctx, meta)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.CreateTopic(ctx, "orders", 1, nil); err != nil {
		t.Fatal(err)
	}
	store.Close()
	a, err := Start(ctx, Config{BucketURL: bucket, MetadataURL: meta, KafkaAddr: kafkaAddr, HTTPAddr: "127.0.0.1:0",
		Roles: cluster.Roles{Proxy: true, Jobs: true, Tableflow: true}, TableflowConfig: cfgPath})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			a.Close(context.Background())
		}
	})
	for counterSum(t, a, "sluice_tableflow_table_owned") != 1 {
		select {
		case <-ctx.Done():
			t.Fatal("the tableflow role never took its table's lease")
		case <-time.After(20 * time.Millisecond):
		}
	}
	// The lease is a row of the agent's own store.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "metadata.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var leases int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM tableflow_leases`).Scan(&leases); err != nil || leases != 1 {
		t.Fatalf("tableflow leases in the agent's store: %d, %v; want 1", leases, err)
	}
	resp, err := http.Get("http://" + a.HTTPAddr() + "/v1/config")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/config on the agent: %s", resp.Status)
	}
	closed = true
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
}
