package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"sync"

	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"
	_ "gocloud.dev/blob/memblob" // mem:// for tests
	"gocloud.dev/gcerrors"
)

// blobBucket adapts a gocloud.dev/blob bucket.
type blobBucket struct {
	b *blob.Bucket
	// dir is the root directory of a file:// bucket, whose writes must be
	// fsynced by hand: fileblob renames a temp file into place but never
	// syncs it. Empty for other schemes, whose Put is durable on return.
	dir string
	// mu guards synced: the directories under dir whose own entry in
	// their parent has been fsynced, up to dir. A new directory (a new
	// hour of files/…, a journal generation's) is made durable by the first
	// Put into it; the set is forgotten when it grows past
	// maxSyncedDirs, which only costs those fsyncs again.
	mu     sync.Mutex
	synced map[string]bool
	// dirMu orders the removal of empty directories (Delete) against
	// writers: a Put holds it for reading while fileblob creates the
	// object's directories and its temporary file, a Delete for writing
	// while it removes the directories it left empty. A directory is thus
	// never removed between its creation and the write that needed it,
	// and one that holds a file being written is never empty. Lock order:
	// dirMu, then mu.
	dirMu sync.RWMutex
}

const maxSyncedDirs = 4096

// Open opens a bucket by URL: file:///path (created if missing), mem://, or
// any scheme whose gocloud driver is linked into the binary.
func Open(ctx context.Context, rawURL string) (Bucket, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("objstore: bad bucket URL %q: %w", rawURL, err)
	}
	if u.Scheme == "file" {
		return OpenDir(u.Path)
	}
	b, err := blob.OpenBucket(ctx, rawURL)
	if err != nil {
		return nil, fmt.Errorf("objstore: open %q: %w", rawURL, err)
	}
	if u.Scheme == "s3" {
		return openS3(&blobBucket{b: b}, u)
	}
	return &blobBucket{b: b}, nil
}

// OpenDir opens a local directory as a bucket, creating it if needed. Puts
// are fsynced (file and directory) before they return.
func OpenDir(dir string) (Bucket, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("objstore: create bucket dir: %w", err)
	}
	b, err := fileblob.OpenBucket(dir, &fileblob.Options{NoTempDir: true, Metadata: fileblob.MetadataDontWrite})
	if err != nil {
		return nil, fmt.Errorf("objstore: open dir %q: %w", dir, err)
	}
	return &blobBucket{b: b, dir: dir}, nil
}

func (b *blobBucket) Put(ctx context.Context, key string, data []byte) error {
	var err error
	if b.dir != "" {
		err = b.writeLocal(ctx, key, data)
	} else {
		err = b.b.WriteAll(ctx, key, data, nil)
	}
	if err != nil {
		return fmt.Errorf("objstore: put %s: %w", key, err)
	}
	if b.dir != "" {
		if err := b.syncPath(filepath.Join(b.dir, filepath.FromSlash(key))); err != nil {
			return fmt.Errorf("objstore: sync %s: %w", key, err)
		}
	}
	return nil
}

// writeLocal writes a file of a local-directory bucket without the MD5 that
// WriteAll computes (twice) over every object: a local file has no transport
// for a Content-MD5 to protect, segment files carry their own CRC-32C, and
// the hashing was the largest CPU cost of producing to `sluice dev`.
func (b *blobBucket) writeLocal(ctx context.Context, key string, data []byte) error {
	// With a content type, NewWriter creates the directories and the
	// temporary file before it returns.
	b.dirMu.RLock()
	w, err := b.b.NewWriter(ctx, key, &blob.WriterOptions{ContentType: "application/octet-stream"})
	b.dirMu.RUnlock()
	if err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		_ = w.Close()
		return err
	}
	return w.Close()
}

// syncPath fsyncs a file and its directory (which makes the rename into
// place durable) and, the first time a directory is seen, each parent up
// to the bucket root, so that a crash cannot lose a directory created for
// the file (MkdirAll does not sync the parent's entry).
//
// The file and its directory are synced in parallel: the rename is already
// done, so neither sync depends on the other, and on a journaling file
// system both wait for the same journal commit, which a second, sequential
// fsync would follow with a cache flush of its own.
func (b *blobBucket) syncPath(path string) error {
	dir := filepath.Dir(path)
	dirErr := make(chan error, 1)
	go func() { dirErr <- fsync(dir) }()
	err := fsync(path)
	if derr := <-dirErr; err == nil {
		err = derr
	}
	if err != nil {
		return err
	}
	for dir != b.dir && len(dir) > len(b.dir) {
		b.mu.Lock()
		done := b.synced[dir]
		b.mu.Unlock()
		if done {
			return nil
		}
		parent := filepath.Dir(dir)
		if err := fsync(parent); err != nil {
			return err
		}
		b.mu.Lock()
		if b.synced == nil || len(b.synced) >= maxSyncedDirs {
			b.synced = make(map[string]bool)
		}
		b.synced[dir] = true
		b.mu.Unlock()
		dir = parent
	}
	return nil
}

// fsync syncs the file or directory at path (a variable for tests).
var fsync = func(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	err = f.Sync()
	f.Close()
	return err
}

func (b *blobBucket) GetRange(ctx context.Context, key string, offset, length int64) ([]byte, error) {
	r, err := b.b.NewRangeReader(ctx, key, offset, length, nil)
	if err != nil {
		if gcerrors.Code(err) == gcerrors.NotFound {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, key)
		}
		return nil, fmt.Errorf("objstore: get %s: %w", key, err)
	}
	defer r.Close()
	size := length
	if size < 0 {
		size = r.Size() - offset
	}
	buf := make([]byte, max(size, 0))
	n, err := io.ReadFull(r, buf)
	if err != nil && !(errors.Is(err, io.ErrUnexpectedEOF) && length < 0) {
		return nil, fmt.Errorf("objstore: read %s [%d,+%d): %w", key, offset, length, err)
	}
	return buf[:n], nil
}

func (b *blobBucket) GetRangeSplit(ctx context.Context, key string, offset int64, bufs [][]byte) error {
	var length int64
	for _, buf := range bufs {
		length += int64(len(buf))
	}
	r, err := b.b.NewRangeReader(ctx, key, offset, length, nil)
	if err != nil {
		if gcerrors.Code(err) == gcerrors.NotFound {
			return fmt.Errorf("%w: %s", ErrNotFound, key)
		}
		return fmt.Errorf("objstore: get %s: %w", key, err)
	}
	defer r.Close()
	for _, buf := range bufs {
		if _, err := io.ReadFull(r, buf); err != nil {
			return fmt.Errorf("objstore: read %s [%d,+%d): %w", key, offset, length, err)
		}
	}
	return nil
}

func (b *blobBucket) Delete(ctx context.Context, key string) error {
	err := b.b.Delete(ctx, key)
	if err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		return fmt.Errorf("objstore: delete %s: %w", key, err)
	}
	if b.dir != "" {
		b.removeEmptyDirs(filepath.Dir(filepath.Join(b.dir, filepath.FromSlash(key))))
	}
	return nil
}

// removeEmptyDirs removes dir and its parents below the bucket root while
// they are empty: fileblob leaves a key's directories behind when its last
// object goes (a journal generation, an hour of files/… after
// compaction). A failure (not empty, already gone) ends the walk; the
// removal is not fsynced, as an empty directory that reappears after a
// crash is harmless. A removed directory is forgotten by syncPath, so a
// Put that creates it again makes it durable again.
func (b *blobBucket) removeEmptyDirs(dir string) {
	b.dirMu.Lock()
	defer b.dirMu.Unlock()
	for dir != b.dir && len(dir) > len(b.dir) {
		if err := os.Remove(dir); err != nil {
			return
		}
		b.mu.Lock()
		delete(b.synced, dir)
		b.mu.Unlock()
		dir = filepath.Dir(dir)
	}
}

func (b *blobBucket) List(ctx context.Context, prefix string, fn func(Object) error) error {
	it := b.b.List(&blob.ListOptions{Prefix: prefix})
	for {
		o, err := it.Next(ctx)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("objstore: list %q: %w", prefix, err)
		}
		if err := fn(Object{Key: o.Key, Size: o.Size, ModTime: o.ModTime}); err != nil {
			return err
		}
	}
}

func (b *blobBucket) Close() error { return b.b.Close() }
