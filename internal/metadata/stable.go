package metadata

import "context"

// TopicPartition names one partition of a topic.
type TopicPartition struct {
	Topic     TopicID
	Partition int32
}

// StableQuery asks for the stable state of a partition as a read_committed
// fetch from offset From needs it.
type StableQuery struct {
	Topic     TopicID
	Partition int32
	From      int64
}

// StableResult is one partition's answer to StableStates.
type StableResult struct {
	StableState
	// Err is ErrUnknownPartition (wrapped) for a partition the store does
	// not have, else nil.
	Err error
}

// StableReader answers the questions of read_committed fetches for many
// partitions at once.
type StableReader interface {
	// StableStates returns, for each query in order, what StableState
	// returns for it: the partition's bounds, its last stable offset and
	// the aborted transactions that end at or after From and start below
	// the last stable offset, by first offset. It costs a fixed number of
	// round trips (statements) whatever the number of partitions, and each
	// partition's answer comes from one snapshot. An error fails every
	// partition; an unknown partition fails only its own result.
	StableStates(ctx context.Context, qs []StableQuery) ([]StableResult, error)
}
