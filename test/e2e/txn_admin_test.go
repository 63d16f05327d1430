package e2e

import (
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestTransactionAdmin describes, lists and inspects producers of an open
// and then a committed transaction with kadm, and checks that a second
// producer with the same transactional ID fences the first (zombie
// fencing): the first one's open transaction is aborted and it can no
// longer commit.
func TestTransactionAdmin(t *testing.T) {
	t.Parallel()
	a := StartAgent(t, "", "--batch-timeout", "20ms")
	ctx := testContext(t, 2*time.Minute)
	const topic, id = "txn-admin", "txn-admin-producer"
	a.CreateTopic(topic, 2)
	adm := a.Admin()

	p := a.Client(kgo.TransactionalID(id), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.TransactionTimeout(45*time.Second))
	// A plain record first so the transaction does not start at offset 0.
	plain := a.Client(kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := plain.ProduceSync(ctx, &kgo.Record{Partition: 1, Value: []byte("plain")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	var first [2]int64
	for part := int32(0); part < 2; part++ {
		r, err := p.ProduceSync(ctx, &kgo.Record{Partition: part, Value: []byte("in-txn")}).First()
		if err != nil {
			t.Fatal(err)
		}
		first[part] = r.Offset
	}
	if first != [2]int64{0, 1} {
		t.Fatalf("transaction's first offsets %v, want [0 1]", first)
	}

	listed, err := adm.ListTransactions(ctx, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	l, ok := listed[id]
	if !ok || l.State != "Ongoing" || l.ProducerID < 0 {
		t.Fatalf("listed = %+v", listed)
	}
	if only, err := adm.ListTransactions(ctx, nil, []string{"CompleteCommit"}); err != nil || len(only) != 0 {
		t.Fatalf("listed CompleteCommit = %+v, %v", only, err)
	}
	if byPID, err := adm.ListTransactions(ctx, []int64{l.ProducerID}, nil); err != nil || len(byPID) != 1 {
		t.Fatalf("listed by producer id = %+v, %v", byPID, err)
	}
	described, err := adm.DescribeTransactions(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	d := described[id]
	if d.State != "Ongoing" || d.TimeoutMillis != 45000 || d.ProducerID != l.ProducerID || d.StartTimestamp <= 0 ||
		len(d.Topics[topic]) != 2 {
		t.Fatalf("described = %+v", d)
	}
	if unk, err := adm.DescribeTransactions(ctx, "no-such-id"); err != nil || !errors.Is(unk["no-such-id"].Err, kerr.TransactionalIDNotFound) {
		t.Fatalf("describe unknown id: %+v, %v, want TRANSACTIONAL_ID_NOT_FOUND", unk, err)
	}

	producers := func() map[int32]kadm.DescribedProducer {
		dp, err := adm.DescribeProducers(ctx, kadm.TopicsSet{topic: {0: {}, 1: {}}})
		if err != nil {
			t.Fatal(err)
		}
		out := map[int32]kadm.DescribedProducer{}
		for _, dpp := range dp[topic].Partitions {
			if dpp.Err != nil {
				t.Fatalf("describe producers %d: %v", dpp.Partition, dpp.Err)
			}
			if pr, ok := dpp.ActiveProducers[l.ProducerID]; ok {
				out[dpp.Partition] = pr
			}
		}
		return out
	}
	open := producers()
	for part := int32(0); part < 2; part++ {
		if pr := open[part]; pr.CurrentTxnStartOffset != first[part] || pr.ProducerEpoch != d.ProducerEpoch || pr.LastSequence != 0 {
			t.Errorf("partition %d producer = %+v, want open transaction at %d", part, pr, first[part])
		}
	}

	// A second producer with the same transactional ID fences the first:
	// its open transaction is aborted, and the first cannot commit.
	p2 := a.Client(kgo.TransactionalID(id), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := p2.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := p2.ProduceSync(ctx, &kgo.Record{Partition: 0, Value: []byte("p2")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := p.EndTransaction(ctx, kgo.TryCommit); err == nil {
		t.Fatal("fenced producer committed")
	}
	if err := p2.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	described, _ = adm.DescribeTransactions(ctx, id)
	if d2 := described[id]; d2.State != "CompleteCommit" || d2.ProducerEpoch <= d.ProducerEpoch || len(d2.Topics) != 0 {
		t.Fatalf("after the second producer committed: %+v (first had epoch %d)", d2, d.ProducerEpoch)
	}
	for part, pr := range producers() {
		if pr.CurrentTxnStartOffset != -1 {
			t.Errorf("partition %d still has an open transaction: %+v", part, pr)
		}
	}
	got := consumeValues(t, ctx, a, topic, true, 2, 2*time.Second)
	sameSet(t, "read_committed after fencing", got, map[string]bool{"plain": true, "p2": true})
}
