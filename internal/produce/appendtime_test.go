package produce_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/fetch"
	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/produce"
	"github.com/sluicehq/sluice/internal/records"
)

// TestLogAppendTime: batches submitted with LogAppendTime are stored with
// their flush's seal time as first and max timestamp and the type bit (CRC
// valid), their results report that time, and the index carries it;
// others are stored as sent and report -1. A later flush never gets an
// earlier time.
func TestLogAppendTime(t *testing.T) {
	e := newEnv(t, produce.Config{BatchTimeout: 5 * time.Millisecond}, nil)
	topic := e.topic("lat", 2)
	var last int64
	for round := 0; round < 3; round++ {
		lat := batchOf(topic, 0, "a", "b", "c")
		lat.LogAppendTime = true
		before := time.Now().UnixMilli()
		res := waitOK(t, e.submit(context.Background(), lat, batchOf(topic, 1, "x")))
		after := time.Now().UnixMilli()
		if ts := res[0].LogAppendTime; ts < before || ts > after || ts < last {
			t.Fatalf("round %d: LogAppendTime %d, want in [%d, %d] and not before the previous flush's %d", round, ts, before, after, last)
		}
		last = res[0].LogAppendTime
		if res[1].LogAppendTime != -1 {
			t.Fatalf("round %d: CreateTime batch reports LogAppendTime %d", round, res[1].LogAppendTime)
		}

		r := fetch.NewReader(e.store, e.bucket, nil)
		got, err := r.Read(context.Background(), topic, 0, res[0].BaseOffset, 1<<20, true)
		if err != nil {
			t.Fatal(err)
		}
		var b kmsg.RecordBatch
		if err := b.ReadFrom(got.Records); err != nil {
			t.Fatal(err)
		}
		if crc := records.Checksum(got.Records[:12+b.Length]); int32(crc) != b.CRC {
			t.Fatalf("round %d: stored CRC %08x, computed %08x", round, uint32(b.CRC), crc)
		}
		if b.Attributes&records.AttrLogAppendTime == 0 || b.FirstTimestamp != last || b.MaxTimestamp != last || b.NumRecords != 3 {
			t.Fatalf("round %d: stored batch %+v, want LogAppendTime %d", round, b, last)
		}
		off, ts, found, err := r.OffsetForTimestamp(context.Background(), topic, 0, last)
		if err != nil || !found || off != res[0].BaseOffset || ts != last {
			t.Fatalf("round %d: OffsetForTimestamp(%d) = %d, %d, %v, %v", round, last, off, ts, found, err)
		}

		got, err = r.Read(context.Background(), topic, 1, res[1].BaseOffset, 1<<20, true)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.ReadFrom(got.Records); err != nil || b.Attributes&records.AttrLogAppendTime != 0 || b.FirstTimestamp != 1_700_000_000_000 {
			t.Fatalf("round %d: CreateTime batch stored as %+v, %v", round, b, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// latIdempotent returns a LogAppendTime batch of producer 7 (epoch 0) starting at
// sequence 0, as a client would send it (and resend it).
func latIdempotent(topic metadata.TopicID) produce.Batch {
	bt := batchOf(topic, 0, "a", "b")
	var b kmsg.RecordBatch
	if err := b.ReadFrom(bt.Data); err != nil {
		panic(err)
	}
	b.ProducerID, b.ProducerEpoch, b.FirstSequence = 7, 0, 0
	raw := b.AppendTo(nil)
	records.SetCRC(raw)
	bt.Data = raw
	bt.Info.ProducerID, bt.Info.ProducerEpoch, bt.Info.FirstSequence, bt.Info.LastSequence = 7, 0, 0, 1
	bt.LogAppendTime = true
	return bt
}

// TestLogAppendTimeDuplicate: a producer's retry of a committed
// LogAppendTime batch is answered with the original's offset and append
// time, as Kafka answers it, not with the retry's flush time.
func TestLogAppendTimeDuplicate(t *testing.T) {
	e := newEnv(t, produce.Config{BatchTimeout: 5 * time.Millisecond}, nil)
	topic := e.topic("lat", 1)
	first := waitOK(t, e.submit(context.Background(), latIdempotent(topic)))[0]
	time.Sleep(20 * time.Millisecond) // the retry's flush is sealed later
	retry := waitOK(t, e.submit(context.Background(), latIdempotent(topic)))[0]
	if retry.BaseOffset != first.BaseOffset || e.hw(topic, 0) != 2 {
		t.Fatalf("retry: offset %d (first %d), high watermark %d: not treated as a duplicate", retry.BaseOffset, first.BaseOffset, e.hw(topic, 0))
	}
	if retry.LogAppendTime != first.LogAppendTime || first.LogAppendTime <= 0 {
		t.Fatalf("retry reports append time %d, the original was stamped %d", retry.LogAppendTime, first.LogAppendTime)
	}
}
