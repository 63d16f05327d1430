package produce_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/metadata/sqlite"
	"github.com/sluicehq/sluice/internal/objstore"
	"github.com/sluicehq/sluice/internal/produce"
)

// TestStalledStorageBoundsBufferedBytes: while the bucket accepts no upload
// (a stalled S3), or the metadata store completes no commit (a stalled
// database), many producers keep submitting; the bytes the batcher accepts
// stay within MaxBufferedBytes, every producer beyond that is held in
// Submit (pushed back, not buffered), at most MaxInFlight uploads (or one
// commit) are started, and the buffered-bytes gauge agrees. Once storage
// recovers, every blocked submission goes through and each producer's
// batches get consecutive offsets in submission order.
func TestStalledStorageBoundsBufferedBytes(t *testing.T) {
	t.Run("bucket", func(t *testing.T) { testStalledStorage(t, false) })
	t.Run("metadata", func(t *testing.T) { testStalledStorage(t, true) })
}

// gateLog blocks every CommitFile and CommitFiles until open is closed.
type gateLog struct {
	metadata.Log
	open    chan struct{}
	commits atomic.Int32
}

func (l *gateLog) CommitFile(ctx context.Context, c metadata.FileCommit) ([]metadata.BatchResult, error) {
	l.commits.Add(1)
	select {
	case <-l.open:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return l.Log.CommitFile(ctx, c)
}

func (l *gateLog) CommitFiles(ctx context.Context, files []metadata.FileCommit) ([]metadata.FileResult, error) {
	l.commits.Add(1)
	select {
	case <-l.open:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return l.Log.CommitFiles(ctx, files)
}

func testStalledStorage(t *testing.T, stallCommits bool) {
	const (
		producers   = 16
		perProducer = 8
		maxBuffered = 16 << 10
		maxInFlight = 2
	)
	root := t.TempDir()
	store, err := sqlite.Open(context.Background(), filepath.Join(root, "metadata.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	dir, err := objstore.OpenDir(filepath.Join(root, "bucket"))
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	// One gate: uploads wait at the bucket, or commits at the store.
	open := make(chan struct{})
	gate := &gateBucket{Bucket: dir, open: open}
	glog := &gateLog{Log: store, open: open}
	var bucket objstore.Bucket = gate
	var log metadata.Log = store
	if stallCommits {
		bucket, log = dir, glog
	}
	reg := prometheus.NewRegistry()
	b := produce.New(produce.Config{BatchTimeout: time.Millisecond, BatchMaxBytes: 4 << 10,
		MaxInFlight: maxInFlight, MaxBufferedBytes: maxBuffered},
		log, bucket, nil, produce.NewMetrics(reg), slog.New(slog.NewTextHandler(io.Discard, nil)))
	opened := false
	defer func() {
		if !opened {
			close(open)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := b.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	}()
	topic, err := store.CreateTopic(context.Background(), "bp", producers, nil)
	if err != nil {
		t.Fatal(err)
	}
	batchSize := len(batchOf(topic.ID, 0, strings.Repeat("x", 1000)).Data)

	// Each producer pipelines its batches into its own partition, as a
	// connection does: the next Submit as soon as the previous returns.
	var admitted atomic.Int64 // bytes whose Submit returned
	var returned atomic.Int32 // Submit calls that returned
	pending := make([][]*produce.Pending, producers)
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	errs := make(chan error, producers)
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range perProducer {
				bt := batchOf(topic.ID, int32(p), strings.Repeat("x", 1000))
				pd, err := b.Submit(ctx, []produce.Batch{bt})
				if err != nil {
					errs <- err
					return
				}
				admitted.Add(int64(len(bt.Data)))
				returned.Add(1)
				pending[p] = append(pending[p], pd)
			}
		}()
	}

	// Wait (bounded) until the buffer is full: no room for another batch.
	deadline := time.Now().Add(10 * time.Second)
	for admitted.Load()+int64(batchSize) <= maxBuffered {
		if time.Now().After(deadline) {
			t.Fatalf("only %d bytes admitted after 10s; the buffer holds %d", admitted.Load(), maxBuffered)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Give the producers every chance to overrun the bound, then check it.
	// No flush can finish while the gate is shut (commits go in seal order,
	// so with the first commit held none completes), so nothing was
	// released and admitted is exactly what the batcher holds.
	time.Sleep(200 * time.Millisecond)
	if got := admitted.Load(); got > maxBuffered {
		t.Fatalf("%d bytes admitted with uploads stalled; MaxBufferedBytes is %d", got, maxBuffered)
	}
	if n := returned.Load(); n >= producers*perProducer {
		t.Fatalf("all %d submissions returned with uploads stalled; want producers held in Submit", n)
	}
	if n := gate.puts.Load(); n > maxInFlight {
		t.Fatalf("%d uploads started; MaxInFlight is %d", n, maxInFlight)
	}
	if n := glog.commits.Load(); n > 1 {
		t.Fatalf("%d commits started with the first one stalled; commits go in seal order", n)
	}
	if stallCommits && glog.commits.Load() != 1 || !stallCommits && gate.puts.Load() == 0 {
		t.Fatalf("the stall was not exercised: %d uploads, %d commits reached the gate", gate.puts.Load(), glog.commits.Load())
	}
	if g := gauge(t, reg, "sluice_produce_buffered_bytes"); g != float64(admitted.Load()) {
		t.Fatalf("sluice_produce_buffered_bytes = %v with %d bytes admitted", g, admitted.Load())
	}
	t.Logf("stalled: %d of %d submissions admitted, %d bytes (bound %d), %d uploads and %d commits waiting",
		returned.Load(), producers*perProducer, admitted.Load(), maxBuffered, gate.puts.Load(), glog.commits.Load())

	// Storage recovers: everything goes through, in order per producer.
	close(open)
	opened = true
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Submit: %v", err)
	}
	for p := range producers {
		for i, pd := range pending[p] {
			if res := waitOK(t, pd); res[0].BaseOffset != int64(i) {
				t.Fatalf("producer %d batch %d: offset %d, want %d", p, i, res[0].BaseOffset, i)
			}
		}
	}
	if g := gauge(t, reg, "sluice_produce_buffered_bytes"); g != 0 {
		t.Fatalf("sluice_produce_buffered_bytes = %v after every flush finished", g)
	}
}

// gauge reads a gauge's value from reg.
func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatal(errors.New(name + " not registered"))
	return 0
}
