package kafka

// Produce-path timestamp rules (the topic configs message.timestamp.type,
// message.timestamp.before.max.ms, message.timestamp.after.max.ms and the
// deprecated message.timestamp.difference.max.ms), applied as Kafka's
// LogValidator applies them:
//
//   - A batch whose producer set the LogAppendTime attribute bit gets
//     INVALID_TIMESTAMP on a LogAppendTime topic (only the log sets that
//     bit); on a CreateTime topic, as in Kafka, only when its max timestamp
//     is -1 or outside the window below.
//   - CreateTime topics: every record whose timestamp (first timestamp plus
//     its delta; -1 means none and is not checked) is more than
//     before.max.ms older or after.max.ms newer than the agent's clock when
//     the request is handled gets INVALID_TIMESTAMP for its partition, with
//     one record error per such record (v8+); nothing of the batch is
//     stored. As in Kafka 3.6+, a before/after bound left at its default
//     falls back to difference.max.ms.
//   - LogAppendTime topics: no window is checked; the batch is stamped with
//     the append time by the write path (produce.Batch.LogAppendTime): the
//     agent's clock when the batch's flush is sealed, just before the file
//     is uploaded and committed. Every batch of one flush gets the same
//     time, and the Produce response's log_append_time carries it (-1 for
//     CreateTime topics, as in Kafka).

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/segment"
	"github.com/sluicehq/sluice/internal/topics"
)

// attrLogAppendTime is the timestamp-type bit of the batch attributes.
const attrLogAppendTime = 0x08

// timestampPolicy is one topic's timestamp configs.
type timestampPolicy struct {
	logAppendTime bool
	// before and after bound CreateTime record timestamps relative to the
	// agent's clock (ms); math.MaxInt64 leaves a side unbounded.
	before, after int64
}

func timestampPolicyOf(t metadata.Topic) timestampPolicy {
	long := func(name string) int64 {
		n, err := strconv.ParseInt(topics.Value(t.Configs, name), 10, 64)
		if err != nil { // validated when set; unreachable
			return math.MaxInt64
		}
		return n
	}
	p := timestampPolicy{
		logAppendTime: topics.Value(t.Configs, "message.timestamp.type") == "LogAppendTime",
		before:        long("message.timestamp.before.max.ms"),
		after:         long("message.timestamp.after.max.ms"),
	}
	diff := long("message.timestamp.difference.max.ms")
	if p.before == math.MaxInt64 {
		p.before = diff
	}
	if p.after == math.MaxInt64 {
		p.after = diff
	}
	return p
}

// errInvalidTimestamps is the partition-level message Kafka sends with
// INVALID_TIMESTAMP; the record errors say which records and why.
var errInvalidTimestamps = errors.New("One or more records have been rejected due to invalid timestamp")

// check applies the policy to one batch that validateBatch accepted, at
// nowMs, record by record as Kafka's LogValidator.validateTimestamp does.
// It returns nil, or the record errors and an error to answer
// INVALID_TIMESTAMP with.
func (p timestampPolicy) check(batch []byte, nowMs int64) ([]kmsg.ProduceResponseTopicPartitionErrorRecord, error) {
	// The common case, checked without decoding: nothing to check.
	lat := binary.BigEndian.Uint16(batch[21:])&attrLogAppendTime != 0
	if !lat && (p.logAppendTime || (p.before == math.MaxInt64 && p.after == math.MaxInt64)) {
		return nil, nil
	}
	var b kmsg.RecordBatch
	if err := b.ReadFrom(batch); err != nil { // validateBatch read it already
		return nil, err
	}
	var stamps []int64
	switch {
	case lat: // every record's timestamp is the batch's max timestamp
		stamps = make([]int64, b.NumRecords)
		for i := range stamps {
			stamps[i] = b.MaxTimestamp
		}
	default:
		deltas, err := timestampDeltas(&b)
		if err != nil {
			return nil, err
		}
		stamps = deltas
		for i := range stamps {
			stamps[i] += b.FirstTimestamp
		}
	}
	var errs []kmsg.ProduceResponseTopicPartitionErrorRecord
	fail := func(i int, msg string) {
		errs = append(errs, kmsg.ProduceResponseTopicPartitionErrorRecord{RelativeOffset: int32(i), ErrorMessage: &msg})
	}
	for i, ts := range stamps {
		switch {
		case !p.logAppendTime && ts != -1: // -1: the record has no timestamp
			// Kafka compares now-ts with the bounds (saturated here, so
			// absurd timestamps cannot wrap around into the window).
			if satSub(nowMs, ts) > p.before || satSub(ts, nowMs) > p.after {
				fail(i, fmt.Sprintf("Timestamp %d of message with offset %d is out of range. The timestamp should be within [%d, %d]",
					ts, i, satSub(nowMs, p.before), satAdd(nowMs, p.after)))
			}
		case lat:
			fail(i, fmt.Sprintf("Invalid timestamp type in message with offset %d. Producer should not set timestamp type to LogAppendTime.", i))
		}
	}
	if errs != nil {
		return errs, errInvalidTimestamps
	}
	return nil, nil
}

// timestampDeltas returns every record's timestamp delta, decompressing the
// records if needed. validateRecords has checked their framing.
func timestampDeltas(b *kmsg.RecordBatch) ([]int64, error) {
	records := b.Records
	if codec := kgo.CompressionCodecType(b.Attributes & attrCompression); codec != kgo.CodecNone {
		var err error
		if records, err = segment.Decompress(records, int8(codec), maxDecompressedBatch); err != nil {
			return nil, fmt.Errorf("cannot decompress records: %w", err)
		}
	}
	deltas := make([]int64, 0, b.NumRecords)
	for i := int32(0); i < b.NumRecords; i++ {
		length, n := kbin.Varint(records)
		if n <= 0 || length < 0 || int(length) > len(records)-n {
			return nil, fmt.Errorf("record %d: length does not fit the batch", i)
		}
		rd := kbin.Reader{Src: records[n : n+int(length)]}
		rd.Int8() // attributes
		delta := rd.Varlong()
		if !rd.Ok() {
			return nil, fmt.Errorf("record %d: truncated", i)
		}
		deltas = append(deltas, delta)
		records = records[n+int(length):]
	}
	return deltas, nil
}

// satAdd and satSub are int64 addition and subtraction that saturate
// instead of wrapping, for timestamps at the ends of the range.
func satAdd(a, b int64) int64 {
	s := a + b
	switch {
	case a > 0 && b > 0 && s < 0:
		return math.MaxInt64
	case a < 0 && b < 0 && s >= 0:
		return math.MinInt64
	}
	return s
}

func satSub(a, b int64) int64 {
	if b == math.MinInt64 {
		if a >= 0 {
			return math.MaxInt64
		}
		return a - b
	}
	return satAdd(a, -b)
}

// invalidTimestampCode is the error code for check's failures other than a
// malformed batch.
func invalidTimestampCode(err error) int16 {
	if errors.Is(err, errInvalidTimestamps) {
		return kerr.InvalidTimestamp.Code
	}
	return kerr.CorruptMessage.Code
}
