package groups

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicehq/sluice/internal/cluster"
	"github.com/sluicehq/sluice/internal/metadata"
)

// otherOwner sends every group to another agent.
type otherOwner struct{}

func (otherOwner) Self() cluster.Broker        { return cluster.Broker{NodeID: 1} }
func (otherOwner) Owner(string) cluster.Broker { return cluster.Broker{NodeID: 2} }

// TestTxnCommitAndRequireStable covers TxnOffsetCommit staging and
// OffsetFetch's require_stable, which the coordinator owns.
func TestTxnCommitAndRequireStable(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, Config{})
	h.topic("t", 2)
	const pid, epoch = 7, 1
	txn, err := h.store.SaveTransaction(ctx, metadata.Transaction{ID: "tx", ProducerID: pid, ProducerEpoch: epoch,
		LastProducerID: -1, LastProducerEpoch: -1, TimeoutMs: 60000, State: metadata.TxnOngoing, StartedAt: time.Now(), Groups: []string{"g"}})
	if err != nil {
		t.Fatal(err)
	}
	req := TxnOffsetCommitRequest{TransactionalID: "tx", ProducerID: pid, ProducerEpoch: epoch, Group: "g", Generation: -1,
		Offsets: []metadata.OffsetCommit{
			{Topic: "t", Partition: 0, Offset: 10, LeaderEpoch: -1, Metadata: "m"},
			{Topic: "t", Partition: 5, Offset: 1, LeaderEpoch: -1},
			{Topic: "nope", Partition: 0, Offset: 1, LeaderEpoch: -1},
		}}

	// Group-level errors.
	bad := req
	bad.Group = ""
	if _, err := h.c.TxnCommit(ctx, bad); !errors.Is(err, kerr.InvalidGroupID) {
		t.Fatalf("empty group: %v", err)
	}
	other := New(Config{}, h.store, otherOwner{}, nil, quietLogger())
	t.Cleanup(other.Close)
	if _, err := other.TxnCommit(ctx, req); !errors.Is(err, kerr.NotCoordinator) {
		t.Fatalf("not the owner: %v", err)
	}

	// Store checks: wrong epoch, unknown producer; unknown partitions
	// fail alone either way.
	for _, c := range []struct {
		name string
		edit func(*TxnOffsetCommitRequest)
		want *kerr.Error
	}{
		{"old epoch", func(r *TxnOffsetCommitRequest) { r.ProducerEpoch = 0 }, kerr.InvalidProducerEpoch},
		{"other producer", func(r *TxnOffsetCommitRequest) { r.ProducerID = 8 }, kerr.UnknownProducerID},
		{"group not added", func(r *TxnOffsetCommitRequest) { r.Group = "g2" }, kerr.InvalidTxnState},
		{"unknown member (KIP-447)", func(r *TxnOffsetCommitRequest) { r.MemberID, r.Generation = "m", 1 }, kerr.UnknownMemberID},
	} {
		r := req
		c.edit(&r)
		errs, err := h.c.TxnCommit(ctx, r)
		if err != nil || len(errs) != 3 || !errors.Is(errs[0], c.want) ||
			!errors.Is(errs[1], kerr.UnknownTopicOrPartition) || !errors.Is(errs[2], kerr.UnknownTopicOrPartition) {
			t.Fatalf("%s: %v, %v; want %s for t/0", c.name, errs, err, c.want.Message)
		}
	}
	for _, g := range []string{"g", "g2"} {
		if _, err := h.store.Group(ctx, g); !errors.Is(err, metadata.ErrGroupNotFound) {
			t.Fatalf("a refused TxnOffsetCommit left group %s behind: %v", g, err)
		}
	}

	// Staged: the group now exists (empty), the offset is invisible, and
	// require_stable marks the partition unstable.
	errs, err := h.c.TxnCommit(ctx, req)
	if err != nil || errs[0] != nil || !errors.Is(errs[1], kerr.UnknownTopicOrPartition) {
		t.Fatalf("stage: %v, %v", errs, err)
	}
	if _, err := h.store.Group(ctx, "g"); err != nil {
		t.Fatalf("group g not created by its first TxnOffsetCommit: %v", err)
	}
	want := []TopicPartitions{{Topic: "t", Partitions: []int32{0, 1}}}
	got, err := h.c.OffsetFetch(ctx, OffsetFetchRequest{Group: "g", Want: want})
	if err != nil || len(got) != 2 || got[0].Offset != -1 || got[0].Err != nil {
		t.Fatalf("fetch without require_stable: %+v, %v", got, err)
	}
	got, err = h.c.OffsetFetch(ctx, OffsetFetchRequest{Group: "g", Want: want, RequireStable: true})
	if err != nil || len(got) != 2 || !errors.Is(got[0].Err, kerr.UnstableOffsetCommit) || got[0].Offset != -1 || got[1].Err != nil {
		t.Fatalf("fetch with require_stable: %+v, %v", got, err)
	}

	// Committed: visible, and stable.
	txn.State = metadata.TxnPrepareCommit
	if txn, err = h.store.SaveTransaction(ctx, txn); err != nil {
		t.Fatal(err)
	}
	if _, err := h.store.CompleteTransaction(ctx, txn, true); err != nil {
		t.Fatal(err)
	}
	got, err = h.c.OffsetFetch(ctx, OffsetFetchRequest{Group: "g", Want: want, RequireStable: true})
	if err != nil || got[0].Err != nil || got[0].Offset != 10 || got[0].Metadata != "m" {
		t.Fatalf("fetch after commit: %+v, %v", got, err)
	}
}

// TestOffsetFetchChecksConsumerMembers covers the v9 member check through
// OffsetFetch.
func TestOffsetFetchChecksConsumerMembers(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, Config{})
	h.topic("t", 1)
	h.mustHB(joinReq("g", "A", "t"))
	member := func(s string) *string { return &s }
	if _, err := h.c.OffsetFetch(ctx, OffsetFetchRequest{Group: "g", CheckMember: true, MemberID: member("A"), MemberEpoch: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.c.OffsetFetch(ctx, OffsetFetchRequest{Group: "g", CheckMember: true, MemberID: member("A"), MemberEpoch: 0}); !errors.Is(err, kerr.StaleMemberEpoch) {
		t.Fatalf("stale epoch: %v", err)
	}
	// Without CheckMember (before v9) nothing is checked.
	if _, err := h.c.OffsetFetch(ctx, OffsetFetchRequest{Group: "g", MemberID: member("Z"), MemberEpoch: 0}); err != nil {
		t.Fatal(err)
	}
}

// TestCommitWhileStoreUnreachable: a topic lookup the store cannot answer
// is a retriable group-level error for OffsetCommit and TxnOffsetCommit,
// never UNKNOWN_TOPIC_OR_PARTITION, which would make a client drop its
// commit during an outage.
func TestCommitWhileStoreUnreachable(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, Config{})
	h.topic("t", 1)
	h.store.failTopic.Store(true)
	offsets := []metadata.OffsetCommit{{Topic: "t", Partition: 0, Offset: 1, LeaderEpoch: -1}}
	errs, err := h.c.Commit(ctx, "g", "", nil, -1, offsets)
	if !errors.Is(err, kerr.CoordinatorNotAvailable) {
		t.Fatalf("OffsetCommit: per-offset %v, group %v; want COORDINATOR_NOT_AVAILABLE", errs, err)
	}
	errs, err = h.c.TxnCommit(ctx, TxnOffsetCommitRequest{TransactionalID: "tx", ProducerID: 1, ProducerEpoch: 0, Group: "g", Generation: -1, Offsets: offsets})
	if !errors.Is(err, kerr.CoordinatorNotAvailable) {
		t.Fatalf("TxnOffsetCommit: per-offset %v, group %v; want COORDINATOR_NOT_AVAILABLE", errs, err)
	}

	// Once the store answers, an unknown topic still fails alone.
	h.store.failTopic.Store(false)
	errs, err = h.c.Commit(ctx, "g", "", nil, -1, append(offsets, metadata.OffsetCommit{Topic: "nope", Partition: 0, Offset: 1, LeaderEpoch: -1}))
	if err != nil || errs[0] != nil || !errors.Is(errs[1], kerr.UnknownTopicOrPartition) {
		t.Fatalf("after the outage: per-offset %v, group %v", errs, err)
	}
}
