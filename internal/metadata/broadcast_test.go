package metadata_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/metadata/sqlite"
)

// Broadcast announces the partitions a CommitFiles call gave data, once
// each, and nothing of a file that was committed already.
func TestBroadcastCommitFiles(t *testing.T) {
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "metadata.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	b := metadata.NewBroadcast(store)
	a, err := b.CreateTopic(ctx, "a", 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	batch := func(p int32) metadata.BatchCommit {
		return metadata.BatchCommit{TopicID: a.ID, Partition: p, ByteOffset: 8, ByteLength: 100, Records: 1, MaxTimestamp: 10}
	}
	if _, err := b.CommitFile(ctx, metadata.FileCommit{Key: "old", Size: 1000, Batches: []metadata.BatchCommit{batch(2)}}); err != nil {
		t.Fatal(err)
	}
	got := make(chan []metadata.TopicPartition, 4)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go b.WatchCommits(wctx, func(parts []metadata.TopicPartition) { got <- parts })
	// The watcher registers asynchronously: commit new files until it
	// hears one group.
	want := []metadata.TopicPartition{{Topic: a.ID, Partition: 0}, {Topic: a.ID, Partition: 1}}
	deadline := time.After(10 * time.Second)
	for i := 0; ; i++ {
		files := []metadata.FileCommit{
			{Key: fmt.Sprintf("f1-%d", i), Size: 1000, Batches: []metadata.BatchCommit{batch(0)}},
			{Key: "old", Size: 1000, Batches: []metadata.BatchCommit{batch(2)}},
			{Key: fmt.Sprintf("f2-%d", i), Size: 1000, Batches: []metadata.BatchCommit{batch(1), batch(0)}},
		}
		if _, err := b.CommitFiles(ctx, files); err != nil {
			t.Fatal(err)
		}
		select {
		case parts := <-got:
			if !slices.Equal(parts, want) {
				t.Fatalf("announced %v, want %v", parts, want)
			}
			return
		case <-time.After(10 * time.Millisecond):
		case <-deadline:
			t.Fatal("CommitFiles announced nothing")
		}
	}
}
