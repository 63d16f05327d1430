package tableflow

import (
	"fmt"
	"testing"
)

// TestWorkersShareTables runs two services on one config with two tables:
// each table is ingested by one of them, and when one stops the other
// takes its table over, with every record exactly once.
func TestWorkersShareTables(t *testing.T) {
	e := newEnv(t, "orders", "returns")
	cfg := e.config(ordersTable + `
  - name: shop.returns
    source_topic: returns
    format: json
    schema:
      fields:
        - {name: id, type: long, required: true}
`)
	a, b := start(t, cfg), start(t, cfg)
	produce := func(from, to int) {
		for i := from; i < to; i++ {
			e.produce("orders", 0, fmt.Sprintf(`{"id": %d}`, i))
			e.produce("returns", 0, fmt.Sprintf(`{"id": %d}`, i))
		}
	}
	produce(0, 10)
	waitRows(t, a, "shop.orders", 10)
	waitRows(t, a, "shop.returns", 10)
	owners := map[string]string{}
	for _, name := range []string{"shop.orders", "shop.returns"} {
		var holders []string
		for _, s := range []*Service{a, b} {
			if ok, _ := s.store.AcquireLease(t.Context(), name, "probe", 0); ok {
				t.Fatalf("table %s has no owner", name)
			}
			var owner string
			s.store.(*sqlStore).db.QueryRowContext(t.Context(), `SELECT owner FROM tableflow_leases WHERE name = ?`, name).Scan(&owner)
			if owner == s.owner {
				holders = append(holders, s.owner)
			}
		}
		if len(holders) != 1 {
			t.Fatalf("table %s held by %v", name, holders)
		}
		owners[name] = holders[0]
	}
	t.Logf("owners: %v", owners)
	// Stop a; b takes over whatever a had.
	a.stopTest()
	produce(10, 20)
	for _, name := range []string{"shop.orders", "shop.returns"} {
		_, rows := waitRows(t, b, name, 20)
		if len(rows) != 20 {
			t.Fatalf("%s: %d rows, want 20", name, len(rows))
		}
		for i, r := range rows {
			if r["id"] != int64(i) {
				t.Fatalf("%s row %d: %v", name, i, r)
			}
		}
	}
}
