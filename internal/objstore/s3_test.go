package objstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/records"
	"github.com/sluicehq/sluice/internal/segment"
	"github.com/sluicehq/sluice/internal/testutil"
)

// TestS3PutChecksum: s3:// Puts carry a CRC-32C the server verifies. A
// segment file's is derived from the checksum in its trailer, so a file
// whose bytes changed after the segment writer finished it is refused and
// nothing is stored; other objects get a fresh checksum and are stored.
func TestS3PutChecksum(t *testing.T) {
	v := testutil.StartVersity(t)
	v.SetEnv(t)
	b, err := Open(context.Background(), v.NewBucket(t, "sluice-checksum"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, ok := b.(*s3Bucket); !ok {
		t.Fatalf("Open(s3://) = %T, want *s3Bucket", b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var w segment.Writer
	w.Add([16]byte{1}, 0, make([]byte, records.HeaderSize+1000), records.BatchInfo{Records: 1, ProducerID: -1})
	file, _ := w.Finish()
	if _, ok := segment.FileCRC32C(file); !ok {
		t.Fatal("test file is not a segment file")
	}
	if err := b.Put(ctx, "files/good.slc", file); err != nil {
		t.Fatalf("Put of a segment file: %v", err)
	}
	if got, err := b.GetRange(ctx, "files/good.slc", 0, -1); err != nil || string(got) != string(file) {
		t.Fatalf("read back %d bytes, %v; want the %d bytes written", len(got), err, len(file))
	}

	bad := append([]byte(nil), file...)
	bad[100] ^= 0xff // after Finish: the trailer's checksum no longer covers these bytes
	if err := b.Put(ctx, "files/bad.slc", bad); err == nil {
		t.Fatal("Put of a segment file changed after Finish succeeded; want the store to refuse its checksum")
	}
	if _, err := b.GetRange(ctx, "files/bad.slc", 0, -1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("refused file: GetRange = %v, want ErrNotFound", err)
	}

	// Not a segment file (magic at both ends, wrong version): a fresh
	// checksum, stored as is.
	odd := append([]byte("SLCF\xff\xff"), make([]byte, 40)...)
	odd = append(odd, "SLCF"...)
	if err := b.Put(ctx, "other/odd", odd); err != nil {
		t.Fatalf("Put of a non-segment object: %v", err)
	}
	if got, err := b.GetRange(ctx, "other/odd", 0, -1); err != nil || string(got) != string(odd) {
		t.Fatalf("read back %q, %v", got, err)
	}

	// Keys gocloud escapes take gocloud's write path, so reads, lists and
	// deletes (gocloud's) find them under the same name.
	for _, k := range []string{"esc/a/../b", "esc/x\x01y"} {
		if err := b.Put(ctx, k, []byte(k)); err != nil {
			t.Fatalf("Put(%q): %v", k, err)
		}
		if got, err := b.GetRange(ctx, k, 0, -1); err != nil || string(got) != k {
			t.Fatalf("GetRange(%q) = %q, %v", k, got, err)
		}
	}
	var keys []string
	if err := b.List(ctx, "esc/", func(o Object) error { keys = append(keys, o.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0] != "esc/a/../b" || keys[1] != "esc/x\x01y" {
		t.Fatalf("List(esc/) = %q", keys)
	}
}

// TestS3UnsignedPayload: the payload SHA-256 is left out of the signature
// only where TLS, or loopback with the CRC-32C header, covers the body.
func TestS3UnsignedPayload(t *testing.T) {
	for _, c := range []struct {
		query string
		want  bool
	}{
		{"", true}, // AWS endpoints are https
		{"disable_https=true", false},
		{"endpoint=https://s3.example.com", true},
		{"endpoint=https://s3.example.com&request_checksum_calculation=when_required", true},
		{"endpoint=http://127.0.0.1:9000&use_path_style=true", true},
		{"endpoint=http://127.0.0.1:9000&request_checksum_calculation=when_required", false},
		{"endpoint=http://127.3.4.5:9000", true},
		{"endpoint=http://[::1]:9000", true},
		{"endpoint=http://localhost:9000", true},
		{"endpoint=http://10.0.0.7:9000", false},
		{"endpoint=http://minio:9000", false},
		{"endpoint=http%3A%2F%2F%5Bbad", false}, // unparsable
	} {
		// Opening an s3:// bucket makes no request.
		b, err := Open(context.Background(), "s3://b?region=us-east-1&"+c.query)
		if err != nil {
			t.Fatalf("%s: %v", c.query, err)
		}
		sb := b.(*s3Bucket)
		b.Close()
		if got := sb.unsignedPayload; got != c.want {
			t.Errorf("%s: unsigned payload %v, want %v", c.query, got, c.want)
		}
	}
}
