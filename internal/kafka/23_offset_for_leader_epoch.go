package kafka

// OffsetForLeaderEpoch (key 23), versions 0-4.
//
// Every partition has had one leader epoch, records.LeaderEpoch (0), for
// its whole life, starting at offset 0. Following Kafka's leader epoch
// cache (KIP-101, KIP-279, KIP-320): a request for epoch 0 gets epoch 0
// and the log end offset (the high watermark: every committed offset is
// readable); a request for a later epoch, or for the undefined epoch -1,
// gets undefined values (epoch -1, end offset -1) without an error; an
// earlier (negative) epoch gets that epoch with offset 0, the start of
// the first known epoch. The v2+ current leader epoch is checked as Kafka
// does: -1 skips the check, a higher epoch than 0 is UNKNOWN_LEADER_EPOCH,
// a lower one FENCED_LEADER_EPOCH. The replica ID (v3+) is not used.
// Unknown topics and partitions get UNKNOWN_TOPIC_OR_PARTITION.
//
// Authorization: DESCRIBE on the topic (TOPIC_AUTHORIZATION_FAILED).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/records"
)

func (s *Server) handleOffsetForLeaderEpoch(ctx context.Context, req *request, m *kmsg.OffsetForLeaderEpochRequest) kmsg.Response {
	resp := kmsg.NewPtrOffsetForLeaderEpochResponse()
	resp.Version = req.version
	for _, rt := range m.Topics {
		ts := kmsg.NewOffsetForLeaderEpochResponseTopic()
		ts.Topic = rt.Topic
		denied := !s.authorizeTopic(req, kmsg.ACLOperationDescribe, rt.Topic)
		var (
			t    metadata.Topic
			terr error
		)
		if !denied {
			t, terr = s.topics.Topic(ctx, rt.Topic)
		}
		for _, rp := range rt.Partitions {
			ps := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			ps.Partition = rp.Partition
			if denied {
				ps.ErrorCode = kerr.TopicAuthorizationFailed.Code
			} else {
				ps.ErrorCode = s.offsetForLeaderEpoch(ctx, req.version, t, terr, rp, &ps)
			}
			if ps.ErrorCode != 0 {
				ps.LeaderEpoch, ps.EndOffset = -1, -1
				s.metrics.errorCode(req.key, ps.ErrorCode)
			}
			ts.Partitions = append(ts.Partitions, ps)
		}
		resp.Topics = append(resp.Topics, ts)
	}
	return resp
}

func (s *Server) offsetForLeaderEpoch(ctx context.Context, version int16, t metadata.Topic, terr error, rp kmsg.OffsetForLeaderEpochRequestTopicPartition, ps *kmsg.OffsetForLeaderEpochResponseTopicPartition) int16 {
	if terr != nil {
		return errorCode(terr)
	}
	if rp.Partition < 0 || rp.Partition >= t.Partitions {
		return kerr.UnknownTopicOrPartition.Code
	}
	if version >= 2 && rp.CurrentLeaderEpoch != -1 {
		switch {
		case rp.CurrentLeaderEpoch > records.LeaderEpoch:
			return kerr.UnknownLeaderEpoch.Code
		case rp.CurrentLeaderEpoch < records.LeaderEpoch:
			return kerr.FencedLeaderEpoch.Code
		}
	}
	switch {
	case rp.LeaderEpoch == records.LeaderEpoch && s.ktopics.isVirtual(t.ID):
		ps.LeaderEpoch, ps.EndOffset = records.LeaderEpoch, 0 // an empty log
	case rp.LeaderEpoch == records.LeaderEpoch:
		st, err := s.log.PartitionState(ctx, t.ID, rp.Partition)
		if err != nil {
			return errorCode(err)
		}
		ps.LeaderEpoch, ps.EndOffset = records.LeaderEpoch, st.HighWatermark
	case rp.LeaderEpoch == -1 || rp.LeaderEpoch > records.LeaderEpoch:
		ps.LeaderEpoch, ps.EndOffset = -1, -1
	default:
		ps.LeaderEpoch, ps.EndOffset = rp.LeaderEpoch, 0
	}
	return 0
}
