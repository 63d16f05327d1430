package kafka

// Fetch (key 1), versions 4-16.
//
// Partitions are filled in request order. Each gets at most its
// partition_max_bytes and the response at most max_bytes, except that the
// first batch of the first partition with data is returned whole even when
// it is larger (KIP-74), so consumers always progress. A fetch offset inside
// a batch returns that whole batch, as Kafka does; clients skip the records
// before their offset. Offsets below the log start or above the high
// watermark get OFFSET_OUT_OF_RANGE.
//
// max_wait_ms is a real long poll: when fewer than min_bytes are available
// the request waits until a commit wakes it (answering as soon as enough
// data is there) or until the wait ends. Errors answer at once. Waits are
// capped at 30 seconds.
//
// Incremental fetch sessions (KIP-227) are declined: every response carries
// session ID 0, so clients keep sending full requests, which the KIP allows;
// a request naming a session ID gets FETCH_SESSION_ID_NOT_FOUND.
//
// read_committed (isolation level 1) returns only batches below the last
// stable offset (the first offset of the partition's earliest open
// transaction, else the high watermark), reports that offset, and lists
// the aborted transactions (producer ID, first offset) that overlap the
// returned batches, so the client drops their records; markers
// are returned as the control batches they are, for clients to skip. A
// fetch offset between the last stable offset and the high watermark
// returns no records. read_uncommitted returns everything and reports the
// high watermark as the last stable offset (a deviation that saves two
// store reads per partition; clients reading uncommitted do not use it).
// No preferred read
// replica is suggested. Topics are named (v4-v12) or identified by ID
// (v13+; unknown IDs get UNKNOWN_TOPIC_ID).

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/fetch"
	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/records"
)

const maxFetchWait = 30 * time.Second

// fetchTarget is one partition to fill in a fetch response.
type fetchTarget struct {
	out       *kmsg.FetchResponseTopicPartition
	topic     metadata.TopicID
	partition int32
	offset    int64
	maxBytes  int32
	// topicIdx and partIdx locate out in the response.
	topicIdx, partIdx int
	// shared says that out's records are a shared view of cached blocks
	// (fetch.Result.Shared) whose first batch's committed base offset is
	// first: their offsets are patched in the encoded response.
	shared bool
	first  int64
}

func (s *Server) handleFetch(ctx context.Context, req *request, m *kmsg.FetchRequest) reply {
	return reply{wait: func() kmsg.Response { return s.fetch(ctx, req, m) }}
}

func (s *Server) fetch(ctx context.Context, req *request, m *kmsg.FetchRequest) kmsg.Response {
	resp := kmsg.NewPtrFetchResponse()
	resp.Version = req.version
	if m.SessionID != 0 {
		resp.ErrorCode = kerr.FetchSessionIDNotFound.Code
		s.metrics.errorCode(req.key, resp.ErrorCode)
		return resp
	}
	var targets []fetchTarget
	resolveErr := false
	for _, rt := range m.Topics {
		var (
			t   metadata.Topic
			err error
		)
		if req.version >= 13 {
			t, err = s.topics.TopicByID(ctx, rt.TopicID)
			if errors.Is(err, metadata.ErrUnknownTopic) {
				err = kerr.UnknownTopicID
			}
		} else {
			t, err = s.topics.Topic(ctx, rt.Topic)
		}
		ot := kmsg.NewFetchResponseTopic()
		ot.Topic = rt.Topic
		ot.TopicID = rt.TopicID
		ot.Partitions = make([]kmsg.FetchResponseTopicPartition, len(rt.Partitions))
		for i, rp := range rt.Partitions {
			op := &ot.Partitions[i]
			*op = kmsg.NewFetchResponseTopicPartition()
			op.Partition = rp.Partition
			op.HighWatermark, op.LastStableOffset, op.LogStartOffset = -1, -1, -1
			op.RecordBatches = []byte{}
			switch {
			case err != nil:
				op.ErrorCode = metadataErrorCode(err)
			case rp.Partition < 0 || rp.Partition >= t.Partitions:
				op.ErrorCode = kerr.UnknownTopicOrPartition.Code
			}
			if op.ErrorCode != 0 {
				s.metrics.errorCode(req.key, op.ErrorCode)
				resolveErr = true
			}
		}
		resp.Topics = append(resp.Topics, ot)
		for i, rp := range rt.Partitions {
			if ot.Partitions[i].ErrorCode == 0 {
				targets = append(targets, fetchTarget{out: &resp.Topics[len(resp.Topics)-1].Partitions[i],
					topic: t.ID, partition: rp.Partition, offset: rp.FetchOffset, maxBytes: rp.PartitionMaxBytes,
					topicIdx: len(resp.Topics) - 1, partIdx: i})
			}
		}
	}

	// held are the record buffers the response points to, recycled once it
	// is encoded (or when a later fill replaces them).
	var held [][]byte
	release := func() {
		for _, b := range held {
			fetch.ReleaseRecords(b)
		}
		held = held[:0]
	}
	defer func() {
		req.release = release
		req.finish = patchSharedRecords(targets, req.version)
	}()
	wait := min(time.Duration(max(m.MaxWaitMillis, 0))*time.Millisecond, maxFetchWait)
	deadline := time.Now().Add(wait)
	var timer *time.Timer
	for {
		changed := s.notifier.Changed()
		release() // the previous fill's buffers are about to be replaced
		total, offsets, failed := s.fillFetch(ctx, req, m, targets, &held)
		if failed || resolveErr || total >= int(m.MinBytes) || !time.Now().Before(deadline) || len(targets) == 0 {
			s.metrics.bytesOut.Add(float64(total))
			s.metrics.recordsOut.Add(float64(offsets))
			return resp
		}
		if timer == nil {
			timer = time.NewTimer(time.Until(deadline))
			defer timer.Stop()
		}
		select {
		case <-changed:
		case <-timer.C:
			release()
			total, offsets, _ := s.fillFetch(ctx, req, m, targets, &held)
			s.metrics.bytesOut.Add(float64(total))
			s.metrics.recordsOut.Add(float64(offsets))
			return resp
		case <-ctx.Done():
			return resp
		}
	}
}

// fillFetch reads every target's data into its response slot and returns
// the bytes and offsets gathered and whether any partition failed. The
// reader resolves all targets first and reads each file they share once.
func (s *Server) fillFetch(ctx context.Context, req *request, m *kmsg.FetchRequest, targets []fetchTarget, held *[][]byte) (total int, offsets int64, failed bool) {
	budget := int(m.MaxBytes)
	if req.version < 3 || budget <= 0 {
		budget = int(^uint32(0) >> 1)
	}
	reqs := make([]fetch.Request, len(targets))
	for i, tg := range targets {
		reqs[i] = fetch.Request{Topic: tg.topic, Partition: tg.partition, Offset: tg.offset, MaxBytes: int(tg.maxBytes)}
	}
	outs := s.reader.ReadFetch(ctx, reqs, budget)
	for i := range targets {
		tg := &targets[i]
		op, res, err := tg.out, &outs[i].Result, outs[i].Err
		tg.shared = false
		if m.IsolationLevel == 1 {
			// The last stable offset cut reads the batches' offsets.
			res.Own()
		}
		if res.Records != nil && !res.Shared {
			*held = append(*held, res.Records)
		}
		op.RecordBatches = op.RecordBatches[:0]
		op.ErrorCode = 0
		op.HighWatermark = res.State.HighWatermark
		op.LastStableOffset = res.State.HighWatermark
		op.LogStartOffset = res.State.LogStartOffset
		if err != nil {
			op.ErrorCode = errorCode(err)
			s.metrics.errorCode(req.key, op.ErrorCode)
			if op.ErrorCode == kerr.UnknownServerError.Code || op.ErrorCode == kerr.KafkaStorageError.Code {
				s.logger.Warn("fetch failed", "partition", tg.partition, "offset", tg.offset, "err", err)
			}
			failed = true
			continue
		}
		op.AbortedTransactions = nil
		if m.IsolationLevel == 1 && s.txnLog != nil {
			st, err := s.txnLog.StableState(ctx, tg.topic, tg.partition, tg.offset)
			if err != nil {
				op.ErrorCode = errorCode(err)
				s.metrics.errorCode(req.key, op.ErrorCode)
				s.logger.Warn("fetch stable offset failed", "partition", tg.partition, "err", err)
				failed = true
				continue
			}
			lso := min(st.LastStableOffset, res.State.HighWatermark)
			op.LastStableOffset = lso
			var cut int64
			res.Records, cut = recordsBelow(res.Records, lso)
			res.Offsets -= cut
			op.AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
			end := recordsEnd(res.Records)
			for _, a := range st.Aborted {
				if a.FirstOffset >= end {
					break // sorted by first offset; none of the returned data is in it
				}
				at := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
				at.ProducerID, at.FirstOffset = a.ProducerID, a.FirstOffset
				op.AbortedTransactions = append(op.AbortedTransactions, at)
			}
		}
		op.RecordBatches = res.Records
		if op.RecordBatches == nil {
			op.RecordBatches = []byte{}
		}
		tg.shared, tg.first = res.Shared && len(res.Records) > 0, res.FirstOffset
		total += len(res.Records)
		offsets += res.Offsets
	}
	return total, offsets, failed
}

// patchSharedRecords returns what gives the shared records of targets
// their committed offsets in the encoded response body (nil when there are
// none): a shared partition's batches are copied once, by the encoder,
// and patched in that copy. The body is decoded to find them (records
// decode as slices of the body).
func patchSharedRecords(targets []fetchTarget, version int16) func(body []byte) error {
	shared := false
	for _, tg := range targets {
		shared = shared || tg.shared
	}
	if !shared {
		return nil
	}
	return func(body []byte) error {
		var r kmsg.FetchResponse
		r.SetVersion(version)
		if err := r.UnsafeReadFrom(body); err != nil {
			return fmt.Errorf("fetch response does not decode: %w", err)
		}
		for _, tg := range targets {
			if !tg.shared {
				continue
			}
			if tg.topicIdx >= len(r.Topics) || tg.partIdx >= len(r.Topics[tg.topicIdx].Partitions) {
				return errors.New("fetch response lacks a partition it was built with")
			}
			if _, err := records.PatchBaseOffsets(r.Topics[tg.topicIdx].Partitions[tg.partIdx].RecordBatches, tg.first); err != nil {
				return fmt.Errorf("fetch response records: %w", err)
			}
		}
		return nil
	}
}

// recordsBelow cuts records (whole batches with committed base offsets)
// before the first batch that starts at or after limit, returning what is
// kept and how many offsets the cut batches spanned. Open transactions
// start on batch boundaries, so no batch straddles a last stable offset.
func recordsBelow(batches []byte, limit int64) ([]byte, int64) {
	kept, cutting := 0, false
	var cut int64
	for rest := batches; len(rest) > 0; {
		batch, next, err := records.Next(rest)
		if err != nil {
			break
		}
		if !cutting && int64(binary.BigEndian.Uint64(batch)) >= limit {
			cutting = true
		}
		if cutting {
			cut += max(records.Offsets(batch), 0)
		} else {
			kept += len(batch)
		}
		rest = next
	}
	if !cutting {
		return batches, 0
	}
	return batches[:kept], cut
}

// recordsEnd returns the offset after the last batch of records (whole
// batches with committed base offsets), or -1 for none.
func recordsEnd(batches []byte) int64 {
	end := int64(-1)
	for rest := batches; len(rest) > 0; {
		batch, next, err := records.Next(rest)
		if err != nil {
			break
		}
		end = int64(binary.BigEndian.Uint64(batch)) + records.Offsets(batch)
		rest = next
	}
	return end
}
