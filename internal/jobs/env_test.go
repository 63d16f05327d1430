package jobs

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/fetch"
	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/metadata/sqlite"
	"github.com/sluicehq/sluice/internal/objstore"
	"github.com/sluicehq/sluice/internal/records"
	"github.com/sluicehq/sluice/internal/segment"
)

// env is a real SQLite store and a real local-directory bucket, with a
// Runner whose clock a test can move forward.
type env struct {
	t      *testing.T
	ctx    context.Context
	store  *sqlite.Store
	bucket objstore.Bucket
	r      *Runner

	mu   sync.Mutex // guards skew
	skew time.Duration
	// produced counts batch bytes committed through flush.
	produced int64
}

func newEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	dir := t.TempDir()
	store, err := sqlite.Open(context.Background(), filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	bucket, err := objstore.OpenDir(filepath.Join(dir, "bucket"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bucket.Close(); store.Close() })
	if cfg.Holder == "" {
		cfg.Holder = "test-agent"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	t.Cleanup(cancel)
	e := &env{t: t, ctx: ctx, store: store, bucket: bucket}
	e.r = New(cfg, store, bucket, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	e.r.now = func() time.Time {
		e.mu.Lock()
		defer e.mu.Unlock()
		return time.Now().Add(e.skew)
	}
	return e
}

// advance moves the Runner's clock forward.
func (e *env) advance(d time.Duration) {
	e.mu.Lock()
	e.skew += d
	e.mu.Unlock()
}

func (e *env) topic(name string, partitions int32, configs map[string]string) metadata.Topic {
	e.t.Helper()
	tp, err := e.store.CreateTopic(e.ctx, name, partitions, configs)
	if err != nil {
		e.t.Fatal(err)
	}
	return tp
}

// rec is one record as a test produces or reads it.
type rec struct {
	Offset int64
	Key    string // "" means a null key
	Value  string // "<nil>" means a null value (tombstone)
}

func (r rec) String() string { return fmt.Sprintf("%d:%s=%s", r.Offset, r.Key, r.Value) }

// batch encodes a valid uncompressed v2 batch; "<nil>" values are null.
func batch(kvs ...string) []byte {
	var recs []byte
	n := len(kvs) / 2
	for i := 0; i < n; i++ {
		r := kmsg.Record{TimestampDelta64: int64(i), OffsetDelta: int32(i)}
		if kvs[2*i] != "" {
			r.Key = []byte(kvs[2*i])
		}
		if kvs[2*i+1] != "<nil>" {
			r.Value = []byte(kvs[2*i+1])
		}
		body := r.AppendTo(nil)[1:]
		recs = kbin.AppendVarint(recs, int32(len(body)))
		recs = append(recs, body...)
	}
	ts := time.Now().UnixMilli()
	b := kmsg.RecordBatch{PartitionLeaderEpoch: -1, Magic: 2, LastOffsetDelta: int32(n - 1), FirstTimestamp: ts, MaxTimestamp: ts + int64(n-1),
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: int32(n), Records: recs}
	b.Length = int32(49 + len(b.Records))
	raw := b.AppendTo(nil)
	records.SetCRC(raw)
	return raw
}

// part is one batch of a partition in a flush.
type part struct {
	topic     metadata.TopicID
	partition int32
	batch     []byte
}

// flush writes one file holding parts, as the write path does, and commits
// it; it returns the file's key.
func (e *env) flush(parts ...part) string {
	e.t.Helper()
	var w segment.Writer
	for _, p := range parts {
		info, err := records.InfoOf(p.batch)
		if err != nil {
			e.t.Fatal(err)
		}
		w.Add(p.topic, p.partition, p.batch, info)
	}
	data, _, positions := w.FinishWithPositions()
	key := newKey(time.Now())
	if err := e.bucket.Put(e.ctx, key, data); err != nil {
		e.t.Fatal(err)
	}
	commits := make([]metadata.BatchCommit, len(parts))
	for i, p := range parts {
		info, _ := records.InfoOf(p.batch)
		commits[i] = metadata.BatchCommit{TopicID: p.topic, Partition: p.partition, ByteOffset: int64(positions[i]),
			ByteLength: int64(len(p.batch)), Records: info.Records, MaxTimestamp: info.MaxTimestamp}
		e.produced += int64(len(p.batch))
	}
	res, err := e.store.CommitFile(e.ctx, metadata.FileCommit{Key: key, Size: int64(len(data)), Batches: commits})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			e.t.Fatal(r.Err)
		}
	}
	return key
}

// read returns every record of a partition from its log start, read
// through the fetch path, with the offsets a consumer sees.
func (e *env) read(topic metadata.TopicID, partition int32) []rec {
	e.t.Helper()
	rd := fetch.NewReader(e.store, e.bucket, nil)
	st, err := e.store.PartitionState(e.ctx, topic, partition)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []rec
	next := st.LogStartOffset
	for next < st.HighWatermark {
		res, err := rd.Read(e.ctx, topic, partition, next, 1<<20, true)
		if err != nil {
			e.t.Fatalf("read %d: %v", next, err)
		}
		if len(res.Records) == 0 {
			e.t.Fatalf("read at %d returned nothing below the high watermark %d", next, st.HighWatermark)
		}
		data := res.Records
		for len(data) > 0 {
			raw, rest, err := records.Next(data)
			if err != nil {
				e.t.Fatal(err)
			}
			data = rest
			var b kmsg.RecordBatch
			if err := b.ReadFrom(raw); err != nil {
				e.t.Fatal(err)
			}
			if crc := records.Checksum(raw); int32(crc) != b.CRC {
				e.t.Fatalf("batch at %d: CRC mismatch", b.FirstOffset)
			}
			recs, err := decodeRecords(&b)
			if err != nil {
				e.t.Fatal(err)
			}
			for _, r := range recs {
				off := b.FirstOffset + int64(r.OffsetDelta)
				if off < next {
					continue
				}
				v := "<nil>"
				if r.Value != nil {
					v = string(r.Value)
				}
				out = append(out, rec{Offset: off, Key: string(r.Key), Value: v})
			}
			next = b.FirstOffset + int64(b.LastOffsetDelta) + 1
		}
	}
	return out
}

// extents returns a partition's extents.
func (e *env) extents(topic metadata.TopicID, partition int32) []metadata.Extent {
	e.t.Helper()
	exts, err := e.store.Extents(e.ctx, topic, partition, 0, 1<<20)
	if err != nil {
		e.t.Fatal(err)
	}
	return exts
}

// objects lists the bucket's data files.
func (e *env) objects() []string {
	e.t.Helper()
	var keys []string
	if err := e.bucket.List(e.ctx, FilePrefix, func(o objstore.Object) error { keys = append(keys, o.Key); return nil }); err != nil {
		e.t.Fatal(err)
	}
	sort.Strings(keys)
	return keys
}

func (e *env) state(topic metadata.TopicID, partition int32) metadata.PartitionState {
	e.t.Helper()
	st, err := e.store.PartitionState(e.ctx, topic, partition)
	if err != nil {
		e.t.Fatal(err)
	}
	return st
}

func (e *env) run(fn func(context.Context) error) {
	e.t.Helper()
	if err := fn(e.ctx); err != nil {
		e.t.Fatal(err)
	}
}
