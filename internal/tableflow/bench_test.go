package tableflow

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/apache/iceberg-go"
)

// BenchmarkIngestJSON measures JSON → Arrow → Parquet → committed snapshot,
// the ingestion path without Kafka: decode, convert, write a data file,
// commit. Bytes are JSON bytes; run with -cpu 1 for a per-core figure.
func BenchmarkIngestJSON(b *testing.B) {
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
	cfg := TableConfig{Format: "json", Schema: &InlineSchema{Fields: []FieldConfig{
		{Name: "id", Type: "long", Required: true}, {Name: "user", Type: "string"}, {Name: "event", Type: "string"},
		{Name: "amount", Type: "double"}, {Name: "ok", Type: "boolean"}, {Name: "at", Type: "timestamp"}, {Name: "note", Type: "string"},
	}}}
	dec, err := newDecoder(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	cols, ids, _ := dec.initialColumns(ctx)
	tbl, err := cat.Create(ctx, Ident("b.t"), initialSchema(cols, ids), *iceberg.UnpartitionedSpec, nil)
	if err != nil {
		b.Fatal(err)
	}
	const n = 50000
	values := make([][]byte, n)
	var size int64
	for i := range values {
		values[i] = []byte(fmt.Sprintf(`{"id": %d, "user": "user-%d", "event": "page_view", "amount": %d.25, "ok": %v, "at": "2026-12-06T10:%02d:%02dZ", "note": "some free text that makes the record a bit longer, like real events"}`,
			i, i%1000, i%500, i%2 == 0, i/60%60, i%60))
		size += int64(len(values[i]))
	}
	ts := time.Now()
	b.SetBytes(size)
	b.ResetTimer()
	for it := 0; it < b.N; it++ {
		bt, err := newBatch(tbl.Schema())
		if err != nil {
			b.Fatal(err)
		}
		for i, v := range values {
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
		bt.release()
	}
}
