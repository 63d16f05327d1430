package tableflow

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apache/iceberg-go/table"
)

func dataFiles(t *testing.T, tbl *table.Table) int {
	t.Helper()
	tasks, err := tbl.Scan().PlanFiles(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return len(tasks)
}

// TestMaintenance ingests in many small commits, then lets maintenance
// compact, expire snapshots and delete orphans, checking the table reads
// the same throughout.
func TestMaintenance(t *testing.T) {
	e := newEnv(t, "orders")
	cfg := e.config(ordersTable + `
maintenance:
  interval: 300ms
  compaction_min_files: 3
  keep_snapshots: 2
  snapshot_max_age: 1ms
  orphan_grace_period: 1s
`)
	cfg.Maintenance.Disabled = true // first build up small files
	svc := start(t, cfg)
	for i := 0; i < 6; i++ {
		e.produce("orders", int32(i%2), fmt.Sprintf(`{"id": %d, "item": "x", "price": 1, "ts": "2026-12-01T00:00:00Z"}`, (i%2)*1000+i/2))
		waitRows(t, svc, "shop.orders", i+1)
	}
	tbl, before := waitRows(t, svc, "shop.orders", 6)
	if n := dataFiles(t, tbl); n != 6 {
		t.Fatalf("%d data files before compaction, want 6", n)
	}
	// An orphan: a Parquet file a crashed append left behind.
	orphan := filepath.Join(strings.TrimPrefix(tbl.Location(), "file://"), "data", "orphan.parquet")
	if err := os.WriteFile(orphan, []byte("junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	os.Chtimes(orphan, old, old)

	// Restart with maintenance on: the new owner compacts.
	svc.stopTest()
	cfg2 := *cfg
	cfg2.Maintenance.Disabled = false
	svc2 := start(t, &cfg2)
	deadline := time.Now().Add(30 * time.Second)
	for {
		tbl, err := svc2.Catalog().LoadTable(context.Background(), Ident("shop.orders"))
		if err != nil {
			t.Fatal(err)
		}
		_, statErr := os.Stat(orphan)
		if dataFiles(t, tbl) == 1 && len(tbl.Metadata().Snapshots()) <= 2 && os.IsNotExist(statErr) {
			after := readRows(t, tbl)
			if !reflect.DeepEqual(before, after) {
				t.Fatalf("compaction changed the rows:\nbefore %v\nafter  %v", before, after)
			}
			// Every file the metadata references exists.
			ref, err := Referenced(tbl)
			if err != nil {
				t.Fatal(err)
			}
			for f := range ref {
				if _, err := os.Stat(strings.TrimPrefix(f, "file://")); err != nil {
					t.Fatalf("referenced file missing: %v", err)
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("maintenance did not finish: %d files, %d snapshots, orphan stat %v", dataFiles(t, tbl), len(tbl.Metadata().Snapshots()), statErr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestRetention drops the day partitions older than the retention and
// keeps the rest.
func TestRetention(t *testing.T) {
	e := newEnv(t, "orders")
	cfg := e.config(strings.Replace(ordersTable, `partition_by: ["day(ts)"]`, `partition_by: ["day(ts)"]
    retention: 48h`, 1) + `
maintenance:
  interval: 200ms
`)
	if cfg.Tables[0].RetentionColumn != "ts" {
		t.Fatalf("retention column %q, want ts (the day partition's)", cfg.Tables[0].RetentionColumn)
	}
	svc := start(t, cfg)
	now := time.Now().UTC().Format(time.RFC3339)
	e.produce("orders", 0,
		`{"id": 1, "ts": "2020-01-01T00:00:00Z"}`,
		`{"id": 2, "ts": "2020-01-02T00:00:00Z"}`,
		fmt.Sprintf(`{"id": 3, "ts": %q}`, now))
	deadline := time.Now().Add(30 * time.Second)
	for {
		tbl, err := svc.Catalog().LoadTable(context.Background(), Ident("shop.orders"))
		if err == nil && tbl.CurrentSnapshot() != nil {
			rows := readRows(t, tbl)
			if len(rows) == 1 && rows[0]["id"] == int64(3) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("retention did not drop the old rows")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
