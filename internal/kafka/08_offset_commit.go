package kafka

// OffsetCommit (key 8), versions 0-9.
//
// Commits are checked against the group's member and generation
// (UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION, REBALANCE_IN_PROGRESS while the
// leader's assignment is pending). Generation -1 with no member ID is an
// admin commit, allowed while the group has no members; it creates the
// group if needed. Offsets of unknown topics or partitions get
// UNKNOWN_TOPIC_OR_PARTITION alone; metadata longer than 4096 bytes gets
// OFFSET_METADATA_TOO_LARGE. Offsets, leader epochs (v6+) and metadata
// strings are stored in the metadata store under the coordinator's
// ownership epoch. For KIP-848 consumer groups the generation is the
// member epoch, checked as Kafka 4.3 does (KIP-1251): the current epoch
// commits anything, an older one only partitions the member still holds
// since then, a newer one nothing (STALE_MEMBER_EPOCH). Retention times
// (v2-v4) and commit timestamps (v1) are ignored: committed offsets do not
// expire.
//
// Authorization: READ on the group (GROUP_AUTHORIZATION_FAILED for every
// partition) and on each topic (TOPIC_AUTHORIZATION_FAILED).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/metadata"
)

func (s *Server) handleOffsetCommit(ctx context.Context, req *request, m *kmsg.OffsetCommitRequest) kmsg.Response {
	resp := kmsg.NewPtrOffsetCommitResponse()
	resp.Version = req.version
	// READ on the group (GROUP_AUTHORIZATION_FAILED for everything) and
	// on each topic (TOPIC_AUTHORIZATION_FAILED; the others are committed).
	groupDenied := !s.authorizeGroup(req, kmsg.ACLOperationRead, m.Group)
	topicDenied := make([]bool, len(m.Topics))
	var offsets []metadata.OffsetCommit
	for ti, t := range m.Topics {
		if topicDenied[ti] = !groupDenied && !s.authorizeTopic(req, kmsg.ACLOperationRead, t.Topic); groupDenied || topicDenied[ti] {
			continue
		}
		for _, p := range t.Partitions {
			md := ""
			if p.Metadata != nil {
				md = *p.Metadata
			}
			offsets = append(offsets, metadata.OffsetCommit{Topic: t.Topic, Partition: p.Partition, Offset: p.Offset, LeaderEpoch: p.LeaderEpoch, Metadata: md})
		}
	}
	generation := m.Generation
	if req.version == 0 {
		generation = -1
	}
	var (
		errs     []error
		groupErr error = kerr.GroupAuthorizationFailed
	)
	if !groupDenied {
		errs, groupErr = s.groups.Commit(ctx, m.Group, m.MemberID, m.InstanceID, generation, offsets)
	}
	i := 0
	for ti, t := range m.Topics {
		rt := kmsg.NewOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetCommitResponseTopicPartition()
			rp.Partition = p.Partition
			switch {
			case groupErr != nil:
				rp.ErrorCode = groupErrorCode(groupErr)
			case topicDenied[ti]:
				rp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			default:
				rp.ErrorCode = groupErrorCode(errs[i])
				i++
			}
			s.metrics.errorCode(req.key, rp.ErrorCode)
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}
