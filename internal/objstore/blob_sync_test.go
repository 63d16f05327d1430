package objstore

import (
	"context"
	"fmt"
	"os"
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
		// The file and its directory are synced in parallel.
		slices.Sort(out)
		return out
	}
	ctx := context.Background()
	if err := b.Put(ctx, "x/y/k1", []byte("one")); err != nil {
		t.Fatal(err)
	}
	if got, want := rel(synced), []string{".", "x", "x/y", "x/y/k1"}; !slices.Equal(got, want) {
		t.Fatalf("first Put synced %q, want %q", got, want)
	}
	synced = nil
	if err := b.Put(ctx, "x/y/k2", []byte("two")); err != nil {
		t.Fatal(err)
	}
	if got, want := rel(synced), []string{"x/y", "x/y/k2"}; !slices.Equal(got, want) {
		t.Fatalf("second Put synced %q, want %q", got, want)
	}
	synced = nil
	if err := b.Put(ctx, "x/z/k3", []byte("three")); err != nil {
		t.Fatal(err)
	}
	if got, want := rel(synced), []string{"x", "x/z", "x/z/k3"}; !slices.Equal(got, want) {
		t.Fatalf("Put into a new sibling directory synced %q, want %q", got, want)
	}
}

// TestDeleteRemovesEmptyDirectories checks that deleting the last object
// of a directory removes it and every parent it leaves empty, up to but
// not including the bucket root; and that a Put into a removed directory
// creates it again and makes it durable again.
func TestDeleteRemovesEmptyDirectories(t *testing.T) {
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
	ctx := context.Background()
	for _, k := range []string{"a/b/k1", "a/b/k2", "a/c/k3"} {
		if err := b.Put(ctx, k, []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	exists := func(rel string) bool {
		_, err := os.Stat(filepath.Join(root, filepath.FromSlash(rel)))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		return err == nil
	}
	steps := []struct {
		del           string
		gone, present []string
	}{
		{"a/b/k1", nil, []string{"a/b", "a/c"}},
		{"a/b/k2", []string{"a/b"}, []string{"a/c", "a"}},
		{"a/c/missing", nil, []string{"a/c", "a"}},
		{"a/c/k3", []string{"a/c", "a"}, []string{"."}},
	}
	for _, s := range steps {
		if err := b.Delete(ctx, s.del); err != nil {
			t.Fatal(err)
		}
		for _, d := range s.gone {
			if exists(d) {
				t.Errorf("after deleting %s: %s still exists", s.del, d)
			}
		}
		for _, d := range s.present {
			if !exists(d) {
				t.Errorf("after deleting %s: %s is gone", s.del, d)
			}
		}
	}
	if err := b.List(ctx, "a/", func(o Object) error { t.Errorf("listed %s in an empty bucket", o.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	synced = nil
	mu.Unlock()
	if err := b.Put(ctx, "a/b/k4", []byte("four")); err != nil {
		t.Fatal(err)
	}
	var rel []string
	for _, p := range synced {
		r, _ := filepath.Rel(root, p)
		rel = append(rel, filepath.ToSlash(r))
	}
	slices.Sort(rel)
	if want := []string{".", "a", "a/b", "a/b/k4"}; !slices.Equal(rel, want) {
		t.Fatalf("Put into re-created directories synced %q, want %q", rel, want)
	}
}

// TestPutAndDeleteInOneDirectoryConcurrently checks that a Delete emptying
// a directory never makes a concurrent Put into it fail (the directory
// vanishing between its creation and the Put's file).
func TestPutAndDeleteInOneDirectoryConcurrently(t *testing.T) {
	b, err := OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				k := fmt.Sprintf("j/g/%d-%d", w, i)
				if err := b.Put(ctx, k, nil); err != nil {
					errs <- err
					return
				}
				if err := b.Delete(ctx, k); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := b.List(ctx, "", func(o Object) error { t.Errorf("left %s", o.Key); return nil }); err != nil {
		t.Fatal(err)
	}
}
