package objstore

import (
	"context"
	"fmt"
	"time"
)

// Timeout bounds every call to a wrapped Bucket, so a store that stops
// answering (rather than refusing) turns into errors the write path can
// retry and report, instead of uploads that hang forever while producers'
// data piles up. A caller's earlier deadline still wins.
type Timeout struct {
	Bucket
	// Op bounds Put, GetRange and Delete; List gets four times as long.
	Op time.Duration
}

func (t Timeout) bound(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, d)
}

func (t Timeout) Put(ctx context.Context, key string, data []byte) error {
	ctx, cancel := t.bound(ctx, t.Op)
	defer cancel()
	return t.Bucket.Put(ctx, key, data)
}

// PutSplit is Put of the joined pieces, through the wrapped bucket's
// PutSplit when it has one.
func (t Timeout) PutSplit(ctx context.Context, key string, pieces [][]byte) error {
	ctx, cancel := t.bound(ctx, t.Op)
	defer cancel()
	return PutSplit(ctx, t.Bucket, key, pieces)
}

func (t Timeout) CanPutSplit() bool { return CanPutSplit(t.Bucket) }

func (t Timeout) GetRange(ctx context.Context, key string, offset, length int64) ([]byte, error) {
	ctx, cancel := t.bound(ctx, t.Op)
	defer cancel()
	return t.Bucket.GetRange(ctx, key, offset, length)
}

// GetRangeSplit reads through the wrapped bucket's GetRangeSplit, or
// through GetRange and a copy when it has none.
func (t Timeout) GetRangeSplit(ctx context.Context, key string, offset int64, bufs [][]byte) error {
	ctx, cancel := t.bound(ctx, t.Op)
	defer cancel()
	if sg, ok := t.Bucket.(SplitGetter); ok {
		return sg.GetRangeSplit(ctx, key, offset, bufs)
	}
	var length int64
	for _, buf := range bufs {
		length += int64(len(buf))
	}
	data, err := t.Bucket.GetRange(ctx, key, offset, length)
	if err != nil {
		return err
	}
	if int64(len(data)) != length {
		return fmt.Errorf("objstore: get %s: %d bytes of [%d,+%d)", key, len(data), offset, length)
	}
	for _, buf := range bufs {
		data = data[copy(buf, data):]
	}
	return nil
}

func (t Timeout) maps() bool { return Maps(t.Bucket) }

// MapRange maps through the wrapped bucket's MapRange when it has one.
func (t Timeout) MapRange(ctx context.Context, key string, offset, length int64) ([]byte, any, error) {
	m, ok := t.Bucket.(Mapper)
	if !ok {
		return nil, nil, ErrNotMappable
	}
	ctx, cancel := t.bound(ctx, t.Op)
	defer cancel()
	return m.MapRange(ctx, key, offset, length)
}

func (t Timeout) Delete(ctx context.Context, key string) error {
	ctx, cancel := t.bound(ctx, t.Op)
	defer cancel()
	return t.Bucket.Delete(ctx, key)
}

func (t Timeout) List(ctx context.Context, prefix string, fn func(Object) error) error {
	ctx, cancel := t.bound(ctx, 4*t.Op)
	defer cancel()
	return t.Bucket.List(ctx, prefix, fn)
}
