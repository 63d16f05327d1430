package agent

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/acl"
	"github.com/sluicehq/sluice/internal/metadata"
)

// TestFailedStartLeavesNoGoroutines: a Start refused for its
// configuration (here ACL enforcement on a store that keeps no ACLs)
// returns having stopped everything it started.
func TestFailedStartLeavesNoGoroutines(t *testing.T) {
	dir := t.TempDir()
	bucket, meta, err := DataDirURLs(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	store, err := OpenMetadata(ctx, meta)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	before := runtime.NumGoroutine()
	_, err = Start(ctx, Config{
		BucketURL: bucket, KafkaAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", NodeID: 1,
		// Embedding hides the store's ACL methods.
		Store: struct{ metadata.Store }{store},
		ACL:   acl.Config{Mode: acl.ModeEnforce},
	})
	if err == nil || !strings.Contains(err.Error(), "does not keep ACLs") {
		t.Fatalf("Start: %v, want the ACL refusal", err)
	}
	// Goroutines that were stopped may take a moment to return.
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines after the failed Start, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
