package jobs

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/records"
	"github.com/sluicehq/sluice/internal/segment"
)

// txnBatch re-encodes batch(kvs...) as a transactional producer's batch.
func txnBatch(pid int64, kvs ...string) []byte {
	var b kmsg.RecordBatch
	if err := b.ReadFrom(batch(kvs...)); err != nil {
		panic(err)
	}
	b.ProducerID, b.ProducerEpoch, b.FirstSequence = pid, 0, 0
	b.Attributes |= records.AttrTransactional
	raw := b.AppendTo(nil)
	records.SetCRC(raw)
	return raw
}

// TestCompactionStopsAtLastStableOffset leaves an open transaction's data,
// and everything after it, as written: its marker and aborted range are
// still to come, so compaction may only rewrite below the last stable
// offset.
func TestCompactionStopsAtLastStableOffset(t *testing.T) {
	e := newEnv(t, Config{CompactionInterval: time.Second, FileGracePeriod: time.Minute, MaxExtentBytes: 64 << 10})
	a := e.topic("a", 1, nil)
	for i := 0; i < 10; i++ {
		e.flush(part{a.ID, 0, batch("", fmt.Sprintf("before%d", i))})
	}
	const pid = 77
	if _, err := e.store.SaveTransaction(e.ctx, metadata.Transaction{ID: "tx", ProducerID: pid, LastProducerID: -1, LastProducerEpoch: -1,
		TimeoutMs: 60000, State: metadata.TxnOngoing, StartedAt: time.Now(),
		Partitions: []metadata.TxnPartition{{Topic: "a", TopicID: a.ID, Partition: 0}}}); err != nil {
		t.Fatal(err)
	}
	tb := txnBatch(pid, "", "open")
	var w segment.Writer
	info, err := records.InfoOf(tb)
	if err != nil {
		t.Fatal(err)
	}
	w.Add(a.ID, 0, tb, info)
	data, _, positions := w.FinishWithPositions()
	key := newKey(time.Now())
	if err := e.bucket.Put(e.ctx, key, data); err != nil {
		t.Fatal(err)
	}
	res, err := e.store.CommitFile(e.ctx, metadata.FileCommit{Key: key, Size: int64(len(data)), Batches: []metadata.BatchCommit{{
		TopicID: a.ID, Partition: 0, ByteOffset: int64(positions[0]), ByteLength: int64(len(tb)),
		Records: 1, MaxTimestamp: info.MaxTimestamp, Producer: &metadata.ProducerBatch{ID: pid, FirstSequence: 0}, Transactional: true}}})
	if err != nil || res[0].Err != nil || res[0].BaseOffset != 10 {
		t.Fatalf("transactional commit = %+v, %v", res, err)
	}
	for i := 0; i < 10; i++ {
		e.flush(part{a.ID, 0, batch("", fmt.Sprintf("after%d", i))})
	}
	st, err := e.store.StableState(e.ctx, a.ID, 0, 0)
	if err != nil || st.LastStableOffset != 10 {
		t.Fatalf("stable state = %+v, %v; want last stable offset 10", st, err)
	}
	above := func() []metadata.Extent {
		var out []metadata.Extent
		for _, x := range e.extents(a.ID, 0) {
			if x.EndOffset > st.LastStableOffset {
				out = append(out, x)
			}
		}
		return out
	}
	before := above()
	for i := 0; i < 4; i++ {
		e.run(e.r.RunCompaction)
	}
	if after := above(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("extents at or above the last stable offset changed:\nbefore %v\nafter  %v", before, after)
	}
	if n := len(e.extents(a.ID, 0)) - len(before); n >= 10 {
		t.Fatalf("%d extents below the last stable offset after compaction; want them merged", n)
	}
	got := e.read(a.ID, 0)
	if len(got) != 21 || got[10].Value != "open" || got[20].Value != "after9" {
		t.Fatalf("read back %v", got)
	}
}
