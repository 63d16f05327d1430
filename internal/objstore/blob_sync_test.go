package objstore

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

// recordSyncs hooks fsync for the test; take returns the paths synced
// since its last call, relative to root, sorted (a file is synced beside
// its directories).
func recordSyncs(t *testing.T, root string) (take func() []string) {
	var mu sync.Mutex // guards synced
	var synced []string
	orig := fsync
	fsync = func(f *os.File, path string) error {
		mu.Lock()
		synced = append(synced, path)
		mu.Unlock()
		return orig(f, path)
	}
	t.Cleanup(func() { fsync = orig })
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		var out []string
		for _, p := range synced {
			r, err := filepath.Rel(root, p)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, filepath.ToSlash(r))
		}
		synced = nil
		slices.Sort(out)
		return out
	}
}

// TestPutSyncsNewDirectoriesOnce checks that a Put into a directory it
// created makes every new directory's entry durable (fsyncs each parent
// up to the bucket root), and that later Puts sync only the file and its
// directory. (The file's fsync runs beside its directories': the order
// compared is sorted.)
func TestPutSyncsNewDirectoriesOnce(t *testing.T) {
	root := t.TempDir()
	synced := recordSyncs(t, root)
	b, err := OpenDir(root)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := b.Put(ctx, "x/y/k1", []byte("one")); err != nil {
		t.Fatal(err)
	}
	if got, want := synced(), []string{".", "x", "x/y", "x/y/k1"}; !slices.Equal(got, want) {
		t.Fatalf("first Put synced %q, want %q", got, want)
	}
	if err := b.Put(ctx, "x/y/k2", []byte("two")); err != nil {
		t.Fatal(err)
	}
	if got, want := synced(), []string{"x/y", "x/y/k2"}; !slices.Equal(got, want) {
		t.Fatalf("second Put synced %q, want %q", got, want)
	}
	if err := b.Put(ctx, "x/z/k3", []byte("three")); err != nil {
		t.Fatal(err)
	}
	if got, want := synced(), []string{"x", "x/z", "x/z/k3"}; !slices.Equal(got, want) {
		t.Fatalf("Put into a new sibling directory synced %q, want %q", got, want)
	}
}

// TestPutSplitSyncsAfterRename checks that PutSplit stores the pieces'
// concatenation under the key (renamed from a temporary name: no reader
// sees it partial), fsyncs the file and its directory after the rename,
// both before it returns, and leaves no temporary file behind.
func TestPutSplitSyncsAfterRename(t *testing.T) {
	root := t.TempDir()
	b, err := OpenDir(root)
	if err != nil {
		t.Fatal(err)
	}
	final := filepath.Join(root, "a", "f.slc")
	var mu sync.Mutex // guards events
	var events []string
	entered := make(chan string, 4)
	release := make(chan struct{})
	orig := fsync
	fsync = func(f *os.File, path string) error {
		_, statErr := os.Stat(final)
		mu.Lock()
		events = append(events, fmt.Sprintf("%s visible=%v", filepath.Base(path), statErr == nil))
		mu.Unlock()
		entered <- filepath.Base(path)
		<-release
		return orig(f, path)
	}
	t.Cleanup(func() { fsync = orig })
	pieces := [][]byte{[]byte("head"), nil, bytes.Repeat([]byte("x"), 1<<20), []byte("tail")}
	if !CanPutSplit(b) {
		t.Fatal("a local bucket cannot PutSplit")
	}
	done := make(chan error, 1)
	go func() { done <- b.(SplitPutter).PutSplit(context.Background(), "a/f.slc", pieces) }()
	// The file's and its directory's fsyncs are both under way at once.
	got := []string{<-entered, <-entered}
	slices.Sort(got)
	if want := []string{"a", "f.slc"}; !slices.Equal(got, want) {
		t.Fatalf("first two fsyncs %q, want %q", got, want)
	}
	select {
	case err := <-done:
		t.Fatalf("PutSplit returned (%v) while its fsyncs were blocked", err)
	default:
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	slices.Sort(events)
	if want := []string{filepath.Base(root) + " visible=true", "a visible=true", "f.slc visible=true"}; !slices.Equal(events, want) {
		t.Fatalf("syncs %q, want %q", events, want)
	}
	got2, err := b.GetRange(context.Background(), "a/f.slc", 0, -1)
	if err != nil || !bytes.Equal(got2, bytes.Join(pieces, nil)) {
		t.Fatalf("read back %d bytes, %v", len(got2), err)
	}
	ents, err := os.ReadDir(filepath.Join(root, "a"))
	if err != nil || len(ents) != 1 {
		t.Fatalf("directory holds %v (%v), want only f.slc", ents, err)
	}
}

// TestPutSplitManyPieces writes more pieces than one writev takes.
func TestPutSplitManyPieces(t *testing.T) {
	b, err := OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var pieces [][]byte
	for i := range 3*maxIOV + 7 {
		pieces = append(pieces, []byte(fmt.Sprintf("piece %d;", i)))
	}
	if err := PutSplit(context.Background(), b, "k", pieces); err != nil {
		t.Fatal(err)
	}
	got, err := b.GetRange(context.Background(), "k", 0, -1)
	if err != nil || !bytes.Equal(got, bytes.Join(pieces, nil)) {
		t.Fatalf("read back %q, %v", got, err)
	}
}

// TestLocalBucketRefusesEscapedKeys: a key fileblob would store under an
// escaped name is refused, not written where reads would not find it.
func TestLocalBucketRefusesEscapedKeys(t *testing.T) {
	b, err := OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a//b", "../x", "a/../../x", "a/", "x__0x2f__", "k.attrs", "tab\tkey"} {
		if err := b.Put(context.Background(), k, []byte("v")); err == nil {
			t.Errorf("Put(%q) succeeded", k)
		}
	}
}

// TestCanPutSplitThroughWrappers: the wrappers pass a local bucket's
// gathering writes through, and join pieces for other buckets.
func TestCanPutSplitThroughWrappers(t *testing.T) {
	ctx := context.Background()
	dir, err := OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	mem, err := Open(ctx, "mem://")
	if err != nil {
		t.Fatal(err)
	}
	m := NewMetrics(nil)
	for _, c := range []struct {
		b    Bucket
		want bool
	}{
		{dir, true}, {Timeout{Bucket: dir}, true}, {Instrumented{Bucket: Timeout{Bucket: dir}, M: m}, true},
		{mem, false}, {Timeout{Bucket: mem}, false}, {Instrumented{Bucket: mem, M: m}, false},
	} {
		if got := CanPutSplit(c.b); got != c.want {
			t.Errorf("CanPutSplit(%T) = %v, want %v", c.b, got, c.want)
		}
		if err := PutSplit(ctx, c.b, "p", [][]byte{[]byte("a"), []byte("b")}); err != nil {
			t.Fatal(err)
		}
		if got, err := c.b.GetRange(ctx, "p", 0, -1); err != nil || string(got) != "ab" {
			t.Fatalf("%T: read %q, %v", c.b, got, err)
		}
	}
}

// TestDeleteRemovesEmptyDirectories checks that deleting the last object
// of a directory removes it and every parent it leaves empty, up to but
// not including the bucket root; and that a Put into a removed directory
// creates it again and makes it durable again.
func TestDeleteRemovesEmptyDirectories(t *testing.T) {
	root := t.TempDir()
	synced := recordSyncs(t, root)
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
	synced()
	if err := b.Put(ctx, "a/b/k4", []byte("four")); err != nil {
		t.Fatal(err)
	}
	rel := synced()
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
