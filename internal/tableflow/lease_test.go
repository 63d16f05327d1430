package tableflow

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
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

// TestNewPartitions: partitions added to the topic while a worker runs are
// ingested too, from their start.
func TestNewPartitions(t *testing.T) {
	partitionCheckEvery = 100 * time.Millisecond
	t.Cleanup(func() { partitionCheckEvery = 10 * time.Second })
	e := newEnv(t, "orders")
	svc := start(t, e.config(ordersTable))
	e.produce("orders", 0, `{"id": 0}`)
	waitRows(t, svc, "shop.orders", 1)
	if _, err := kadm.NewClient(e.cl).CreatePartitions(context.Background(), 2, "orders"); err != nil {
		t.Fatal(err)
	}
	// A client made now sees the new partitions.
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.cluster.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: "orders", Partition: 3, Value: []byte(`{"id": 3003}`)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	_, rows := waitRows(t, svc, "shop.orders", 2)
	if len(rows) != 2 || rows[1][colPartition] != int32(3) || rows[1]["id"] != int64(3003) {
		t.Fatalf("rows %v", rows)
	}
}

// TestSASLSource reads from a cluster that requires SASL/SCRAM, with the
// credentials taken from the environment variables the config names.
func TestSASLSource(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "orders"), kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-256", "tf", "s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	// The cluster does require SASL: a client without it gets nowhere.
	plainCl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.RequestRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	pctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	_, perr := kadm.NewClient(plainCl).ListTopics(pctx)
	cancel()
	plainCl.Close()
	if perr == nil {
		t.Fatal("a client without SASL listed topics")
	}
	t.Setenv("TF_TEST_USER", "tf")
	t.Setenv("TF_TEST_PASS", "s3cret")
	sc := SourceCluster{Name: "src", BootstrapServers: c.ListenAddrs(), SASL: &SASL{Mechanism: "SCRAM-SHA-256", UsernameEnv: "TF_TEST_USER", PasswordEnv: "TF_TEST_PASS"}}
	opts, err := kafkaOpts(sc)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	e := &env{t: t, cluster: c, dir: t.TempDir(), cl: cl}
	cfg := e.config(ordersTable)
	cfg.SourceClusters[0].SASL = sc.SASL
	svc := start(t, cfg)
	e.produce("orders", 0, `{"id": 7}`)
	if _, rows := waitRows(t, svc, "shop.orders", 1); rows[0]["id"] != int64(7) {
		t.Fatalf("rows %v", rows)
	}
}
