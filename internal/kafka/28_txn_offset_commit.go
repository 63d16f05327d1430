package kafka

// TxnOffsetCommit (key 28), versions 0-4.
//
// Sent to the group's coordinator (NOT_COORDINATOR elsewhere). The offsets
// are staged in the metadata store under the transactional ID, checked in
// the same store transaction: the producer must own the transactional ID
// (UNKNOWN_PRODUCER_ID otherwise), with its current epoch
// (INVALID_PRODUCER_EPOCH), and the transaction must be ongoing with the
// group added by AddOffsetsToTxn (INVALID_TXN_STATE). Staged offsets are
// invisible to OffsetFetch until the transaction commits, and dropped if it
// aborts; OffsetFetch with require_stable answers UNSTABLE_OFFSET_COMMIT
// for partitions with staged offsets. Unknown partitions get
// UNKNOWN_TOPIC_OR_PARTITION. From v3 the member ID, group instance ID and
// generation are checked against a classic group as Kafka does (KIP-447:
// UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID, ILLEGAL_GENERATION), so a
// producer whose consumer lost its partitions cannot commit their offsets;
// requests naming no member, and KIP-848 consumer groups, are not checked.
// A group the store has never seen is created empty once the offsets are
// staged, as Kafka does, so they are the group's when the transaction
// commits.

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/metadata"
)

func (s *Server) handleTxnOffsetCommit(ctx context.Context, req *request, m *kmsg.TxnOffsetCommitRequest) kmsg.Response {
	resp := kmsg.NewPtrTxnOffsetCommitResponse()
	resp.Version = req.version
	var (
		offsets []metadata.OffsetCommit
		bad     = map[[2]int]int16{}
		code    int16
	)
	switch {
	case m.Group == "":
		code = kerr.InvalidGroupID.Code
	case s.groups.Owner(m.Group).NodeID != s.members.Self().NodeID:
		code = kerr.NotCoordinator.Code
	default:
		for ti, rt := range m.Topics {
			t, err := s.topics.Topic(ctx, rt.Topic)
			for pi, p := range rt.Partitions {
				if err != nil || p.Partition < 0 || p.Partition >= t.Partitions {
					bad[[2]int{ti, pi}] = kerr.UnknownTopicOrPartition.Code
					continue
				}
				o := metadata.OffsetCommit{Topic: rt.Topic, Partition: p.Partition, Offset: p.Offset, LeaderEpoch: -1}
				if req.version >= 2 {
					o.LeaderEpoch = p.LeaderEpoch
				}
				if p.Metadata != nil {
					o.Metadata = *p.Metadata
				}
				offsets = append(offsets, o)
			}
		}
		if req.version >= 3 {
			if err := s.groups.CheckTxnCommit(ctx, m.Group, m.MemberID, m.InstanceID, m.Generation); err != nil {
				code = groupErrorCode(err)
				offsets = nil
			}
		}
		if len(offsets) > 0 {
			err := s.txnLog.StageTxnOffsets(ctx, m.TransactionalID, m.ProducerID, m.ProducerEpoch, m.Group, offsets)
			switch {
			case err == nil:
				// Like Kafka, a group first named here is created
				// (empty), after the offsets are staged so a refused
				// request leaves nothing behind; otherwise OffsetFetch
				// would not find the group and its committed offsets.
				if gerr := s.groups.EnsureGroup(ctx, m.Group); gerr != nil {
					code = groupErrorCode(gerr)
				}
			case errors.Is(err, metadata.ErrInvalidTxnState), errors.Is(err, metadata.ErrInvalidProducerEpoch),
				errors.Is(err, metadata.ErrUnknownProducerID):
				code = errorCode(err)
			default:
				s.logger.Warn("stage transactional offsets", "group", m.Group, "err", err)
				code = kerr.CoordinatorNotAvailable.Code
			}
		}
	}
	for ti, rt := range m.Topics {
		ot := kmsg.NewTxnOffsetCommitResponseTopic()
		ot.Topic = rt.Topic
		for pi, p := range rt.Partitions {
			op := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			op.Partition = p.Partition
			op.ErrorCode = code
			if c, ok := bad[[2]int{ti, pi}]; ok {
				op.ErrorCode = c
			}
			s.metrics.errorCode(req.key, op.ErrorCode)
			ot.Partitions = append(ot.Partitions, op)
		}
		resp.Topics = append(resp.Topics, ot)
	}
	return resp
}
