package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/metadata/metadatatest"
)

func TestConformance(t *testing.T) {
	metadatatest.Run(t, func(t *testing.T) metadata.Store {
		s, err := Open(context.Background(), filepath.Join(t.TempDir(), "meta.db"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestReopen checks that state survives closing and reopening the file, and
// that reopening does not rerun migrations or change the cluster ID.
func TestReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "meta.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	tp, err := s.CreateTopic(ctx, "kept", 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CommitFile(ctx, metadata.FileCommit{Key: "f", Size: 1, Batches: []metadata.BatchCommit{{TopicID: tp.ID, Records: 3, ByteOffset: 8, ByteLength: 10}}}); err != nil {
		t.Fatal(err)
	}
	id, _ := s.ClusterID(ctx)
	s.Close()
	s, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	id2, _ := s.ClusterID(ctx)
	st, err := s.PartitionState(ctx, tp.ID, 0)
	if id != id2 || err != nil || st.HighWatermark != 3 {
		t.Fatalf("after reopen: cluster id %q→%q, state %+v, %v", id, id2, st, err)
	}
}

// TestSharedConformance runs the cases of stores sharing a database on
// two stores opened on one file.
func TestSharedConformance(t *testing.T) {
	metadatatest.RunShared(t, func(t *testing.T) (metadata.Store, metadata.Store) {
		path := filepath.Join(t.TempDir(), "meta.db")
		a, err := Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		b, err := Open(context.Background(), path)
		if err != nil {
			a.Close()
			t.Fatal(err)
		}
		return a, b
	})
}
