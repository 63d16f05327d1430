package kafka

// TxnOffsetCommit (key 28), versions 0-5.
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
//
// Version 5 (KIP-890 part 2, transaction version 2) adds the group to the
// producer's transaction itself, starting the transaction if none is
// ongoing, instead of expecting AddOffsetsToTxn
// (txn.Coordinator.AddImplicitly: INVALID_PRODUCER_ID_MAPPING,
// PRODUCER_FENCED, CONCURRENT_TRANSACTIONS while the transaction is being
// ended). Version 6 (topic IDs) is not served.
//
// The rules live in groups.Coordinator.TxnCommit; this file only
// translates.
//
// Authorization: WRITE on the transactional ID, READ on the group, READ on
// each topic (TOPIC_AUTHORIZATION_FAILED; the others are staged).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/groups"
	"github.com/sluicehq/sluice/internal/metadata"
)

func (s *Server) handleTxnOffsetCommit(ctx context.Context, req *request, m *kmsg.TxnOffsetCommitRequest) kmsg.Response {
	resp := kmsg.NewPtrTxnOffsetCommitResponse()
	resp.Version = req.version
	tr := groups.TxnOffsetCommitRequest{TransactionalID: m.TransactionalID, ProducerID: m.ProducerID, ProducerEpoch: m.ProducerEpoch,
		Group: m.Group, Generation: -1}
	if req.version >= 3 {
		tr.MemberID, tr.InstanceID, tr.Generation = m.MemberID, m.InstanceID, m.Generation
	}
	// WRITE on the transactional ID, READ on the group (either fails
	// everything) and READ on each topic (TOPIC_AUTHORIZATION_FAILED; the
	// others are staged).
	var authErr error
	switch {
	case !s.authorizeTxnID(req, kmsg.ACLOperationWrite, m.TransactionalID):
		authErr = kerr.TransactionalIDAuthorizationFailed
	case !s.authorizeGroup(req, kmsg.ACLOperationRead, m.Group):
		authErr = kerr.GroupAuthorizationFailed
	}
	topicDenied := make([]bool, len(m.Topics))
	for ti, rt := range m.Topics {
		if topicDenied[ti] = authErr == nil && !s.authorizeTopic(req, kmsg.ACLOperationRead, rt.Topic); authErr != nil || topicDenied[ti] {
			continue
		}
		for _, p := range rt.Partitions {
			o := metadata.OffsetCommit{Topic: rt.Topic, Partition: p.Partition, Offset: p.Offset, LeaderEpoch: -1}
			if req.version >= 2 {
				o.LeaderEpoch = p.LeaderEpoch
			}
			if p.Metadata != nil {
				o.Metadata = *p.Metadata
			}
			tr.Offsets = append(tr.Offsets, o)
		}
	}
	errs, groupErr := []error(nil), authErr
	if groupErr == nil && req.version >= 5 && len(tr.Offsets) > 0 {
		// Transactions version 2: no AddOffsetsToTxn came first.
		groupErr = s.txn.AddImplicitly(ctx, m.TransactionalID, m.ProducerID, m.ProducerEpoch, nil, m.Group)
	}
	if groupErr == nil {
		errs, groupErr = s.groups.TxnCommit(ctx, tr)
	}
	i := 0
	for ti, rt := range m.Topics {
		ot := kmsg.NewTxnOffsetCommitResponseTopic()
		ot.Topic = rt.Topic
		for _, p := range rt.Partitions {
			op := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			op.Partition = p.Partition
			switch {
			case groupErr != nil:
				op.ErrorCode = groupErrorCode(groupErr)
			case topicDenied[ti]:
				op.ErrorCode = kerr.TopicAuthorizationFailed.Code
			default:
				op.ErrorCode = groupErrorCode(errs[i])
				i++
			}
			s.metrics.errorCode(req.key, op.ErrorCode)
			ot.Partitions = append(ot.Partitions, op)
		}
		resp.Topics = append(resp.Topics, ot)
	}
	return resp
}
