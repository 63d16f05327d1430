package metadatatest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/metadata"
)

func testAgents(t *testing.T, s metadata.Store) {
	ctx := context.Background()
	for _, a := range []metadata.Agent{
		{NodeID: 2, Host: "h2", Port: 9092, Zone: "b", Instance: "x"},
		{NodeID: 1, Host: "h1", Port: 9093, Zone: "a", Instance: "y", Listeners: "PLAINTEXT://h1:9093,SASL_SSL://h1:9094", Roles: "jobs", Group: "g1"},
	} {
		if err := s.HeartbeatAgent(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	live, err := s.LiveAgents(ctx, time.Minute)
	if err != nil || len(live) != 2 || live[0].NodeID != 1 || live[0].Host != "h1" || live[0].Port != 9093 || live[0].Zone != "a" || live[1].Instance != "x" ||
		live[0].Listeners != "PLAINTEXT://h1:9093,SASL_SSL://h1:9094" || live[1].Listeners != "" ||
		live[0].Roles != "jobs" || live[0].Group != "g1" || live[1].Roles != "" || live[1].Group != "" {
		t.Fatalf("LiveAgents = %+v, %v", live, err)
	}
	// Re-registering replaces the entry.
	if err := s.HeartbeatAgent(ctx, metadata.Agent{NodeID: 2, Host: "h2b", Port: 1, Instance: "z"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	if live, _ := s.LiveAgents(ctx, time.Millisecond); len(live) != 0 {
		t.Fatalf("agents older than the ttl are live: %+v", live)
	}
	// Only the matching instance may remove an entry.
	if err := s.RemoveAgent(ctx, 2, "x"); err != nil {
		t.Fatal(err)
	}
	if live, _ := s.LiveAgents(ctx, time.Minute); len(live) != 2 || live[1].Host != "h2b" {
		t.Fatalf("stale instance removed the entry: %+v", live)
	}
	if err := s.RemoveAgent(ctx, 2, "z"); err != nil {
		t.Fatal(err)
	}
	if live, _ := s.LiveAgents(ctx, time.Minute); len(live) != 1 || live[0].NodeID != 1 {
		t.Fatalf("after remove: %+v", live)
	}
}

func testGroupFencing(t *testing.T, s metadata.Store) {
	ctx := context.Background()
	if _, err := s.Group(ctx, "g"); !errors.Is(err, metadata.ErrGroupNotFound) {
		t.Fatalf("Group(unknown) = %v", err)
	}
	a, err := s.ClaimGroup(ctx, "g")
	if err != nil || a.OwnerEpoch < 1 || a.State != "Empty" || a.Generation != 0 {
		t.Fatalf("first claim = %+v, %v", a, err)
	}
	a.Generation, a.Protocol, a.ProtocolType, a.State, a.Snapshot = 3, "range", "consumer", "Stable", []byte("snap")
	if err := s.SaveGroup(ctx, a); err != nil {
		t.Fatal(err)
	}
	off := []metadata.OffsetCommit{{Topic: "t", Partition: 0, Offset: 10, LeaderEpoch: 0, Metadata: "m"}, {Topic: "t", Partition: 1, Offset: 20, LeaderEpoch: -1}}
	if err := s.CommitOffsets(ctx, "g", a.OwnerEpoch, off); err != nil {
		t.Fatal(err)
	}
	b, err := s.ClaimGroup(ctx, "g")
	if err != nil || b.OwnerEpoch <= a.OwnerEpoch || b.Generation != 3 || b.Protocol != "range" || string(b.Snapshot) != "snap" || b.State != "Stable" {
		t.Fatalf("second claim = %+v, %v", b, err)
	}
	// The old owner is fenced everywhere.
	if err := s.SaveGroup(ctx, a); !errors.Is(err, metadata.ErrFenced) {
		t.Fatalf("SaveGroup by old owner = %v", err)
	}
	if err := s.CommitOffsets(ctx, "g", a.OwnerEpoch, off[:1]); !errors.Is(err, metadata.ErrFenced) {
		t.Fatalf("CommitOffsets by old owner = %v", err)
	}
	if err := s.DeleteGroup(ctx, "g", a.OwnerEpoch); !errors.Is(err, metadata.ErrFenced) {
		t.Fatalf("DeleteGroup by old owner = %v", err)
	}
	got, err := s.FetchOffsets(ctx, "g")
	if err != nil || len(got) != 2 || got[0].Offset != 10 || got[0].Metadata != "m" || got[1].Offset != 20 || got[1].LeaderEpoch != -1 || got[0].CommittedAt.IsZero() {
		t.Fatalf("FetchOffsets = %+v, %v", got, err)
	}
	if err := s.CommitOffsets(ctx, "g", b.OwnerEpoch, []metadata.OffsetCommit{{Topic: "t", Partition: 0, Offset: 11}}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteOffsets(ctx, "g", b.OwnerEpoch, []metadata.OffsetCommit{{Topic: "t", Partition: 1}}); err != nil {
		t.Fatal(err)
	}
	got, _ = s.FetchOffsets(ctx, "g")
	if len(got) != 1 || got[0].Offset != 11 {
		t.Fatalf("after overwrite and delete: %+v", got)
	}
	list, err := s.ListGroups(ctx)
	if err != nil || len(list) != 1 || list[0].Name != "g" {
		t.Fatalf("ListGroups = %+v, %v", list, err)
	}
	if err := s.DeleteGroup(ctx, "g", b.OwnerEpoch); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Group(ctx, "g"); !errors.Is(err, metadata.ErrGroupNotFound) {
		t.Fatalf("Group after delete = %v", err)
	}
	if got, _ := s.FetchOffsets(ctx, "g"); len(got) != 0 {
		t.Fatalf("offsets survive group deletion: %+v", got)
	}
}

// testDeleteTopicDropsOffsets checks that committed offsets of a deleted
// topic are removed, as Kafka does.
func testDeleteTopicDropsOffsets(t *testing.T, s metadata.Store) {
	ctx := context.Background()
	mustCreate(t, s, "gone", 1)
	mustCreate(t, s, "kept", 1)
	g, err := s.ClaimGroup(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CommitOffsets(ctx, "g", g.OwnerEpoch, []metadata.OffsetCommit{{Topic: "gone", Offset: 1}, {Topic: "kept", Offset: 2}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteTopic(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	got, _ := s.FetchOffsets(ctx, "g")
	if len(got) != 1 || got[0].Topic != "kept" {
		t.Fatalf("offsets after topic delete: %+v", got)
	}
}
