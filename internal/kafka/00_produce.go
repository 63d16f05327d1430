package kafka

// Produce (key 0), versions 3-12.
//
// Every partition must carry exactly one v2 record batch (INVALID_RECORD
// otherwise, as Kafka requires from v3 on). Each batch is checked before it
// is buffered: its size against the topic's max.message.bytes
// (MESSAGE_TOO_LARGE), its framing and CRC (CORRUPT_MESSAGE), its record
// count and offset deltas, and every record's framing after decompression
// (INVALID_RECORD; MESSAGE_TOO_LARGE past 128 MiB decompressed), in one
// pass over the batch (records.Validate) that also checks the topic's
// timestamp window. Batches that fail are not stored; the rest of the
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
// Internal topics (Kafka's __consumer_offsets and __transaction_state,
// Sluice's __sluice_*) are refused with INVALID_TOPIC_EXCEPTION ("Cannot
// append to internal topic"), as Kafka refuses client writes to its own;
// the events writer writes __sluice_* through produce.Batcher directly.
//
// Authorization: WRITE on the transactional ID for a transactional
// request (TRANSACTIONAL_ID_AUTHORIZATION_FAILED on every partition) and
// WRITE on each topic (TOPIC_AUTHORIZATION_FAILED, whether or not the
// topic exists).
// Topics with confluent.key.schema.validation or
// confluent.value.schema.validation set (Deps.Schemas, produce_schemas.go)
// have every record checked against the schema registry: a record without
// the wire format, or whose schema ID is not registered under the subject
// the strategy names, fails the batch with INVALID_RECORD and a record
// error saying why; a registry that cannot be read is KAFKA_STORAGE_ERROR.
// Lightning topics (sluice.topic.type=lightning, docs/lightning.md): a
// batch is answered once its file is durable in the bucket (in the
// journal), before the metadata store sequences it, so the response
// carries base offset -1 (and log start offset -1). Batches with a
// producer ID (idempotent or transactional producers) are refused with
// INVALID_RECORD: their sequence checks happen at commit, after the
// answer, where a failure could no longer be reported. With the agent's
// --ripcord, batches of classic topics without a producer ID are answered
// the same way while the metadata store fails or stalls.
//
// Version 12 (KIP-890 part 2, transaction version 2) adds the partitions
// of a transactional request's batches to the producer's transaction
// itself, before they are submitted, instead of expecting
// AddPartitionsToTxn: the producer ID must own the transactional ID
// (INVALID_PRODUCER_ID_MAPPING) at its current epoch (PRODUCER_FENCED),
// and a transaction being ended answers NOT_ENOUGH_REPLICAS (retriable,
// as Kafka translates its coordinator's CONCURRENT_TRANSACTIONS). The
// registration stands even if the batch then fails, as in Kafka. The
// commit then verifies the batch as for older versions. Versions 3-11
// are unchanged: their partitions must have been added.
//
// Deviations: version 13 (topic IDs instead of names, KIP-516) is not
// served.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/dynconfig"
	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/produce"
	"github.com/sluicehq/sluice/internal/records"
	"github.com/sluicehq/sluice/internal/topics"
)

// produceSlot remembers where a submitted batch's result goes.
type produceSlot struct {
	topic, partition int
}

func (s *Server) handleProduce(ctx context.Context, req *request, m *kmsg.ProduceRequest) reply {
	resp := kmsg.NewPtrProduceResponse()
	resp.Version = req.version
	// The request's size counts against the producer_byte_rate quota.
	resp.ThrottleMillis = s.quotaUsage(req, dynconfig.ProducerByteRate, req.size)
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
	// A transactional request needs WRITE on its transactional ID (every
	// partition fails otherwise); each topic needs WRITE, checked before
	// the topic is looked up so a denied topic's existence is not told.
	txnDenied := m.TransactionID != nil && !s.authorizeTxnID(req, kmsg.ACLOperationWrite, *m.TransactionID)
	// The writable topics are looked up in one call: a request that
	// spans thousands of topics is one store query for the entries the
	// topic cache lacks, not one per topic.
	denied := make([]bool, len(m.Topics))
	var names []string
	for ti, rt := range m.Topics {
		denied[ti] = !txnDenied && !s.authorizeTopic(req, kmsg.ACLOperationWrite, rt.Topic)
		if !txnDenied && !denied[ti] && !IsInternalTopic(rt.Topic) {
			names = append(names, rt.Topic)
		}
	}
	byName := s.lookupTopics(ctx, names)
	for ti, rt := range m.Topics {
		rs := kmsg.NewProduceResponseTopic()
		rs.Topic = rt.Topic
		topicDenied := denied[ti]
		var (
			t        metadata.Topic
			topicErr error
		)
		// Internal topics take no client writes, as in Kafka: Kafka's
		// two are virtual, and Sluice's own are written by the events
		// writer straight to the write path, never through Produce.
		internal := !txnDenied && !topicDenied && IsInternalTopic(rt.Topic)
		if internal {
			topicErr = fmt.Errorf("%w: Cannot append to internal topic %s", kerr.InvalidTopicException, rt.Topic)
		} else if !txnDenied && !topicDenied {
			t, topicErr = byName.topic(rt.Topic)
		}
		maxBytes := s.maxMessageBytes()
		var (
			stamps timestampPolicy
			fast   bool
		)
		if topicErr == nil {
			fast = topics.IsLightning(t.Configs)
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
			case txnDenied:
				setErr(&ps, kerr.TransactionalIDAuthorizationFailed.Code, "")
			case topicDenied:
				setErr(&ps, kerr.TopicAuthorizationFailed.Code, "")
			case internal:
				setErr(&ps, kerr.InvalidTopicException.Code, *errorMessage(topicErr))
			case topicErr != nil:
				setErr(&ps, produceErrorCode(topicErr), "")
			case rp.Partition < 0 || rp.Partition >= t.Partitions:
				setErr(&ps, kerr.UnknownTopicOrPartition.Code, "")
			case len(rp.Records) > maxBytes:
				setErr(&ps, kerr.MessageTooLarge.Code, fmt.Sprintf("record batch of %d bytes exceeds max.message.bytes %d", len(rp.Records), maxBytes))
			default:
				window := stamps.window(time.Now().UnixMilli())
				c, code, err := validateBatch(rp.Records, window)
				if code != 0 {
					setErr(&ps, code, err.Error())
					break
				}
				if c.Info.Transactional != (m.TransactionID != nil) {
					setErr(&ps, kerr.InvalidTxnState.Code, "transactional batches need a transactional id, and only they may carry one")
					break
				}
				if fast && c.Info.ProducerID >= 0 {
					setErr(&ps, kerr.InvalidRecord.Code, "lightning topic: idempotent and transactional producers are not supported (disable idempotence, e.g. enable.idempotence=false)")
					break
				}
				if ps.ErrorRecords, err = stamps.check(&c, window); err != nil {
					setErr(&ps, kerr.InvalidTimestamp.Code, err.Error())
					break
				}
				if s.schemas != nil && s.schemas.Enabled(t.Configs) {
					if ps.ErrorRecords, err = s.schemas.ValidateBatch(ctx, rt.Topic, t.Configs, rp.Records); err != nil {
						code := kerr.InvalidRecord.Code
						if len(ps.ErrorRecords) == 0 {
							code = kerr.KafkaStorageError.Code
						}
						setErr(&ps, code, err.Error())
						break
					}
				}
				batches = append(batches, produce.Batch{Topic: t.ID, Partition: rp.Partition, Data: rp.Records, Info: c.Info, LogAppendTime: stamps.logAppendTime, Lightning: fast})
				slots = append(slots, produceSlot{ti, len(rs.Partitions)})
			}
			rs.Partitions = append(rs.Partitions, ps)
		}
		resp.Topics = append(resp.Topics, rs)
	}

	if req.version >= 12 && m.TransactionID != nil && len(batches) > 0 {
		batches, slots = s.addProducedToTxn(ctx, *m.TransactionID, batches, slots,
			func(sl produceSlot) string { return resp.Topics[sl.topic].Topic },
			func(sl produceSlot, code int16, msg string) {
				setErr(&resp.Topics[sl.topic].Partitions[sl.partition], code, msg)
			})
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
				setErr(&resp.Topics[sl.topic].Partitions[sl.partition], produceErrorCode(err), err.Error())
			}
			pending = nil
		}
	}
	if m.Acks == 0 {
		if pending != nil {
			for i, sl := range slots {
				s.metrics.produced(resp.Topics[sl.topic].Topic, len(batches[i].Data), batches[i].Info.Records)
			}
		}
		return reply{none: true, closeConn: failed}
	}
	if pending == nil {
		return ready(resp)
	}
	return reply{wait: func() kmsg.Response {
		wctx, cancel := context.WithTimeout(ctx, s.produceWait(m.TimeoutMillis))
		defer cancel()
		waitStart := time.Now()
		results, err := pending.Wait(wctx)
		req.waited += time.Since(waitStart) // the flush: not handler time
		for i, sl := range slots {
			ps := &resp.Topics[sl.topic].Partitions[sl.partition]
			rerr := err
			if rerr == nil {
				rerr = results[i].Err
			}
			if rerr != nil {
				setErr(ps, produceErrorCode(rerr), rerr.Error())
				continue
			}
			ps.BaseOffset = results[i].BaseOffset
			ps.LogAppendTime = results[i].LogAppendTime
			if ps.BaseOffset >= 0 {
				ps.LogStartOffset = 0
			}
			s.metrics.produced(resp.Topics[sl.topic].Topic, len(batches[i].Data), batches[i].Info.Records)
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

// maxDecompressed bounds what one produced batch may decompress to. It is a
// variable only so that tests can lower it: a decompression bomb at the
// real limit (128 MiB of zeros) costs seconds under the race detector.
var maxDecompressed = records.MaxDecompressedBatch

// validateBatch checks that raw is exactly one well-formed v2 record batch
// (records.Validate, which also checks window when it is not nil) and
// returns what the file index needs to know about it, or a Kafka error code
// with the reason.
func validateBatch(raw []byte, window *records.Window) (records.Checked, int16, error) {
	c, err := records.Validate(raw, records.Options{Window: window, MaxDecompressed: maxDecompressed})
	switch {
	case err == nil:
		return c, 0, nil
	case errors.Is(err, records.ErrDecompressLimit):
		return c, kerr.MessageTooLarge.Code, err
	case errors.Is(err, records.ErrCorrupt):
		return c, kerr.CorruptMessage.Code, err
	}
	return c, kerr.InvalidRecord.Code, err
}

// addProducedToTxn adds the partitions of a Produce v12+ request's
// transactional batches to the producer's transaction (KIP-890 part 2)
// and returns the batches and slots that may be submitted; the others get
// their error through fail. topic names a slot's topic. Every
// transactional batch of one request must be of one producer ID and
// epoch, as Kafka requires.
func (s *Server) addProducedToTxn(ctx context.Context, txnID string, batches []produce.Batch, slots []produceSlot,
	topic func(produceSlot) string, fail func(produceSlot, int16, string)) ([]produce.Batch, []produceSlot) {
	var (
		parts []metadata.TxnPartition
		pid   = int64(-1)
		epoch int16
		mixed bool
	)
	for i, b := range batches {
		if !b.Info.Transactional || b.Info.ProducerID < 0 {
			continue
		}
		if pid >= 0 && (b.Info.ProducerID != pid || b.Info.ProducerEpoch != epoch) {
			mixed = true
		}
		pid, epoch = b.Info.ProducerID, b.Info.ProducerEpoch
		parts = append(parts, metadata.TxnPartition{Topic: topic(slots[i]), TopicID: b.Topic, Partition: b.Partition})
	}
	if len(parts) == 0 {
		return batches, slots
	}
	var (
		code int16
		msg  string
	)
	if mixed {
		code, msg = kerr.InvalidProducerIDMapping.Code, "transactional batches of one request must share one producer id and epoch"
	} else if err := s.txn.AddImplicitly(ctx, txnID, pid, epoch, parts, ""); err != nil {
		code, msg = groupErrorCode(err), "adding the partition to the transaction: "+err.Error()
		switch code {
		case kerr.ConcurrentTransactions.Code, kerr.CoordinatorNotAvailable.Code, kerr.CoordinatorLoadInProgress.Code, kerr.NotCoordinator.Code:
			// Older clients may not retry these on a produce; Kafka
			// answers NOT_ENOUGH_REPLICAS, which every client retries.
			code = kerr.NotEnoughReplicas.Code
		}
	}
	if code == 0 {
		return batches, slots
	}
	keptB, keptS := batches[:0], slots[:0]
	for i, b := range batches {
		if b.Info.Transactional && b.Info.ProducerID >= 0 {
			fail(slots[i], code, msg)
			continue
		}
		keptB, keptS = append(keptB, b), append(keptS, slots[i])
	}
	return keptB, keptS
}
