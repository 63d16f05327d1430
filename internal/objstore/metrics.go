package objstore

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are a bucket's request counters and latencies, by operation
// (put, get, delete, list) and, for the counter, result (ok, not_found,
// error).
type Metrics struct {
	requests *prometheus.CounterVec
	seconds  *prometheus.HistogramVec
}

// NewMetrics creates the collectors and registers them with reg (nil: not
// registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_bucket_requests_total",
			Help: "Object storage requests, by operation (put, get, delete, list) and result (ok, not_found, error)."}, []string{"op", "result"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "sluice_bucket_request_seconds",
			Help: "Object storage request latency by operation (put, get, delete, list; a list is the whole listing).", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 18)}, []string{"op"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.seconds)
	}
	return m
}

// Instrumented counts and times every call to the wrapped Bucket.
type Instrumented struct {
	Bucket
	M *Metrics
}

func (b Instrumented) observe(op string, start time.Time, err error) {
	b.M.seconds.WithLabelValues(op).Observe(time.Since(start).Seconds())
	result := "ok"
	switch {
	case errors.Is(err, ErrNotFound):
		result = "not_found"
	case err != nil:
		result = "error"
	}
	b.M.requests.WithLabelValues(op, result).Inc()
}

func (b Instrumented) Put(ctx context.Context, key string, data []byte) error {
	start := time.Now()
	err := b.Bucket.Put(ctx, key, data)
	b.observe("put", start, err)
	return err
}

// PutSplit is counted as a put.
func (b Instrumented) PutSplit(ctx context.Context, key string, pieces [][]byte) error {
	start := time.Now()
	err := PutSplit(ctx, b.Bucket, key, pieces)
	b.observe("put", start, err)
	return err
}

func (b Instrumented) CanPutSplit() bool { return CanPutSplit(b.Bucket) }

func (b Instrumented) GetRange(ctx context.Context, key string, offset, length int64) ([]byte, error) {
	start := time.Now()
	data, err := b.Bucket.GetRange(ctx, key, offset, length)
	b.observe("get", start, err)
	return data, err
}

// GetRangeSplit reads through the wrapped bucket's GetRangeSplit when it
// has one (Timeout always does), and is counted as a get.
func (b Instrumented) GetRangeSplit(ctx context.Context, key string, offset int64, bufs [][]byte) error {
	start := time.Now()
	var err error
	if sg, ok := b.Bucket.(SplitGetter); ok {
		err = sg.GetRangeSplit(ctx, key, offset, bufs)
	} else {
		err = Timeout{Bucket: b.Bucket}.GetRangeSplit(ctx, key, offset, bufs)
	}
	b.observe("get", start, err)
	return err
}

func (b Instrumented) maps() bool { return Maps(b.Bucket) }

// MapRange maps through the wrapped bucket's MapRange when it has one,
// counted as a get.
func (b Instrumented) MapRange(ctx context.Context, key string, offset, length int64) ([]byte, any, error) {
	m, ok := b.Bucket.(Mapper)
	if !ok {
		return nil, nil, ErrNotMappable
	}
	start := time.Now()
	data, keep, err := m.MapRange(ctx, key, offset, length)
	if !errors.Is(err, ErrNotMappable) {
		b.observe("get", start, err)
	}
	return data, keep, err
}

func (b Instrumented) Delete(ctx context.Context, key string) error {
	start := time.Now()
	err := b.Bucket.Delete(ctx, key)
	b.observe("delete", start, err)
	return err
}

func (b Instrumented) List(ctx context.Context, prefix string, fn func(Object) error) error {
	start := time.Now()
	err := b.Bucket.List(ctx, prefix, fn)
	b.observe("list", start, err)
	return err
}
