package kafka

// OffsetFetch (key 9), versions 0-9.
//
// Returns committed offsets, leader epochs (v5+) and metadata strings. A
// partition (or group) with nothing committed gets offset -1 and no error,
// as in Kafka. Null topics (v2+) mean every committed offset of the group.
// v8+ asks for several groups at once, each answered on its own. With
// require_stable (v7+), partitions with offsets staged by an open
// transaction (TxnOffsetCommit) get UNSTABLE_OFFSET_COMMIT, which clients
// retry; without it they get the last committed offset. The
// member ID and epoch (v9) are checked for KIP-848 consumer groups, as
// Kafka does (UNKNOWN_MEMBER_ID, STALE_MEMBER_EPOCH); requests without a
// member (admin clients) and classic groups are not checked.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/groups"
	"github.com/sluicehq/sluice/internal/metadata"
)

func (s *Server) handleOffsetFetch(ctx context.Context, req *request, m *kmsg.OffsetFetchRequest) kmsg.Response {
	resp := kmsg.NewPtrOffsetFetchResponse()
	resp.Version = req.version
	if req.version < 8 {
		var want []groups.TopicPartitions
		if m.Topics != nil || req.version < 2 {
			want = []groups.TopicPartitions{}
			for _, t := range m.Topics {
				want = append(want, groups.TopicPartitions{Topic: t.Topic, Partitions: t.Partitions})
			}
		}
		offsets, err := s.groups.FetchOffsets(ctx, m.Group, want)
		resp.ErrorCode = groupErrorCode(err)
		s.metrics.errorCode(req.key, resp.ErrorCode)
		resp.Topics = offsetFetchTopics(offsets, want, err)
		if err == nil && m.RequireStable {
			s.markUnstable(ctx, req, m.Group, resp.Topics)
		}
		return resp
	}
	for _, g := range m.Groups {
		var want []groups.TopicPartitions
		if g.Topics != nil {
			want = []groups.TopicPartitions{}
			for _, t := range g.Topics {
				want = append(want, groups.TopicPartitions{Topic: t.Topic, Partitions: t.Partitions})
			}
		}
		var offsets []metadata.OffsetCommit
		var err error
		if req.version >= 9 {
			err = s.groups.CheckOffsetFetch(ctx, g.Group, g.MemberID, g.MemberEpoch)
		}
		if err == nil {
			offsets, err = s.groups.FetchOffsets(ctx, g.Group, want)
		}
		rg := kmsg.NewOffsetFetchResponseGroup()
		rg.Group = g.Group
		rg.ErrorCode = groupErrorCode(err)
		s.metrics.errorCode(req.key, rg.ErrorCode)
		topics := offsetFetchTopics(offsets, want, err)
		if err == nil && m.RequireStable {
			s.markUnstable(ctx, req, g.Group, topics)
		}
		for _, t := range topics {
			rt := kmsg.NewOffsetFetchResponseGroupTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
				rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata, rp.ErrorCode = p.Partition, p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode
				rt.Partitions = append(rt.Partitions, rp)
			}
			rg.Topics = append(rg.Topics, rt)
		}
		resp.Groups = append(resp.Groups, rg)
	}
	return resp
}

// offsetFetchTopics renders offsets grouped by topic in first-seen order.
// When the group failed, requested partitions carry the error too (clients
// of v0-v1 read only partition errors).
func offsetFetchTopics(offsets []metadata.OffsetCommit, want []groups.TopicPartitions, err error) []kmsg.OffsetFetchResponseTopic {
	var out []kmsg.OffsetFetchResponseTopic
	index := map[string]int{}
	add := func(topic string, p kmsg.OffsetFetchResponseTopicPartition) {
		i, ok := index[topic]
		if !ok {
			i = len(out)
			index[topic] = i
			rt := kmsg.NewOffsetFetchResponseTopic()
			rt.Topic = topic
			out = append(out, rt)
		}
		out[i].Partitions = append(out[i].Partitions, p)
	}
	if err != nil {
		for _, w := range want {
			for _, p := range w.Partitions {
				rp := kmsg.NewOffsetFetchResponseTopicPartition()
				rp.Partition, rp.Offset, rp.LeaderEpoch, rp.ErrorCode = p, -1, -1, groupErrorCode(err)
				add(w.Topic, rp)
			}
		}
		return out
	}
	for _, o := range offsets {
		rp := kmsg.NewOffsetFetchResponseTopicPartition()
		rp.Partition, rp.Offset, rp.LeaderEpoch = o.Partition, o.Offset, o.LeaderEpoch
		md := o.Metadata
		rp.Metadata = &md
		add(o.Topic, rp)
	}
	return out
}

// markUnstable sets UNSTABLE_OFFSET_COMMIT on the partitions of group that
// have offsets staged by a transaction not yet completed.
func (s *Server) markUnstable(ctx context.Context, req *request, group string, topics []kmsg.OffsetFetchResponseTopic) {
	if s.txnLog == nil {
		return
	}
	pending, err := s.txnLog.PendingTxnOffsets(ctx, group)
	if err != nil {
		s.logger.Warn("pending transactional offsets", "group", group, "err", err)
		return
	}
	type tp struct {
		t string
		p int32
	}
	staged := map[tp]bool{}
	for _, o := range pending {
		staged[tp{o.Topic, o.Partition}] = true
	}
	for i := range topics {
		for j := range topics[i].Partitions {
			p := &topics[i].Partitions[j]
			if staged[tp{topics[i].Topic, p.Partition}] {
				p.ErrorCode, p.Offset = kerr.UnstableOffsetCommit.Code, -1
				s.metrics.errorCode(req.key, p.ErrorCode)
			}
		}
	}
}
