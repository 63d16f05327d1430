package agent

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/metadata"
)

// TestTransactionsThroughLostCommits runs a franz-go transactional
// producer while every third file commit (data and markers alike) reports
// a failure after committing: data retries must be answered as duplicates,
// EndTxn must complete by rewriting markers, and a read_committed consumer
// must see every committed record exactly once and nothing aborted.
func TestTransactionsThroughLostCommits(t *testing.T) {
	store := &lostAckStore{every: 3}
	a := startTestAgent(t, func(s metadata.Store) metadata.Store { store.Store = s; return store })
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	const topic = "txn-lost"
	opts := []kgo.Opt{kgo.SeedBrokers(a.KafkaAddr()), kgo.MetadataMinAge(50 * time.Millisecond), kgo.RetryBackoffFn(func(int) time.Duration { return 10 * time.Millisecond })}
	admCl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	if _, err := adm.CreateTopic(ctx, 3, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	p, err := kgo.NewClient(append(opts, kgo.TransactionalID("lost-acks"), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	committed := map[string]bool{}
	const txns, perTxn = 12, 9
	for i := 0; i < txns; i++ {
		if err := p.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		var vals []string
		for j := 0; j < perTxn; j++ {
			v := fmt.Sprintf("t%02d-%d", i, j)
			if err := p.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
				t.Fatalf("produce %s: %v", v, err)
			}
			vals = append(vals, v)
		}
		commit := i%4 != 3
		if err := p.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatalf("end transaction %d: %v", i, err)
		}
		if commit {
			for _, v := range vals {
				committed[v] = true
			}
		}
	}
	if store.lost.Load() == 0 {
		t.Fatal("no commit acknowledgement was lost; the test proved nothing")
	}

	cons, err := kgo.NewClient(append(opts, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	seen := map[string]bool{}
	quiet := time.Time{}
	for {
		if len(seen) >= len(committed) && quiet.IsZero() {
			quiet = time.Now().Add(time.Second)
		}
		if !quiet.IsZero() && time.Now().After(quiet) {
			break
		}
		pctx, pcancel := context.WithTimeout(ctx, 300*time.Millisecond)
		fs := cons.PollFetches(pctx)
		pcancel()
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d committed records: %v", len(seen), len(committed), ctx.Err())
		}
		fs.EachRecord(func(r *kgo.Record) {
			v := string(r.Value)
			if seen[v] {
				t.Errorf("%s read twice", v)
			}
			if !committed[v] {
				t.Errorf("%s read but not committed", v)
			}
			seen[v] = true
		})
	}
	if len(seen) != len(committed) {
		t.Fatalf("read %d records, %d committed", len(seen), len(committed))
	}
	t.Logf("%d committed records exactly once through %d lost commit acknowledgements", len(seen), store.lost.Load())
}
