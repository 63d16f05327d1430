package fetch

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/sluicehq/sluice/internal/cache"
	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/metadata/sqlite"
	"github.com/sluicehq/sluice/internal/objstore"
	"github.com/sluicehq/sluice/internal/records"
	"github.com/sluicehq/sluice/internal/segment"
)

type countingBucket struct {
	objstore.Bucket
	gets atomic.Int64
}

func (b *countingBucket) GetRange(ctx context.Context, key string, off, length int64) ([]byte, error) {
	b.gets.Add(1)
	return b.Bucket.GetRange(ctx, key, off, length)
}

const (
	testPartitions = 4
	batchRecords   = 10
	batchesPerFile = 3
	payload        = 1000
	batchLen       = records.HeaderSize + payload
)

// readerFixture commits two files, each holding three batches of ten
// records for each of four partitions: every partition has offsets 0-59,
// 0-29 in file f1 and 30-59 in f2.
func readerFixture(t *testing.T, cacheSize int64) (*Reader, *countingBucket, metadata.TopicID) {
	t.Helper()
	return readerFixtureBlocks(t, cacheSize, 1<<20)
}

// readerFixtureBlocks is readerFixture with cache blocks of blockSize bytes.
func readerFixtureBlocks(t *testing.T, cacheSize, blockSize int64) (*Reader, *countingBucket, metadata.TopicID) {
	t.Helper()
	return readerFixtureWith(t, cacheSize, blockSize, nil, Config{})
}

// readerFixtureWith is readerFixtureBlocks reading through wrap(bucket)
// (when wrap is set), configured by cfg.
func readerFixtureWith(t *testing.T, cacheSize, blockSize int64, wrap func(objstore.Bucket) objstore.Bucket, cfg Config) (*Reader, *countingBucket, metadata.TopicID) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	raw, err := objstore.Open(ctx, "mem://")
	if err != nil {
		t.Fatal(err)
	}
	bucket := &countingBucket{Bucket: raw}
	store, err := sqlite.Open(ctx, filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	topic, err := store.CreateTopic(ctx, "t", testPartitions, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"f1", "f2"} {
		var w segment.Writer
		batch := benchBatch(batchRecords, payload)
		for p := int32(0); p < testPartitions; p++ {
			for i := 0; i < batchesPerFile; i++ {
				w.Add(topic.ID, p, batch, records.BatchInfo{Records: batchRecords, ProducerID: -1})
			}
		}
		data, _, pos := w.FinishWithPositions()
		if err := bucket.Put(ctx, key, data); err != nil {
			t.Fatal(err)
		}
		var commits []metadata.BatchCommit
		for i, p := range pos {
			commits = append(commits, metadata.BatchCommit{TopicID: topic.ID, Partition: int32(i / batchesPerFile), ByteOffset: int64(p), ByteLength: batchLen, Records: batchRecords})
		}
		if _, err := store.CommitFile(ctx, metadata.FileCommit{Key: key, Size: int64(len(data)), Batches: commits}); err != nil {
			t.Fatal(err)
		}
	}
	var src objstore.Bucket = bucket
	if wrap != nil {
		src = wrap(bucket)
	}
	c := cache.New(src, cache.Config{Size: cacheSize, BlockSize: blockSize}, nil)
	r := NewCachedReader(store, c, nil, cfg)
	t.Cleanup(func() { r.Close(); c.Close() })
	return r, bucket, topic.ID
}

// TestReadFetchShares: a partition whose bytes lie in one cached block is
// returned as a view of the block, with the offset its caller patches in;
// the block keeps the bytes as they were written.
func TestReadFetchShares(t *testing.T) {
	r, _, topic := readerFixture(t, 1<<20)
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		o := r.ReadFetch(ctx, []Request{{topic, 2, 35, 1 << 20}}, 1<<30)[0]
		if o.Err != nil || !o.Shared || o.FirstOffset != 30 || o.NextOffset != 60 || o.Offsets != 30 {
			t.Fatalf("read %d: err %v shared %v first %d next %d offsets %d", i, o.Err, o.Shared, o.FirstOffset, o.NextOffset, o.Offsets)
		}
		if got := bases(t, o.Records); fmt.Sprint(got) != "[0 0 0]" {
			t.Fatalf("read %d: shared batches at %v, want them as written, [0 0 0]", i, got)
		}
		o.Own()
		if got := bases(t, o.Records); o.Shared || fmt.Sprint(got) != "[30 40 50]" {
			t.Fatalf("read %d: owned batches at %v (shared %v)", i, got, o.Shared)
		}
	}
	// Blocks of two and a half batches: partition 0's first extent has its
	// third batch straddling a block boundary. In a cache of eight blocks
	// each block read is its own allocation (see cache.Config), so the
	// batches before the boundary are shared when they fill half the
	// budget, else everything is copied.
	r, _, topic = readerFixtureBlocks(t, 8*(batchLen*5/2), batchLen*5/2)
	for _, tc := range []struct {
		maxBytes int
		shared   bool
		want     string
	}{{3 * batchLen, true, "[0 10]"}, {5 * batchLen, false, "[0 10 20 30 40]"}} {
		o := r.ReadFetch(ctx, []Request{{topic, 0, 0, tc.maxBytes}}, 1<<30)[0]
		if o.Err != nil || o.Shared != tc.shared {
			t.Fatalf("budget %d: err %v shared %v", tc.maxBytes, o.Err, o.Shared)
		}
		o.Own()
		if got := fmt.Sprint(bases(t, o.Records)); got != tc.want {
			t.Fatalf("budget %d: batches at %s, want %s", tc.maxBytes, got, tc.want)
		}
	}
	// In a larger cache, blocks read together share one allocation: the
	// straddling batch is in the same view, and shared too.
	r, _, topic = readerFixtureBlocks(t, 1<<20, batchLen*5/2)
	if o := r.ReadFetch(ctx, []Request{{topic, 0, 0, 3 * batchLen}}, 1<<30)[0]; o.Err != nil || !o.Shared || o.NextOffset != 30 {
		t.Fatalf("blocks read together: err %v shared %v next %d; want shared up to 30", o.Err, o.Shared, o.NextOffset)
	}
	// Read keeps returning copies with committed offsets.
	res, err := r.Read(ctx, topic, 2, 35, 1<<20, true)
	if err != nil || res.Shared || fmt.Sprint(bases(t, res.Records)) != "[30 40 50]" {
		t.Fatalf("Read: %v shared %v batches %v", err, res.Shared, bases(t, res.Records))
	}
}

// bases lists the base offsets of the batches in data.
func bases(t *testing.T, data []byte) []int64 {
	t.Helper()
	var out []int64
	for len(data) > 0 {
		b, rest, err := records.Next(data)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, int64(binary.BigEndian.Uint64(b)))
		data = rest
	}
	return out
}

func TestReadFetch(t *testing.T) {
	_, _, topic := readerFixture(t, 0) // topic IDs differ per fixture; see below
	ctx := context.Background()
	all := func(offset int64, maxBytes int) []Request {
		var reqs []Request
		for p := int32(0); p < testPartitions; p++ {
			reqs = append(reqs, Request{Topic: topic, Partition: p, Offset: offset, MaxBytes: maxBytes})
		}
		return reqs
	}
	for _, tc := range []struct {
		name     string
		reqs     []Request
		budget   int
		want     [][]int64 // batch bases per request; nil with wantErr
		wantErr  []error
		wantGets int64
		cache    int64
	}{
		{"every partition from both files, one GET per file", all(0, 1<<20), 1 << 30,
			[][]int64{{0, 10, 20, 30, 40, 50}, {0, 10, 20, 30, 40, 50}, {0, 10, 20, 30, 40, 50}, {0, 10, 20, 30, 40, 50}}, nil, 2, 0},
		{"offset inside a batch returns that batch", []Request{{topic, 2, 35, 1 << 20}}, 1 << 30,
			[][]int64{{30, 40, 50}}, nil, 1, 0},
		// Partitions left with less budget than their next batch must be
		// read to learn that; with the cache on that costs no more GETs.
		{"response budget: two batches fit, the rest get nothing", all(0, 1<<20), 2*batchLen + batchLen/2,
			[][]int64{{0, 10}, nil, nil, nil}, nil, 1, 1 << 20},
		{"partition budget below one batch: KIP-74 first batch only", all(0, 100), 1 << 30,
			[][]int64{{0}, nil, nil, nil}, nil, 1, 0},
		{"plan falls short: the rest is read extent by extent", []Request{{topic, 1, 25, 3 * batchLen}}, 1 << 30,
			[][]int64{{20, 30, 40}}, nil, 2, 0},
		// As Kafka's reads end with a log segment: what lies in one cached
		// block is returned without a copy, when it is half the budget.
		{"shared batches filling half the budget end at their extent", []Request{{topic, 1, 25, 2 * batchLen}}, 1 << 30,
			[][]int64{{20}}, nil, 1, 0},
		{"out of range partitions fail alone", []Request{{topic, 0, 61, 1 << 20}, {topic, 3, 50, 1 << 20}, {topic, 1, 60, 1 << 20}}, 1 << 30,
			[][]int64{nil, {50}, nil}, []error{ErrOffsetOutOfRange, nil, nil}, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, bucket, id := readerFixture(t, tc.cache)
			for i := range tc.reqs {
				if tc.reqs[i].Topic != topic {
					t.Fatal("request for another topic")
				}
				tc.reqs[i].Topic = id
			}
			before := bucket.gets.Load()
			outs := r.ReadFetch(ctx, tc.reqs, tc.budget)
			if len(outs) != len(tc.reqs) {
				t.Fatalf("%d outcomes for %d requests", len(outs), len(tc.reqs))
			}
			for i, o := range outs {
				o.Own()
				var wantErr error
				if tc.wantErr != nil {
					wantErr = tc.wantErr[i]
				}
				if !errors.Is(o.Err, wantErr) || (wantErr == nil && o.Err != nil) {
					t.Fatalf("request %d: err %v, want %v", i, o.Err, wantErr)
				}
				if got := bases(t, o.Records); fmt.Sprint(got) != fmt.Sprint(tc.want[i]) && !(len(got) == 0 && len(tc.want[i]) == 0) {
					t.Fatalf("request %d: batches at %v, want %v", i, got, tc.want[i])
				}
				if o.Err == nil && o.State.HighWatermark != 60 {
					t.Fatalf("request %d: high watermark %d", i, o.State.HighWatermark)
				}
				if n := len(tc.want[i]); n > 0 && (o.Offsets != int64(n*batchRecords) || o.NextOffset != tc.want[i][n-1]+batchRecords) {
					t.Fatalf("request %d: offsets %d next %d", i, o.Offsets, o.NextOffset)
				}
			}
			if gets := bucket.gets.Load() - before; gets != tc.wantGets {
				t.Fatalf("%d bucket GETs, want %d", gets, tc.wantGets)
			}
		})
	}
}
