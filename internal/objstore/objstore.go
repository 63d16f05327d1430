// Package objstore is Sluice's view of object storage: a small bucket
// interface with the guarantees the write and read paths rely on, an adapter
// over gocloud.dev/blob, and a fault-injecting wrapper for tests.
package objstore

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned (wrapped) when an object does not exist.
var ErrNotFound = errors.New("objstore: object not found")

// Object describes a listed object.
type Object struct {
	Key     string
	Size    int64
	ModTime time.Time
}

// Bucket is the object storage the agent writes files to. Implementations are
// safe for concurrent use and honour context cancellation on every call.
type Bucket interface {
	// Put stores data under key and returns only once the object is durable:
	// a crash after Put returns never loses it. Putting the same key again
	// replaces the object; Sluice never reuses keys with other content, so a
	// retried Put is idempotent.
	Put(ctx context.Context, key string, data []byte) error
	// GetRange returns length bytes starting at offset; a negative length
	// reads to the end of the object. A missing object is ErrNotFound.
	GetRange(ctx context.Context, key string, offset, length int64) ([]byte, error)
	// Delete removes key; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// List calls fn for every object whose key starts with prefix, in
	// lexical key order, stopping at the first error fn returns.
	List(ctx context.Context, prefix string, fn func(Object) error) error
	// Close releases the bucket's resources.
	Close() error
}

// SplitGetter is implemented by buckets that can read a range straight
// into several buffers with one request, so a caller that keeps the range
// in pieces (the block cache) copies nothing.
type SplitGetter interface {
	// GetRangeSplit fills bufs, in order, with the bytes of key from offset
	// on: as many as the buffers hold together. A missing object is
	// ErrNotFound; a shorter object is an error.
	GetRangeSplit(ctx context.Context, key string, offset int64, bufs [][]byte) error
}

// Mapper is implemented by buckets whose objects are local files (a local
// directory): a range is mapped into memory read-only instead of copied
// out of the page cache, so a reader that keeps it (the block cache)
// costs no copy, no fresh memory and no page faults of its own.
// Wrappers implement it whether or not what they wrap does; they return
// ErrNotMappable then.
type Mapper interface {
	// MapRange maps length (> 0) bytes of key from offset on. The bytes
	// stay mapped as long as keep is reachable and no longer: whoever
	// holds data, or a slice of it, must hold keep too. The mapping is
	// read-only: a write into data faults. A missing object is
	// ErrNotFound, a shorter one an error.
	MapRange(ctx context.Context, key string, offset, length int64) (data []byte, keep any, err error)
}

// Maps reports whether b maps its objects (MapRange works on this
// platform): a local-directory bucket on Linux, through the package's
// wrappers. A bucket that maps has its files in the page cache already,
// so the agent does not keep written files in its block cache too.
func Maps(b Bucket) bool {
	m, ok := b.(interface{ maps() bool })
	return ok && m.maps()
}

// ErrNotMappable is MapRange's error for a bucket that cannot map.
var ErrNotMappable = errors.New("objstore: bucket cannot map objects")

// SplitPutter is implemented by buckets that can store an object given in
// pieces without joining them first (a local directory writes them with
// one gathering write), so a caller that holds a file in pieces (the
// produce path: header, the producers' batches, index) copies each byte
// once. Wrappers implement it whether or not what they wrap does:
// CanPutSplit tells.
type SplitPutter interface {
	// PutSplit is Put of the concatenation of pieces, with Put's
	// guarantees. The pieces must not change until it returns.
	PutSplit(ctx context.Context, key string, pieces [][]byte) error
	// CanPutSplit reports whether PutSplit writes the pieces as they
	// are; when false, it joins them (a copy) and Puts the result.
	CanPutSplit() bool
}

// CanPutSplit reports whether b stores pieces without joining them.
func CanPutSplit(b Bucket) bool {
	sp, ok := b.(SplitPutter)
	return ok && sp.CanPutSplit()
}

// PutSplit stores the concatenation of pieces in b: through b's PutSplit
// when it has one, else joined and Put.
func PutSplit(ctx context.Context, b Bucket, key string, pieces [][]byte) error {
	if sp, ok := b.(SplitPutter); ok {
		return sp.PutSplit(ctx, key, pieces)
	}
	return b.Put(ctx, key, join(pieces))
}

func join(pieces [][]byte) []byte {
	if len(pieces) == 1 {
		return pieces[0]
	}
	n := 0
	for _, p := range pieces {
		n += len(p)
	}
	data := make([]byte, 0, n)
	for _, p := range pieces {
		data = append(data, p...)
	}
	return data
}
