package e2e

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// produced records what a producer was told: partition and offset by value.
type produced struct {
	mu   sync.Mutex // guards acks
	acks map[string][2]int64
}

func newProduced() *produced { return &produced{acks: map[string][2]int64{}} }

func (p *produced) add(r *kgo.Record) {
	p.mu.Lock()
	p.acks[string(r.Value)] = [2]int64{int64(r.Partition), r.Offset}
	p.mu.Unlock()
}

// check verifies that got holds every acknowledged record exactly once, at
// its acknowledged partition and offset, and that each partition's offsets
// are 0..n-1 with no gap.
func (p *produced) check(t *testing.T, got map[int32][]*kgo.Record) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	seen := map[string]bool{}
	for part, recs := range got {
		for i, r := range recs {
			if r.Offset != int64(i) {
				t.Fatalf("partition %d: record %d has offset %d (gap or duplicate)", part, i, r.Offset)
			}
			v := string(r.Value)
			if seen[v] {
				t.Fatalf("value %q read twice", v)
			}
			seen[v] = true
			ack, ok := p.acks[v]
			if !ok {
				continue // produced but never acknowledged: allowed to exist
			}
			if ack != [2]int64{int64(part), r.Offset} {
				t.Fatalf("value %q acknowledged at %d/%d, read at %d/%d", v, ack[0], ack[1], part, r.Offset)
			}
		}
	}
	for v := range p.acks {
		if !seen[v] {
			t.Fatalf("acknowledged value %q was not read back", v)
		}
	}
}

func TestFranzRoundTripCodecs(t *testing.T) {
	t.Parallel()
	a := StartAgent(t, "", "--batch-timeout", "20ms")
	codecs := map[string]kgo.CompressionCodec{
		"none": kgo.NoCompression(), "gzip": kgo.GzipCompression(), "snappy": kgo.SnappyCompression(),
		"lz4": kgo.Lz4Compression(), "zstd": kgo.ZstdCompression(),
	}
	for name, codec := range codecs {
		t.Run(name, func(t *testing.T) {
			ctx := testContext(t, 60*time.Second)
			topic := "codec-" + name
			a.CreateTopic(topic, 4)
			cl := a.Client(kgo.ProducerBatchCompression(codec), kgo.DisableIdempotentWrite(), kgo.ProducerLinger(5*time.Millisecond))
			p := newProduced()
			var wg sync.WaitGroup
			const n = 2000
			for i := 0; i < n; i++ {
				wg.Add(1)
				r := &kgo.Record{Topic: topic, Key: []byte(fmt.Sprintf("k%d", i%37)), Value: []byte(fmt.Sprintf("%s-%05d-%s", name, i, "padding-for-compression-padding")),
					Headers: []kgo.RecordHeader{{Key: "i", Value: []byte(fmt.Sprint(i))}}}
				cl.Produce(ctx, r, func(r *kgo.Record, err error) {
					defer wg.Done()
					if err != nil {
						t.Errorf("produce: %v", err)
						return
					}
					p.add(r)
				})
			}
			wg.Wait()
			got := a.ConsumeAll(ctx, topic)
			p.check(t, got)
			total := 0
			for part, recs := range got {
				total += len(recs)
				for _, r := range recs {
					if len(r.Headers) != 1 || r.Headers[0].Key != "i" || r.Key == nil {
						t.Fatalf("partition %d offset %d: key %q headers %v not kept", part, r.Offset, r.Key, r.Headers)
					}
				}
			}
			if total != n || len(got) < 2 {
				t.Fatalf("read %d records over %d partitions, want %d over several", total, len(got), n)
			}
		})
	}
}

// TestConcurrentProducers has several clients (separate connections) write
// the same partitions at once; each partition's log must interleave them
// with no gap, duplicate or loss, and in each producer's own order.
func TestConcurrentProducers(t *testing.T) {
	t.Parallel()
	a := StartAgent(t, "", "--batch-timeout", "10ms")
	ctx := testContext(t, 90*time.Second)
	const topic, producers, perProducer = "concurrent", 4, 1500
	a.CreateTopic(topic, 3)
	p := newProduced()
	var wg sync.WaitGroup
	for w := 0; w < producers; w++ {
		cl := a.Client(kgo.DisableIdempotentWrite(), kgo.ProducerLinger(2*time.Millisecond), kgo.MaxBufferedRecords(500))
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < perProducer; i++ {
				r := &kgo.Record{Topic: topic, Partition: int32(i % 3), Value: []byte(fmt.Sprintf("w%d-%06d", w, i))}
				res := cl.ProduceSync(ctx, r)
				if err := res.FirstErr(); err != nil {
					t.Errorf("producer %d: %v", w, err)
					return
				}
				p.add(r)
			}
		}(w)
	}
	wg.Wait()
	got := a.ConsumeAll(ctx, topic)
	p.check(t, got)
	// Per producer and partition, offsets follow production order.
	last := map[string]int64{}
	for part, recs := range got {
		for _, r := range recs {
			var w, i int
			fmt.Sscanf(string(r.Value), "w%d-%d", &w, &i)
			k := fmt.Sprintf("%d/%d", w, part)
			if prev, ok := last[k]; ok && int64(i) <= prev {
				t.Fatalf("producer %d partition %d: record %d stored after %d", w, part, i, prev)
			}
			last[k] = int64(i)
		}
	}
	if len(p.acks) != producers*perProducer {
		t.Fatalf("%d acknowledged, want %d", len(p.acks), producers*perProducer)
	}
}

// TestRestartKeepsData stops the agent gracefully and starts it on the same
// data dir: every acknowledged record is readable at its offset, and new
// writes continue the offsets.
func TestRestartKeepsData(t *testing.T) {
	t.Parallel()
	a := StartAgent(t, "", "--batch-timeout", "50ms")
	ctx := testContext(t, 60*time.Second)
	const topic = "restart"
	a.CreateTopic(topic, 2)
	p := newProduced()
	produce := func(from, to int) {
		cl := a.Client(kgo.DisableIdempotentWrite())
		for i := from; i < to; i++ {
			r := &kgo.Record{Topic: topic, Partition: int32(i % 2), Value: []byte(fmt.Sprintf("r%04d", i))}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatal(err)
			}
			p.add(r)
		}
		cl.Close()
	}
	produce(0, 100)
	a.Restart()
	p.check(t, a.ConsumeAll(ctx, topic))
	produce(100, 150)
	a.Restart()
	p.check(t, a.ConsumeAll(ctx, topic))
}

// TestListOffsetsByTimestamp writes records with chosen timestamps across
// several files and asks for offsets by time.
func TestListOffsetsByTimestamp(t *testing.T) {
	t.Parallel()
	a := StartAgent(t, "", "--batch-timeout", "5ms")
	ctx := testContext(t, 30*time.Second)
	const topic = "times"
	a.CreateTopic(topic, 1)
	cl := a.Client(kgo.DisableIdempotentWrite())
	base := time.UnixMilli(1_700_000_000_000)
	// Offsets 0..9 at base+0s..9s, one file each; offset 10 goes back in time.
	for i := 0; i < 10; i++ {
		r := &kgo.Record{Topic: topic, Value: []byte{byte(i)}, Timestamp: base.Add(time.Duration(i) * time.Second)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte{10}, Timestamp: base}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	adm := a.Admin()
	for _, c := range []struct {
		at     time.Time
		offset int64
	}{
		{base.Add(-time.Hour), 0},
		{base, 0},
		{base.Add(500 * time.Millisecond), 1},
		{base.Add(9 * time.Second), 9},
		{base.Add(10 * time.Second), -1},
	} {
		res, err := adm.ListOffsetsAfterMilli(ctx, c.at.UnixMilli(), topic)
		if err != nil {
			t.Fatal(err)
		}
		o, _ := res.Lookup(topic, 0)
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		// kadm maps "no such offset" (-1) to the end offset.
		want := c.offset
		if want == -1 {
			want = 11
		}
		if o.Offset != want {
			t.Fatalf("offset after %v = %d, want %d", c.at.Sub(base), o.Offset, want)
		}
	}
	start, _ := adm.ListStartOffsets(ctx, topic)
	end, _ := adm.ListEndOffsets(ctx, topic)
	if s, _ := start.Lookup(topic, 0); s.Offset != 0 {
		t.Fatalf("start offset %d", s.Offset)
	}
	if e, _ := end.Lookup(topic, 0); e.Offset != 11 {
		t.Fatalf("end offset %d", e.Offset)
	}
}

// TestFetchLongPollWakesOnCommit sends one Fetch at the end of the log with
// a 30s max wait, then produces: the fetch must come back with the record,
// long before its wait would have run out.
func TestFetchLongPollWakesOnCommit(t *testing.T) {
	t.Parallel()
	a := StartAgent(t, "", "--batch-timeout", "5ms")
	ctx := testContext(t, 40*time.Second)
	const topic = "longpoll"
	a.CreateTopic(topic, 1)
	cl := a.Client(kgo.DisableIdempotentWrite())
	td, err := a.Admin().ListTopics(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	req := kmsg.NewPtrFetchRequest()
	req.Version = 12
	req.MaxWaitMillis = 30000
	req.MinBytes = 1
	req.MaxBytes = 1 << 20
	req.SessionEpoch = -1
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = topic
	ft.TopicID = td[topic].ID
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes = 1 << 20
	ft.Partitions = append(ft.Partitions, fp)
	req.Topics = append(req.Topics, ft)

	type result struct {
		resp *kmsg.FetchResponse
		err  error
		took time.Duration
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		resp, err := req.RequestWith(ctx, cl)
		done <- result{resp, err, time.Since(start)}
	}()
	time.Sleep(300 * time.Millisecond)
	select {
	case r := <-done:
		t.Fatalf("fetch returned before any data was produced: %+v %v", r.resp, r.err)
	default:
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("wake")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	p := r.resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		t.Fatal(err)
	}
	if len(p.RecordBatches) == 0 || p.HighWatermark != 1 {
		t.Fatalf("fetch woke with %d bytes, hwm %d", len(p.RecordBatches), p.HighWatermark)
	}
	if r.took > 20*time.Second {
		t.Fatalf("fetch took %v: it waited out its max wait instead of waking on the commit", r.took)
	}
}
