package produce_test

import (
	"context"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/objstore"
	"github.com/sluicehq/sluice/internal/produce"
)

// slowPuts delays every Put, standing in for an upload.
type slowPuts struct {
	objstore.Bucket
	d time.Duration
}

func (s slowPuts) Put(ctx context.Context, key string, data []byte) error {
	time.Sleep(s.d)
	return s.Bucket.Put(ctx, key, data)
}

// TestWindowsKeepCadence: a request that arrives while its predecessor's
// file was uploading joins a window that closes one batch timeout after
// the previous seal, not one batch timeout after the request arrived, so
// the upload is not paid on top of a whole window. With a 1.5s timeout
// and 1s uploads the second request is answered about 0.5s + 1s after it
// is sent; a window timed from its arrival would take at least 2.5s, as
// timers never fire early. The wide gap keeps the test from failing on a
// loaded machine (a 400ms/300ms version took 733ms against 700ms at load
// 20).
func TestWindowsKeepCadence(t *testing.T) {
	const timeout, upload = 1500 * time.Millisecond, time.Second
	e := newEnv(t, produce.Config{BatchTimeout: timeout}, func(b objstore.Bucket) objstore.Bucket { return slowPuts{b, upload} })
	tp := e.topic("cadence", 1)
	ctx := context.Background()
	p, err := e.batcher.Submit(ctx, []produce.Batch{batchOf(tp, 0, "a")})
	if err != nil {
		t.Fatal(err)
	}
	waitOK(t, p) // sealed by its timer, then uploaded
	sent := time.Now()
	if p, err = e.batcher.Submit(ctx, []produce.Batch{batchOf(tp, 0, "b")}); err != nil {
		t.Fatal(err)
	}
	waitOK(t, p)
	if took := time.Since(sent); took >= timeout+upload-100*time.Millisecond {
		t.Fatalf("second request answered after %v; a window keeping the cadence answers it in about %v", took, timeout)
	}
	if n := e.files(); n != 2 {
		t.Fatalf("%d files, want 2", n)
	}
}
