package agent

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/produce"
)

// lostAckStore commits files for real but, every nth time, reports a
// failure: the agent then answers the producer with a retriable error
// although its batches are in the log, which is what a lost commit
// acknowledgement looks like.
type lostAckStore struct {
	metadata.Store
	every int64
	calls atomic.Int64
	lost  atomic.Int64
}

func (s *lostAckStore) CommitFile(ctx context.Context, c metadata.FileCommit) ([]metadata.BatchResult, error) {
	res, err := s.Store.CommitFile(ctx, c)
	if err == nil && s.calls.Add(1)%s.every == 0 {
		s.lost.Add(1)
		return nil, errors.New("injected: commit acknowledgement lost")
	}
	return res, err
}

func startTestAgent(t *testing.T, wrap func(metadata.Store) metadata.Store) *Agent {
	t.Helper()
	dir := t.TempDir()
	bucket, meta, err := DataDirURLs(dir)
	if err != nil {
		t.Fatal(err)
	}
	a, err := Start(context.Background(), Config{
		BucketURL: bucket, MetadataURL: meta, KafkaAddr: "127.0.0.1:0", NodeID: 1,
		Produce:   produce.Config{BatchTimeout: 5 * time.Millisecond},
		wrapStore: wrap,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		a.Close(ctx)
	})
	return a
}

// TestIdempotentRetriesThroughLostCommits produces with franz-go's default
// idempotent producer while commit acknowledgements get lost: the client
// retries batches that are already in the log, and the store's sequence
// check must answer them with their original offsets, so every record is
// in the log exactly once and in order.
func TestIdempotentRetriesThroughLostCommits(t *testing.T) {
	store := &lostAckStore{every: 4}
	a := startTestAgent(t, func(s metadata.Store) metadata.Store { store.Store = s; return store })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	const topic, n = "idem", 3000
	cl, err := kgo.NewClient(kgo.SeedBrokers(a.KafkaAddr()), kgo.ProducerLinger(time.Millisecond),
		kgo.MaxBufferedRecords(300), kgo.MetadataMinAge(50*time.Millisecond), kgo.RetryBackoffFn(func(int) time.Duration { return 10 * time.Millisecond }))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 3, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		acks = map[string][2]int64{}
	)
	for i := 0; i < n; i++ {
		wg.Add(1)
		cl.Produce(ctx, &kgo.Record{Topic: topic, Key: []byte(fmt.Sprint(i % 10)), Value: []byte(fmt.Sprintf("v%05d", i))}, func(r *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				t.Errorf("produce: %v", err)
				return
			}
			mu.Lock()
			acks[string(r.Value)] = [2]int64{int64(r.Partition), r.Offset}
			mu.Unlock()
		})
	}
	wg.Wait()
	if store.lost.Load() == 0 {
		t.Fatal("no commit acknowledgement was lost; the test proved nothing")
	}

	// Read everything back: each value once, at its acknowledged offset,
	// offsets contiguous, and each key's values in production order.
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	total := int64(0)
	ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
	if total != n {
		t.Fatalf("log holds %d records, produced %d (duplicates or loss)", total, n)
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(a.KafkaAddr()), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	seen := map[string]bool{}
	next := map[int32]int64{}
	lastByKey := map[string]string{}
	for len(seen) < n {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d: %v", len(seen), n, ctx.Err())
		}
		fs.EachRecord(func(r *kgo.Record) {
			v := string(r.Value)
			if seen[v] {
				t.Fatalf("%s read twice", v)
			}
			seen[v] = true
			if r.Offset != next[r.Partition] {
				t.Fatalf("partition %d: offset %d after %d", r.Partition, r.Offset, next[r.Partition]-1)
			}
			next[r.Partition]++
			if ack := acks[v]; ack != [2]int64{int64(r.Partition), r.Offset} {
				t.Fatalf("%s acknowledged at %v, read at %d/%d", v, ack, r.Partition, r.Offset)
			}
			if prev := lastByKey[string(r.Key)]; prev >= v {
				t.Fatalf("key %s: %s after %s", r.Key, v, prev)
			}
			lastByKey[string(r.Key)] = v
		})
	}
	t.Logf("%d records exactly once through %d lost commit acknowledgements", n, store.lost.Load())
}
