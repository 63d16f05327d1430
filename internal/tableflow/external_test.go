package tableflow

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	sqlcat "github.com/apache/iceberg-go/catalog/sql"
	"github.com/apache/iceberg-go/table"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sluicehq/sluice/internal/testutil"
)

// openIcebergSQL opens an external catalog database with iceberg-go's own
// SQL catalog: a real reader of the JdbcCatalog schema.
func openIcebergSQL(t *testing.T, uri, name string) *sqlcat.Catalog {
	t.Helper()
	var db *sql.DB
	var err error
	var dialect sqlcat.SupportedDialect
	if path, ok := strings.CutPrefix(uri, "sqlite://"); ok {
		// A busy timeout, as iceberg-go asks of SQLite databases shared
		// with a writer.
		db, err = sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
		dialect = sqlcat.SQLite
	} else {
		db, err = sql.Open("pgx", uri)
		dialect = sqlcat.Postgres
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	// Do not create the tables: tableflow must have.
	cat, err := sqlcat.NewCatalog(name, db, dialect, iceberg.Properties{"init_catalog_tables": "false"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	return cat
}

// waitExternal waits until the external catalog's table is at the store's
// current metadata location and holds want rows, then checks every source
// record (partition, offset) appears exactly once, with its id.
func waitExternal(t *testing.T, svc *Service, uri, catName, name string, want map[[2]int64]int64) *table.Table {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(60 * time.Second)
	var last string
	cat := openIcebergSQL(t, uri, catName)
	for {
		st, serr := svc.store.Load(ctx, name)
		tbl, err := cat.LoadTable(ctx, Ident(name))
		if err == nil && serr == nil && tbl.MetadataLocation() == st.MetadataLocation && tbl.CurrentSnapshot() != nil {
			rows := readRows(t, tbl)
			if len(rows) == len(want) {
				seen := map[[2]int64]bool{}
				for _, r := range rows {
					k := [2]int64{int64(r[colPartition].(int32)), r[colOffset].(int64)}
					if seen[k] {
						t.Fatalf("record %v appears twice", k)
					}
					seen[k] = true
					id, ok := want[k]
					if !ok || r["id"] != id {
						t.Fatalf("row %v: not a wanted record (want id %d, ok %v)", r, id, ok)
					}
				}
				return tbl
			}
			last = fmt.Sprintf("%d rows, want %d", len(rows), len(want))
		} else {
			last = fmt.Sprintf("load: %v; store %v; external at %v, store at %s", err, serr, locOf(tbl), st.MetadataLocation)
		}
		if time.Now().After(deadline) {
			t.Fatalf("external catalog %s did not catch up with %s: %s", catName, name, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func locOf(tbl *table.Table) string {
	if tbl == nil {
		return "nothing"
	}
	return tbl.MetadataLocation()
}

func catalogConfig(uri string) string {
	return fmt.Sprintf(`
external_catalogs:
  - {type: sql, uri: %q, name: lake}
`, uri)
}

// produceOrders produces n records per partition from offset base (ids
// partition*1000+offset, timestamps now) and adds them to want.
func produceOrders(e *env, want map[[2]int64]int64, base, n int) {
	now := time.Now().UTC().Format(time.RFC3339)
	for p := int64(0); p < 2; p++ {
		var vs []string
		for i := base; i < base+n; i++ {
			id := p*1000 + int64(i)
			vs = append(vs, fmt.Sprintf(`{"id": %d, "item": "x", "price": 1, "ts": %q}`, id, now))
			want[[2]int64{p, int64(i)}] = id
		}
		e.produce("orders", int32(p), vs...)
	}
}

// TestExternalCatalogSQLite registers the table in a SQLite catalog and
// keeps it registered through appends, retention, compaction and expiry:
// iceberg-go's SQL catalog, reading that file, finds the table at
// tableflow's current metadata file and scans every record once.
func TestExternalCatalogSQLite(t *testing.T) {
	e := newEnv(t, "orders")
	uri := "sqlite://" + filepath.Join(e.dir, "catalog.db")
	cfg := e.config(strings.Replace(ordersTable, `partition_by: ["day(ts)"]`, `partition_by: ["day(ts)"]
    retention: 48h`, 1) + catalogConfig(uri) + `
maintenance:
  interval: 300ms
  compaction_min_files: 3
  keep_snapshots: 2
  snapshot_max_age: 1ms
`)
	svc := start(t, cfg)
	want := map[[2]int64]int64{}
	// Rows retention drops: offset 0 of each partition.
	for p := int32(0); p < 2; p++ {
		e.produce("orders", p, `{"id": 0, "ts": "2020-01-01T00:00:00Z"}`)
	}
	for i := 0; i < 4; i++ {
		produceOrders(e, want, 1+5*i, 5)
		waitOffsets(t, svc, "shop.orders", map[int32]int64{0: int64(1 + 5*(i+1)), 1: int64(1 + 5*(i+1))})
	}
	kinds := []string{"append", "retention", "compaction", "expiry"}
	deadline := time.Now().Add(60 * time.Second)
	for {
		done := true
		for _, k := range kinds {
			if promtest.ToFloat64(svc.metrics.commits.WithLabelValues("shop.orders", k)) == 0 {
				done = false
			}
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("maintenance did not commit every kind of snapshot")
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.produce("orders", 1, `{"id": 1000, "ts": "`+time.Now().UTC().Format(time.RFC3339)+`"}`)
	want[[2]int64{1, 21}] = 1000
	waitExternal(t, svc, uri, "lake", "shop.orders", want)
	// The previous location is recorded as JdbcCatalog does (maintenance
	// may have moved the row since).
	var cur string
	var prev sql.NullString
	db, err := sql.Open("sqlite", "file:"+strings.TrimPrefix(uri, "sqlite://")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.QueryRow(`SELECT metadata_location, previous_metadata_location FROM iceberg_tables WHERE catalog_name = 'lake' AND table_namespace = 'shop' AND table_name = 'orders'`).Scan(&cur, &prev); err != nil {
		t.Fatal(err)
	}
	if !prev.Valid || metadataVersion(prev.String) >= metadataVersion(cur) {
		t.Fatalf("previous_metadata_location %v, current %s", prev, cur)
	}
	// The namespace is listed.
	nss, err := openIcebergSQL(t, uri, "lake").ListNamespaces(context.Background(), nil)
	if err != nil || len(nss) != 1 || nss[0][0] != "shop" {
		t.Fatalf("namespaces %v, %v", nss, err)
	}
}

// TestExternalCatalogPostgres registers the table in a PostgreSQL catalog;
// while the database is down ingestion goes on and the errors are
// counted, and once it is back the catalog catches up.
func TestExternalCatalogPostgres(t *testing.T) {
	pg := testutil.StartPostgres(t)
	uri := pg.NewDatabase(t)
	e := newEnv(t, "orders")
	cfg := e.config(ordersTable + catalogConfig(uri))
	svc := startOpts(t, cfg, Options{CatalogRetryMax: 300 * time.Millisecond})
	want := map[[2]int64]int64{}
	produceOrders(e, want, 0, 20)
	waitExternal(t, svc, uri, "lake", "shop.orders", want)

	pg.Stop()
	errs := func() float64 { return promtest.ToFloat64(svc.metrics.catalogErrors.WithLabelValues("lake")) }
	before := errs()
	produceOrders(e, want, 20, 20)
	waitRows(t, svc, "shop.orders", 80) // ingestion goes on
	deadline := time.Now().Add(30 * time.Second)
	for errs() == before || promtest.ToFloat64(svc.metrics.catalogPending.WithLabelValues("lake")) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("no sync error counted while the catalog was down (errors %v)", errs())
		}
		time.Sleep(50 * time.Millisecond)
	}
	produceOrders(e, want, 40, 10)
	waitRows(t, svc, "shop.orders", 100)

	pg.Start()
	waitExternal(t, svc, uri, "lake", "shop.orders", want)
	deadline = time.Now().Add(30 * time.Second)
	for promtest.ToFloat64(svc.metrics.catalogPending.WithLabelValues("lake")) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("tables still pending after the catalog caught up")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestExternalCatalogReconcile: a process that committed but died before
// registering leaves the catalog behind; the next start registers the
// table without any new commit.
func TestExternalCatalogReconcile(t *testing.T) {
	e := newEnv(t, "orders")
	uri := "sqlite://" + filepath.Join(e.dir, "catalog.db")
	cfg := e.config(ordersTable)
	svc := start(t, cfg) // committed, never registered: as if it crashed first
	want := map[[2]int64]int64{}
	produceOrders(e, want, 0, 10)
	waitOffsets(t, svc, "shop.orders", map[int32]int64{0: 10, 1: 10})
	svc.stopTest()

	cfg2 := e.config(ordersTable + catalogConfig(uri))
	cfg2.Maintenance.Disabled = true // no new commit may do the registering
	svc2 := start(t, cfg2)
	st, err := svc2.store.Load(context.Background(), "shop.orders")
	if err != nil {
		t.Fatal(err)
	}
	tbl := waitExternal(t, svc2, uri, "lake", "shop.orders", want)
	if tbl.MetadataLocation() != st.MetadataLocation {
		t.Fatalf("registered %s, the store was at %s before the restart", tbl.MetadataLocation(), st.MetadataLocation)
	}
}

// TestSQLCatalogRegister checks the registration statements: idempotent,
// a compare-and-swap that records the previous location, never moving back
// to an older metadata file, and working on a legacy (V0) table without
// iceberg_type.
func TestSQLCatalogRegister(t *testing.T) {
	ctx := context.Background()
	loc := func(v int) string { return fmt.Sprintf("file:///w/shop/orders/metadata/%05d-x.metadata.json", v) }
	row := func(t *testing.T, db *sql.DB) (cur, prev string) {
		t.Helper()
		var p sql.NullString
		if err := db.QueryRow(`SELECT metadata_location, previous_metadata_location FROM iceberg_tables WHERE catalog_name = 'c' AND table_name = 'orders'`).Scan(&cur, &p); err != nil {
			t.Fatal(err)
		}
		return cur, p.String
	}
	for _, legacy := range []bool{false, true} {
		t.Run(fmt.Sprintf("legacy=%v", legacy), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c.db")
			db, err := sql.Open("sqlite", path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if legacy {
				if _, err := db.Exec(`CREATE TABLE iceberg_tables (catalog_name VARCHAR(255) NOT NULL, table_namespace VARCHAR(255) NOT NULL, table_name VARCHAR(255) NOT NULL,
					metadata_location VARCHAR(1000), previous_metadata_location VARCHAR(1000), PRIMARY KEY (catalog_name, table_namespace, table_name))`); err != nil {
					t.Fatal(err)
				}
			}
			cat, err := openSQLCatalog(ExternalCatalogConfig{Type: "sql", URI: "sqlite://" + path, Name: "c"})
			if err != nil {
				t.Fatal(err)
			}
			defer cat.Close()
			ident := Ident("shop.orders")
			for _, step := range []struct {
				loc        string
				cur, prev  string
				explaining string
			}{
				{loc(1), loc(1), "", "insert"},
				{loc(1), loc(1), "", "idempotent"},
				{loc(3), loc(3), loc(1), "move"},
				{loc(2), loc(3), loc(1), "an older file never replaces a newer"},
				{loc(3), loc(3), loc(1), "idempotent after a move"},
			} {
				if err := cat.register(ctx, ident, step.loc); err != nil {
					t.Fatalf("%s: %v", step.explaining, err)
				}
				if cur, prev := row(t, db); cur != step.cur || prev != step.prev {
					t.Fatalf("%s: row (%s, %s), want (%s, %s)", step.explaining, cur, prev, step.cur, step.prev)
				}
			}
			// Someone else moved the row elsewhere: tableflow's next commit
			// takes it back, recording where it was.
			if _, err := db.Exec(`UPDATE iceberg_tables SET metadata_location = 'file:///elsewhere/m.json'`); err != nil {
				t.Fatal(err)
			}
			if err := cat.register(ctx, ident, loc(4)); err != nil {
				t.Fatal(err)
			}
			if cur, prev := row(t, db); cur != loc(4) || prev != "file:///elsewhere/m.json" {
				t.Fatalf("row (%s, %s) after an outside move", cur, prev)
			}
			if cat.typed == legacy {
				t.Fatalf("typed %v on a legacy=%v table", cat.typed, legacy)
			}
			// iceberg-go sees the table (it cannot load the made-up file).
			ic := openIcebergSQL(t, "sqlite://"+path, "c")
			if ok, err := ic.CheckTableExists(ctx, ident); !ok || err != nil {
				t.Fatalf("iceberg-go: exists %v, %v", ok, err)
			}
			if _, err := ic.LoadTable(ctx, ident); err == nil || errors.Is(err, catalog.ErrNoSuchTable) {
				t.Fatalf("iceberg-go LoadTable: %v, want an error reading the made-up file", err)
			}
		})
	}
}

func TestExternalCatalogConfigErrors(t *testing.T) {
	_, err := ParseConfig([]byte(`
source_clusters: [{name: a, bootstrap_servers: [x:1]}]
destination_bucket_url: file:///tmp/x
metadata_url: sqlite:///tmp/x.db
tables: [{name: a.b, source_topic: t, format: json, schema: {fields: [{name: x, type: long}]}}]
external_catalogs:
  - {type: glue, uri: mysql://x, name: ""}
  - {type: sql, uri: "sqlite:///c.db", name: lake}
  - {type: sql, uri: "postgres://h/db", name: lake}
`))
	for _, want := range []string{`type "glue"`, `uri "mysql://x"`, "name is required", "duplicate name"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want an error about %s, got %v", want, err)
		}
	}
	_, err = ParseConfig([]byte(`
source_clusters: [{name: a, bootstrap_servers: [x:1]}]
destination_bucket_url: file:///tmp/x
metadata_url: sqlite:///tmp/x.db
tables: [{name: a.b, source_topic: t, format: json, schema: {fields: [{name: x, type: long}]}}]
external_catalogs: [{type: sql, uri: "sqlite:///c.db", name: lake, warehouse: x}]
`))
	if err == nil || !strings.Contains(err.Error(), "warehouse") {
		t.Fatalf("unknown key in external_catalogs: %v", err)
	}
}
