package objstore

import (
	"context"
	"sync"
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
	puts   int
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

// Puts reports how many Puts reached the wrapped bucket.
func (f *Faulty) Puts() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.puts
}

func (f *Faulty) Put(ctx context.Context, key string, data []byte) error {
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
	f.mu.Lock()
	err := f.getErr
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return f.Bucket.GetRange(ctx, key, offset, length)
}
