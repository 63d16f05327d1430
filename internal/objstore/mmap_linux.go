package objstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mapping owns a mapped range; it is unmapped once unreachable.
type mapping struct{ whole []byte }

// maxMappings bounds the mappings alive at once; past it MapRange answers
// ErrNotMappable (the cache then reads). Each mapping is a memory area of
// its own, the kernel bounds them per process (vm.max_map_count, 65,530
// by default) for Go's heap too, and a mapping ends only when the garbage
// collector finds it unreachable, which a process that allocates little
// may not do for a while.
var maxMappings int64 = 8192

// liveMappings counts the mappings not yet unmapped.
var liveMappings atomic.Int64

// Drop lets the kernel take back the pages of b, a slice of the mapping,
// from this process (MADV_DONTNEED on the whole pages inside it): the
// mapping holds page-cache pages, counted in the process's resident set,
// until the garbage collector unmaps it. The bytes stay valid: a later
// read faults them back in from the file, which never changes.
func (m *mapping) Drop(b []byte) {
	if len(b) == 0 {
		return
	}
	page := uintptr(os.Getpagesize())
	base := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	start := (base+page-1)&^(page-1) - base
	end := (base+uintptr(len(b)))&^(page-1) - base
	if end > start {
		_ = unix.Madvise(b[start:end], unix.MADV_DONTNEED) // advice: an error changes nothing
	}
}

func (b *dirBucket) maps() bool { return true }

// MapRange maps a range of the object's file (see Mapper): the pages
// from the one holding offset on, populated up front (MAP_POPULATE: the
// page tables are filled in one call rather than by a fault per 4 KiB
// page). Files are never modified after they are written, nor truncated
// (a deleted file stays readable while it is mapped), so the mapping
// cannot fault on a missing page.
func (b *dirBucket) MapRange(ctx context.Context, key string, offset, length int64) ([]byte, any, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	if liveMappings.Load() >= maxMappings {
		return nil, nil, ErrNotMappable
	}
	if offset < 0 || length <= 0 {
		return nil, nil, fmt.Errorf("objstore: map %s [%d,+%d): bad range", key, offset, length)
	}
	path, err := b.path(key)
	if err != nil {
		return nil, nil, fmt.Errorf("objstore: map %s: %w", key, err)
	}
	// The file is opened with plain system calls: os.Open would also try
	// to register it with the poller and Fd would switch it to blocking
	// mode, three wasted calls a mapping.
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		return nil, nil, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("objstore: map %s: %w", key, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, nil, fmt.Errorf("objstore: map %s: %w", key, err)
	}
	if offset+length > st.Size {
		return nil, nil, fmt.Errorf("objstore: map %s [%d,+%d): the object has %d bytes", key, offset, length, st.Size)
	}
	skip := offset % int64(os.Getpagesize())
	whole, err := unix.Mmap(fd, offset-skip, int(skip+length), unix.PROT_READ, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return nil, nil, fmt.Errorf("objstore: map %s: %w", key, err)
	}
	liveMappings.Add(1)
	m := &mapping{whole: whole}
	runtime.AddCleanup(m, func(b []byte) {
		_ = unix.Munmap(b)
		liveMappings.Add(-1)
	}, whole)
	return whole[skip : skip+length : skip+length], m, nil
}
