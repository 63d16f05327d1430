package kafka

import (
	"bufio"
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/auth"
	"github.com/sluicehq/sluice/internal/objstore"
	"github.com/sluicehq/sluice/internal/produce"
)

// panicProducer panics on every Submit: a handler bug on the read loop.
type panicProducer struct{ Producer }

func (panicProducer) SubmitFrom(context.Context, *produce.Source, []produce.Batch) (*produce.Pending, error) {
	panic("test: producer bug")
}

// panicTxn panics in InitProducerID, which runs off the read loop.
type panicTxn struct{ TxnCoordinator }

func (panicTxn) InitProducerID(context.Context, string, time.Duration, int64, int16) (int64, int16, error) {
	panic("test: coordinator bug")
}

// TestHandlerPanicClosesOnlyItsConnection: a panic in a handler, on the
// read loop or on a request's own goroutine, is recovered: it is counted,
// its connection is closed, and the agent and its other connections go on.
func TestHandlerPanicClosesOnlyItsConnection(t *testing.T) {
	metrics := NewMetrics(nil)
	ts := startServerDeps(t, Config{}, nil, func(d *Deps) {
		d.Producer = panicProducer{d.Producer}
		d.Txn = panicTxn{}
		d.Metrics = metrics
	})
	ts.createTopic("p", 1, nil)
	bystander := ts.dial()
	bystander.apiVersions()

	// On the read loop: Produce submits while dispatching.
	rc := ts.dial()
	rc.send(produceReq(7, -1, producePart{"p", 0, newBatch(1, 10, nil)}))
	rc.expectClosed()

	// On the request's goroutine: InitProducerID with a transactional ID.
	rc = ts.dial()
	init := kmsg.NewPtrInitProducerIDRequest()
	init.Version = 4
	init.TransactionalID = kmsg.StringPtr("tx")
	init.TransactionTimeoutMillis = 1000
	init.ProducerID, init.ProducerEpoch = -1, -1
	rc.send(init)
	rc.expectClosed()

	if got := testutil.ToFloat64(metrics.panics); got != 2 {
		t.Errorf("sluice_kafka_panics_total = %v, want 2", got)
	}
	bystander.apiVersions()
	ts.dial().apiVersions()
}

// failWriteConn is a server-side connection whose writes fail, as when
// the peer has gone away or the kernel refuses the write.
type failWriteConn struct{ net.Conn }

func (failWriteConn) Write([]byte) (int, error) { return 0, errors.New("test: write failed") }

// TestWriterFailureClosesSocket: when a response cannot be written the
// connection's socket is closed at once, so its reader stops and the client
// sees the close, instead of the connection staying open with no one
// answering it.
func TestWriterFailureClosesSocket(t *testing.T) {
	ts := startServer(t, Config{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan struct{})
	go func() {
		defer close(served)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		ts.srv.serveConn(ctx, failWriteConn{c}, &Listener{Name: "PLAINTEXT", Protocol: auth.Plaintext})
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	rc := &rawConn{t: t, c: c, br: bufio.NewReader(c)}
	t.Cleanup(func() { c.Close() })
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 3
	rc.send(req)
	rc.expectDropped()
	select {
	case <-served:
	case <-time.After(10 * time.Second):
		t.Fatal("serveConn did not return after its writer failed")
	}
}

// TestQueuedRequestBytesBound: requests in progress on all connections
// hold at most Config.QueuedMaxRequestBytes; a connection whose request
// does not fit waits (it is not read, not failed) until another request
// finishes, and then is served.
func TestQueuedRequestBytesBound(t *testing.T) {
	var g *gatedBucket
	produceReqBytes := int64(len(encodeRequest(produceReq(7, -1, producePart{"q", 0, newBatch(1, 2000, nil)}), 1)) - 4)
	metrics := NewMetrics(nil)
	ts := startServerDeps(t, Config{QueuedMaxRequestBytes: produceReqBytes + 16}, func(b objstore.Bucket) objstore.Bucket {
		g = newGatedBucket(b)
		return g
	}, func(d *Deps) { d.Metrics = metrics })
	ts.createTopic("q", 1, nil)

	// A produce held in its flush keeps its bytes in the budget.
	producer := ts.dial()
	corr := producer.send(produceReq(7, -1, producePart{"q", 0, newBatch(1, 2000, nil)}))
	<-g.started
	if got := testutil.ToFloat64(metrics.queuedBytes); got != float64(produceReqBytes) {
		t.Fatalf("queued request bytes = %v, want %d", got, produceReqBytes)
	}

	// Another connection's request does not fit: it is not answered ...
	other := ts.dial()
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 3
	req.ClientSoftwareName = "sluice-test"
	req.ClientSoftwareVersion = "1.0"
	otherCorr := other.send(req)
	answered := make(chan struct{})
	go func() {
		defer close(answered)
		other.recv(req, otherCorr)
	}()
	select {
	case <-answered:
		t.Fatal("a request beyond the queued request bytes bound was served while the bound was full")
	case <-time.After(300 * time.Millisecond): // proving a negative: a short look
	}
	// ... until the produce finishes and gives its bytes back.
	close(g.gate(0))
	resp := producer.recv(produceReq(7, -1), corr).(*kmsg.ProduceResponse)
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != 0 {
		t.Fatalf("produce error %d", code)
	}
	select {
	case <-answered:
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting request was not served after the budget was released")
	}
	waitFor(t, func() bool { return testutil.ToFloat64(metrics.queuedBytes) == 0 })
}

// TestDrainAnswersBufferedProduce: Drain stops taking requests but answers
// the ones already read: a produce buffered in the batcher when the drain
// starts gets its acknowledgement once its flush commits, and then the
// connection closes.
func TestDrainAnswersBufferedProduce(t *testing.T) {
	var g *gatedBucket
	ts := startServerWith(t, Config{}, func(b objstore.Bucket) objstore.Bucket {
		g = newGatedBucket(b)
		return g
	})
	ts.createTopic("d", 1, nil)
	rc := ts.dial()
	corr := rc.send(produceReq(7, -1, producePart{"d", 0, newBatch(3, 10, nil)}))
	<-g.started
	drained := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		drained <- ts.srv.Drain(ctx)
	}()
	// New connections are refused once draining has begun.
	waitFor(t, func() bool {
		c, err := net.DialTimeout("tcp", ts.addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	close(g.gate(0))
	resp := rc.recv(produceReq(7, -1), corr).(*kmsg.ProduceResponse)
	if p := resp.Topics[0].Partitions[0]; p.ErrorCode != 0 || p.BaseOffset != 0 {
		t.Fatalf("produce answered with error %d, base offset %d; want 0, 0", p.ErrorCode, p.BaseOffset)
	}
	rc.expectClosed()
	if err := <-drained; err != nil {
		t.Fatalf("Drain: %v", err)
	}
}

// TestProduceBoundedWhenBucketHangs: a produce whose flush cannot finish
// (the bucket does not answer) is answered REQUEST_TIMED_OUT once the
// request's timeout (at least 1s) has passed, never left hanging.
func TestProduceBoundedWhenBucketHangs(t *testing.T) {
	var g *gatedBucket
	ts := startServerWith(t, Config{}, func(b objstore.Bucket) objstore.Bucket {
		g = newGatedBucket(b)
		return g
	})
	t.Cleanup(func() { close(g.gate(0)) })
	ts.createTopic("h", 1, nil)
	rc := ts.dial()
	req := produceReq(7, -1, producePart{"h", 0, newBatch(1, 10, nil)})
	req.TimeoutMillis = 1000
	start := time.Now()
	resp := rc.roundTrip(req).(*kmsg.ProduceResponse)
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != kerr.RequestTimedOut.Code {
		t.Fatalf("produce to a hung bucket: error %d, want REQUEST_TIMED_OUT", code)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("answered after %v, want about the request's 1s timeout", took)
	}
}

// TestProduceRefusedWhileBucketNotReady: while the readiness prober finds
// the bucket failing, produce gets KAFKA_STORAGE_ERROR at once and nothing
// is buffered; once it recovers, produce succeeds.
func TestProduceRefusedWhileBucketNotReady(t *testing.T) {
	var bucketErr atomic.Pointer[error]
	ts := startServerDeps(t, Config{}, nil, func(d *Deps) {
		d.BucketReady = func() error {
			if e := bucketErr.Load(); e != nil {
				return *e
			}
			return nil
		}
	})
	ts.createTopic("r", 1, nil)
	down := errors.New("probe: bucket unreachable")
	bucketErr.Store(&down)
	rc := ts.dial()
	resp := rc.roundTrip(produceReq(7, -1, producePart{"r", 0, newBatch(1, 10, nil)})).(*kmsg.ProduceResponse)
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != kerr.KafkaStorageError.Code {
		t.Fatalf("produce while the bucket is down: error %d, want KAFKA_STORAGE_ERROR", code)
	}
	if ts.files() != 0 {
		t.Fatal("a refused produce wrote a file")
	}
	bucketErr.Store(nil)
	resp = rc.roundTrip(produceReq(7, -1, producePart{"r", 0, newBatch(1, 10, nil)})).(*kmsg.ProduceResponse)
	if p := resp.Topics[0].Partitions[0]; p.ErrorCode != 0 || p.BaseOffset != 0 {
		t.Fatalf("produce after recovery: error %d, offset %d", p.ErrorCode, p.BaseOffset)
	}
}
