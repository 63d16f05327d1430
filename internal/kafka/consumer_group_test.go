package kafka

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestConsumerGroupWire drives the KIP-848 APIs, and the classic APIs that
// meet consumer groups, at the wire level.
func TestConsumerGroupWire(t *testing.T) {
	ts := startServer(t, Config{})
	topic := ts.createTopic("t", 3, nil)
	rc := ts.dial()
	str := func(s string) *string { return &s }

	heartbeat := func(version int16, member string, epoch int32, mod func(*kmsg.ConsumerGroupHeartbeatRequest)) *kmsg.ConsumerGroupHeartbeatResponse {
		t.Helper()
		req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		req.Version, req.Group, req.MemberID, req.MemberEpoch = version, "g", member, epoch
		req.RebalanceTimeoutMillis = -1
		if epoch == 0 {
			req.RebalanceTimeoutMillis = 30000
			req.SubscribedTopicNames = []string{"t"}
			req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		}
		if mod != nil {
			mod(req)
		}
		return rc.roundTrip(req).(*kmsg.ConsumerGroupHeartbeatResponse)
	}

	// v0: the coordinator names the member.
	r := heartbeat(0, "", 0, nil)
	if r.ErrorCode != 0 || r.MemberID == nil || *r.MemberID == "" || r.MemberEpoch != 1 || r.HeartbeatIntervalMillis != 5000 {
		t.Fatalf("v0 join: %+v", r)
	}
	if r.Assignment == nil || len(r.Assignment.Topics) != 1 || r.Assignment.Topics[0].TopicID != topic.ID || len(r.Assignment.Topics[0].Partitions) != 3 {
		t.Fatalf("v0 join assignment: %+v", r.Assignment)
	}
	member := *r.MemberID
	// Keepalives carry no assignment when nothing changed.
	if r = heartbeat(1, member, 1, nil); r.ErrorCode != 0 || r.Assignment != nil || r.MemberEpoch != 1 {
		t.Fatalf("keepalive: %+v", r)
	}
	// v1 requires client-generated member IDs; errors carry messages.
	for name, c := range map[string]struct {
		member string
		epoch  int32
		mod    func(*kmsg.ConsumerGroupHeartbeatRequest)
		want   *kerr.Error
	}{
		"no member ID":     {"", 0, nil, kerr.InvalidRequest},
		"unknown assignor": {"m2", 0, func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.ServerAssignor = str("bogus") }, kerr.UnsupportedAssignor},
		"bad regex":        {"m2", 0, func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.SubscribedTopicRegex = str("[") }, kerr.InvalidRegularExpression},
		"unknown member":   {"m9", 4, nil, kerr.UnknownMemberID},
		"epoch ahead":      {member, 7, nil, kerr.FencedMemberEpoch},
	} {
		r := heartbeat(1, c.member, c.epoch, c.mod)
		if r.ErrorCode != c.want.Code || r.ErrorMessage == nil || *r.ErrorMessage == "" || r.MemberID != nil {
			t.Errorf("%s: error %d %v member %v, want %s with a message", name, r.ErrorCode, r.ErrorMessage, r.MemberID, c.want.Message)
		}
	}

	// ConsumerGroupDescribe shows the group; other groups get errors.
	dreq := kmsg.NewPtrConsumerGroupDescribeRequest()
	dreq.Version, dreq.Groups = 1, []string{"g", "nope"}
	dresp := rc.roundTrip(dreq).(*kmsg.ConsumerGroupDescribeResponse)
	g, nope := dresp.Groups[0], dresp.Groups[1]
	if g.ErrorCode != 0 || g.State != "Stable" || g.Epoch != 1 || g.AssignmentEpoch != 1 || g.AssignorName != "uniform" || len(g.Members) != 1 {
		t.Fatalf("describe g: %+v", g)
	}
	m := g.Members[0]
	if m.MemberID != member || m.MemberEpoch != 1 || m.MemberType != 1 || len(m.Assignment.TopicPartitions) != 1 ||
		m.Assignment.TopicPartitions[0].Topic != "t" || m.Assignment.TopicPartitions[0].TopicID != topic.ID || len(m.TargetAssignment.TopicPartitions) != 1 {
		t.Fatalf("describe member: %+v", m)
	}
	if nope.ErrorCode != kerr.GroupIDNotFound.Code || nope.ErrorMessage == nil {
		t.Fatalf("describe unknown group: %+v", nope)
	}

	// OffsetCommit v9 and OffsetFetch v9 check the member epoch.
	commit := func(epoch int32) int16 {
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Version, req.Group, req.MemberID, req.Generation = 9, "g", member, epoch
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = "t"
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset = 1, 42
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return rc.roundTrip(req).(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode
	}
	if code := commit(2); code != kerr.StaleMemberEpoch.Code {
		t.Fatalf("commit with a newer epoch: error %d", code)
	}
	if code := commit(1); code != 0 {
		t.Fatalf("commit with the member epoch: error %d", code)
	}
	fetch := func(member *string, epoch int32) kmsg.OffsetFetchResponseGroup {
		req := kmsg.NewPtrOffsetFetchRequest()
		req.Version = 9
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group, rg.MemberID, rg.MemberEpoch = "g", member, epoch
		req.Groups = append(req.Groups, rg)
		return rc.roundTrip(req).(*kmsg.OffsetFetchResponse).Groups[0]
	}
	if f := fetch(&member, 0); f.ErrorCode != kerr.StaleMemberEpoch.Code {
		t.Fatalf("fetch with a stale epoch: %+v", f)
	}
	if f := fetch(str("m9"), 1); f.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("fetch by an unknown member: %+v", f)
	}
	for _, f := range []kmsg.OffsetFetchResponseGroup{fetch(&member, 1), fetch(nil, -1)} {
		if f.ErrorCode != 0 || len(f.Topics) != 1 || f.Topics[0].Partitions[0].Offset != 42 {
			t.Fatalf("fetch: %+v", f)
		}
	}

	// ListGroups v5 reports the type and filters on it.
	list := func(types ...string) []kmsg.ListGroupsResponseGroup {
		req := kmsg.NewPtrListGroupsRequest()
		req.Version, req.TypesFilter = 5, types
		return rc.roundTrip(req).(*kmsg.ListGroupsResponse).Groups
	}
	if gs := list("Consumer"); len(gs) != 1 || gs[0].Group != "g" || gs[0].GroupType != "consumer" || gs[0].ProtocolType != "consumer" || gs[0].GroupState != "Stable" {
		t.Fatalf("list consumer groups: %+v", gs)
	}
	if gs := list("classic"); len(gs) != 0 {
		t.Fatalf("list classic groups: %+v", gs)
	}
	// DescribeGroups v5 shows a consumer group as Dead, as Kafka 4 does.
	cdreq := kmsg.NewPtrDescribeGroupsRequest()
	cdreq.Version, cdreq.Groups = 5, []string{"g"}
	if cg := rc.roundTrip(cdreq).(*kmsg.DescribeGroupsResponse).Groups[0]; cg.ErrorCode != 0 || cg.State != "Dead" || cg.ProtocolType != "" || len(cg.Members) != 0 {
		t.Fatalf("DescribeGroups of a consumer group: %+v", cg)
	}
	// A classic JoinGroup to the live consumer group is refused.
	jreq := kmsg.NewPtrJoinGroupRequest()
	jreq.Version, jreq.Group, jreq.ProtocolType, jreq.SessionTimeoutMillis, jreq.RebalanceTimeoutMillis = 9, "g", "consumer", 10000, 10000
	jp := kmsg.NewJoinGroupRequestProtocol()
	jp.Name, jp.Metadata = "range", []byte{0}
	jreq.Protocols = append(jreq.Protocols, jp)
	if jr := rc.roundTrip(jreq).(*kmsg.JoinGroupResponse); jr.ErrorCode != kerr.InconsistentGroupProtocol.Code {
		t.Fatalf("JoinGroup to a consumer group: %+v", jr)
	}

	// Leaving answers with epoch -1; the group is then empty.
	if r = heartbeat(1, member, -1, nil); r.ErrorCode != 0 || r.MemberEpoch != -1 || r.MemberID == nil || *r.MemberID != member {
		t.Fatalf("leave: %+v", r)
	}
	if gs := list(); len(gs) != 1 || gs[0].GroupState != "Empty" {
		t.Fatalf("list after leave: %+v", gs)
	}
}
