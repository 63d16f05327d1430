package jobs

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/records"
)

// modBatch edits a batch's header (producer fields, attributes) and fixes
// its CRC.
func modBatch(raw []byte, fn func(*kmsg.RecordBatch)) []byte {
	var b kmsg.RecordBatch
	if err := b.ReadFrom(raw); err != nil {
		panic(err)
	}
	fn(&b)
	out := b.AppendTo(nil)
	records.SetCRC(out)
	return out
}

func gzipBatch(kvs ...string) []byte {
	c, err := kgo.DefaultCompressor(kgo.GzipCompression())
	if err != nil {
		panic(err)
	}
	return modBatch(batch(kvs...), func(b *kmsg.RecordBatch) {
		out, typ := c.Compress(new(bytes.Buffer), b.Records)
		b.Records = append([]byte(nil), out...)
		b.Attributes |= int16(typ)
		b.Length = int32(49 + len(b.Records))
	})
}

func TestKeyCompaction(t *testing.T) {
	e := newEnv(t, Config{CompactionInterval: time.Second, FileGracePeriod: time.Minute})
	tp := e.topic("kc", 1, map[string]string{"cleanup.policy": "compact", "delete.retention.ms": "3600000"})
	// offsets 0-2
	e.flush(part{tp.ID, 0, batch("k1", "a", "k2", "b", "k3", "c")})
	// 3-4, compressed
	e.flush(part{tp.ID, 0, gzipBatch("k1", "a2", "k2", "<nil>")})
	// 5: an idempotent producer's batch, superseded later
	e.flush(part{tp.ID, 0, modBatch(batch("k5", "p"), func(b *kmsg.RecordBatch) { b.ProducerID, b.ProducerEpoch, b.FirstSequence = 7, 1, 0 })})
	// 6-7: transactional, superseded keys: untouched
	e.flush(part{tp.ID, 0, modBatch(batch("k1", "tx", "k3", "tx"), func(b *kmsg.RecordBatch) {
		b.ProducerID, b.ProducerEpoch, b.FirstSequence = 8, 0, 0
		b.Attributes |= records.AttrTransactional
	})})
	// 8-10
	e.flush(part{tp.ID, 0, batch("k3", "c3", "k1", "a3", "k5", "p2")})
	// 11
	e.flush(part{tp.ID, 0, batch("k4", "d")})
	e.run(e.r.RunCompaction)
	got := fmt.Sprint(e.read(tp.ID, 0))
	want := "[4:k2=<nil> 6:k1=tx 7:k3=tx 8:k3=c3 9:k1=a3 10:k5=p2 11:k4=d]"
	if got != want {
		t.Fatalf("after key compaction:\n got %s\nwant %s", got, want)
	}
	if exts := e.extents(tp.ID, 0); len(exts) != 1 || exts[0].BaseOffset != 0 || exts[0].EndOffset != 12 {
		t.Fatalf("extents = %+v, want one [0,12)", exts)
	}
	if st := e.state(tp.ID, 0); st.LogStartOffset != 0 || st.HighWatermark != 12 {
		t.Fatalf("state = %+v", st)
	}
	// The stored batches: the transactional one is byte-for-byte kept with
	// its producer fields; the gzip batch stays gzip.
	exts := e.extents(tp.ID, 0)
	data, err := e.bucket.GetRange(e.ctx, exts[0].FileKey, exts[0].ByteOffset, exts[0].ByteLength)
	if err != nil {
		t.Fatal(err)
	}
	var sawTxn, sawGzip bool
	for len(data) > 0 {
		var b kmsg.RecordBatch
		if err := b.ReadFrom(data); err != nil {
			t.Fatal(err)
		}
		n := 12 + int(b.Length)
		if b.Attributes&records.AttrTransactional != 0 {
			sawTxn = b.ProducerID == 8 && b.NumRecords == 2
		}
		if b.Attributes&records.AttrCompression == int16(kgo.CodecGzip) {
			sawGzip = b.NumRecords == 1
		}
		data = data[n:]
	}
	if !sawTxn || !sawGzip {
		t.Fatalf("transactional batch kept: %v; compressed batch rewritten compressed: %v", sawTxn, sawGzip)
	}
	// Nothing new: another run writes nothing.
	written := e.r.Stats().CompactionWrittenBytes
	e.run(e.r.RunCompaction)
	if w := e.r.Stats().CompactionWrittenBytes; w != written {
		t.Fatalf("a run without new data rewrote the partition (%d -> %d bytes)", written, w)
	}
	// A little new data stays below min.cleanable.dirty.ratio (0.5): no
	// rewrite.
	e.flush(part{tp.ID, 0, batch("k4", "d2")})
	time.Sleep(5 * time.Millisecond)
	e.run(e.r.RunCompaction)
	if w := e.r.Stats().CompactionWrittenBytes; w != written {
		t.Fatalf("a run below min.cleanable.dirty.ratio rewrote the partition (%d -> %d bytes)", written, w)
	}
	if got := fmt.Sprint(e.read(tp.ID, 0)); !strings.Contains(got, "11:k4=d ") {
		t.Fatalf("compacted below the dirty ratio: %s", got)
	}
	// A lower ratio and an expired tombstone horizon: k4=d and the
	// tombstone's batch go.
	if _, err := e.store.AlterTopicConfigs(e.ctx, "kc", func(c map[string]string) (map[string]string, error) {
		c["delete.retention.ms"] = "0"
		c["min.cleanable.dirty.ratio"] = "0.01"
		return c, nil
	}); err != nil {
		t.Fatal(err)
	}
	e.run(e.r.RunCompaction)
	got = fmt.Sprint(e.read(tp.ID, 0))
	// The tombstone's batch (offsets 0-4) and the emptied producer batch
	// (5) come right before the untouched transactional batch: no batch can
	// absorb their offsets, so they are kept whole (a known limit; see
	// TestTombstoneExpiry for the common case).
	want = "[4:k2=<nil> 6:k1=tx 7:k3=tx 8:k3=c3 9:k1=a3 10:k5=p2 12:k4=d2]"
	if got != want {
		t.Fatalf("after the second pass:\n got %s\nwant %s", got, want)
	}
}

func TestTombstoneExpiry(t *testing.T) {
	e := newEnv(t, Config{CompactionInterval: time.Second, FileGracePeriod: time.Minute})
	tp := e.topic("ts", 1, map[string]string{"cleanup.policy": "compact", "delete.retention.ms": "0"})
	e.flush(part{tp.ID, 0, batch("k", "a", "j", "b")})
	e.flush(part{tp.ID, 0, batch("k", "<nil>")})
	e.flush(part{tp.ID, 0, batch("i", "c")})
	time.Sleep(5 * time.Millisecond)
	e.run(e.r.RunCompaction)
	if got := fmt.Sprint(e.read(tp.ID, 0)); got != "[1:j=b 3:i=c]" {
		t.Fatalf("after compaction with delete.retention.ms=0: %s", got)
	}
	if st := e.state(tp.ID, 0); st.LogStartOffset != 0 || st.HighWatermark != 4 {
		t.Fatalf("state = %+v", st)
	}
	// Everything superseded or deleted: the emptied batches are absorbed
	// by the next one, whose base offset moves down.
	e.flush(part{tp.ID, 0, batch("j", "<nil>", "i", "<nil>")})
	e.flush(part{tp.ID, 0, batch("z", "last")})
	time.Sleep(5 * time.Millisecond)
	e.run(e.r.RunCompaction)
	if got := fmt.Sprint(e.read(tp.ID, 0)); got != "[6:z=last]" {
		t.Fatalf("after deleting every key but z: %s", got)
	}
}

func TestKeyCompactionLag(t *testing.T) {
	e := newEnv(t, Config{CompactionInterval: time.Second, FileGracePeriod: time.Minute})
	tp := e.topic("lag", 1, map[string]string{"cleanup.policy": "compact,delete", "min.compaction.lag.ms": "3600000", "retention.ms": "-1"})
	e.flush(part{tp.ID, 0, batch("k", "1")})
	e.flush(part{tp.ID, 0, batch("k", "2")})
	e.run(e.r.RunCompaction)
	if got := fmt.Sprint(e.read(tp.ID, 0)); got != "[0:k=1 1:k=2]" {
		t.Fatalf("head younger than min.compaction.lag.ms was compacted: %s", got)
	}
	e.advance(2 * time.Hour)
	e.run(e.r.RunCompaction)
	if got := fmt.Sprint(e.read(tp.ID, 0)); got != "[1:k=2]" {
		t.Fatalf("after the lag: %s", got)
	}
}
