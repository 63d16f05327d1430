package e2e

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// consumeValues reads topic from the start with the given isolation level
// until it has want records (or ctx ends), then keeps polling for quiet
// (so extra records would be seen), and returns the values read and the
// records by value.
func consumeValues(t *testing.T, ctx context.Context, a *Agent, topic string, committed bool, want int, quiet time.Duration) []string {
	t.Helper()
	iso := kgo.ReadUncommitted()
	if committed {
		iso = kgo.ReadCommitted()
	}
	cl := a.Client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(iso),
		kgo.FetchMaxWait(200*time.Millisecond))
	defer cl.Close()
	var out []string
	var until time.Time
	for {
		if len(out) >= want && until.IsZero() {
			until = time.Now().Add(quiet)
		}
		pctx := ctx
		var cancel context.CancelFunc = func() {}
		if !until.IsZero() {
			pctx, cancel = context.WithDeadline(ctx, until)
		}
		fs := cl.PollFetches(pctx)
		cancel()
		fs.EachError(func(tp string, p int32, err error) {
			if err != context.DeadlineExceeded && err != context.Canceled {
				t.Fatalf("fetch %s[%d]: %v", tp, p, err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) { out = append(out, string(r.Value)) })
		if !until.IsZero() && time.Now().After(until) {
			return out
		}
		if ctx.Err() != nil {
			t.Fatalf("consuming %s (committed=%v): got %d of %d records before %v", topic, committed, len(out), want, ctx.Err())
		}
	}
}

func sameSet(t *testing.T, what string, got []string, want map[string]bool) {
	t.Helper()
	seen := map[string]bool{}
	for _, v := range got {
		if seen[v] {
			t.Errorf("%s: duplicate record %q", what, v)
		}
		seen[v] = true
		if !want[v] {
			t.Errorf("%s: unexpected record %q", what, v)
		}
	}
	for v := range want {
		if !seen[v] {
			t.Errorf("%s: missing record %q", what, v)
		}
	}
}

// TestTransactionsCommitAbort runs a franz-go transactional producer that
// commits some transactions and aborts others; a read_committed consumer
// must see exactly the committed records, a read_uncommitted one every
// record (and no markers as records), and records of an open transaction
// must stay invisible to read_committed until it commits.
func TestTransactionsCommitAbort(t *testing.T) {
	t.Parallel()
	a := StartAgent(t, "", "--batch-timeout", "20ms")
	ctx := testContext(t, 3*time.Minute)
	const topic = "txn-basic"
	a.CreateTopic(topic, 3)

	p := a.Client(kgo.TransactionalID("txn-basic-producer"), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	committed := map[string]bool{}
	all := map[string]bool{}
	const txns, perTxn = 9, 7
	for i := 0; i < txns; i++ {
		if err := p.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		var vals []string
		for j := 0; j < perTxn; j++ {
			v := fmt.Sprintf("t%d-r%d", i, j)
			if err := p.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
				t.Fatalf("produce %s: %v", v, err)
			}
			vals = append(vals, v)
			all[v] = true
		}
		commit := i%3 != 1
		if i == 4 {
			// While this transaction is open its records are invisible to
			// read_committed: the last stable offset stays below them.
			lso, err := a.Admin().ListCommittedOffsets(ctx, topic)
			if err != nil {
				t.Fatal(err)
			}
			hw, err := a.Admin().ListEndOffsets(ctx, topic)
			if err != nil {
				t.Fatal(err)
			}
			behind := false
			lso.Each(func(o kadm.ListedOffset) {
				if e, _ := hw.Lookup(topic, o.Partition); o.Offset < e.Offset {
					behind = true
				}
			})
			if !behind {
				t.Fatalf("open transaction: last stable offsets %v not behind high watermarks %v", lso, hw)
			}
			got := consumeValues(t, ctx, a, topic, true, len(committed), time.Second)
			sameSet(t, "read_committed during an open transaction", got, committed)
		}
		if err := p.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatalf("end transaction %d: %v", i, err)
		}
		if commit {
			for _, v := range vals {
				committed[v] = true
			}
		}
	}

	got := consumeValues(t, ctx, a, topic, true, len(committed), 2*time.Second)
	sameSet(t, "read_committed", got, committed)
	got = consumeValues(t, ctx, a, topic, false, len(all), 2*time.Second)
	sameSet(t, "read_uncommitted", got, all)

	// Every transaction left one marker per partition it touched: the
	// high watermarks exceed the record count by the markers, and with no
	// transaction open the last stable offsets equal them.
	hw, _ := a.Admin().ListEndOffsets(ctx, topic)
	lso, _ := a.Admin().ListCommittedOffsets(ctx, topic)
	var total int64
	hw.Each(func(o kadm.ListedOffset) {
		total += o.Offset
		if l, _ := lso.Lookup(topic, o.Partition); l.Offset != o.Offset {
			t.Errorf("partition %d: last stable offset %d, high watermark %d with no open transaction", o.Partition, l.Offset, o.Offset)
		}
	})
	if want := int64(txns*perTxn + txns*3); total != want {
		t.Errorf("high watermarks sum to %d, want %d records + markers", total, want)
	}
}

// TestTransactionTimeoutAborts leaves a transaction open past its timeout:
// the coordinator aborts it with an epoch bump, read_committed consumers
// never see its records, and the producer's old epoch is fenced.
func TestTransactionTimeoutAborts(t *testing.T) {
	t.Parallel()
	a := StartAgent(t, "", "--batch-timeout", "20ms", "--txn-check-interval", "100ms")
	ctx := testContext(t, 2*time.Minute)
	const topic = "txn-timeout"
	a.CreateTopic(topic, 2)

	p := a.Client(kgo.TransactionalID("txn-timeout-producer"), kgo.DefaultProduceTopic(topic), kgo.TransactionTimeout(time.Second),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for j := 0; j < 4; j++ {
		if err := p.ProduceSync(ctx, &kgo.Record{Partition: int32(j % 2), Value: []byte(fmt.Sprintf("lost-%d", j))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	adm := a.Admin()
	described, err := adm.DescribeTransactions(ctx, "txn-timeout-producer")
	if err != nil {
		t.Fatal(err)
	}
	before, ok := described["txn-timeout-producer"]
	if !ok || before.State != "Ongoing" || len(before.Topics[topic]) == 0 {
		t.Fatalf("described before timeout = %+v", described)
	}

	// Wait (bounded) for the coordinator to abort it.
	deadline := time.Now().Add(30 * time.Second)
	var after kadm.DescribedTransaction
	for {
		d, err := adm.DescribeTransactions(ctx, "txn-timeout-producer")
		if err != nil {
			t.Fatal(err)
		}
		after = d["txn-timeout-producer"]
		if after.State == "CompleteAbort" || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if after.State != "CompleteAbort" || after.ProducerEpoch != before.ProducerEpoch+1 || after.ProducerID != before.ProducerID {
		t.Fatalf("after timeout: %+v, want CompleteAbort with epoch %d", after, before.ProducerEpoch+1)
	}
	// The aborted records are invisible to read_committed; the LSO caught up.
	got := consumeValues(t, ctx, a, topic, true, 0, time.Second)
	if len(got) != 0 {
		t.Fatalf("read_committed after abort saw %v", got)
	}
	hw, _ := adm.ListEndOffsets(ctx, topic)
	lso, _ := adm.ListCommittedOffsets(ctx, topic)
	hw.Each(func(o kadm.ListedOffset) {
		if l, _ := lso.Lookup(topic, o.Partition); l.Offset != o.Offset || o.Offset != 3 {
			t.Errorf("partition %d: lso %d hwm %d, want both 3 (2 records + abort marker)", o.Partition, l.Offset, o.Offset)
		}
	})
	// The producer's epoch is fenced: committing fails.
	if err := p.EndTransaction(ctx, kgo.TryCommit); err == nil {
		t.Fatal("commit after the coordinator aborted the transaction succeeded")
	}
}

// sortedKeys is for readable failure messages.
func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
