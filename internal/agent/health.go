package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/objstore"
)

// Readiness is "this agent can write to its bucket and reach its metadata
// store" (DESIGN.md, decision 19). A background prober checks both every
// probe interval, each check bounded by the probe timeout: the bucket with
// a small write read back, the store with a trivial query. Real traffic
// reports too: a flush upload that fails marks the bucket failing at once,
// one that succeeds marks it working. /readyz reports both components;
// produce requests are refused with a retriable error while the bucket
// fails, and the agent stops being advertised to clients when other agents
// can take its traffic.

// Component states as /readyz reports them.
const (
	stateUnknown = "unknown" // not checked yet
	stateOK      = "ok"
	stateFailing = "failing"
)

// componentState is one dependency's readiness.
type componentState struct {
	State       string    `json:"state"`
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	LastOKAt    time.Time `json:"last_ok_at,omitzero"`
}

// health holds the readiness of the bucket and of the metadata store.
type health struct {
	mu     sync.Mutex // guards bucket and store
	bucket componentState
	store  componentState

	ready *prometheus.GaugeVec // sluice_ready{component}
	// onBucket, if set, is called (outside mu) when the bucket's state
	// changes, with whether it works now.
	onBucket func(ok bool)
}

func newHealth(reg prometheus.Registerer) *health {
	h := &health{
		bucket: componentState{State: stateUnknown},
		store:  componentState{State: stateUnknown},
		ready: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sluice_ready",
			Help: "1 when the component (bucket, metadata) passed its last readiness check or request, 0 otherwise."}, []string{"component"}),
	}
	reg.MustRegister(h.ready)
	h.ready.WithLabelValues("bucket").Set(0)
	h.ready.WithLabelValues("metadata").Set(0)
	return h
}

// report records the outcome of a check or of real traffic on component
// ("bucket" or "metadata").
func (h *health) report(component string, err error) {
	now := time.Now()
	h.mu.Lock()
	c := &h.store
	if component == "bucket" {
		c = &h.bucket
	}
	was := c.State
	if err == nil {
		c.State, c.LastOKAt = stateOK, now
	} else {
		c.State, c.LastError, c.LastErrorAt = stateFailing, err.Error(), now
	}
	changed := was != c.State
	onBucket := h.onBucket
	h.mu.Unlock()
	if err == nil {
		h.ready.WithLabelValues(component).Set(1)
	} else {
		h.ready.WithLabelValues(component).Set(0)
	}
	if changed && component == "bucket" && onBucket != nil {
		onBucket(err == nil)
	}
}

// bucketErr returns the bucket's last error while it is failing, nil
// while it works or has not been checked yet (an agent is not refused
// traffic before its first probe).
func (h *health) bucketErr() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.bucket.State == stateFailing {
		return fmt.Errorf("bucket not ready: %s", h.bucket.LastError)
	}
	return nil
}

// snapshot returns both states and whether the agent is ready (both OK).
func (h *health) snapshot() (bucket, store componentState, ready bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.bucket, h.store, h.bucket.State == stateOK && h.store.State == stateOK
}

// serveReady answers /readyz: 200 when both components are OK, 503
// otherwise, with each component's state and last error as JSON.
func (h *health) serveReady(w http.ResponseWriter, _ *http.Request) {
	bucket, store, ready := h.snapshot()
	w.Header().Set("Content-Type", "application/json")
	if !ready {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	json.NewEncoder(w).Encode(struct {
		Ready    bool           `json:"ready"`
		Bucket   componentState `json:"bucket"`
		Metadata componentState `json:"metadata"`
	}{ready, bucket, store})
}

// probeKey is the object each agent writes and reads back to check its
// bucket; outside files/, so no storage job ever touches it.
func probeKey(nodeID int32) string { return fmt.Sprintf("_sluice/readiness/node-%d", nodeID) }

// probe checks the bucket and the store once, each within timeout.
func (a *Agent) probe(ctx context.Context, timeout time.Duration) {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		a.health.report("bucket", probeBucket(ctx, a.bucket, probeKey(a.registry.Self().NodeID)))
	}()
	go func() {
		defer wg.Done()
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		_, err := a.store.ClusterID(ctx)
		a.health.report("metadata", err)
	}()
	wg.Wait()
}

// probeBucket writes a small object and reads it back.
func probeBucket(ctx context.Context, b objstore.Bucket, key string) error {
	want := []byte(time.Now().UTC().Format(time.RFC3339Nano))
	if err := b.Put(ctx, key, want); err != nil {
		return fmt.Errorf("write probe object: %w", err)
	}
	got, err := b.GetRange(ctx, key, 0, -1)
	if err != nil {
		return fmt.Errorf("read probe object: %w", err)
	}
	if !bytes.Equal(got, want) {
		return errors.New("probe object read back different bytes")
	}
	return nil
}

// runProber probes at once and then every interval until ctx ends.
func (a *Agent) runProber(ctx context.Context, interval, timeout time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		a.probe(ctx, timeout)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// observedBucket reports the outcome of the write path's uploads to health.
type observedBucket struct {
	objstore.Bucket
	h *health
}

func (o observedBucket) Put(ctx context.Context, key string, data []byte) error {
	return o.observe(ctx, o.Bucket.Put(ctx, key, data))
}

func (o observedBucket) PutSplit(ctx context.Context, key string, pieces [][]byte) error {
	return o.observe(ctx, objstore.PutSplit(ctx, o.Bucket, key, pieces))
}

func (o observedBucket) CanPutSplit() bool { return objstore.CanPutSplit(o.Bucket) }

func (o observedBucket) observe(ctx context.Context, err error) error {
	if err == nil || ctx.Err() == nil || errors.Is(err, context.DeadlineExceeded) {
		// A cancelled caller (shutdown, a client gone) says nothing about
		// the bucket; a timeout does.
		o.h.report("bucket", err)
	}
	return err
}

// observedLog reports the outcome of the write path's commits to health,
// as the metadata store's real traffic.
type observedLog struct {
	metadata.Log
	h *health
}

func (o observedLog) CommitFile(ctx context.Context, c metadata.FileCommit) ([]metadata.BatchResult, error) {
	res, err := o.Log.CommitFile(ctx, c)
	o.observe(ctx, err)
	return res, err
}

func (o observedLog) CommitFiles(ctx context.Context, files []metadata.FileCommit) ([]metadata.FileResult, error) {
	res, err := o.Log.CommitFiles(ctx, files)
	o.observe(ctx, err)
	return res, err
}

func (o observedLog) observe(ctx context.Context, err error) {
	observed := err
	if errors.Is(err, metadata.ErrFileCommitted) {
		observed = nil // an answer from a working store
	}
	if observed == nil || ctx.Err() == nil || errors.Is(observed, context.DeadlineExceeded) {
		o.h.report("metadata", observed)
	}
}
