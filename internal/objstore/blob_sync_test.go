package objstore

import (
	"context"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

// TestPutSyncsNewDirectoriesOnce checks that a Put into a directory it
// created makes every new directory's entry durable (fsyncs each parent
// up to the bucket root), and that later Puts sync only the file and its
// directory.
func TestPutSyncsNewDirectoriesOnce(t *testing.T) {
	var mu sync.Mutex
	var synced []string
	orig := fsync
	fsync = func(path string) error {
		mu.Lock()
		synced = append(synced, path)
		mu.Unlock()
		return orig(path)
	}
	t.Cleanup(func() { fsync = orig })

	root := t.TempDir()
	b, err := OpenDir(root)
	if err != nil {
		t.Fatal(err)
	}
	rel := func(paths []string) []string {
		var out []string
		for _, p := range paths {
			r, err := filepath.Rel(root, p)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, filepath.ToSlash(r))
		}
		return out
	}
	ctx := context.Background()
	if err := b.Put(ctx, "x/y/k1", []byte("one")); err != nil {
		t.Fatal(err)
	}
	if got, want := rel(synced), []string{"x/y/k1", "x/y", "x", "."}; !slices.Equal(got, want) {
		t.Fatalf("first Put synced %q, want %q", got, want)
	}
	synced = nil
	if err := b.Put(ctx, "x/y/k2", []byte("two")); err != nil {
		t.Fatal(err)
	}
	if got, want := rel(synced), []string{"x/y/k2", "x/y"}; !slices.Equal(got, want) {
		t.Fatalf("second Put synced %q, want %q", got, want)
	}
	synced = nil
	if err := b.Put(ctx, "x/z/k3", []byte("three")); err != nil {
		t.Fatal(err)
	}
	if got, want := rel(synced), []string{"x/z/k3", "x/z", "x"}; !slices.Equal(got, want) {
		t.Fatalf("Put into a new sibling directory synced %q, want %q", got, want)
	}
}
