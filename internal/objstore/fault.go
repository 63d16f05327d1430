package objstore

import (
	"context"
	"sync"
	"time"
)

// Faulty wraps a Bucket and fails calls on demand, for tests of the paths
// that must survive an unavailable or misbehaving object store.
type Faulty struct {
	Bucket

	mu sync.Mutex // guards the fields below
	// putErr, when non-nil, is returned by Put instead of storing anything.
	putErr error
	// getErr, when non-nil, is returned by GetRange.
	getErr error
	// deleteErr, when non-nil, is returned by Delete.
	deleteErr error
	// delay, when positive, stalls every Put and GetRange that long first
	// (a slow store); the caller's context still cuts the stall short.
	delay time.Duration
	puts  int
}

// Delay makes every later Put and GetRange wait d before proceeding (0
// heals).
func (f *Faulty) Delay(d time.Duration) {
	f.mu.Lock()
	f.delay = d
	f.mu.Unlock()
}

func (f *Faulty) stall(ctx context.Context) error {
	f.mu.Lock()
	d := f.delay
	f.mu.Unlock()
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// FailPuts makes every later Put return err (nil heals).
func (f *Faulty) FailPuts(err error) {
	f.mu.Lock()
	f.putErr = err
	f.mu.Unlock()
}

// FailGets makes every later GetRange return err (nil heals).
func (f *Faulty) FailGets(err error) {
	f.mu.Lock()
	f.getErr = err
	f.mu.Unlock()
}

// FailDeletes makes every later Delete return err (nil heals).
func (f *Faulty) FailDeletes(err error) {
	f.mu.Lock()
	f.deleteErr = err
	f.mu.Unlock()
}

// Delete fails while FailDeletes is in force.
func (f *Faulty) Delete(ctx context.Context, key string) error {
	f.mu.Lock()
	err := f.deleteErr
	f.mu.Unlock()
	if err != nil {
		return err
	}
	return f.Bucket.Delete(ctx, key)
}

// Puts reports how many Puts reached the wrapped bucket.
func (f *Faulty) Puts() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.puts
}

func (f *Faulty) Put(ctx context.Context, key string, data []byte) error {
	if err := f.stall(ctx); err != nil {
		return err
	}
	f.mu.Lock()
	err := f.putErr
	if err == nil {
		f.puts++
	}
	f.mu.Unlock()
	if err != nil {
		return err
	}
	return f.Bucket.Put(ctx, key, data)
}

func (f *Faulty) GetRange(ctx context.Context, key string, offset, length int64) ([]byte, error) {
	if err := f.stall(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	err := f.getErr
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return f.Bucket.GetRange(ctx, key, offset, length)
}
