package groups

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicehq/sluice/internal/metadata"
)

func owned(s map[tp]bool) []TopicIDPartitions {
	out := []TopicIDPartitions{}
	for _, t := range toTopicIDPartitions(s) {
		out = append(out, t)
	}
	return out
}

// checkServerInvariant verifies no partition is held (assigned or pending
// revocation) by two members, and the owner index agrees.
func checkServerInvariant(t *testing.T, g *consumerGroup) {
	t.Helper()
	g.mu.Lock()
	defer g.mu.Unlock()
	held := map[tp]string{}
	for id, m := range g.members {
		for _, set := range []map[tp]int32{m.assigned, m.revoking} {
			for x := range set {
				if o, dup := held[x]; dup {
					t.Fatalf("partition %v held by %s and %s", x, o, id)
				}
				held[x] = id
			}
		}
	}
	if len(held) != len(g.owner) {
		t.Fatalf("owner index has %d partitions, members hold %d", len(g.owner), len(held))
	}
	for x, id := range held {
		if g.owner[x] != id {
			t.Fatalf("owner index says %v is %s's, members say %s", x, g.owner[x], id)
		}
	}
}

// simClient models a consumer: it takes new partitions as soon as a
// response assigns them, and keeps consuming revoked ones (revoking) until
// it has finished revoking them, as franz-go's prerevoke does; meanwhile
// its heartbeats are keepalives or still list them.
type simClient struct {
	id       string
	epoch    int32
	owned    map[tp]bool
	revoking map[tp]bool
}

func TestConsumerReconciliationNeverDoubleAssigns(t *testing.T) {
	for _, assignor := range []string{AssignorUniform, AssignorRange} {
		t.Run(assignor, func(t *testing.T) {
			h := newHarness(t, Config{})
			h.topic("s1", 7)
			h.topic("s2", 5)
			const group = "sim"
			rng := rand.New(rand.NewSource(42))
			var clients []*simClient
			next := 0
			checkClients := func(step int) {
				seen := map[tp]string{}
				for _, c := range clients {
					for _, set := range []map[tp]bool{c.owned, c.revoking} {
						for x := range set {
							if o, dup := seen[x]; dup {
								t.Fatalf("step %d: partition %v consumed by %s and %s at once", step, x, o, c.id)
							}
							seen[x] = c.id
						}
					}
				}
			}
			apply := func(c *simClient, res ConsumerHeartbeatResult) {
				c.epoch = res.MemberEpoch
				if res.HasAssignment {
					next := map[tp]bool{}
					for _, a := range res.Assignment {
						for _, p := range a.Partitions {
							next[tp{a.TopicID, p}] = true
							delete(c.revoking, tp{a.TopicID, p})
						}
					}
					for x := range c.owned {
						if !next[x] {
							c.revoking[x] = true
						}
					}
					c.owned = next
				}
			}
			heartbeat := func(c *simClient, keepalive bool) {
				if len(c.revoking) > 0 && rng.Intn(3) == 0 {
					c.revoking = map[tp]bool{} // done revoking
				}
				req := ConsumerHeartbeatRequest{Group: group, MemberID: c.id, MemberEpoch: c.epoch, RebalanceTimeoutMillis: -1}
				if !keepalive {
					all := map[tp]bool{}
					for _, set := range []map[tp]bool{c.owned, c.revoking} {
						for x := range set {
							all[x] = true
						}
					}
					req.RebalanceTimeoutMillis = 30000
					req.SubscribedTopicNames = []string{"s1", "s2"}
					req.Owned = owned(all)
				}
				apply(c, h.mustHB(req))
			}
			for step := 0; step < 400; step++ {
				switch r := rng.Intn(10); {
				case r == 0 && len(clients) < 6 || len(clients) == 0:
					c := &simClient{id: fmt.Sprintf("c%d", next), owned: map[tp]bool{}, revoking: map[tp]bool{}}
					next++
					req := joinReq(group, c.id, "s1", "s2")
					req.ServerAssignor = &assignor
					apply(c, h.mustHB(req))
					clients = append(clients, c)
				case r == 1 && len(clients) > 1:
					i := rng.Intn(len(clients))
					c := clients[i]
					c.owned, c.revoking = nil, nil // the client stops consuming, then leaves
					clients = append(clients[:i], clients[i+1:]...)
					h.mustHB(ConsumerHeartbeatRequest{Group: group, MemberID: c.id, MemberEpoch: leaveEpoch, RebalanceTimeoutMillis: -1})
				default:
					heartbeat(clients[rng.Intn(len(clients))], rng.Intn(3) == 0)
				}
				checkClients(step)
				checkServerInvariant(t, h.group(group))
			}
			// Quiesce: everyone finishes revoking and heartbeats until the
			// group is stable.
			for round := 0; ; round++ {
				for _, c := range clients {
					c.revoking = map[tp]bool{}
					heartbeat(c, false)
					checkClients(-round)
				}
				g := h.group(group)
				g.mu.Lock()
				state := g.stateLocked()
				g.mu.Unlock()
				if state == Stable {
					break
				}
				if round > 20 {
					t.Fatalf("group not stable after %d rounds: %s", round, state)
				}
			}
			total := 0
			lo, hi := 1<<30, 0
			for _, c := range clients {
				total += len(c.owned)
				lo, hi = min(lo, len(c.owned)), max(hi, len(c.owned))
			}
			if total != 12 {
				t.Fatalf("stable group consumes %d partitions, want all 12", total)
			}
			if assignor == AssignorUniform && hi-lo > 1 {
				t.Fatalf("uniform: loads %d..%d over %d members", lo, hi, len(clients))
			}
			d, err := h.c.DescribeConsumerGroup(context.Background(), group)
			if err != nil || d.Assignor != assignor || d.Epoch != d.AssignmentEpoch {
				t.Fatalf("describe = %+v, %v", d, err)
			}
			for _, m := range d.Members {
				if m.MemberEpoch != d.Epoch {
					t.Fatalf("stable member %s at epoch %d, group at %d", m.MemberID, m.MemberEpoch, d.Epoch)
				}
			}
		})
	}
}

// TestConsumerRevocationBeforeAssignment walks one handover step by step.
func TestConsumerRevocationBeforeAssignment(t *testing.T) {
	h := newHarness(t, Config{})
	id := h.topic("t", 4)
	a := h.mustHB(joinReq("g", "A", "t"))
	if a.MemberEpoch != 1 || len(a.Assignment) != 1 || len(a.Assignment[0].Partitions) != 4 {
		t.Fatalf("first member: %+v", a)
	}
	all := []TopicIDPartitions{{TopicID: id, Partitions: []int32{0, 1, 2, 3}}}
	b := h.mustHB(joinReq("g", "B", "t"))
	if b.MemberEpoch != 2 || !b.HasAssignment || len(b.Assignment) != 0 {
		t.Fatalf("second member must wait for A's partitions at epoch 2: %+v", b)
	}
	// A learns it must give two partitions up; it stays at epoch 1.
	a = h.mustHB(ConsumerHeartbeatRequest{Group: "g", MemberID: "A", MemberEpoch: 1, RebalanceTimeoutMillis: -1})
	if a.MemberEpoch != 1 || !a.HasAssignment || len(a.Assignment[0].Partitions) != 2 {
		t.Fatalf("A should be asked to revoke at epoch 1: %+v", a)
	}
	kept := a.Assignment
	// B still gets nothing while A has not acknowledged.
	b = h.mustHB(ConsumerHeartbeatRequest{Group: "g", MemberID: "B", MemberEpoch: 2, RebalanceTimeoutMillis: -1})
	if b.HasAssignment {
		t.Fatalf("B got partitions A still owns: %+v", b)
	}
	// A keepalive (no owned list) is not an acknowledgement either, nor a
	// full heartbeat still listing the partitions.
	h.mustHB(ConsumerHeartbeatRequest{Group: "g", MemberID: "A", MemberEpoch: 1, RebalanceTimeoutMillis: -1})
	a = h.mustHB(ConsumerHeartbeatRequest{Group: "g", MemberID: "A", MemberEpoch: 1, RebalanceTimeoutMillis: 30000, SubscribedTopicNames: []string{"t"}, Owned: all})
	if a.MemberEpoch != 1 {
		t.Fatalf("A advanced without revoking: %+v", a)
	}
	if b = h.mustHB(ConsumerHeartbeatRequest{Group: "g", MemberID: "B", MemberEpoch: 2, RebalanceTimeoutMillis: -1}); b.HasAssignment {
		t.Fatalf("B got partitions A still owns: %+v", b)
	}
	// A acknowledges: it moves to epoch 2, then B gets the rest.
	a = h.mustHB(ConsumerHeartbeatRequest{Group: "g", MemberID: "A", MemberEpoch: 1, RebalanceTimeoutMillis: 30000, SubscribedTopicNames: []string{"t"}, Owned: kept})
	if a.MemberEpoch != 2 {
		t.Fatalf("A after revoking: %+v", a)
	}
	b = h.mustHB(ConsumerHeartbeatRequest{Group: "g", MemberID: "B", MemberEpoch: 2, RebalanceTimeoutMillis: -1})
	if !b.HasAssignment || len(b.Assignment) != 1 || len(b.Assignment[0].Partitions) != 2 {
		t.Fatalf("B should now get two partitions: %+v", b)
	}
	for _, p := range b.Assignment[0].Partitions {
		for _, q := range kept[0].Partitions {
			if p == q {
				t.Fatalf("B got partition %d that A kept", p)
			}
		}
	}
	d, _ := h.c.DescribeConsumerGroup(context.Background(), "g")
	if d.State != Stable || d.Epoch != 2 {
		t.Fatalf("group %+v, want Stable at epoch 2", d)
	}
}

func TestConsumerHeartbeatErrors(t *testing.T) {
	h := newHarness(t, Config{})
	id := h.topic("t", 2)
	str := func(s string) *string { return &s }
	bad := func(name string, req ConsumerHeartbeatRequest, want *kerr.Error) {
		t.Helper()
		res := h.hb(req)
		if !errors.Is(res.Err, want) {
			t.Fatalf("%s: got %v, want %s", name, res.Err, want.Message)
		}
		var ge *GroupError
		if want != kerr.NotCoordinator && !errors.As(res.Err, &ge) {
			t.Fatalf("%s: error %v has no message", name, res.Err)
		}
	}
	join := joinReq("g", "A", "t")
	r := join
	r.Group = ""
	bad("empty group", r, kerr.InvalidRequest)
	r = join
	r.MemberID = ""
	bad("v1 without member ID", r, kerr.InvalidRequest)
	r = join
	r.Owned = nil
	bad("join without owned list", r, kerr.InvalidRequest)
	r = join
	r.Owned = []TopicIDPartitions{{TopicID: id, Partitions: []int32{0}}}
	bad("join owning partitions", r, kerr.InvalidRequest)
	r = join
	r.SubscribedTopicNames = nil
	bad("join without subscription", r, kerr.InvalidRequest)
	r = join
	r.RebalanceTimeoutMillis = -1
	bad("join without rebalance timeout", r, kerr.InvalidRequest)
	r = join
	r.ServerAssignor = str("sticky")
	bad("unknown assignor", r, kerr.UnsupportedAssignor)
	r = join
	r.SubscribedTopicRegex = str("t(")
	bad("bad regex", r, kerr.InvalidRegularExpression)
	r = join
	r.MemberEpoch = -3
	bad("epoch -3", r, kerr.InvalidRequest)
	r = join
	r.MemberEpoch = staticLeaveEpoch
	bad("static leave without instance", r, kerr.InvalidRequest)
	bad("heartbeat to unknown group", ConsumerHeartbeatRequest{Group: "nope", MemberID: "A", MemberEpoch: 3, RebalanceTimeoutMillis: -1}, kerr.GroupIDNotFound)
	bad("leave of unknown group", ConsumerHeartbeatRequest{Group: "nope", MemberID: "A", MemberEpoch: -1, RebalanceTimeoutMillis: -1}, kerr.GroupIDNotFound)

	a := h.mustHB(join)
	h.mustHB(ConsumerHeartbeatRequest{Group: "g", MemberID: "A", MemberEpoch: 1, RebalanceTimeoutMillis: -1})
	bad("unknown member", ConsumerHeartbeatRequest{Group: "g", MemberID: "Z", MemberEpoch: 1, RebalanceTimeoutMillis: -1}, kerr.UnknownMemberID)
	bad("epoch ahead", ConsumerHeartbeatRequest{Group: "g", MemberID: "A", MemberEpoch: 5, RebalanceTimeoutMillis: -1}, kerr.FencedMemberEpoch)
	bad("leave unknown member", ConsumerHeartbeatRequest{Group: "g", MemberID: "Z", MemberEpoch: -1, RebalanceTimeoutMillis: -1}, kerr.UnknownMemberID)

	// B joins (epoch 2); A reconciles to 2 after revoking. Then a
	// heartbeat with A's previous epoch is accepted only with owned
	// partitions within its assignment (a lost response).
	h.mustHB(joinReq("g", "B", "t"))
	a = h.mustHB(ConsumerHeartbeatRequest{Group: "g", MemberID: "A", MemberEpoch: 1, RebalanceTimeoutMillis: -1})
	kept := a.Assignment
	a = h.mustHB(ConsumerHeartbeatRequest{Group: "g", MemberID: "A", MemberEpoch: 1, RebalanceTimeoutMillis: 30000, SubscribedTopicNames: []string{"t"}, Owned: kept})
	if a.MemberEpoch != 2 {
		t.Fatalf("A: %+v", a)
	}
	if res := h.mustHB(ConsumerHeartbeatRequest{Group: "g", MemberID: "A", MemberEpoch: 1, RebalanceTimeoutMillis: 30000, SubscribedTopicNames: []string{"t"}, Owned: kept}); res.MemberEpoch != 2 {
		t.Fatalf("previous epoch with owned subset: %+v, want epoch 2", res)
	}
	bad("previous epoch without owned", ConsumerHeartbeatRequest{Group: "g", MemberID: "A", MemberEpoch: 1, RebalanceTimeoutMillis: -1}, kerr.FencedMemberEpoch)
	bad("previous epoch owning more", ConsumerHeartbeatRequest{Group: "g", MemberID: "A", MemberEpoch: 1, RebalanceTimeoutMillis: 30000,
		SubscribedTopicNames: []string{"t"}, Owned: []TopicIDPartitions{{TopicID: id, Partitions: []int32{0, 1}}}}, kerr.FencedMemberEpoch)

	// A known member rejoining with epoch 0 (after a fence on its side)
	// gets its assignment again.
	res := h.mustHB(joinReq("g", "A", "t"))
	if res.MemberEpoch != 2 || len(res.Assignment) != 1 || len(res.Assignment[0].Partitions) != 1 {
		t.Fatalf("rejoin: %+v", res)
	}

	// Version 0: the coordinator names new members.
	r = joinReq("g", "", "t")
	r.GenerateMemberID = true
	res = h.mustHB(r)
	if len(res.MemberID) != 22 {
		t.Fatalf("generated member ID %q", res.MemberID)
	}

	// Leaving bumps the group epoch.
	d0, _ := h.c.DescribeConsumerGroup(context.Background(), "g")
	lv := h.mustHB(ConsumerHeartbeatRequest{Group: "g", MemberID: res.MemberID, MemberEpoch: -1, RebalanceTimeoutMillis: -1})
	if lv.MemberEpoch != -1 || lv.MemberID != res.MemberID {
		t.Fatalf("leave response %+v", lv)
	}
	d1, _ := h.c.DescribeConsumerGroup(context.Background(), "g")
	if d1.Epoch != d0.Epoch+1 || len(d1.Members) != len(d0.Members)-1 {
		t.Fatalf("after leave: epoch %d→%d, members %d→%d", d0.Epoch, d1.Epoch, len(d0.Members), len(d1.Members))
	}
}

func TestConsumerStaticMembers(t *testing.T) {
	h := newHarness(t, Config{})
	h.topic("t", 4)
	inst := "i1"
	j := joinReq("g", "S1", "t")
	j.InstanceID = &inst
	s1 := h.mustHB(j)
	h.mustHB(joinReq("g", "D", "t"))
	// Settle: S1 revokes half, D takes it.
	s1 = h.mustHB(ConsumerHeartbeatRequest{Group: "g", MemberID: "S1", MemberEpoch: s1.MemberEpoch, RebalanceTimeoutMillis: -1})
	s1 = h.mustHB(ConsumerHeartbeatRequest{Group: "g", MemberID: "S1", MemberEpoch: s1.MemberEpoch, RebalanceTimeoutMillis: 30000, SubscribedTopicNames: []string{"t"}, Owned: s1.Assignment, InstanceID: &inst})
	kept := s1.Assignment
	d0, _ := h.c.DescribeConsumerGroup(context.Background(), "g")

	// Another process with the same instance ID while S1 is active.
	j2 := joinReq("g", "S2", "t")
	j2.InstanceID = &inst
	wantErr(t, h.hb(j2).Err, kerr.UnreleasedInstanceID)
	// A heartbeat naming the instance with another member ID is fenced.
	wantErr(t, h.hb(ConsumerHeartbeatRequest{Group: "g", MemberID: "S2", MemberEpoch: 2, InstanceID: &inst, RebalanceTimeoutMillis: -1}).Err, kerr.FencedInstanceID)
	// Static leave (-2): S1 keeps its partitions, the epoch stays.
	lv := h.mustHB(ConsumerHeartbeatRequest{Group: "g", MemberID: "S1", MemberEpoch: -2, InstanceID: &inst, RebalanceTimeoutMillis: -1})
	if lv.MemberEpoch != -2 {
		t.Fatalf("static leave response %+v", lv)
	}
	d1, _ := h.c.DescribeConsumerGroup(context.Background(), "g")
	if d1.Epoch != d0.Epoch {
		t.Fatalf("static leave bumped the group epoch %d→%d", d0.Epoch, d1.Epoch)
	}
	// The new incarnation takes S1's place and partitions, no rebalance.
	s2 := h.mustHB(j2)
	if fmt.Sprint(s2.Assignment) != fmt.Sprint(kept) {
		t.Fatalf("replacement got %v, want S1's %v", s2.Assignment, kept)
	}
	d2, _ := h.c.DescribeConsumerGroup(context.Background(), "g")
	if d2.Epoch != d0.Epoch || len(d2.Members) != 2 {
		t.Fatalf("after replacement: %+v", d2)
	}
	for _, m := range d2.Members {
		if m.MemberID == "S1" {
			t.Fatal("S1 still a member after its replacement joined")
		}
	}
	checkServerInvariant(t, h.group("g"))
}

func TestConsumerGroupTypes(t *testing.T) {
	h := newHarness(t, Config{})
	h.topic("t", 2)
	ctx := context.Background()
	// A classic group with members refuses consumer heartbeats.
	jr := JoinRequest{Group: "classic", ClientID: "c", SessionTimeout: 10 * time.Second, RebalanceTimeout: time.Second,
		ProtocolType: "consumer", Protocols: []Protocol{{Name: "range", Metadata: []byte{0}}}}
	res := <-h.c.Join(ctx, jr)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	wantErr(t, h.hb(joinReq("classic", "A", "t")).Err, kerr.GroupIDNotFound)
	// A consumer group with members refuses classic joins...
	h.mustHB(joinReq("cg", "A", "t"))
	jr.Group = "cg"
	wantErr(t, (<-h.c.Join(ctx, jr)).Err, kerr.InconsistentGroupProtocol)
	wantErr(t, h.c.Heartbeat(ctx, "cg", "A", nil, 1), kerr.UnknownMemberID)
	// ...is listed as a consumer group and not described as a classic one.
	list, err := h.c.List(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]string{}
	for _, l := range list {
		types[l.Name] = l.Type + "/" + l.ProtocolType + "/" + string(l.State)
	}
	if types["cg"] != "consumer/consumer/Stable" || types["classic"] != "classic/consumer/CompletingRebalance" {
		t.Fatalf("list: %v", types)
	}
	if d, err := h.c.Describe(ctx, "cg"); err != nil || d.State != Dead || len(d.Members) != 0 {
		t.Fatalf("DescribeGroups of a consumer group: %+v, %v", d, err)
	}
	if _, err := h.c.DescribeConsumerGroup(ctx, "classic"); !errors.Is(err, kerr.GroupIDNotFound) {
		t.Fatalf("ConsumerGroupDescribe of a classic group: %v", err)
	}
	if _, err := h.c.DescribeConsumerGroup(ctx, "unknown"); !errors.Is(err, kerr.GroupIDNotFound) {
		t.Fatalf("ConsumerGroupDescribe of an unknown group: %v", err)
	}
	// Group admin: not deletable with members; subscribed offsets kept.
	wantErr(t, h.c.Delete(ctx, "cg"), kerr.NonEmptyGroup)
	errs, gerrv := h.c.DeleteOffsets(ctx, "cg", []metadata.OffsetCommit{{Topic: "t", Partition: 0}})
	if gerrv != nil || !errors.Is(errs[0], kerr.GroupSubscribedToTopic) {
		t.Fatalf("DeleteOffsets: %v %v", gerrv, errs)
	}
	// LeaveGroup cannot remove consumer-protocol members by member ID.
	if errs, _ := h.c.Leave(ctx, "cg", []LeavingMember{{MemberID: "A"}}); !errors.Is(errs[0], kerr.UnknownMemberID) {
		t.Fatalf("LeaveGroup: %v", errs)
	}
	// Once empty, the consumer group turns classic on a JoinGroup, and an
	// empty classic group turns consumer on a heartbeat.
	h.mustHB(ConsumerHeartbeatRequest{Group: "cg", MemberID: "A", MemberEpoch: -1, RebalanceTimeoutMillis: -1})
	jr.RequireKnownMemberID = false
	if res := <-h.c.Join(ctx, jr); res.Err != nil {
		t.Fatalf("classic join to an empty consumer group: %v", res.Err)
	}
	h.mustHB(joinReq("fresh", "A", "t"))
	if err := h.c.Delete(ctx, "fresh"); !errors.Is(err, kerr.NonEmptyGroup) {
		t.Fatalf("delete: %v", err)
	}
	h.mustHB(ConsumerHeartbeatRequest{Group: "fresh", MemberID: "A", MemberEpoch: -1, RebalanceTimeoutMillis: -1})
	if err := h.c.Delete(ctx, "fresh"); err != nil {
		t.Fatalf("delete empty consumer group: %v", err)
	}
	if _, err := h.c.DescribeConsumerGroup(ctx, "fresh"); !errors.Is(err, kerr.GroupIDNotFound) {
		t.Fatalf("deleted group still described: %v", err)
	}
}

func TestConsumerCommitAndFetchValidation(t *testing.T) {
	h := newHarness(t, Config{})
	h.topic("t", 2)
	ctx := context.Background()
	commit := func(member string, epoch int32, parts ...int32) error {
		var offs []metadata.OffsetCommit
		for _, p := range parts {
			offs = append(offs, metadata.OffsetCommit{Topic: "t", Partition: p, Offset: 5, LeaderEpoch: -1})
		}
		errs, gerr := h.c.Commit(ctx, "g", member, nil, epoch, offs)
		if gerr != nil {
			return gerr
		}
		for _, e := range errs {
			if e != nil {
				return e
			}
		}
		return nil
	}
	// Admin commits while the group has no members.
	if err := commit("", -1, 0); err != nil {
		t.Fatal(err)
	}
	h.mustHB(joinReq("g", "A", "t")) // epoch 1, both partitions
	wantErr(t, commit("", -1, 0), kerr.UnknownMemberID)
	wantErr(t, commit("Z", 1, 0), kerr.UnknownMemberID)
	if err := commit("A", 1, 0, 1); err != nil {
		t.Fatal(err)
	}
	wantErr(t, commit("A", 2, 0), kerr.StaleMemberEpoch)
	// B joins; A revokes one partition and moves to epoch 2, B gets the
	// other at epoch 2.
	h.mustHB(joinReq("g", "B", "t"))
	a := h.mustHB(ConsumerHeartbeatRequest{Group: "g", MemberID: "A", MemberEpoch: 1, RebalanceTimeoutMillis: -1})
	keptP := a.Assignment[0].Partitions[0]
	// While revoking, A may still commit what it holds at epoch 1.
	if err := commit("A", 1, 0, 1); err != nil {
		t.Fatalf("commit while revoking: %v", err)
	}
	h.mustHB(ConsumerHeartbeatRequest{Group: "g", MemberID: "A", MemberEpoch: 1, RebalanceTimeoutMillis: 30000, SubscribedTopicNames: []string{"t"}, Owned: a.Assignment})
	b := h.mustHB(ConsumerHeartbeatRequest{Group: "g", MemberID: "B", MemberEpoch: 2, RebalanceTimeoutMillis: -1})
	bP := b.Assignment[0].Partitions[0]
	// KIP-1251: an older epoch commits partitions held since then...
	if err := commit("A", 1, keptP); err != nil {
		t.Fatalf("older epoch, partition held since: %v", err)
	}
	// ...but not partitions the member gave up.
	wantErr(t, commit("A", 1, bP), kerr.StaleMemberEpoch)
	// B holds its partition since epoch 2 only.
	if err := commit("B", 2, bP); err != nil {
		t.Fatal(err)
	}
	wantErr(t, commit("B", 1, bP), kerr.StaleMemberEpoch)

	// OffsetFetch v9 member checks.
	str := func(s string) *string { return &s }
	if err := h.c.CheckOffsetFetch(ctx, "g", nil, -1); err != nil {
		t.Fatalf("admin fetch: %v", err)
	}
	if err := h.c.CheckOffsetFetch(ctx, "g", str("A"), 2); err != nil {
		t.Fatalf("member fetch: %v", err)
	}
	wantErr(t, h.c.CheckOffsetFetch(ctx, "g", str("A"), 1), kerr.StaleMemberEpoch)
	wantErr(t, h.c.CheckOffsetFetch(ctx, "g", str("Z"), 1), kerr.UnknownMemberID)
	offs, err := h.c.FetchOffsets(ctx, "g", nil)
	if err != nil || len(offs) != 2 {
		t.Fatalf("FetchOffsets = %v, %v", offs, err)
	}
}

func TestConsumerSessionAndRebalanceTimeouts(t *testing.T) {
	clk := newManualClock()
	h := newHarness(t, Config{ConsumerSessionTimeout: 300 * time.Millisecond, Clock: clk})
	h.topic("t", 4)
	h.mustHB(joinReq("g", "A", "t"))
	// B joins with a short rebalance timeout; A never acknowledges the
	// revocation (it keeps heartbeating, still owning everything), so it
	// is fenced after its rebalance timeout and B gets all partitions.
	j := joinReq("g", "A2", "t")
	j.RebalanceTimeoutMillis = 30000
	h.mustHB(j) // epoch 2
	aReq := ConsumerHeartbeatRequest{Group: "g", MemberID: "A", MemberEpoch: 1, RebalanceTimeoutMillis: 200, SubscribedTopicNames: []string{"t"}}
	aRes := h.mustHB(aReq) // A: revoke, rebalance timeout 200ms
	if aRes.MemberEpoch != 1 {
		t.Fatalf("A: %+v", aRes)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		aReq.Owned = []TopicIDPartitions{{TopicID: aRes.Assignment[0].TopicID, Partitions: []int32{0, 1, 2, 3}}}
		res := h.hb(aReq)
		h.mustHB(ConsumerHeartbeatRequest{Group: "g", MemberID: "A2", MemberEpoch: 2, RebalanceTimeoutMillis: -1})
		if errors.Is(res.Err, kerr.UnknownMemberID) {
			break
		}
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		if time.Now().After(deadline) {
			t.Fatal("A was not fenced for not revoking")
		}
		clk.Advance(50 * time.Millisecond)
	}
	// A2 now gets everything, and then stops heartbeating: its session
	// expires and the group becomes empty.
	var got int
	for i := 0; i < 5 && got != 4; i++ {
		d, _ := h.c.DescribeConsumerGroup(context.Background(), "g")
		res := h.mustHB(ConsumerHeartbeatRequest{Group: "g", MemberID: "A2", MemberEpoch: d.Members[0].MemberEpoch,
			RebalanceTimeoutMillis: 30000, SubscribedTopicNames: []string{"t"}, Owned: []TopicIDPartitions{}})
		if res.HasAssignment {
			got = len(res.Assignment[0].Partitions)
		}
	}
	if got != 4 {
		t.Fatalf("A2 got %d partitions after A was fenced, want 4", got)
	}
	deadline = time.Now().Add(5 * time.Second)
	for {
		d, err := h.c.DescribeConsumerGroup(context.Background(), "g")
		if err != nil {
			t.Fatal(err)
		}
		if d.State == Empty {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("session did not expire: %+v", d)
		}
		clk.Advance(50 * time.Millisecond)
	}
}

func TestConsumerGroupPersistsAndFences(t *testing.T) {
	h := newHarness(t, Config{})
	h.topic("t", 3)
	inst := "static"
	ja := joinReq("g", "A", "t")
	ja.InstanceID = &inst
	h.mustHB(ja)
	h.mustHB(joinReq("g", "B", "t"))
	a := h.mustHB(ConsumerHeartbeatRequest{Group: "g", MemberID: "A", MemberEpoch: 1, RebalanceTimeoutMillis: -1})
	h.mustHB(ConsumerHeartbeatRequest{Group: "g", MemberID: "A", MemberEpoch: 1, RebalanceTimeoutMillis: 30000, SubscribedTopicNames: []string{"t"}, Owned: a.Assignment})
	h.mustHB(ConsumerHeartbeatRequest{Group: "g", MemberID: "B", MemberEpoch: 2, RebalanceTimeoutMillis: -1})
	if errs, _ := h.c.Commit(context.Background(), "g", "A", nil, 2, []metadata.OffsetCommit{{Topic: "t", Partition: 0, Offset: 7}}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	before, err := h.c.DescribeConsumerGroup(context.Background(), "g")
	if err != nil {
		t.Fatal(err)
	}
	// Another agent takes the group over: it resumes the same state.
	old := h.restart()
	after, err := h.c.DescribeConsumerGroup(context.Background(), "g")
	if err != nil {
		t.Fatal(err)
	}
	if b, a := jsonOf(before), jsonOf(after); b != a {
		t.Fatalf("group changed across takeover:\nbefore %s\nafter  %s", b, a)
	}
	// Members carry on at their epochs without a rebalance.
	res := h.mustHB(ConsumerHeartbeatRequest{Group: "g", MemberID: "B", MemberEpoch: 2, RebalanceTimeoutMillis: -1})
	if res.MemberEpoch != 2 {
		t.Fatalf("B after takeover: %+v", res)
	}
	// The old owner is fenced: its writes fail with NOT_COORDINATOR.
	_, gerrv := old.Commit(context.Background(), "g", "A", nil, 2, []metadata.OffsetCommit{{Topic: "t", Partition: 0, Offset: 9}})
	wantErr(t, gerrv, kerr.NotCoordinator)
	offs, _ := h.c.FetchOffsets(context.Background(), "g", nil)
	if len(offs) != 1 || offs[0].Offset != 7 {
		t.Fatalf("offsets after fenced commit: %+v", offs)
	}
	old = h.restart() // and again, with the group loaded in the old owner
	if _, err := h.c.DescribeConsumerGroup(context.Background(), "g"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, old.ConsumerHeartbeat(context.Background(), joinReq("g", "C", "t")).Err, kerr.NotCoordinator)
	if d, err := h.c.DescribeConsumerGroup(context.Background(), "g"); err != nil || len(d.Members) != 2 {
		t.Fatalf("fenced owner's join leaked into the group: %+v, %v", d, err)
	}
	// A failed save drops the in-memory state: the next request reloads
	// the last persisted one.
	h.store.failSave.Store(true)
	wantErr(t, h.hb(joinReq("g", "C", "t")).Err, kerr.CoordinatorNotAvailable)
	h.store.failSave.Store(false)
	d, err := h.c.DescribeConsumerGroup(context.Background(), "g")
	if err != nil || len(d.Members) != 2 || d.Epoch != before.Epoch {
		t.Fatalf("after failed save: %+v, %v", d, err)
	}
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestConsumerRegexAndNewTopics(t *testing.T) {
	clk := newManualClock()
	h := newHarness(t, Config{ConsumerMetadataRefresh: time.Millisecond, Clock: clk})
	a := h.topic("orders-a", 2)
	h.topic("other", 2)
	re := "orders-.*"
	j := ConsumerHeartbeatRequest{Group: "g", MemberID: "A", RebalanceTimeoutMillis: 30000, SubscribedTopicRegex: &re, Owned: []TopicIDPartitions{}}
	res := h.mustHB(j)
	if len(res.Assignment) != 1 || res.Assignment[0].TopicID != a {
		t.Fatalf("regex subscription: %+v", res)
	}
	// "s" subscribes by name to a topic that does not exist yet.
	h.mustHB(joinReq("g2", "S", "later"))
	b := h.topic("orders-b", 1)
	h.topic("later", 3)
	clk.Advance(5 * time.Millisecond)
	res = h.mustHB(ConsumerHeartbeatRequest{Group: "g", MemberID: "A", MemberEpoch: res.MemberEpoch, RebalanceTimeoutMillis: -1})
	if res.MemberEpoch != 2 || len(res.Assignment) != 2 || !(res.Assignment[0].TopicID == b || res.Assignment[1].TopicID == b) {
		t.Fatalf("new topic matching the regex not assigned: %+v", res)
	}
	s := h.mustHB(ConsumerHeartbeatRequest{Group: "g2", MemberID: "S", MemberEpoch: 1, RebalanceTimeoutMillis: -1})
	if s.MemberEpoch != 2 || len(s.Assignment) != 1 || len(s.Assignment[0].Partitions) != 3 {
		t.Fatalf("topic created after subscribing not assigned: %+v", s)
	}
}
