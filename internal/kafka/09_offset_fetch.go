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
// member (admin clients) and classic groups are not checked. The rules
// live in groups.Coordinator.OffsetFetch; this file only translates.
//
// Authorization: DESCRIBE on the group (GROUP_AUTHORIZATION_FAILED) and on
// each topic: requested topics get TOPIC_AUTHORIZATION_FAILED, a fetch of
// all offsets leaves them out.

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
		offsets, err := s.offsetFetch(ctx, req, groups.OffsetFetchRequest{Group: m.Group, Want: want, RequireStable: m.RequireStable})
		resp.ErrorCode = groupErrorCode(err)
		s.metrics.errorCode(req.key, resp.ErrorCode)
		resp.Topics = s.offsetFetchTopics(req, offsets, want, err)
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
		offsets, err := s.offsetFetch(ctx, req, groups.OffsetFetchRequest{Group: g.Group, Want: want, RequireStable: m.RequireStable,
			CheckMember: req.version >= 9, MemberID: g.MemberID, MemberEpoch: g.MemberEpoch})
		rg := kmsg.NewOffsetFetchResponseGroup()
		rg.Group = g.Group
		rg.ErrorCode = groupErrorCode(err)
		s.metrics.errorCode(req.key, rg.ErrorCode)
		for _, t := range s.offsetFetchTopics(req, offsets, want, err) {
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

// offsetFetch answers one group after authorization: DESCRIBE on the
// group (GROUP_AUTHORIZATION_FAILED) and on each topic. Requested topics
// that may not be described get TOPIC_AUTHORIZATION_FAILED; a request for
// all of the group's topics leaves them out.
func (s *Server) offsetFetch(ctx context.Context, req *request, r groups.OffsetFetchRequest) ([]groups.FetchedOffset, error) {
	if !s.authorizeGroup(req, kmsg.ACLOperationDescribe, r.Group) {
		return nil, kerr.GroupAuthorizationFailed
	}
	var denied []groups.FetchedOffset
	if r.Want != nil {
		allowed := []groups.TopicPartitions{}
		for _, w := range r.Want {
			if s.authorizeTopic(req, kmsg.ACLOperationDescribe, w.Topic) {
				allowed = append(allowed, w)
				continue
			}
			for _, p := range w.Partitions {
				denied = append(denied, groups.FetchedOffset{OffsetCommit: metadata.OffsetCommit{Topic: w.Topic, Partition: p, Offset: -1, LeaderEpoch: -1},
					Err: kerr.TopicAuthorizationFailed})
			}
		}
		r.Want = allowed
	}
	offsets, err := s.groups.OffsetFetch(ctx, r)
	if err != nil {
		return nil, err
	}
	if r.Want == nil {
		kept := offsets[:0]
		for _, o := range offsets {
			if s.authorizeTopic(req, kmsg.ACLOperationDescribe, o.Topic) {
				kept = append(kept, o)
			}
		}
		offsets = kept
	}
	return append(offsets, denied...), nil
}

// offsetFetchTopics renders offsets grouped by topic in first-seen order.
// When the group failed, requested partitions carry the error too (clients
// of v0-v1 read only partition errors); those are counted once, as the
// group's error.
func (s *Server) offsetFetchTopics(req *request, offsets []groups.FetchedOffset, want []groups.TopicPartitions, err error) []kmsg.OffsetFetchResponseTopic {
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
		rp.ErrorCode = groupErrorCode(o.Err)
		s.metrics.errorCode(req.key, rp.ErrorCode)
		add(o.Topic, rp)
	}
	return out
}
