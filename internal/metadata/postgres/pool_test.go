package postgres

import (
	"context"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	sltestutil "github.com/sluicehq/sluice/internal/testutil"
)

// TestPoolSize: the pool has DefaultMaxConns connections unless the URL
// says pool_max_conns, and the pool collector reports open stores' limits
// (and forgets closed ones).
func TestPoolSize(t *testing.T) {
	pg := sltestutil.StartPostgres(t)
	url := pg.NewDatabase(t)
	ctx := context.Background()
	s, err := Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.pool.Config().MaxConns; got != DefaultMaxConns {
		t.Fatalf("pool of %d connections, want %d", got, DefaultMaxConns)
	}
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	small, err := Open(ctx, url+sep+"pool_max_conns=3")
	if err != nil {
		t.Fatal(err)
	}
	if got := small.pool.Config().MaxConns; got != 3 {
		t.Fatalf("pool_max_conns=3 gave %d connections", got)
	}
	limit := func() float64 {
		reg := prometheus.NewRegistry()
		reg.MustRegister(pools)
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != "sluice_metadata_pool_connections" {
				continue
			}
			for _, m := range mf.GetMetric() {
				if m.GetLabel()[0].GetValue() == "max" {
					return m.GetGauge().GetValue()
				}
			}
		}
		t.Fatal("no sluice_metadata_pool_connections{state=max}")
		return 0
	}
	before := limit()
	small.Close()
	if after := limit(); before-after != 3 {
		t.Fatalf("closing the 3-connection store took the reported limit from %v to %v", before, after)
	}
	s.Close()
	if n := testutil.CollectAndCount(pools, "sluice_metadata_pool_acquires_total"); n != 1 {
		t.Fatalf("%d acquires series, want 1", n)
	}
}
