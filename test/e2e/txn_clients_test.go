package e2e

import (
	"fmt"
	"testing"
	"time"
)

// TestConfluentKafkaTransactions: librdkafka's transactional producer
// (python3-confluent-kafka) commits and aborts transactions; a librdkafka
// read_committed consumer and a franz-go one must read exactly the
// committed records, and a read_uncommitted librdkafka consumer all of
// them, none twice.
func TestConfluentKafkaTransactions(t *testing.T) {
	t.Parallel()
	cliRequirePython(t, "import confluent_kafka")
	a := StartAgent(t, "", "--batch-timeout", "20ms")
	ctx := testContext(t, 3*time.Minute)
	const topic, parts, txns, perTxn = "py-txn", 3, 6, 10
	a.CreateTopic(topic, parts)
	abort := []int{1, 4}

	lines, err := cliScript(ctx, "txn_confluent.py", "produce", map[string]any{
		"bootstrap": a.KafkaAddr, "topic": topic, "txn_id": "py-txn-producer", "partitions": parts,
		"transactions": txns, "per_txn": perTxn, "abort": abort, "timeout": cliScriptTimeout})
	if err != nil {
		t.Fatal(err)
	}
	committed, all := map[string]bool{}, map[string]bool{}
	ended := map[string]bool{}
	for _, l := range lines {
		switch l.Kind {
		case "delivery":
			if l.Error != nil || l.Value == nil {
				t.Fatalf("delivery failed: %+v", l)
			}
			all[*l.Value] = true
		case "info":
			ended[l.Info] = true
		}
	}
	isAbort := map[int]bool{}
	for _, i := range abort {
		isAbort[i] = true
	}
	for i := 0; i < txns; i++ {
		want := fmt.Sprintf("commit %d", i)
		if isAbort[i] {
			want = fmt.Sprintf("abort %d", i)
		}
		if !ended[want] {
			t.Fatalf("transaction %d did not end as %q: %v", i, want, ended)
		}
		if isAbort[i] {
			continue
		}
		for n := 0; n < perTxn; n++ {
			committed[fmt.Sprintf("py-t%d-r%d", i, n)] = true
		}
	}
	if len(all) != txns*perTxn {
		t.Fatalf("%d deliveries, want %d", len(all), txns*perTxn)
	}

	for _, c := range []struct {
		isolation string
		want      map[string]bool
	}{{"read_committed", committed}, {"read_uncommitted", all}} {
		lines, err := cliScript(ctx, "txn_confluent.py", "consume", map[string]any{
			"bootstrap": a.KafkaAddr, "topic": topic, "partitions": parts, "isolation": c.isolation,
			"want": len(c.want), "timeout": cliScriptTimeout})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, l := range lines {
			if l.Kind == "record" {
				got = append(got, *l.Value)
			}
		}
		sameSet(t, "librdkafka "+c.isolation, got, c.want)
	}
	got := consumeValues(t, ctx, a, topic, true, len(committed), 2*time.Second)
	sameSet(t, "franz-go read_committed", got, committed)
}
