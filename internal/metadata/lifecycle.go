package metadata

import (
	"context"
	"errors"
	"time"
)

// Lifecycle errors.
var (
	// ErrLeaseHeld is returned by AcquireLease while another holder's lease
	// has not expired.
	ErrLeaseHeld = errors.New("metadata: lease held by another agent")
	// ErrOffsetOutOfRange is returned by AdvanceLogStart for an offset
	// above the high watermark.
	ErrOffsetOutOfRange = errors.New("metadata: offset out of range")
	// ErrExtentsChanged is returned by ReplaceExtents when an extent it
	// would replace is no longer in the index as given (retention,
	// DeleteRecords, a topic deletion or another compaction got there
	// first); nothing was changed.
	ErrExtentsChanged = errors.New("metadata: extents changed underneath the swap")
)

// Lease names a background job's exclusive right to run, held by one agent
// until it expires. Epoch grows every time the lease changes hands, so writes
// fenced by a Lease fail (ErrFenced) once another agent has taken it over.
type Lease struct {
	Name      string
	Holder    string
	Epoch     int64
	ExpiresAt time.Time
}

// FileInfo is a committed file's record.
type FileInfo struct {
	Key         string
	Size        int64
	CommittedAt time.Time
	// ReleasedAt is when the file was first seen with no extents
	// referencing it (zero while it is referenced).
	ReleasedAt time.Time
}

// ExtentRef names one extent of a partition exactly, for a compare-and-swap.
type ExtentRef struct {
	BaseOffset int64
	EndOffset  int64
	FileKey    string
}

// NewExtent is an extent of a file being swapped in by ReplaceExtents.
type NewExtent struct {
	BaseOffset   int64
	EndOffset    int64
	ByteOffset   int64
	ByteLength   int64
	Batches      int32
	MaxTimestamp int64
	CommittedAt  time.Time
}

// PartitionSwap replaces some extents of one partition with extents of the
// new file. The new extents must cover exactly the offsets the old ones
// covered (gaps between them are allowed where the old extents had no
// records left, after key compaction), in offset order.
type PartitionSwap struct {
	TopicID   TopicID
	Partition int32
	Old       []ExtentRef
	New       []NewExtent
}

// Replacement is a rewritten file (compaction output) and the extents it
// replaces.
type Replacement struct {
	Key        string
	Size       int64
	Partitions []PartitionSwap
}

// PartitionExtentCount is how many index entries a partition has.
type PartitionExtentCount struct {
	TopicID   TopicID
	Partition int32
	Extents   int
}

// Lifecycle is what the background jobs (internal/jobs) and DeleteRecords
// need: leases, moving log starts, swapping extents, and the file records
// that decide when a bucket object may be deleted.
type Lifecycle interface {
	// AcquireLease takes or renews the named lease for holder until ttl
	// from now (store clock). It fails with ErrLeaseHeld while another
	// holder's lease is unexpired. The returned epoch is unchanged on
	// renewal and grows when the holder changes.
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (Lease, error)
	// ReleaseLease ends l if it is still held as given (no error if not).
	ReleaseLease(ctx context.Context, l Lease) error

	// AdvanceLogStart moves a partition's log start offset forward to
	// offset and removes the extents that lie wholly below it; a lower
	// offset than the current start changes nothing. It returns the new
	// state. offset above the high watermark fails with
	// ErrOffsetOutOfRange; unknown partitions with ErrUnknownPartition.
	AdvanceLogStart(ctx context.Context, topic TopicID, partition int32, offset int64) (PartitionState, error)

	// ExtentCounts returns the partitions with at least min extents
	// smaller than smallerThan bytes (the ones compaction may merge), most
	// first, at most limit of them.
	ExtentCounts(ctx context.Context, smallerThan int64, min, limit int) ([]PartitionExtentCount, error)
	// ReplaceExtents atomically records r's file and swaps each partition's
	// old extents for the new ones, if lease is still current (ErrFenced
	// otherwise) and every old extent is still in the index exactly as
	// given (ErrExtentsChanged otherwise). On error nothing changed.
	ReplaceExtents(ctx context.Context, lease Lease, r Replacement) error

	// MarkReleasedFiles stamps, with the store's clock, the files no extent
	// references and not stamped yet, and returns how many it stamped.
	MarkReleasedFiles(ctx context.Context) (int, error)
	// ReleasedFiles returns up to limit files stamped at least grace ago,
	// oldest first.
	ReleasedFiles(ctx context.Context, grace time.Duration, limit int) ([]FileInfo, error)
	// ForgetFiles deletes the records of the given released files, if
	// lease is still current (ErrFenced otherwise). Files that are
	// referenced again or unknown are skipped.
	ForgetFiles(ctx context.Context, lease Lease, keys []string) error
	// KnownFiles reports which of keys have a file record.
	KnownFiles(ctx context.Context, keys []string) (map[string]bool, error)
	// ListFiles returns up to limit file records with keys after after, in
	// key order.
	ListFiles(ctx context.Context, after string, limit int) ([]FileInfo, error)
}
