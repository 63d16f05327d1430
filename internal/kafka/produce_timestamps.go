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
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/records"
	"github.com/sluicehq/sluice/internal/topics"
)

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

// window is the CreateTime window records.Validate checks record
// timestamps against at nowMs, or nil when the topic checks none: a
// LogAppendTime topic, or neither side bounded.
func (p timestampPolicy) window(nowMs int64) *records.Window {
	if p.logAppendTime || (p.before == math.MaxInt64 && p.after == math.MaxInt64) {
		return nil
	}
	return &records.Window{Now: nowMs, Before: p.before, After: p.after}
}

// check applies the policy to one batch that validateBatch accepted with
// window (p.window), record by record as Kafka's
// LogValidator.validateTimestamp does. It returns nil, or the record errors
// and an error to answer INVALID_TIMESTAMP with. The window was checked in
// the validation's pass over the records (c.OutOfWindow): nothing is
// decoded here.
func (p timestampPolicy) check(c *records.Checked, window *records.Window) ([]kmsg.ProduceResponseTopicPartitionErrorRecord, error) {
	var errs []kmsg.ProduceResponseTopicPartitionErrorRecord
	fail := func(i int32, msg string) {
		errs = append(errs, kmsg.ProduceResponseTopicPartitionErrorRecord{RelativeOffset: i, ErrorMessage: &msg})
	}
	// Every record of a batch with the LogAppendTime bit has the batch's
	// max timestamp. The producer may not set the bit on a LogAppendTime
	// topic; on a CreateTime topic that timestamp is checked as any other
	// (by Validate), unless it is -1.
	if c.Attributes&records.AttrLogAppendTime != 0 && (p.logAppendTime || c.Info.MaxTimestamp == -1) {
		for i := int32(0); int64(i) < c.Info.Records; i++ {
			fail(i, fmt.Sprintf("Invalid timestamp type in message with offset %d. Producer should not set timestamp type to LogAppendTime.", i))
		}
	}
	for _, s := range c.OutOfWindow {
		first, last := window.Bounds()
		fail(s.Index, fmt.Sprintf("Timestamp %d of message with offset %d is out of range. The timestamp should be within [%d, %d]",
			s.Timestamp, s.Index, first, last))
	}
	if errs != nil {
		return errs, errInvalidTimestamps
	}
	return nil, nil
}
