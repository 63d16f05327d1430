package kafka

// Fetch (key 1), versions 4-18 (v17 and v18 add only follower fields,
// KIP-853 and KIP-1166, which consumers do not send).
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
// Incremental fetch sessions (KIP-227, v7+) are served from a per-agent
// cache of --fetch-session-cache-slots sessions (fetch_session.go): an
// incremental fetch reads every partition of its session and is answered
// with those that have news. 0 slots answers every fetch without a
// session, as the KIP allows.
//
// read_committed (isolation level 1) returns only batches below the last
// stable offset (the first offset of the partition's earliest open
// transaction, else the high watermark), reports that offset, and lists
// the aborted transactions (producer ID, first offset) that overlap the
// returned batches, so the client drops their records; markers
// are returned as the control batches they are, for clients to skip. A
// fetch offset between the last stable offset and the high watermark
// returns no records. read_uncommitted returns everything and reports the
// high watermark as the last stable offset (a deviation that saves a store
// call per fetch; clients reading uncommitted do not use it).
//
// Kafka's virtual internal topics (internal_topics.go) are empty logs at
// offset 0: no records, high watermark 0, OFFSET_OUT_OF_RANGE past it.
//
// The handler only resolves topics and maps answers to the wire:
// fetch.Fetcher answers the request (reads, isolation, long poll; see
// docs/architecture.md, "Life of a fetch").
// No preferred read
// replica is suggested. Topics are named (v4-v12) or identified by ID
// (v13+; unknown IDs get UNKNOWN_TOPIC_ID).
//
// Authorization: READ on each topic (TOPIC_AUTHORIZATION_FAILED; by name
// before the topic is looked up, by ID once the ID is known).

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/dynconfig"
	"github.com/sluicehq/sluice/internal/fetch"
	"github.com/sluicehq/sluice/internal/metadata"
)

const maxFetchWait = 30 * time.Second

func (s *Server) handleFetch(ctx context.Context, req *request, m *kmsg.FetchRequest) reply {
	return reply{wait: func() kmsg.Response { return s.fetch(ctx, req, m) }}
}

// fetch resolves the request's topics, has s.fetcher answer the
// partitions that resolved (read, isolation, long poll), and returns the
// answers as a response that encodes itself (fetchResponse).
func (s *Server) fetch(ctx context.Context, req *request, m *kmsg.FetchRequest) kmsg.Response {
	resp := kmsg.NewPtrFetchResponse()
	resp.Version = req.version
	plan, code := s.sessions.plan(req.version, m)
	if code != 0 {
		resp.ErrorCode = code
		s.metrics.errorCode(req.key, resp.ErrorCode)
		return resp
	}
	if plan.session != nil {
		resp.SessionID = plan.session.id
	}
	var (
		parts []fetch.Request
		slots []fetchSlot
		names []string // by response topic, for the per-topic metrics
	)
	resolveErr := false
	// Topics by name (v12 and older) are looked up in one call, those the
	// principal may read: one store query for the entries the topic cache
	// lacks, not one per topic.
	readable := make([]bool, len(plan.topics))
	var byName topicLookup
	if req.version < 13 {
		var lookup []string
		for i, rt := range plan.topics {
			if readable[i] = s.authorizeTopic(req, kmsg.ACLOperationRead, rt.Topic); readable[i] {
				lookup = append(lookup, rt.Topic)
			}
		}
		byName = s.lookupTopics(ctx, lookup)
	}
	for ti, rt := range plan.topics {
		var (
			t   metadata.Topic
			err error
		)
		// READ on the topic: by name, checked before the lookup so a
		// denied topic's existence is not told; by ID, once the ID is
		// known (an unknown ID tells nothing).
		if req.version >= 13 {
			t, err = s.topics.TopicByID(ctx, rt.TopicID)
			if errors.Is(err, metadata.ErrUnknownTopic) {
				err = kerr.UnknownTopicID
			} else if err == nil && !s.authorizeTopic(req, kmsg.ACLOperationRead, t.Name) {
				err = kerr.TopicAuthorizationFailed
			}
		} else if !readable[ti] {
			err = kerr.TopicAuthorizationFailed
		} else {
			t, err = byName.topic(rt.Topic)
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
			if op.ErrorCode == 0 && s.ktopics.isVirtual(t.ID) {
				// Kafka's internal topics are empty logs at offset 0.
				op.HighWatermark, op.LastStableOffset, op.LogStartOffset = 0, 0, 0
				if rp.FetchOffset != 0 {
					op.ErrorCode = kerr.OffsetOutOfRange.Code
				} else {
					continue
				}
			}
			if op.ErrorCode != 0 {
				s.metrics.errorCode(req.key, op.ErrorCode)
				resolveErr = true
				continue
			}
			parts = append(parts, fetch.Request{Topic: t.ID, Partition: rp.Partition, Offset: rp.FetchOffset, MaxBytes: int(rp.PartitionMaxBytes)})
			slots = append(slots, fetchSlot{topic: len(resp.Topics), partition: i})
		}
		resp.Topics = append(resp.Topics, ot)
		names = append(names, t.Name)
	}

	q := fetch.Fetch{
		Partitions: parts,
		MaxBytes:   int(m.MaxBytes),
		MinBytes:   int(m.MinBytes),
		MaxWait:    min(time.Duration(max(m.MaxWaitMillis, 0))*time.Millisecond, maxFetchWait),
		Isolation:  fetch.Isolation(m.IsolationLevel),
	}
	if req.version < 3 || q.MaxBytes <= 0 {
		q.MaxBytes = int(^uint32(0) >> 1)
	}
	if q.Isolation != fetch.ReadCommitted {
		q.Isolation = fetch.ReadUncommitted
	}
	if resolveErr {
		q.MaxWait = 0 // errors answer at once
	}
	fetchStart := time.Now()
	read := s.fetcher.Fetch(ctx, q)
	// The long poll is waiting, not handler time (request_percentage).
	req.waited += max(time.Since(fetchStart)-read.Reading, 0)
	// The bytes read count against the consumer_byte_rate quota.
	resp.ThrottleMillis = s.quotaUsage(req, dynconfig.ConsumerByteRate, read.Bytes)
	s.metrics.bytesOut.Add(float64(read.Bytes))
	s.metrics.recordsOut.Add(float64(read.Offsets))
	if len(parts) > 0 {
		s.metrics.fetchReading.Observe(read.Reading.Seconds())
	}
	out := &fetchResponse{FetchResponse: resp, read: read, slots: slots}
	for i := range read.Partitions {
		a := &read.Partitions[i]
		op := out.partition(i)
		op.HighWatermark = a.State.HighWatermark
		op.LastStableOffset = a.LastStableOffset
		op.LogStartOffset = a.State.LogStartOffset
		if a.Err != nil {
			op.ErrorCode = errorCode(a.Err)
			s.metrics.errorCode(req.key, op.ErrorCode)
			if op.ErrorCode == kerr.UnknownServerError.Code || op.ErrorCode == kerr.KafkaStorageError.Code {
				p := parts[i]
				s.logger.Warn("fetch failed", "partition", p.Partition, "offset", p.Offset, "err", a.Err)
			}
			continue
		}
		if a.Records != nil {
			op.RecordBatches = a.Records
			if len(a.Records) > 0 && read.Bytes > 0 {
				s.metrics.fetched(names[slots[i].topic], len(a.Records), a.Offsets)
			}
		}
		if a.Aborted != nil {
			op.AbortedTransactions = make([]kmsg.FetchResponseTopicPartitionAbortedTransaction, len(a.Aborted))
			for j, at := range a.Aborted {
				op.AbortedTransactions[j] = kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
				op.AbortedTransactions[j].ProducerID, op.AbortedTransactions[j].FirstOffset = at.ProducerID, at.FirstOffset
			}
		}
		out.shared = out.shared || (a.Shared && len(a.Records) > 0)
	}
	if plan.session != nil {
		keep := s.sessions.finish(plan, resp)
		if plan.incremental {
			out.omit(keep)
		}
	}
	return out
}

// omit leaves out of the response the partitions keep marks false, and
// the topics left with none; partitions left out have no records, so the
// encoder never looks for them.
func (r *fetchResponse) omit(keep []bool) {
	type pos struct{ topic, partition int }
	moved := make(map[pos]pos)
	var topics []kmsg.FetchResponseTopic
	i := 0
	for ti, t := range r.Topics {
		var parts []kmsg.FetchResponseTopicPartition
		for pi, p := range t.Partitions {
			if keep[i] {
				moved[pos{ti, pi}] = pos{len(topics), len(parts)}
				parts = append(parts, p)
			}
			i++
		}
		if len(parts) > 0 {
			t.Partitions = parts
			topics = append(topics, t)
		}
	}
	r.Topics = topics
	for j, sl := range r.slots {
		if to, ok := moved[pos{sl.topic, sl.partition}]; ok {
			r.slots[j] = fetchSlot{to.topic, to.partition}
		} else {
			r.slots[j] = fetchSlot{-1, -1}
		}
	}
}

// fetchSlot locates a partition in a Fetch response.
type fetchSlot struct{ topic, partition int }

// fetchResponse is a Fetch response that encodes itself (see encoder and
// splicer): records of cached blocks (fetch.Result.Shared) are given their
// committed offsets as they are encoded; the read's pooled buffers are
// recycled once the response is written.
type fetchResponse struct {
	*kmsg.FetchResponse
	read *fetch.Response
	// slots[i] locates read.Partitions[i] in the response.
	slots []fetchSlot
	// shared says that some partition's records are Shared.
	shared bool
}

func (r *fetchResponse) partition(i int) *kmsg.FetchResponseTopicPartition {
	sl := r.slots[i]
	return &r.Topics[sl.topic].Partitions[sl.partition]
}

// appendBody implements encoder: appendSpliced with nothing left out,
// the read's buffers released once encoded.
func (r *fetchResponse) appendBody(dst []byte) ([]byte, error) {
	defer r.release()
	return r.appendSpliced(dst, nil)
}

// release implements splicer: the read's pooled buffers go back for reuse.
func (r *fetchResponse) release() { r.read.Release() }

// appendSpliced implements splicer (see fetch_encode.go): the records
// of shared partitions get their committed offsets as they are encoded.
// A response with tagged fields (the agent sets none) is encoded by kmsg
// and read back to find and patch the shared partitions' copies.
func (r *fetchResponse) appendSpliced(dst []byte, sp *splices) ([]byte, error) {
	if plainFetch(r.FetchResponse) {
		var shared map[fetchSlot]fetchRecords
		if r.shared {
			shared = make(map[fetchSlot]fetchRecords)
			for i := range r.read.Partitions {
				a := &r.read.Partitions[i]
				if a.Shared && a.Err == nil && len(a.Records) > 0 && r.slots[i].topic >= 0 {
					shared[r.slots[i]] = fetchRecords{patch: true, base: a.FirstOffset}
				}
			}
		}
		return appendFetch(dst, r.FetchResponse, func(t, p int) fetchRecords { return shared[fetchSlot{t, p}] }, sp)
	}
	body := len(dst)
	dst = r.AppendTo(dst)
	if !r.shared {
		return dst, nil
	}
	var enc kmsg.FetchResponse
	enc.SetVersion(r.Version)
	if err := enc.UnsafeReadFrom(dst[body:]); err != nil {
		return dst, fmt.Errorf("fetch response does not decode: %w", err)
	}
	for i := range r.read.Partitions {
		a := &r.read.Partitions[i]
		if !a.Shared || a.Err != nil || len(a.Records) == 0 {
			continue
		}
		sl := r.slots[i]
		if sl.topic < 0 || sl.topic >= len(enc.Topics) || sl.partition >= len(enc.Topics[sl.topic].Partitions) {
			return dst, errors.New("fetch response lacks a partition it was built with")
		}
		if err := a.PatchCopy(enc.Topics[sl.topic].Partitions[sl.partition].RecordBatches); err != nil {
			return dst, fmt.Errorf("fetch response records: %w", err)
		}
	}
	return dst, nil
}
