package metadatatest

import (
	"context"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/metadata"
)

// testReadPath checks what the cached read path needs from the store:
// extents carry their file's size (blocks are checked against it), and
// agents carry the address they serve their cache to zone peers on.
func testReadPath(t *testing.T, s metadata.Store) {
	ctx := context.Background()
	tp := mustCreate(t, s, "readpath", 2)
	if _, err := s.CommitFile(ctx, metadata.FileCommit{Key: "files/a", Size: 4242, Batches: []metadata.BatchCommit{
		{TopicID: tp.ID, Partition: 0, ByteOffset: 0, ByteLength: 100, Records: 3},
		{TopicID: tp.ID, Partition: 1, ByteOffset: 100, ByteLength: 50, Records: 2},
	}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CommitFile(ctx, metadata.FileCommit{Key: "files/b", Size: 77, Batches: []metadata.BatchCommit{
		{TopicID: tp.ID, Partition: 0, ByteOffset: 10, ByteLength: 60, Records: 1},
	}}); err != nil {
		t.Fatal(err)
	}
	ex, err := s.Extents(ctx, tp.ID, 0, 0, 10)
	if err != nil || len(ex) != 2 {
		t.Fatalf("Extents = %+v, %v", ex, err)
	}
	if ex[0].FileKey != "files/a" || ex[0].FileSize != 4242 || ex[1].FileKey != "files/b" || ex[1].FileSize != 77 {
		t.Fatalf("extents %+v: want file sizes 4242 and 77", ex)
	}
	if e, err := s.ExtentAtTimestamp(ctx, tp.ID, 1, 0); err != nil || e.FileSize != 4242 {
		t.Fatalf("ExtentAtTimestamp = %+v, %v; want file size 4242", e, err)
	}

	if err := s.HeartbeatAgent(ctx, metadata.Agent{NodeID: 7, Host: "h", Port: 1, Zone: "z", Instance: "i", PeerAddr: "10.0.0.7:8080"}); err != nil {
		t.Fatal(err)
	}
	if err := s.HeartbeatAgent(ctx, metadata.Agent{NodeID: 8, Host: "h", Port: 2, Zone: "z", Instance: "j"}); err != nil {
		t.Fatal(err)
	}
	live, err := s.LiveAgents(ctx, time.Minute)
	if err != nil || len(live) != 2 || live[0].PeerAddr != "10.0.0.7:8080" || live[1].PeerAddr != "" {
		t.Fatalf("LiveAgents = %+v, %v; want peer addresses 10.0.0.7:8080 and none", live, err)
	}
	// A heartbeat replaces the address (an agent restarted elsewhere).
	if err := s.HeartbeatAgent(ctx, metadata.Agent{NodeID: 7, Host: "h", Port: 1, Zone: "z", Instance: "k", PeerAddr: "10.0.0.9:8080"}); err != nil {
		t.Fatal(err)
	}
	if live, _ := s.LiveAgents(ctx, time.Minute); len(live) != 2 || live[0].PeerAddr != "10.0.0.9:8080" {
		t.Fatalf("after re-registering: %+v", live)
	}
}
