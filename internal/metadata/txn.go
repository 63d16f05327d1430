package metadata

import (
	"context"
	"errors"
	"time"
)

// Transaction states, named as Kafka's transaction coordinator names them.
const (
	TxnEmpty          = "Empty"
	TxnOngoing        = "Ongoing"
	TxnPrepareCommit  = "PrepareCommit"
	TxnPrepareAbort   = "PrepareAbort"
	TxnCompleteCommit = "CompleteCommit"
	TxnCompleteAbort  = "CompleteAbort"
	TxnDead           = "Dead"
)

// Transaction errors.
var (
	// ErrInvalidTxnState is returned for a transactional write to a
	// partition that is not part of the producer's ongoing transaction, and
	// for offsets staged outside one.
	ErrInvalidTxnState = errors.New("metadata: producer has no ongoing transaction covering this write")
	// ErrTxnVersion is returned by SaveTransaction and CompleteTransaction
	// when the stored version is no longer the caller's: another agent (or
	// request) changed the transaction first.
	ErrTxnVersion = errors.New("metadata: transaction changed concurrently")
)

// TxnPartition is a partition that is part of a transaction.
type TxnPartition struct {
	Topic     string  `json:"t"`
	TopicID   TopicID `json:"id"`
	Partition int32   `json:"p"`
}

// Transaction is a transactional ID's coordinator state.
type Transaction struct {
	ID string
	// Version is bumped by every write; writes are conditional on it, so
	// two coordinators can never both move a transaction on (the fencing
	// DESIGN.md 9 asks for: the loser sees ErrTxnVersion).
	Version           int64
	ProducerID        int64
	ProducerEpoch     int16
	LastProducerID    int64
	LastProducerEpoch int16
	TimeoutMs         int32
	State             string
	// Partitions and Groups are what the ongoing (or preparing)
	// transaction covers; empty once it completes.
	Partitions []TxnPartition
	Groups     []string
	// StartedAt is when the transaction became Ongoing.
	StartedAt time.Time
	UpdatedAt time.Time
}

// HasPartition reports whether the transaction covers a partition.
func (t *Transaction) HasPartition(topic TopicID, partition int32) bool {
	for _, p := range t.Partitions {
		if p.TopicID == topic && p.Partition == partition {
			return true
		}
	}
	return false
}

// TxnMarker makes a BatchCommit a transaction marker (control batch) of a
// producer: committing it ends the producer's open transaction on the
// partition, recording it as aborted unless Commit.
type TxnMarker struct {
	ProducerID int64
	Epoch      int16
	Commit     bool
}

// AbortedTxn is an aborted transaction's range on a partition, as Fetch
// reports it to read_committed consumers.
type AbortedTxn struct {
	ProducerID  int64
	FirstOffset int64
	LastOffset  int64 // the abort marker's offset
}

// StableState is what read_committed reads of a partition need.
type StableState struct {
	PartitionState
	// LastStableOffset is the first offset of the earliest open
	// transaction, or the high watermark when none is open.
	LastStableOffset int64
	// Aborted lists aborted transactions whose range ends at or after the
	// requested offset and starts below LastStableOffset, by first offset.
	Aborted []AbortedTxn
}

// ProducerState is an idempotent or transactional producer's state on one
// partition (DescribeProducers).
type ProducerState struct {
	ProducerID    int64
	ProducerEpoch int16
	LastSequence  int32
	// TxnStartOffset is the first offset of the producer's open
	// transaction on the partition, or -1.
	TxnStartOffset int64
}

// Transactions persists transaction coordinator state, staged transactional
// offsets and the per-partition transaction index (open transactions'
// first offsets, aborted ranges) that CommitFile maintains.
type Transactions interface {
	// Transaction returns a transactional ID's state, or ErrNotFound.
	Transaction(ctx context.Context, id string) (Transaction, error)
	// SaveTransaction creates t (t.Version 0; ErrTxnVersion if the ID
	// exists) or replaces it if its stored version is still t.Version
	// (ErrTxnVersion otherwise), and returns it with its new version.
	SaveTransaction(ctx context.Context, t Transaction) (Transaction, error)
	// ListTransactions returns every transactional ID, sorted by ID.
	ListTransactions(ctx context.Context) ([]Transaction, error)
	// OpenTransactions returns the transactions that are Ongoing,
	// PrepareCommit or PrepareAbort, sorted by ID: what a coordinator's
	// sweep must look at, without reading every idle transactional ID.
	OpenTransactions(ctx context.Context) ([]Transaction, error)
	// StageTxnOffsets records offsets the transaction of producerID
	// commits for group. It fails with ErrInvalidTxnState unless the
	// transaction is Ongoing with group added, and with
	// ErrInvalidProducerEpoch for an older epoch. Staged offsets are not
	// visible to FetchOffsets until CompleteTransaction commits them.
	StageTxnOffsets(ctx context.Context, id string, producerID int64, epoch int16, group string, offsets []OffsetCommit) error
	// PendingTxnOffsets returns the partitions of group that have staged,
	// uncommitted transactional offsets.
	PendingTxnOffsets(ctx context.Context, group string) ([]OffsetCommit, error)
	// CompleteTransaction, if the stored version is still t.Version, sets
	// the state to CompleteCommit (commit) or CompleteAbort, clears the
	// partitions and groups, and applies (commit) or discards the staged
	// offsets, atomically. It returns the new state.
	CompleteTransaction(ctx context.Context, t Transaction, commit bool) (Transaction, error)
	// StableState returns a partition's bounds, last stable offset, and
	// the aborted transactions relevant to a read_committed fetch from
	// offset from.
	StableState(ctx context.Context, topic TopicID, partition int32, from int64) (StableState, error)
	// StableReader is StableState for many partitions in one call, as a
	// read_committed Fetch asks.
	StableReader
	// PartitionProducers returns the producers with state on a partition,
	// by producer ID.
	PartitionProducers(ctx context.Context, topic TopicID, partition int32) ([]ProducerState, error)
}
