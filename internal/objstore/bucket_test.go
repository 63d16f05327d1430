package objstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testutil"
)

// testSplitGet checks GetRangeSplit, for buckets that have it, against
// files/2024/a.slc holding data.
func testSplitGet(ctx context.Context, t *testing.T, b Bucket, data []byte) {
	t.Helper()
	sg, ok := b.(SplitGetter)
	if !ok {
		t.Fatalf("%T has no GetRangeSplit", b)
	}
	bufs := [][]byte{make([]byte, 100), make([]byte, 50), make([]byte, 100)}
	if err := sg.GetRangeSplit(ctx, "files/2024/a.slc", 100, bufs); err != nil {
		t.Fatalf("GetRangeSplit: %v", err)
	}
	if got := bytes.Join(bufs, nil); !bytes.Equal(got, data[100:350]) {
		t.Fatalf("GetRangeSplit read %q, want %q", got, data[100:350])
	}
	if err := sg.GetRangeSplit(ctx, "missing", 0, bufs); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetRangeSplit(missing) = %v, want ErrNotFound", err)
	}
	if err := sg.GetRangeSplit(ctx, "files/2024/a.slc", int64(len(data))-20, [][]byte{make([]byte, 10), make([]byte, 20)}); err == nil {
		t.Fatal("GetRangeSplit past the end of the object did not fail")
	}
}

// testBucket is the acceptance test every Bucket implementation passes.
func testBucket(t *testing.T, b Bucket) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	data := bytes.Repeat([]byte("0123456789"), 100)
	for _, k := range []string{"files/2024/b.slc", "files/2024/a.slc", "other/c"} {
		if err := b.Put(ctx, k, data); err != nil {
			t.Fatalf("Put(%s): %v", k, err)
		}
	}
	// Putting the same key again replaces the object (retries are safe).
	if err := b.Put(ctx, "other/c", []byte("replaced")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		off, n int64
		want   []byte
	}{{0, 10, data[:10]}, {995, 5, data[995:]}, {3, -1, data[3:]}, {100, 250, data[100:350]}} {
		got, err := b.GetRange(ctx, "files/2024/a.slc", c.off, c.n)
		if err != nil || !bytes.Equal(got, c.want) {
			t.Fatalf("GetRange(%d, %d) = %d bytes, %v; want %d bytes", c.off, c.n, len(got), err, len(c.want))
		}
	}
	if got, err := b.GetRange(ctx, "other/c", 0, -1); err != nil || string(got) != "replaced" {
		t.Fatalf("GetRange after overwrite = %q, %v", got, err)
	}
	if _, err := b.GetRange(ctx, "missing", 0, 10); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetRange(missing) = %v, want ErrNotFound", err)
	}
	testSplitGet(ctx, t, b, data)
	// Timeout offers GetRangeSplit over a bucket without it, by a copy.
	testSplitGet(ctx, t, Timeout{Bucket: struct{ Bucket }{b}, Op: time.Minute}, data)
	var keys []string
	if err := b.List(ctx, "files/", func(o Object) error {
		if o.Size != int64(len(data)) {
			return fmt.Errorf("%s: size %d", o.Key, o.Size)
		}
		keys = append(keys, o.Key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(keys) != "[files/2024/a.slc files/2024/b.slc]" {
		t.Fatalf("List(files/) = %v", keys)
	}
	if err := b.Delete(ctx, "files/2024/a.slc"); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(ctx, "files/2024/a.slc"); err != nil {
		t.Fatalf("deleting a missing key: %v", err)
	}
	if _, err := b.GetRange(ctx, "files/2024/a.slc", 0, 1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetRange after Delete = %v", err)
	}
}

func TestMemBucket(t *testing.T) {
	b, err := Open(context.Background(), "mem://")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	testBucket(t, b)
}

func TestDirBucket(t *testing.T) {
	b, err := Open(context.Background(), "file://"+t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	testBucket(t, b)
}

// TestS3Bucket runs the acceptance test through s3:// URLs (endpoint,
// region, path-style addressing, credentials from the standard AWS
// environment) against a real S3-compatible server.
func TestS3Bucket(t *testing.T) {
	v := testutil.StartVersity(t)
	v.SetEnv(t)
	url := v.NewBucket(t, "sluice-objstore")
	b, err := Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	testBucket(t, b)

	// With the server gone, calls fail (rather than hang) and work again
	// once it is back.
	v.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tb := Timeout{Bucket: b, Op: 5 * time.Second}
	if err := tb.Put(ctx, "down", []byte("x")); err == nil {
		t.Fatal("Put succeeded with the server stopped")
	}
	v.Start()
	if err := tb.Put(ctx, "up", []byte("x")); err != nil {
		t.Fatalf("Put after the server came back: %v", err)
	}
}

func TestTimeoutBoundsSlowStore(t *testing.T) {
	mem, err := Open(context.Background(), "mem://")
	if err != nil {
		t.Fatal(err)
	}
	f := &Faulty{Bucket: mem}
	b := Timeout{Bucket: f, Op: 50 * time.Millisecond}
	f.Delay(time.Hour)
	start := time.Now()
	if err := b.Put(context.Background(), "k", []byte("v")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("slow Put = %v, want deadline exceeded", err)
	}
	if _, err := b.GetRange(context.Background(), "k", 0, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("slow GetRange = %v, want deadline exceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("timeouts took %v", d)
	}
	f.Delay(0)
	if err := b.Put(context.Background(), "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
}
