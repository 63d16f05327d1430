package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"
	_ "gocloud.dev/blob/memblob" // mem:// for tests
	"gocloud.dev/gcerrors"
)

// blobBucket adapts a gocloud.dev/blob bucket.
type blobBucket struct {
	b *blob.Bucket
}

// dirBucket is a local directory as a bucket (file://, `sluice dev`). It
// reads, lists and deletes through fileblob but writes files itself:
// fileblob renames a temp file into place but never syncs it, and its
// writer hashes (WriteAll) and reopens nothing we need.
type dirBucket struct {
	*blobBucket
	// dir is the bucket's root directory.
	dir string
	// mu guards synced: the directories under dir whose own entry in
	// their parent has been fsynced, up to dir. A new directory (a new
	// hour of files/…, a journal entry's) is made durable by the first
	// Put into it; the set is forgotten when it grows past
	// maxSyncedDirs, which only costs those fsyncs again.
	mu     sync.Mutex
	synced map[string]bool
	// dirMu orders the removal of empty directories (Delete) against
	// writers: a Put holds it for reading while it creates the object's
	// directories and its temporary file, a Delete for writing while it
	// removes the directories it left empty. A directory is thus never
	// removed between its creation and the write that needed it, and one
	// that holds a file being written is never empty. Lock order: dirMu,
	// then mu.
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
	return &dirBucket{blobBucket: &blobBucket{b: b}, dir: dir}, nil
}

func (b *blobBucket) Put(ctx context.Context, key string, data []byte) error {
	if err := b.b.WriteAll(ctx, key, data, nil); err != nil {
		return fmt.Errorf("objstore: put %s: %w", key, err)
	}
	return nil
}

func (b *dirBucket) Put(ctx context.Context, key string, data []byte) error {
	return b.PutSplit(ctx, key, [][]byte{data})
}

// CanPutSplit is true: PutSplit writes the pieces with gathering writes.
func (b *dirBucket) CanPutSplit() bool { return true }

// PutSplit writes the file as fileblob would (a temp file beside it,
// renamed into place, so that a reader never sees a partial file under
// the key) but with one gathering write of the pieces (no MD5, no joined
// copy: segment files carry their own CRC-32C). After the rename it
// fsyncs the file, through the descriptor that wrote it, and its
// directory (which makes the rename durable) at once, and, the first
// time, the new directories above it. It returns once all are durable.
//
// The two fsyncs run together, after the rename, because on ext4 (and
// other journalling file systems) both wait for the same journal commit:
// in sequence, file before rename, a Put waited for two. The price is
// that a Put that has not returned may, after a power loss, leave a torn
// object under its key (the rename durable, the data not). Nothing
// trusts such an object: a segment file is unreferenced until its Put
// returned and its commit followed (the orphan sweeper deletes it), a
// journaled one (lightning) was not acknowledged and carries a
// whole-file CRC-32C that journal recovery checks, skipping a torn file
// (see produce.Recoverer), and journal markers and entries are empty.
func (b *dirBucket) PutSplit(ctx context.Context, key string, pieces [][]byte) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("objstore: put %s: %w", key, err)
	}
	path, err := b.path(key)
	if err != nil {
		return fmt.Errorf("objstore: put %s: %w", key, err)
	}
	f, err := b.writeFile(ctx, path, pieces)
	if err != nil {
		return fmt.Errorf("objstore: put %s: %w", key, err)
	}
	dirErr := make(chan error, 1)
	go func() { dirErr <- b.syncDirs(path) }()
	err = fsync(f, path)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if derr := <-dirErr; err == nil {
		err = derr
	}
	if err != nil {
		return fmt.Errorf("objstore: sync %s: %w", key, err)
	}
	return nil
}

// path maps key to its file as fileblob does. Keys fileblob would
// escape (control bytes, "//", "../", a trailing "/", "__0x", or its
// ".attrs" suffix) are refused: Sluice's keys never need it, and a file
// written under another name than fileblob reads would be lost.
func (b *dirBucket) path(key string) (string, error) {
	bad := key == "" || key[0] == '/' || strings.HasSuffix(key, "/") ||
		strings.Contains(key, "//") || key == ".." || strings.HasPrefix(key, "../") || strings.Contains(key, "/../") ||
		strings.Contains(key, "__0x") || strings.HasSuffix(key, ".attrs") || strings.HasSuffix(key, ".tmp")
	for i := 0; i < len(key) && !bad; i++ {
		bad = key[i] < 32 || key[i] == '\\'
	}
	if bad {
		return "", fmt.Errorf("key %q is not stored in a local bucket", key)
	}
	return filepath.Join(b.dir, filepath.FromSlash(key)), nil
}

// writeFile writes pieces to a new temp file beside path and renames it
// to path; it returns the file, still open and not yet synced (the
// caller fsyncs and closes it). The temp file is removed on failure.
func (b *dirBucket) writeFile(ctx context.Context, path string, pieces [][]byte) (_ *os.File, err error) {
	tmp := path + "." + strconv.FormatInt(time.Now().UnixNano(), 16) + ".tmp"
	b.dirMu.RLock()
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
	if errors.Is(err, fs.ErrNotExist) {
		// A new directory: the common case (an existing one) costs no
		// stat calls.
		if err = os.MkdirAll(filepath.Dir(path), 0o777); err == nil {
			f, err = os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
		}
	}
	// From here the temp file keeps its directory from being empty.
	b.dirMu.RUnlock()
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if err = writev(f, pieces); err != nil {
		return nil, err
	}
	// Cancelled while writing: leave nothing behind (fileblob's rule).
	if err = ctx.Err(); err != nil {
		return nil, err
	}
	if err = os.Rename(tmp, path); err != nil {
		return nil, err
	}
	return f, nil
}

// syncDirs fsyncs path's directory (which makes the rename into place
// durable) and, the first time a directory is seen, each parent up to the
// bucket root, so that a crash cannot lose a directory created for the
// file (MkdirAll does not sync the parent's entry).
func (b *dirBucket) syncDirs(path string) error {
	dir := filepath.Dir(path)
	if err := fsyncPath(dir); err != nil {
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
		if err := fsyncPath(parent); err != nil {
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

// fsync syncs f, the file or directory at path (a variable for tests).
var fsync = func(f *os.File, path string) error { return f.Sync() }

// fsyncPath opens the directory at path and fsyncs it.
func fsyncPath(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	err = fsync(f, path)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
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
	return nil
}

// Delete deletes key and then the directories it leaves empty.
func (b *dirBucket) Delete(ctx context.Context, key string) error {
	if err := b.blobBucket.Delete(ctx, key); err != nil {
		return err
	}
	if path, err := b.path(key); err == nil {
		b.removeEmptyDirs(filepath.Dir(path))
	}
	return nil
}

// removeEmptyDirs removes dir and its parents below the bucket root while
// they are empty: fileblob leaves a key's directories behind when its last
// object goes (a journal generation, an hour of files/… after
// compaction). A failure (not empty, already gone) ends the walk; the
// removal is not fsynced, as an empty directory that reappears after a
// crash is harmless. A removed directory is forgotten by syncDirs, so a
// Put that creates it again makes it durable again.
func (b *dirBucket) removeEmptyDirs(dir string) {
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

// listRestarts bounds how often List starts a listing over after an
// object vanished under it.
const listRestarts = 5

// List implements Bucket. A local directory's listing fails when a file
// it found is gone before it is examined (a write's temp file renamed
// into place, an object deleted); List then starts over after the last
// key it delivered, as listings are in key order.
func (b *blobBucket) List(ctx context.Context, prefix string, fn func(Object) error) error {
	var (
		last      string
		delivered bool
	)
	for restart := 0; ; restart++ {
		var fnErr error
		it := b.b.List(&blob.ListOptions{Prefix: prefix})
		err := func() error {
			for {
				o, err := it.Next(ctx)
				if err == io.EOF {
					return nil
				}
				if err != nil {
					return err
				}
				if delivered && o.Key <= last {
					continue
				}
				if fnErr = fn(Object{Key: o.Key, Size: o.Size, ModTime: o.ModTime}); fnErr != nil {
					return fnErr
				}
				last, delivered = o.Key, true
			}
		}()
		switch {
		case err == nil:
			return nil
		case fnErr != nil:
			return fnErr
		case gcerrors.Code(err) == gcerrors.NotFound && restart < listRestarts && ctx.Err() == nil:
			continue
		default:
			return fmt.Errorf("objstore: list %q: %w", prefix, err)
		}
	}
}

func (b *blobBucket) Close() error { return b.b.Close() }
