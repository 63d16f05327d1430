package objstore

import (
	"context"
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestInstrumentedCountsByOperationAndResult(t *testing.T) {
	ctx := context.Background()
	mem, err := Open(ctx, "mem://")
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	b := Instrumented{Bucket: mem, M: m}

	if err := b.Put(ctx, "files/a", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if got, err := b.GetRange(ctx, "files/a", 1, 3); err != nil || string(got) != "ell" {
		t.Fatalf("GetRange = %q, %v", got, err)
	}
	buf := make([]byte, 2)
	if err := b.GetRangeSplit(ctx, "files/a", 3, [][]byte{buf}); err != nil || string(buf) != "lo" {
		t.Fatalf("GetRangeSplit = %q, %v", buf, err)
	}
	if _, err := b.GetRange(ctx, "files/missing", 0, -1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing object: %v", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := b.Put(cancelled, "files/b", []byte("x")); err == nil {
		t.Fatal("Put with a cancelled context succeeded")
	}
	n := 0
	if err := b.List(ctx, "files/", func(Object) error { n++; return nil }); err != nil || n != 1 {
		t.Fatalf("List saw %d objects, %v", n, err)
	}
	if err := b.Delete(ctx, "files/a"); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		op, result string
		want       float64
	}{
		{"put", "ok", 1}, {"put", "error", 1}, {"get", "ok", 2}, {"get", "not_found", 1},
		{"list", "ok", 1}, {"delete", "ok", 1}, {"delete", "error", 0},
	} {
		if got := testutil.ToFloat64(m.requests.WithLabelValues(c.op, c.result)); got != c.want {
			t.Errorf("sluice_bucket_requests_total{op=%q,result=%q} = %v, want %v", c.op, c.result, got, c.want)
		}
	}
	if got := testutil.CollectAndCount(m.seconds); got != 4 {
		t.Errorf("latency histograms for %d operations, want 4", got)
	}
}
