package fetch

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/metadata/sqlite"
	"github.com/sluicehq/sluice/internal/objstore"
	"github.com/sluicehq/sluice/internal/records"
	"github.com/sluicehq/sluice/internal/segment"
)

// fetchEnv is a store and bucket with one topic, and a way to commit
// batches to it.
type fetchEnv struct {
	t      *testing.T
	store  *sqlite.Store
	bucket objstore.Bucket
	topic  metadata.TopicID
	files  int
}

func newFetchEnv(t *testing.T, partitions int32) *fetchEnv {
	t.Helper()
	ctx := context.Background()
	bucket, err := objstore.Open(ctx, "mem://")
	if err != nil {
		t.Fatal(err)
	}
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	topic, err := store.CreateTopic(ctx, "t", partitions, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &fetchEnv{t: t, store: store, bucket: bucket, topic: topic.ID}
}

// commit writes one file holding a batch of batchRecords records per
// commit given (their TopicID, ByteOffset, ByteLength and Records are
// filled in) and commits it.
func (e *fetchEnv) commit(commits ...metadata.BatchCommit) {
	e.t.Helper()
	ctx := context.Background()
	var w segment.Writer
	batch := benchBatch(batchRecords, payload)
	for _, c := range commits {
		w.Add(e.topic, c.Partition, batch, records.BatchInfo{Records: batchRecords, ProducerID: -1})
	}
	data, _, pos := w.FinishWithPositions()
	e.files++
	key := "f" + string(rune('a'+e.files))
	if err := e.bucket.Put(ctx, key, data); err != nil {
		e.t.Fatal(err)
	}
	for i := range commits {
		commits[i].TopicID, commits[i].ByteOffset, commits[i].ByteLength, commits[i].Records = e.topic, int64(pos[i]), batchLen, batchRecords
	}
	res, err := e.store.CommitFile(ctx, metadata.FileCommit{Key: key, Size: int64(len(data)), Batches: commits})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			e.t.Fatal(r.Err)
		}
	}
}

// signallingReader is a Reader that reports each ReadFetch it finished.
type signallingReader struct {
	*Reader
	reads chan struct{}
}

func (r *signallingReader) ReadFetch(ctx context.Context, reqs []Request, maxBytes int) []Outcome {
	out := r.Reader.ReadFetch(ctx, reqs, maxBytes)
	r.reads <- struct{}{}
	return out
}

// watching returns how many watches wait for p.
func (n *Notifier) watching(p metadata.TopicPartition) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.watches[p])
}

// TestLongPollWakesPerPartition long-polls partition A: a commit to
// partition B, announced to the notifier, must not wake it (its watch is
// still registered when Notify returns, and it reads no more), while one
// to A answers it with A's data.
func TestLongPollWakesPerPartition(t *testing.T) {
	e := newFetchEnv(t, 2)
	a := metadata.TopicPartition{Topic: e.topic, Partition: 0}
	b := metadata.TopicPartition{Topic: e.topic, Partition: 1}
	reader := &signallingReader{Reader: NewReader(e.store, e.bucket, nil), reads: make(chan struct{}, 10)}
	defer reader.Close()
	n := NewNotifier()
	f := NewFetcher(reader, e.store, n)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan *Response, 1)
	go func() {
		done <- f.Fetch(ctx, Fetch{Partitions: []Request{{Topic: a.Topic, Partition: a.Partition, MaxBytes: 1 << 20}},
			MaxBytes: 1 << 20, MinBytes: 1, MaxWait: time.Minute})
	}()
	<-reader.reads // the first read found nothing; the watch was taken before it
	if got := n.watching(a); got != 1 {
		t.Fatalf("%d watches on A after the first read, want 1", got)
	}

	e.commit(metadata.BatchCommit{Partition: b.Partition})
	n.Notify(b)
	if got := n.watching(a); got != 1 {
		t.Fatalf("a commit to B fired the watch on A (%d watches left)", got)
	}
	select {
	case <-reader.reads:
		t.Fatal("a commit to B made the fetch of A read again")
	case r := <-done:
		t.Fatalf("a commit to B answered the fetch of A: %+v", r.Partitions)
	default:
	}

	e.commit(metadata.BatchCommit{Partition: a.Partition})
	n.Notify(a)
	var r *Response
	select {
	case r = <-done:
	case <-ctx.Done():
		t.Fatal("a commit to A did not answer its fetch")
	}
	<-reader.reads // the read after the wake-up
	if ans := r.Partitions[0]; ans.Err != nil || ans.Offsets != batchRecords || r.Bytes != batchLen {
		t.Fatalf("answer after the commit to A = %+v (%d bytes), want one batch", ans, r.Bytes)
	}
	if len(reader.reads) != 0 {
		t.Fatalf("%d more reads than the two expected", len(reader.reads))
	}
	if got := n.watching(a); got != 0 {
		t.Fatalf("%d watches on A left after the fetch", got)
	}
	r.Release()
}

// TestNotifyWithoutPartitionsWakesEveryone checks the wake-up for commits
// whose partitions are unknown (another agent's, announced by the store).
func TestNotifyWithoutPartitionsWakesEveryone(t *testing.T) {
	n := NewNotifier()
	var id metadata.TopicID
	w1 := n.Watch([]metadata.TopicPartition{{Topic: id, Partition: 0}})
	w2 := n.Watch([]metadata.TopicPartition{{Topic: id, Partition: 1}, {Topic: id, Partition: 0}})
	w3 := n.Watch([]metadata.TopicPartition{{Topic: id, Partition: 2}})
	w3.Stop()
	n.Notify()
	for i, w := range []*Watch{w1, w2} {
		select {
		case <-w.C():
		default:
			t.Fatalf("watch %d not woken", i+1)
		}
	}
	select {
	case <-w3.C():
		t.Fatal("a stopped watch fired")
	default:
	}
	w1.Stop() // after firing: a no-op
	if len(n.watches) != 0 {
		t.Fatalf("watches left: %v", n.watches)
	}
}

// countingStore counts the stable-state calls of the read path; with
// fail set, the batched call fails as an unreachable store does.
type countingStore struct {
	*sqlite.Store
	batched, single atomic.Int64
	fail            error
}

func (s *countingStore) StableStates(ctx context.Context, qs []metadata.StableQuery) ([]metadata.StableResult, error) {
	s.batched.Add(1)
	if s.fail != nil {
		return nil, s.fail
	}
	return s.Store.StableStates(ctx, qs)
}

func (s *countingStore) StableState(ctx context.Context, topic metadata.TopicID, partition int32, from int64) (metadata.StableState, error) {
	s.single.Add(1)
	return s.Store.StableState(ctx, topic, partition, from)
}

// TestReadCommittedOneStoreCall fetches 20 partitions read_committed, one
// with an open transaction after a plain batch and one with an aborted
// one: the store is asked for their stable states once, and each answer is
// cut at its last stable offset with its aborted transactions.
func TestReadCommittedOneStoreCall(t *testing.T) {
	const parts = 20
	e := newFetchEnv(t, parts)
	ctx := context.Background()
	var plain []metadata.BatchCommit
	for p := int32(0); p < parts; p++ {
		plain = append(plain, metadata.BatchCommit{Partition: p})
	}
	e.commit(plain...)
	txn := metadata.Transaction{ID: "x", ProducerID: 7, LastProducerID: -1, LastProducerEpoch: -1, TimeoutMs: 60000,
		State: metadata.TxnOngoing, StartedAt: time.Now(), Partitions: []metadata.TxnPartition{
			{Topic: "t", TopicID: e.topic, Partition: 1}, {Topic: "t", TopicID: e.topic, Partition: 2}}}
	saved, err := e.store.SaveTransaction(ctx, txn)
	if err != nil {
		t.Fatal(err)
	}
	txnal := func(p int32) metadata.BatchCommit {
		return metadata.BatchCommit{Partition: p, Transactional: true, Producer: &metadata.ProducerBatch{ID: 7}}
	}
	e.commit(txnal(1), txnal(2)) // offsets 10-19
	// Aborting: the marker lands on p2 only, p1 stays open.
	saved.State = metadata.TxnPrepareAbort
	if _, err := e.store.SaveTransaction(ctx, saved); err != nil {
		t.Fatal(err)
	}
	e.commit(metadata.BatchCommit{Partition: 2, Marker: &metadata.TxnMarker{ProducerID: 7}}) // abort p2 at 20

	store := &countingStore{Store: e.store}
	reader := NewReader(e.store, e.bucket, nil)
	defer reader.Close()
	f := NewFetcher(reader, store, NewNotifier())
	q := Fetch{MaxBytes: 1 << 30, MinBytes: 1, MaxWait: time.Minute, Isolation: ReadCommitted}
	for p := int32(0); p < parts; p++ {
		q.Partitions = append(q.Partitions, Request{Topic: e.topic, Partition: p, MaxBytes: 1 << 20})
	}
	r := f.Fetch(ctx, q)
	defer r.Release()
	if b, s := store.batched.Load(), store.single.Load(); b != 1 || s != 0 {
		t.Fatalf("%d StableStates and %d StableState calls for %d partitions, want 1 and 0", b, s, parts)
	}
	for p, a := range r.Partitions {
		wantHW, wantLSO, wantAborted, wantOffsets := int64(10), int64(10), "[]", int64(batchRecords)
		switch p {
		case 1: // open from 10: only the plain batch
			wantHW = 20
		case 2: // aborted 10-19, its marker at 20
			wantHW, wantLSO, wantAborted, wantOffsets = 30, 30, "[{7 10 20}]", 3*batchRecords
		}
		if a.Err != nil || a.State.HighWatermark != wantHW || a.LastStableOffset != wantLSO || a.Offsets != wantOffsets ||
			a.Aborted == nil || fmt.Sprint(a.Aborted) != wantAborted {
			t.Fatalf("partition %d: hw %d lso %d offsets %d aborted %v err %v; want hw %d lso %d offsets %d aborted %s",
				p, a.State.HighWatermark, a.LastStableOffset, a.Offsets, a.Aborted, a.Err, wantHW, wantLSO, wantOffsets, wantAborted)
		}
	}
}

// TestReadCommittedStoreDown: a read_committed fetch while the store
// cannot answer the stable-state question gets that error, as a storage
// error, for every partition (retriable for the client), with no records and no
// panic; the read_uncommitted fetch of the same data still succeeds.
func TestReadCommittedStoreDown(t *testing.T) {
	const parts = 3
	e := newFetchEnv(t, parts)
	ctx := context.Background()
	var plain []metadata.BatchCommit
	for p := int32(0); p < parts; p++ {
		plain = append(plain, metadata.BatchCommit{Partition: p})
	}
	e.commit(plain...)
	down := errors.New("store unreachable")
	store := &countingStore{Store: e.store, fail: down}
	reader := NewReader(e.store, e.bucket, nil)
	defer reader.Close()
	f := NewFetcher(reader, store, NewNotifier())
	q := Fetch{MaxBytes: 1 << 30, MinBytes: 1, MaxWait: 10 * time.Millisecond, Isolation: ReadCommitted}
	for p := int32(0); p < parts; p++ {
		q.Partitions = append(q.Partitions, Request{Topic: e.topic, Partition: p, MaxBytes: 1 << 20})
	}
	r := f.Fetch(ctx, q)
	for p, a := range r.Partitions {
		if !errors.Is(a.Err, down) || !errors.Is(a.Err, ErrStorage) || len(a.Records) != 0 {
			t.Fatalf("partition %d: err %v, %d record bytes; want the store's error and none", p, a.Err, len(a.Records))
		}
	}
	r.Release()
	q.Isolation = ReadUncommitted
	r = f.Fetch(ctx, q)
	defer r.Release()
	for p, a := range r.Partitions {
		if a.Err != nil || a.Offsets != batchRecords {
			t.Fatalf("read_uncommitted partition %d: err %v, %d offsets", p, a.Err, a.Offsets)
		}
	}
}
