//go:build !linux

package objstore

import "context"

func (b *dirBucket) maps() bool { return false }

// MapRange is not supported off Linux (see Mapper).
func (b *dirBucket) MapRange(ctx context.Context, key string, offset, length int64) ([]byte, any, error) {
	return nil, nil, ErrNotMappable
}
