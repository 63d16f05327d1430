package kafka

import (
	"bytes"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/records"
)

// timedBatch is a valid batch of n records with timestamps first, first+1, …
// compressed with codec unless it is nil.
func timedBatch(n int, first int64, codec *kgo.CompressionCodec) []byte {
	return steppedBatch(n, first, 1, codec)
}

// steppedBatch is timedBatch with timestamps step ms apart.
func steppedBatch(n int, first, step int64, codec *kgo.CompressionCodec) []byte {
	return newBatch(n, 10, func(b *kmsg.RecordBatch) {
		b.FirstTimestamp, b.MaxTimestamp = first, first+int64(n-1)*step
		b.Records = nil
		for i := 0; i < n; i++ {
			r := kmsg.Record{TimestampDelta64: int64(i) * step, OffsetDelta: int32(i), Value: []byte("v")}
			body := r.AppendTo(nil)[1:] // drop the placeholder length varint
			b.Records = kbin.AppendVarint(b.Records, int32(len(body)))
			b.Records = append(b.Records, body...)
		}
		if codec != nil {
			c, err := kgo.DefaultCompressor(*codec)
			if err != nil {
				panic(err)
			}
			out, typ := c.Compress(new(bytes.Buffer), b.Records)
			b.Records = append([]byte(nil), out...)
			b.Attributes = int16(typ)
		}
	})
}

// fetchBatch fetches the one batch stored at offset 0 of topic/0 and checks
// that its CRC is right.
func fetchBatch(t *testing.T, rc *rawConn, topic string) kmsg.RecordBatch {
	t.Helper()
	resp := rc.roundTrip(fetchReq(12, topic, 0, 0)).(*kmsg.FetchResponse)
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 || len(p.RecordBatches) == 0 {
		t.Fatalf("fetch %s: %+v", topic, p)
	}
	var b kmsg.RecordBatch
	if err := b.ReadFrom(p.RecordBatches); err != nil {
		t.Fatal(err)
	}
	if crc := records.Checksum(p.RecordBatches[:12+b.Length]); int32(crc) != b.CRC {
		t.Fatalf("fetched batch CRC %08x, computed %08x", uint32(b.CRC), crc)
	}
	return b
}

// TestProduceLogAppendTime: a LogAppendTime topic stores each batch with
// the timestamp-type bit and the append time as first and max timestamp
// (CRC recomputed), reports that time in log_append_time, and indexes it
// for ListOffsets; a CreateTime topic keeps the producer's timestamps and
// reports -1.
func TestProduceLogAppendTime(t *testing.T) {
	ts := startServer(t, Config{})
	ts.createTopic("lat", 1, map[string]string{"message.timestamp.type": "LogAppendTime"})
	ts.createTopic("latz", 1, map[string]string{"message.timestamp.type": "LogAppendTime"})
	ts.createTopic("ct", 1, nil)
	rc := ts.dial()
	lz4 := kgo.Lz4Compression()
	const old = 1_600_000_000_000

	before := time.Now().UnixMilli()
	resp := rc.roundTrip(produceReq(9, -1,
		producePart{"lat", 0, timedBatch(3, old, nil)},
		producePart{"latz", 0, timedBatch(5, old, &lz4)},
		producePart{"ct", 0, timedBatch(2, old, nil)},
	)).(*kmsg.ProduceResponse)
	after := time.Now().UnixMilli()

	for _, topic := range []string{"lat", "latz"} {
		p := producePartResult(t, resp, topic, 0)
		if p.ErrorCode != 0 || p.LogAppendTime < before || p.LogAppendTime > after {
			t.Fatalf("%s: %+v; want log_append_time in [%d, %d]", topic, p, before, after)
		}
		b := fetchBatch(t, rc, topic)
		if b.Attributes&records.AttrLogAppendTime == 0 || b.FirstTimestamp != p.LogAppendTime || b.MaxTimestamp != p.LogAppendTime {
			t.Fatalf("%s: stored batch attributes %#x, timestamps %d/%d; want LogAppendTime %d", topic, b.Attributes, b.FirstTimestamp, b.MaxTimestamp, p.LogAppendTime)
		}
		if topic == "latz" && b.Attributes&records.AttrCompression != int16(kgo.CodecLz4) {
			t.Fatalf("latz: compression bits lost: %#x", b.Attributes)
		}
		// A franz-go consumer parses the fetched batch with every record at
		// the append time, of type LogAppendTime.
		lo := kmsg.NewPtrListOffsetsRequest()
		lo.Version = 6
		lt := kmsg.NewListOffsetsRequestTopic()
		lt.Topic = topic
		lp := kmsg.NewListOffsetsRequestTopicPartition()
		lp.Timestamp = p.LogAppendTime
		lt.Partitions = append(lt.Partitions, lp)
		lo.Topics = append(lo.Topics, lt)
		lr := rc.roundTrip(lo).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]
		if lr.ErrorCode != 0 || lr.Offset != 0 || lr.Timestamp != p.LogAppendTime {
			t.Fatalf("%s: ListOffsets(%d) = %+v, want offset 0 at the append time", topic, p.LogAppendTime, lr)
		}
		lo.Topics[0].Partitions[0].Timestamp = p.LogAppendTime + 1
		if lr := rc.roundTrip(lo).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]; lr.Offset != -1 {
			t.Fatalf("%s: ListOffsets(after the append time) = %+v, want -1", topic, lr)
		}
	}
	if p := producePartResult(t, resp, "ct", 0); p.ErrorCode != 0 || p.LogAppendTime != -1 {
		t.Fatalf("ct: %+v, want log_append_time -1", p)
	}
	if b := fetchBatch(t, rc, "ct"); b.Attributes&records.AttrLogAppendTime != 0 || b.FirstTimestamp != old || b.MaxTimestamp != old+1 {
		t.Fatalf("ct: stored batch %#x %d/%d, want the producer's CreateTime %d", b.Attributes, b.FirstTimestamp, b.MaxTimestamp, old)
	}

	// Switching the topic to LogAppendTime applies to the next batch; the
	// stored one keeps its CreateTime.
	if r := incAlter(rc, false, "ct", op("message.timestamp.type", kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr("LogAppendTime"))); r.ErrorCode != 0 {
		t.Fatalf("alter: %+v", r)
	}
	resp = rc.roundTrip(produceReq(11, -1, producePart{"ct", 0, timedBatch(1, old, nil)})).(*kmsg.ProduceResponse)
	p := producePartResult(t, resp, "ct", 0)
	if p.ErrorCode != 0 || p.BaseOffset != 2 || p.LogAppendTime < before {
		t.Fatalf("ct after switching to LogAppendTime: %+v", p)
	}
	fr := rc.roundTrip(fetchReq(12, "ct", 0, 0)).(*kmsg.FetchResponse).Topics[0].Partitions[0]
	first, rest, err := records.Next(fr.RecordBatches)
	if err != nil {
		t.Fatal(err)
	}
	var b1, b2 kmsg.RecordBatch
	if err := b1.ReadFrom(first); err != nil {
		t.Fatal(err)
	}
	if err := b2.ReadFrom(rest); err != nil {
		t.Fatal(err)
	}
	if b1.Attributes&records.AttrLogAppendTime != 0 || b1.MaxTimestamp != old+1 || b2.Attributes&records.AttrLogAppendTime == 0 || b2.MaxTimestamp != p.LogAppendTime {
		t.Fatalf("after the switch: first batch %#x/%d, second %#x/%d", b1.Attributes, b1.MaxTimestamp, b2.Attributes, b2.MaxTimestamp)
	}
}

// TestProduceTimestampWindow: CreateTime records outside
// message.timestamp.before/after.max.ms (or the deprecated
// difference.max.ms) get INVALID_TIMESTAMP with a record error each, and
// nothing of their batch is stored; the other partitions of the request are.
func TestProduceTimestampWindow(t *testing.T) {
	ts := startServer(t, Config{})
	ts.createTopic("win", 1, map[string]string{"message.timestamp.before.max.ms": "3600000", "message.timestamp.after.max.ms": "60000"})
	ts.createTopic("diff", 1, map[string]string{"message.timestamp.difference.max.ms": "60000"})
	ts.createTopic("lat", 1, map[string]string{"message.timestamp.type": "LogAppendTime", "message.timestamp.before.max.ms": "0"})
	ts.createTopic("ct", 1, nil)
	rc := ts.dial()
	gz := kgo.GzipCompression()
	now := time.Now().UnixMilli()

	cases := []struct {
		name, topic string
		batch       []byte
		bad         []int32 // relative offsets of the records refused; nil: accepted
	}{
		{"in window", "win", timedBatch(3, now-1000, nil), nil},
		{"two hours old", "win", timedBatch(3, now-2*3600_000, nil), []int32{0, 1, 2}},
		{"straddles the lower bound", "win", steppedBatch(3, now-3600_000-30_000, 60_000, nil), []int32{0}},
		{"straddles the upper bound", "win", steppedBatch(3, now-60_000, 90_000, nil), []int32{2}},
		{"ten minutes ahead", "win", timedBatch(2, now+600_000, nil), []int32{0, 1}},
		{"old and compressed", "win", timedBatch(4, now-2*3600_000, &gz), []int32{0, 1, 2, 3}},
		{"absurdly far ahead", "win", timedBatch(1, math.MaxInt64, nil), []int32{0}},
		{"absurdly old", "win", timedBatch(1, math.MinInt64, nil), []int32{0}},
		{"no timestamp", "win", timedBatch(1, -1, nil), nil},
		{"difference: old", "diff", timedBatch(2, now-120_000, nil), []int32{0, 1}},
		{"difference: ahead", "diff", timedBatch(2, now+120_000, nil), []int32{0, 1}},
		{"difference: in window", "diff", timedBatch(2, now, nil), nil},
		{"LogAppendTime topic ignores the window", "lat", timedBatch(2, now-2*3600_000, nil), nil},
		{"producer set LogAppendTime on a LogAppendTime topic", "lat", newBatch(2, 10, func(b *kmsg.RecordBatch) { b.Attributes |= records.AttrLogAppendTime }), []int32{0, 1}},
		{"producer set LogAppendTime on a CreateTime topic", "ct", newBatch(2, 10, func(b *kmsg.RecordBatch) { b.Attributes |= records.AttrLogAppendTime }), nil},
		{"producer set LogAppendTime, no timestamp", "ct", newBatch(2, 10, func(b *kmsg.RecordBatch) {
			b.Attributes |= records.AttrLogAppendTime
			b.FirstTimestamp, b.MaxTimestamp = -1, -1
		}), []int32{0, 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, version := range []int16{7, 9, 11} {
				hw := ts.hw(c.topic, 0)
				hwCT := ts.hw("ct", 0)
				parts := []producePart{{c.topic, 0, c.batch}}
				if c.topic != "ct" {
					parts = append(parts, producePart{"ct", 0, newBatch(1, 5, nil)})
				}
				resp := rc.roundTrip(produceReq(version, -1, parts...)).(*kmsg.ProduceResponse)
				p := producePartResult(t, resp, c.topic, 0)
				if c.bad == nil {
					if p.ErrorCode != 0 || ts.hw(c.topic, 0) == hw {
						t.Fatalf("v%d: %+v (hw %d → %d), want stored", version, p, hw, ts.hw(c.topic, 0))
					}
					continue
				}
				if p.ErrorCode != kerr.InvalidTimestamp.Code || p.BaseOffset != -1 {
					t.Fatalf("v%d: %+v, want INVALID_TIMESTAMP", version, p)
				}
				if got := ts.hw(c.topic, 0); got != hw {
					t.Fatalf("v%d: high watermark %d → %d: a refused batch was stored", version, hw, got)
				}
				if c.topic != "ct" {
					if q := producePartResult(t, resp, "ct", 0); q.ErrorCode != 0 || ts.hw("ct", 0) != hwCT+1 {
						t.Fatalf("v%d: the valid partition of the request: %+v", version, q)
					}
				}
				if version < 8 {
					continue // no record errors before v8
				}
				if p.ErrorMessage == nil || !strings.Contains(*p.ErrorMessage, "invalid timestamp") {
					t.Fatalf("v%d: error message %v", version, p.ErrorMessage)
				}
				var got []int32
				for _, e := range p.ErrorRecords {
					if e.ErrorMessage == nil || *e.ErrorMessage == "" {
						t.Fatalf("v%d: record error without a message: %+v", version, e)
					}
					got = append(got, e.RelativeOffset)
				}
				if !slices.Equal(got, c.bad) {
					t.Fatalf("v%d: record errors for %v, want %v (%+v)", version, got, c.bad, p.ErrorRecords)
				}
			}
		})
	}
}

// TestTimestampPolicyOf: the before/after bounds fall back to
// difference.max.ms only when left at their defaults, as in Kafka 3.6+.
func TestTimestampPolicyOf(t *testing.T) {
	for _, c := range []struct {
		configs       map[string]string
		before, after int64
		lat           bool
	}{
		{nil, math.MaxInt64, math.MaxInt64, false},
		{map[string]string{"message.timestamp.difference.max.ms": "5"}, 5, 5, false},
		{map[string]string{"message.timestamp.difference.max.ms": "5", "message.timestamp.before.max.ms": "7"}, 7, 5, false},
		{map[string]string{"message.timestamp.after.max.ms": "9", "message.timestamp.type": "LogAppendTime"}, math.MaxInt64, 9, true},
	} {
		if p := timestampPolicyOf(metadata.Topic{Configs: c.configs}); p.before != c.before || p.after != c.after || p.logAppendTime != c.lat {
			t.Errorf("%v: %+v", c.configs, p)
		}
	}
}
