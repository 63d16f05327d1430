package sequencer

import (
	"fmt"
	"math"

	"github.com/sluicehq/sluice/internal/metadata"
)

// Key identifies a producer's state on one partition.
type Key struct {
	Topic      metadata.TopicID
	Partition  int32
	ProducerID int64
}

// Batch is a committed batch remembered to recognise retries.
type Batch struct {
	First int32 `json:"first"`
	Last  int32 `json:"last"`
	Base  int64 `json:"base"`
}

// State is a producer's state on one partition.
type State struct {
	// Known is false for a producer never seen on the partition.
	Known  bool
	Epoch  int16
	Recent []Batch // oldest first, at most metadata.ProducerBatchesKept
}

func lastSeq(first int32, records int64) int32 {
	return int32((int64(first) + records - 1) % (math.MaxInt32 + 1))
}

// Check judges a batch against the state, as Kafka's producer state
// manager does: a retry of a recent batch is a duplicate (with the original
// offset), an older epoch is fenced, a new epoch or an unknown producer must
// start at sequence 0, and within an epoch sequences must follow on.
func (s *State) Check(epoch int16, first int32, records int64) metadata.BatchResult {
	last := lastSeq(first, records)
	if s.Known {
		if epoch < s.Epoch {
			return metadata.BatchResult{Err: fmt.Errorf("%w: batch epoch %d, current %d", metadata.ErrInvalidProducerEpoch, epoch, s.Epoch)}
		}
		if epoch == s.Epoch {
			for _, b := range s.Recent {
				if b.First == first && b.Last == last {
					return metadata.BatchResult{BaseOffset: b.Base, Duplicate: true}
				}
			}
			want := int32(0)
			if n := len(s.Recent); n > 0 {
				want = int32((int64(s.Recent[n-1].Last) + 1) % (math.MaxInt32 + 1))
			}
			if first != want {
				return metadata.BatchResult{Err: fmt.Errorf("%w: got %d, expected %d", metadata.ErrOutOfOrderSequence, first, want)}
			}
			return metadata.BatchResult{}
		}
		if first != 0 {
			return metadata.BatchResult{Err: fmt.Errorf("%w: new epoch %d must start at sequence 0, got %d", metadata.ErrOutOfOrderSequence, epoch, first)}
		}
		return metadata.BatchResult{}
	}
	if first != 0 {
		return metadata.BatchResult{Err: fmt.Errorf("%w: first batch has sequence %d", metadata.ErrUnknownProducerID, first)}
	}
	return metadata.BatchResult{}
}

// Record notes an accepted batch appended at base.
func (s *State) Record(epoch int16, first int32, records int64, base int64) {
	if !s.Known || epoch != s.Epoch {
		s.Known, s.Epoch, s.Recent = true, epoch, nil
	}
	s.Recent = append(s.Recent, Batch{First: first, Last: lastSeq(first, records), Base: base})
	if n := len(s.Recent); n > metadata.ProducerBatchesKept {
		s.Recent = s.Recent[n-metadata.ProducerBatchesKept:]
	}
}

// Mark judges a transaction marker written with epoch, as Kafka's producer
// state manager does for control batches: a marker of an older epoch is
// fenced, a newer epoch becomes the producer's (its sequences restart at
// 0), the current one changes nothing. It reports whether s changed.
func (s *State) Mark(epoch int16) (bool, error) {
	if s.Known && epoch < s.Epoch {
		return false, fmt.Errorf("%w: marker epoch %d, current %d", metadata.ErrInvalidProducerEpoch, epoch, s.Epoch)
	}
	if s.Known && epoch == s.Epoch {
		return false, nil
	}
	s.Known, s.Epoch, s.Recent = true, epoch, nil
	return true, nil
}

// LastSequence is the last sequence number committed in the current epoch,
// or -1.
func (s *State) LastSequence() int32 {
	if n := len(s.Recent); n > 0 {
		return s.Recent[n-1].Last
	}
	return -1
}
