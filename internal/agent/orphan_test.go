package agent

import (
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io/fs"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/jobs"
	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/produce"
)

// crashingStore fails every commit while crashed is set, after the file
// was uploaded: what an agent killed between upload and commit leaves
// behind is exactly such a file, uploaded and never committed.
type crashingStore struct {
	metadata.Store
	crashed atomic.Bool
	lost    atomic.Int64
}

func (s *crashingStore) CommitFile(ctx context.Context, c metadata.FileCommit) ([]metadata.BatchResult, error) {
	if s.crashed.Load() {
		s.lost.Add(1)
		return nil, errors.New("injected: agent died between upload and commit")
	}
	return s.Store.CommitFile(ctx, c)
}

func bucketFiles(t *testing.T, dir string) []string {
	t.Helper()
	var keys []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(path, ".slc") {
			rel, _ := filepath.Rel(dir, path)
			keys = append(keys, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return keys
}

// TestOrphanSweepAfterCrashedCommits leaves orphans the way a crash
// between upload and commit does and checks that the agent's sweep deletes
// them once they are older than --file-grace-period, and never a committed
// file.
func TestOrphanSweepAfterCrashedCommits(t *testing.T) {
	dir := t.TempDir()
	bucketURL, metaURL, err := DataDirURLs(dir)
	if err != nil {
		t.Fatal(err)
	}
	store := &crashingStore{}
	const grace = 5 * time.Second
	a, err := Start(context.Background(), Config{
		BucketURL: bucketURL, MetadataURL: metaURL, KafkaAddr: "127.0.0.1:0", NodeID: 1,
		Produce:   produce.Config{BatchTimeout: 5 * time.Millisecond},
		Jobs:      jobs.Config{RetentionInterval: 200 * time.Millisecond, FileGracePeriod: grace},
		wrapStore: func(s metadata.Store) metadata.Store { store.Store = s; return store },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		a.Close(ctx)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(a.KafkaAddr()), kgo.DisableIdempotentWrite(), kgo.RecordRetries(2))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "o"); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "o", Value: []byte("first")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	store.crashed.Store(true)
	// Raw produce requests: one request, one upload, one failed commit
	// (a client's retries would add more).
	for i := 0; i < 2; i++ {
		req := kmsg.NewPtrProduceRequest()
		req.Acks, req.TimeoutMillis = -1, 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "o"
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = rawBatch("lost")
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		if code := resp.Topics[0].Partitions[0].ErrorCode; code == 0 {
			t.Fatal("produce succeeded while every commit fails")
		}
	}
	store.crashed.Store(false)
	bucketDir := filepath.Join(dir, "bucket")
	orphans := int(store.lost.Load())
	all := bucketFiles(t, bucketDir)
	if orphans < 2 || len(all) != orphans+1 {
		t.Fatalf("%d files in the bucket, %d failed commits; want failed commits + 1", len(all), orphans)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "o", Value: []byte("second")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		left := bucketFiles(t, bucketDir)
		known, err := store.KnownFiles(ctx, left)
		if err != nil {
			t.Fatal(err)
		}
		if len(left) == 2 && len(known) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the window the bucket still holds %d files (%d committed)", len(left), len(known))
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The committed records are intact.
	cons, err := kgo.NewClient(kgo.SeedBrokers(a.KafkaAddr()), kgo.ConsumeTopics("o"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	var got []string
	for len(got) < 2 {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %v", got)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatal(err) })
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	if strings.Join(got, ",") != "first,second" {
		t.Fatalf("consumed %v", got)
	}
}

// rawBatch encodes a one-record v2 batch.
func rawBatch(value string) []byte {
	r := kmsg.Record{Value: []byte(value)}
	body := r.AppendTo(nil)[1:]
	records := kbin.AppendVarint(nil, int32(len(body)))
	records = append(records, body...)
	now := time.Now().UnixMilli()
	b := kmsg.RecordBatch{PartitionLeaderEpoch: -1, Magic: 2, FirstTimestamp: now, MaxTimestamp: now,
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: 1, Records: records}
	b.Length = int32(49 + len(records))
	raw := b.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[17:], crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli)))
	return raw
}
