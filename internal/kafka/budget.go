package kafka

import (
	"context"
	"errors"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/semaphore"
)

// errDraining ends a reader waiting for request memory when the server
// shuts down.
var errDraining = errors.New("kafka: server shutting down")

// requestBudget bounds the bytes of requests in progress across every
// connection, as Kafka's queued.max.request.bytes does: a reader takes a
// request's size before reading its body and gives it back once the
// request is answered (for slow requests, once their wait is over), so a
// burst of large requests from many connections waits in the clients'
// sockets instead of in the agent's memory.
type requestBudget struct {
	sem   *semaphore.Weighted // nil: unbounded
	max   int64
	gauge prometheus.Gauge
}

func newRequestBudget(max int64, gauge prometheus.Gauge) *requestBudget {
	b := &requestBudget{max: max, gauge: gauge}
	if max > 0 {
		b.sem = semaphore.NewWeighted(max)
	}
	return b
}

// acquire waits until n bytes fit the budget (a request larger than the
// whole budget waits for all of it), or until ctx ends or draining is
// closed. The returned release must be called exactly once.
func (b *requestBudget) acquire(ctx context.Context, n int64, draining <-chan struct{}) (release func(), err error) {
	if b.sem != nil {
		n = min(n, b.max)
		if !b.sem.TryAcquire(n) {
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			go func() {
				select {
				case <-draining:
					cancel()
				case <-ctx.Done():
				}
			}()
			if err := b.sem.Acquire(ctx, n); err != nil {
				select {
				case <-draining:
					return nil, errDraining
				default:
					return nil, err
				}
			}
		}
	}
	b.gauge.Add(float64(n))
	return func() {
		b.gauge.Sub(float64(n))
		if b.sem != nil {
			b.sem.Release(n)
		}
	}, nil
}
