package kafka

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/objstore"
	"github.com/sluicehq/sluice/internal/produce"
)

// gatedBucket holds each Put until the test releases it, and tells the test
// when a Put has started.
type gatedBucket struct {
	objstore.Bucket
	started chan int // the index of each Put as it starts

	mu      sync.Mutex // guards n and release
	n       int
	release map[int]chan struct{}
}

func newGatedBucket(b objstore.Bucket) *gatedBucket {
	return &gatedBucket{Bucket: b, started: make(chan int, 16), release: map[int]chan struct{}{}}
}

func (g *gatedBucket) gate(i int) chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	c, ok := g.release[i]
	if !ok {
		c = make(chan struct{})
		g.release[i] = c
	}
	return c
}

func (g *gatedBucket) Put(ctx context.Context, key string, data []byte) error {
	g.mu.Lock()
	i := g.n
	g.n++
	g.mu.Unlock()
	g.started <- i
	select {
	case <-g.gate(i):
	case <-ctx.Done():
		return ctx.Err()
	}
	return g.Bucket.Put(ctx, key, data)
}

// TestPipelinedProduceResponseNotHeldBack: a client with two produce
// requests in flight, in two different flushes, gets the first response
// when the first flush commits, not when the second does. (The write loop
// used to keep a finished response in its buffer while a later request
// was still waiting, delaying every pipelined producer's acks by a flush.)
func TestPipelinedProduceResponseNotHeldBack(t *testing.T) {
	var g *gatedBucket
	ts := startServerWith(t, Config{}, func(b objstore.Bucket) objstore.Bucket {
		g = newGatedBucket(b)
		return g
	})
	ts.createTopic("pipelined", 1, nil)
	rc := ts.dial()

	first := produceReq(9, -1, producePart{"pipelined", 0, newBatch(3, 10, nil)})
	c1 := rc.send(first)
	if i := <-g.started; i != 0 {
		t.Fatalf("first upload has index %d", i)
	}
	// The first flush is sealed and uploading, so the second request goes
	// into the next flush.
	second := produceReq(9, -1, producePart{"pipelined", 0, newBatch(2, 10, nil)})
	c2 := rc.send(second)
	if i := <-g.started; i != 1 {
		t.Fatalf("second upload has index %d", i)
	}
	close(g.gate(0))

	// The second upload is still held: the first response must arrive on
	// its own (readFrame gives up after 10s).
	resp := rc.recv(first, c1).(*kmsg.ProduceResponse)
	if p := producePartResult(t, resp, "pipelined", 0); p.ErrorCode != 0 || p.BaseOffset != 0 {
		t.Fatalf("first produce: error %d, base offset %d", p.ErrorCode, p.BaseOffset)
	}
	close(g.gate(1))
	resp = rc.recv(second, c2).(*kmsg.ProduceResponse)
	if p := producePartResult(t, resp, "pipelined", 0); p.ErrorCode != 0 || p.BaseOffset != 3 {
		t.Fatalf("second produce: error %d, base offset %d", p.ErrorCode, p.BaseOffset)
	}
}

// heldBucket holds every Put until release is closed.
type heldBucket struct {
	objstore.Bucket
	release chan struct{}
}

func (h *heldBucket) Put(ctx context.Context, key string, data []byte) error {
	select {
	case <-h.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return h.Bucket.Put(ctx, key, data)
}

// countingProducer counts the produce submissions that reach the batcher
// and closes all when there have been want of them.
type countingProducer struct {
	Producer
	want int64
	n    atomic.Int64
	all  chan struct{}
}

func (p *countingProducer) SubmitFrom(ctx context.Context, src *produce.Source, batches []produce.Batch) (*produce.Pending, error) {
	if p.n.Add(1) == p.want {
		close(p.all)
	}
	return p.Producer.SubmitFrom(ctx, src, batches)
}

// TestManyPipelinedProduceRequestsAreRead: the agent keeps reading a
// connection that has hundreds of produce requests waiting for flushes.
// librdkafka without idempotence sends one request per partition every
// linger.ms with no in-flight limit of its own; when the agent stopped
// reading a connection at 32 outstanding requests, such a producer got 32
// requests answered per batch window and fell ever further behind. While
// every upload is held, all 300 requests must reach the batcher; once the
// uploads go through, they are answered in order.
func TestManyPipelinedProduceRequestsAreRead(t *testing.T) {
	const n = 300
	held := &heldBucket{release: make(chan struct{})}
	counter := &countingProducer{want: n, all: make(chan struct{})}
	ts := startServerDeps(t, Config{}, func(b objstore.Bucket) objstore.Bucket {
		held.Bucket = b
		return held
	}, func(d *Deps) {
		counter.Producer = d.Producer
		d.Producer = counter
	})
	var release sync.Once
	t.Cleanup(func() { release.Do(func() { close(held.release) }) })
	ts.createTopic("pipelined-many", 1, nil)
	rc := ts.dial()

	reqs := make([]*kmsg.ProduceRequest, n)
	corrs := make([]int32, n)
	for i := range reqs {
		reqs[i] = produceReq(9, -1, producePart{"pipelined-many", 0, newBatch(1, 10, nil)})
		reqs[i].TimeoutMillis = 30000 // outlives the wait below: no answer frees a slot
		corrs[i] = rc.send(reqs[i])
	}
	select {
	case <-counter.all:
	case <-time.After(10 * time.Second):
		t.Fatalf("%d of %d pipelined produce requests reached the batcher while uploads were held", counter.n.Load(), n)
	}
	release.Do(func() { close(held.release) })
	for i := range reqs {
		resp := rc.recv(reqs[i], corrs[i]).(*kmsg.ProduceResponse)
		if p := producePartResult(t, resp, "pipelined-many", 0); p.ErrorCode != 0 || p.BaseOffset != int64(i) {
			t.Fatalf("produce %d: error %d, base offset %d", i, p.ErrorCode, p.BaseOffset)
		}
	}
}
