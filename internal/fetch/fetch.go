package fetch

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/records"
)

// Isolation is a Fetch's isolation level (KIP-98).
type Isolation int8

const (
	// ReadUncommitted returns every committed batch, up to the high
	// watermark.
	ReadUncommitted Isolation = 0
	// ReadCommitted returns only batches below the last stable offset,
	// with the aborted transactions among them.
	ReadCommitted Isolation = 1
)

// Fetch is one Fetch request, its partitions resolved to topic IDs.
type Fetch struct {
	Partitions []Request
	// MaxBytes bounds the response, except that the first batch of the
	// first partition with data is returned whole (KIP-74).
	MaxBytes int
	// MinBytes is how much data the fetch waits for, at most MaxWait: it
	// is answered as soon as a read finds that much, when a partition
	// fails, or when the wait ends (with what a last read finds).
	MinBytes  int
	MaxWait   time.Duration
	Isolation Isolation
}

// Answer is one partition's answer to a Fetch.
type Answer struct {
	Outcome
	// LastStableOffset is, for read_committed, the first offset of the
	// partition's earliest open transaction, or the high watermark when
	// none is open; otherwise (and on errors) the high watermark.
	LastStableOffset int64
	// Aborted lists, for read_committed, the aborted transactions (by
	// first offset) that overlap Records; empty but not nil when there
	// are none. It is nil for read_uncommitted and on errors.
	Aborted []metadata.AbortedTxn
}

// PatchCopy gives batches, a copy of a Shared answer's
// Records, their committed offsets; it does nothing for answers that are
// not Shared (their records carry them already).
func (a *Answer) PatchCopy(batches []byte) error {
	if !a.Shared || len(a.Records) == 0 {
		return nil
	}
	_, err := records.PatchBaseOffsets(batches, a.FirstOffset)
	return err
}

// Response is a Fetch's answer: one Answer per requested partition, in
// request order. Records of answers that are not Shared are pooled
// buffers: Release recycles them once the response has been encoded.
type Response struct {
	Partitions []Answer
	// Bytes and Offsets total the records returned (zero when the
	// fetch's context ended first).
	Bytes   int
	Offsets int64
	// Reading is the time spent reading (every read of a long poll
	// together), without the time spent waiting for data between reads.
	Reading time.Duration
	// held are the pooled buffers the answers point into.
	held [][]byte
}

// Release hands the answers' buffers back for reuse. Nothing may use the
// answers' Records afterwards.
func (r *Response) Release() {
	for _, b := range r.held {
		ReleaseRecords(b)
	}
	r.held = r.held[:0]
}

// PartitionReader reads the partitions of one Fetch (Reader.ReadFetch).
type PartitionReader interface {
	ReadFetch(ctx context.Context, reqs []Request, maxBytes int) []Outcome
}

// Fetcher answers whole Fetch requests: it reads their partitions, applies
// the isolation level and long-polls for data. It is safe for concurrent
// use.
type Fetcher struct {
	reader PartitionReader
	// stable answers read_committed's questions; nil makes read_committed
	// read as read_uncommitted (a store without transactions).
	stable metadata.StableReader
	// notifier wakes waiting fetches; nil leaves them to their deadline.
	notifier *Notifier
}

// NewFetcher returns a Fetcher reading through r, asking stable (may be
// nil) for last stable offsets and aborted transactions, and woken by n
// (may be nil).
func NewFetcher(r PartitionReader, stable metadata.StableReader, n *Notifier) *Fetcher {
	return &Fetcher{reader: r, stable: stable, notifier: n}
}

// Fetch answers q. When fewer than q.MinBytes are available it waits, up
// to q.MaxWait, for a commit to one of its partitions (not to others) and
// reads again; a commit that brings too little keeps it waiting. When ctx
// ends it returns the last read's answers.
func (f *Fetcher) Fetch(ctx context.Context, q Fetch) *Response {
	resp := &Response{Partitions: make([]Answer, len(q.Partitions))}
	if len(q.Partitions) == 0 {
		return resp
	}
	deadline := time.Now().Add(q.MaxWait)
	// Only a fetch that may wait watches for commits, and it starts
	// watching before it reads, so a commit between the read and the
	// wait is not missed.
	var parts []metadata.TopicPartition
	if f.notifier != nil && q.MaxWait > 0 && q.MinBytes > 0 {
		parts = make([]metadata.TopicPartition, len(q.Partitions))
		for i, p := range q.Partitions {
			parts[i] = metadata.TopicPartition{Topic: p.Topic, Partition: p.Partition}
		}
	}
	var timer *time.Timer
	for {
		var w *Watch
		var woken <-chan struct{}
		if parts != nil {
			w = f.notifier.Watch(parts)
			woken = w.C()
		}
		resp.Release() // the previous read's buffers are about to be replaced
		failed := f.timedFill(ctx, q, resp)
		if failed || resp.Bytes >= q.MinBytes || !time.Now().Before(deadline) {
			stop(w)
			return resp
		}
		if timer == nil {
			timer = time.NewTimer(time.Until(deadline))
			defer timer.Stop()
		}
		select {
		case <-woken:
		case <-timer.C:
			stop(w)
			resp.Release()
			f.timedFill(ctx, q, resp)
			return resp
		case <-ctx.Done():
			stop(w)
			resp.Bytes, resp.Offsets = 0, 0
			return resp
		}
	}
}

func stop(w *Watch) {
	if w != nil {
		w.Stop()
	}
}

// timedFill is fill, its time added to resp.Reading.
func (f *Fetcher) timedFill(ctx context.Context, q Fetch, resp *Response) bool {
	start := time.Now()
	failed := f.fill(ctx, q, resp)
	resp.Reading += time.Since(start)
	return failed
}

// fill reads every partition of q into resp and reports whether any
// failed. For read_committed it asks the store for every partition's
// stable state in one call, after the read: an open transaction found
// then can only start at or above the high watermark the read saw, and an
// aborted range below the stable offset was recorded before it was read.
func (f *Fetcher) fill(ctx context.Context, q Fetch, resp *Response) (failed bool) {
	outs := f.reader.ReadFetch(ctx, q.Partitions, q.MaxBytes)
	committed := q.Isolation == ReadCommitted && f.stable != nil
	var (
		states   []metadata.StableResult
		stateErr error
	)
	if committed {
		states, stateErr = f.stableStates(ctx, q, outs)
	}
	resp.Bytes, resp.Offsets = 0, 0
	for i := range outs {
		a := &resp.Partitions[i]
		a.Outcome, a.Aborted = outs[i], nil
		res := &a.Result
		if committed {
			// The last stable offset cut reads the batches' offsets.
			res.Own()
		}
		if res.Records != nil && !res.Shared {
			resp.held = append(resp.held, res.Records)
		}
		a.LastStableOffset = res.State.HighWatermark
		if a.Err != nil {
			failed = true
			continue
		}
		if committed {
			// A failed call leaves states nil: its error stands for
			// every partition.
			var st metadata.StableResult
			err := stateErr
			if err == nil {
				st = states[i]
				err = st.Err
			}
			if err != nil {
				// Whatever the store said, the client retries: a
				// storage error unless the error is more precise
				// (an unknown topic).
				a.Err = fmt.Errorf("%w: last stable offset: %w", ErrStorage, err)
				res.Records, res.Offsets = nil, 0
				failed = true
				continue
			}
			lso := min(st.LastStableOffset, res.State.HighWatermark)
			a.LastStableOffset = lso
			var cut int64
			res.Records, cut = recordsBelow(res.Records, lso)
			res.Offsets -= cut
			end := recordsEnd(res.Records)
			n := 0
			for n < len(st.Aborted) && st.Aborted[n].FirstOffset < end {
				n++ // sorted by first offset; the rest start after the returned data
			}
			a.Aborted = st.Aborted[:n:n]
			if n == 0 {
				a.Aborted = []metadata.AbortedTxn{}
			}
		}
		resp.Bytes += len(res.Records)
		resp.Offsets += res.Offsets
	}
	return failed
}

// stableStates asks the store, in one call, for the stable state of every
// partition of q that was read without error; the others get a zero
// result.
func (f *Fetcher) stableStates(ctx context.Context, q Fetch, outs []Outcome) ([]metadata.StableResult, error) {
	qs := make([]metadata.StableQuery, 0, len(outs))
	for i, o := range outs {
		if o.Err == nil {
			p := q.Partitions[i]
			qs = append(qs, metadata.StableQuery{Topic: p.Topic, Partition: p.Partition, From: p.Offset})
		}
	}
	if len(qs) == 0 {
		return nil, nil
	}
	got, err := f.stable.StableStates(ctx, qs)
	if err != nil {
		return nil, err
	}
	if len(got) != len(qs) {
		return nil, fmt.Errorf("%w: %d stable states for %d partitions", ErrStorage, len(got), len(qs))
	}
	states := make([]metadata.StableResult, len(outs))
	j := 0
	for i, o := range outs {
		if o.Err == nil {
			states[i] = got[j]
			j++
		}
	}
	return states, nil
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
