package kafka

// Produce (key 0), versions 3-11.
//
// Every partition must carry exactly one v2 record batch (INVALID_RECORD
// otherwise, as Kafka requires from v3 on). Each batch is checked before it
// is buffered: its size against the topic's max.message.bytes
// (MESSAGE_TOO_LARGE), its framing and CRC (CORRUPT_MESSAGE), its record
// count and offset deltas, and every record's framing after decompression
// (INVALID_RECORD). Batches that fail are not stored; the rest of the
// request proceeds. Valid batches are stored as sent, compression untouched.
//
// acks=1 and acks=all are the same here: the response is sent only after
// the file holding the batches is durable in the bucket and committed to
// the metadata store, and it carries the committed base offsets. acks=0
// gets no response; as in Kafka, a validation error then closes the
// connection. The response waits for the flush at most the request's
// timeout (at least 1s, at most Config.ProduceTimeout), then answers
// REQUEST_TIMED_OUT (the batches may still commit, as in Kafka; idempotent
// producers' retries are deduplicated). While the agent's readiness prober
// finds the bucket failing, valid batches are refused at once with
// KAFKA_STORAGE_ERROR (retriable) instead of waiting on a dead bucket.
//
// Idempotent producers (batches with a producer ID) are checked when their
// file commits, inside the metadata transaction that assigns offsets: a
// retry of one of the producer's last five batches on that partition is
// answered with the original offsets and stored nothing, a sequence gap is
// OUT_OF_ORDER_SEQUENCE_NUMBER, an old epoch INVALID_PRODUCER_EPOCH, and a
// producer unknown to the partition must start at sequence 0
// (UNKNOWN_PRODUCER_ID otherwise). This holds across agents and restarts.
//
// Timestamps follow the topic's message.timestamp.* configs
// (produce_timestamps.go): CreateTime records outside the before/after
// window get INVALID_TIMESTAMP with record errors, and LogAppendTime
// batches are stamped with their flush's seal time, which log_append_time
// reports (-1 for CreateTime); an idempotent retry answered from the store
// reports the original's append time.
//
// Transactional batches (request with a transactional ID, batch with the
// transactional attribute) are verified in the same commit transaction:
// the producer's transaction must be ongoing under the batch's epoch and
// must cover the partition (INVALID_TXN_STATE otherwise; an older epoch is
// INVALID_PRODUCER_EPOCH), which is KIP-890's server-side defence made
// where offsets are assigned, for every client. A transactional batch
// without a producer ID is INVALID_RECORD; a transactional batch in a
// request without a transactional ID, or a non-transactional batch in a
// request with one, is INVALID_TXN_STATE. Client-sent control batches are
// refused (INVALID_RECORD).
//
// Deviations: versions 12+ (KIP-890
// implicit transaction verification) and 13 (topic IDs) are not served.

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/produce"
	"github.com/sluicehq/sluice/internal/segment"
)

// produceSlot remembers where a submitted batch's result goes.
type produceSlot struct {
	topic, partition int
}

func (s *Server) handleProduce(ctx context.Context, req *request, m *kmsg.ProduceRequest) reply {
	resp := kmsg.NewPtrProduceResponse()
	resp.Version = req.version
	var (
		batches []produce.Batch
		slots   []produceSlot
		failed  bool
	)
	setErr := func(p *kmsg.ProduceResponseTopicPartition, code int16, msg string) {
		p.ErrorCode = code
		p.BaseOffset = -1
		if msg != "" {
			p.ErrorMessage = &msg
		}
		s.metrics.errorCode(req.key, code)
		failed = true
	}
	for ti, rt := range m.Topics {
		rs := kmsg.NewProduceResponseTopic()
		rs.Topic = rt.Topic
		t, topicErr := s.topics.Topic(ctx, rt.Topic)
		maxBytes := s.cfg.MaxMessageBytes
		var stamps timestampPolicy
		if topicErr == nil {
			if v, ok := t.Configs["max.message.bytes"]; ok {
				maxBytes, _ = strconv.Atoi(v)
			}
			stamps = timestampPolicyOf(t)
		}
		for _, rp := range rt.Partitions {
			ps := kmsg.NewProduceResponseTopicPartition()
			ps.Partition = rp.Partition
			ps.LogAppendTime = -1
			ps.LogStartOffset = -1
			switch {
			case m.Acks != 0 && m.Acks != 1 && m.Acks != -1:
				setErr(&ps, kerr.InvalidRequiredAcks.Code, "acks must be -1, 0 or 1")
			case topicErr != nil:
				setErr(&ps, errorCode(topicErr), "")
			case rp.Partition < 0 || rp.Partition >= t.Partitions:
				setErr(&ps, kerr.UnknownTopicOrPartition.Code, "")
			case len(rp.Records) > maxBytes:
				setErr(&ps, kerr.MessageTooLarge.Code, fmt.Sprintf("record batch of %d bytes exceeds max.message.bytes %d", len(rp.Records), maxBytes))
			default:
				info, code, err := validateBatch(rp.Records)
				if code != 0 {
					setErr(&ps, code, err.Error())
					break
				}
				if info.Transactional != (m.TransactionID != nil) {
					setErr(&ps, kerr.InvalidTxnState.Code, "transactional batches need a transactional id, and only they may carry one")
					break
				}
				if ps.ErrorRecords, err = stamps.check(rp.Records, time.Now().UnixMilli()); err != nil {
					setErr(&ps, invalidTimestampCode(err), err.Error())
					break
				}
				batches = append(batches, produce.Batch{Topic: t.ID, Partition: rp.Partition, Data: rp.Records, Info: info, LogAppendTime: stamps.logAppendTime})
				slots = append(slots, produceSlot{ti, len(rs.Partitions)})
			}
			rs.Partitions = append(rs.Partitions, ps)
		}
		resp.Topics = append(resp.Topics, rs)
	}

	var pending *produce.Pending
	if len(batches) > 0 {
		err := s.bucketReady()
		if err == nil {
			pending, err = s.producer.SubmitFrom(ctx, req.source, batches)
		} else {
			err = fmt.Errorf("%w: %v", produce.ErrStorage, err)
		}
		if err != nil {
			for _, sl := range slots {
				setErr(&resp.Topics[sl.topic].Partitions[sl.partition], errorCode(err), err.Error())
			}
			pending = nil
		}
	}
	if m.Acks == 0 {
		return reply{none: true, closeConn: failed}
	}
	if pending == nil {
		return ready(resp)
	}
	return reply{wait: func() kmsg.Response {
		wctx, cancel := context.WithTimeout(ctx, s.produceWait(m.TimeoutMillis))
		defer cancel()
		results, err := pending.Wait(wctx)
		for i, sl := range slots {
			ps := &resp.Topics[sl.topic].Partitions[sl.partition]
			rerr := err
			if rerr == nil {
				rerr = results[i].Err
			}
			if rerr != nil {
				setErr(ps, errorCode(rerr), rerr.Error())
				continue
			}
			ps.BaseOffset = results[i].BaseOffset
			ps.LogAppendTime = results[i].LogAppendTime
			ps.LogStartOffset = 0
		}
		return resp
	}}
}

// produceWait is how long a produce request waits for its flush: the
// client's timeout, at least a second (flushes happen on their own cadence)
// and at most Config.ProduceTimeout.
func (s *Server) produceWait(timeoutMillis int32) time.Duration {
	d := time.Duration(timeoutMillis) * time.Millisecond
	if d <= 0 || d > s.cfg.ProduceTimeout {
		d = s.cfg.ProduceTimeout
	}
	return max(d, time.Second)
}

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// batchAttributes bits.
const (
	attrCompression   = 0x07
	attrTransactional = 0x10
	attrControl       = 0x20
)

// validateBatch checks that raw is exactly one well-formed v2 record batch
// and returns what the file index needs to know about it, or a Kafka error
// code with the reason.
func validateBatch(raw []byte) (segment.BatchInfo, int16, error) {
	var info segment.BatchInfo
	if len(raw) == 0 {
		return info, kerr.InvalidRecord.Code, errors.New("no record batch")
	}
	batch, rest, err := segment.NextBatch(raw)
	if err != nil {
		return info, kerr.CorruptMessage.Code, err
	}
	if len(rest) != 0 {
		return info, kerr.InvalidRecord.Code, errors.New("more than one record batch for a partition")
	}
	var b kmsg.RecordBatch
	if err := b.ReadFrom(batch); err != nil {
		return info, kerr.CorruptMessage.Code, fmt.Errorf("malformed record batch: %w", err)
	}
	if b.Magic != 2 {
		return info, kerr.InvalidRecord.Code, fmt.Errorf("record batch magic %d, only v2 is accepted", b.Magic)
	}
	if crc := crc32.Checksum(batch[21:], crcTable); int32(crc) != b.CRC {
		return info, kerr.CorruptMessage.Code, fmt.Errorf("record batch CRC %08x does not match computed %08x", uint32(b.CRC), crc)
	}
	if b.Attributes&attrControl != 0 {
		return info, kerr.InvalidRecord.Code, errors.New("clients may not produce control batches")
	}
	if b.NumRecords <= 0 || b.LastOffsetDelta != b.NumRecords-1 {
		return info, kerr.InvalidRecord.Code, fmt.Errorf("record count %d does not match last offset delta %d", b.NumRecords, b.LastOffsetDelta)
	}
	if b.ProducerID >= 0 && (b.ProducerEpoch < 0 || b.FirstSequence < 0) {
		return info, kerr.InvalidRecord.Code, fmt.Errorf("producer %d sent epoch %d and sequence %d", b.ProducerID, b.ProducerEpoch, b.FirstSequence)
	}
	if b.Attributes&attrTransactional != 0 && b.ProducerID < 0 {
		return info, kerr.InvalidRecord.Code, errors.New("transactional batch without a producer id")
	}
	if err := validateRecords(&b); err != nil {
		if errors.Is(err, segment.ErrDecompressLimit) {
			return info, kerr.MessageTooLarge.Code, err
		}
		return info, kerr.InvalidRecord.Code, err
	}
	info = segment.InfoOf(&b)
	// Verified above; nothing changes the bytes it covers on the way to
	// the file, except LogAppendTime stamping, which recomputes it.
	info.CRCChecked = true
	return info, 0, nil
}

// maxDecompressedBatch bounds what one produced batch may decompress to,
// so a small batch crafted to expand to gigabytes is refused
// (MESSAGE_TOO_LARGE) instead of exhausting the agent's memory. Consumers
// have similar bounds (franz-go: 1 GiB, MaxDecompressBatchBytes).
var maxDecompressedBatch = 128 << 20 // a var only so fuzz tests can lower it

// validateRecords checks each record's framing and offset delta, so a batch
// whose CRC is right but whose contents no consumer could parse is refused.
func validateRecords(b *kmsg.RecordBatch) error {
	records := b.Records
	if codec := kgo.CompressionCodecType(b.Attributes & attrCompression); codec != kgo.CodecNone {
		if codec > kgo.CodecZstd {
			return fmt.Errorf("unknown compression codec %d", codec)
		}
		var err error
		if records, err = segment.Decompress(records, int8(codec), maxDecompressedBatch); err != nil {
			return fmt.Errorf("cannot decompress records: %w", err)
		}
	}
	for i := int32(0); i < b.NumRecords; i++ {
		length, n := kbin.Varint(records)
		if n <= 0 || length < 0 || int(length) > len(records)-n {
			return fmt.Errorf("record %d: length does not fit the batch", i)
		}
		delta, err := recordOffsetDelta(records[n : n+int(length)])
		if err != nil {
			return fmt.Errorf("record %d: %w", i, err)
		}
		if delta != i {
			return fmt.Errorf("record %d has offset delta %d", i, delta)
		}
		records = records[n+int(length):]
	}
	if len(records) != 0 {
		return fmt.Errorf("%d bytes after the last record", len(records))
	}
	return nil
}

// recordOffsetDelta walks the fields of one record (the bytes after its
// length) as Kafka's DefaultRecord.readFrom does and returns its offset
// delta. Like Kafka, it refuses a negative header count or header key
// length, and fields that do not fill the record's length exactly: Java
// consumers fail on such records, so storing them would wedge the partition.
func recordOffsetDelta(body []byte) (int32, error) {
	rd := kbin.Reader{Src: body}
	rd.Int8()    // attributes
	rd.Varlong() // timestamp delta
	delta := rd.Varint()
	rd.VarintBytes() // key
	rd.VarintBytes() // value
	headers := rd.Varint()
	if headers < 0 {
		return 0, fmt.Errorf("invalid header count %d", headers)
	}
	for ; headers > 0 && rd.Ok(); headers-- {
		kl := rd.Varint()
		if kl < 0 {
			return 0, fmt.Errorf("invalid header key length %d", kl)
		}
		rd.Span(int(kl))
		rd.VarintBytes() // header value
	}
	if !rd.Ok() {
		return 0, errors.New("fields overrun the record length")
	}
	if len(rd.Src) != 0 {
		return 0, fmt.Errorf("%d bytes after the record's fields", len(rd.Src))
	}
	return delta, nil
}
