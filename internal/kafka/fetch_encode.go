package kafka

import (
	"encoding/binary"
	"net"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/records"
)

// A Fetch response is mostly record batches that already lie in memory: in
// the read's pooled buffers, or in the block cache's blocks (Shared). The
// writer sends them from there with one writev rather than copying them
// into the encoded frame first (that copy was about a sixth of an agent's
// CPU while it served consumers). The encoder below writes the response's
// fields into the frame and leaves the large byte ranges out of it, as
// splices: (position in the frame, bytes). Batches of Shared records get
// their committed base offset and leader epoch in a copy of their first 16
// bytes, written into the frame, and only the rest of the batch (which the
// CRC covers, and which is never modified) is spliced.

// spliceMin is the smallest byte range left out of the frame: smaller ones
// are copied, which costs less than an iovec and a fragment on the wire.
const spliceMin = 16 << 10

// splices are the byte ranges an encoded frame leaves out: data[i] goes at
// position at[i] of the frame (positions ascending; equal positions in
// order). The ranges are not modified.
type splices struct {
	at   []int
	data [][]byte
	// n is the ranges' total length.
	n int
}

func (sp *splices) reset() {
	clear(sp.data) // no references kept to the responses' buffers
	sp.at, sp.data, sp.n = sp.at[:0], sp.data[:0], 0
}

// add leaves b out of the frame at its current end (len(dst)).
func (sp *splices) add(dst, b []byte) {
	sp.at = append(sp.at, len(dst))
	sp.data = append(sp.data, b)
	sp.n += len(b)
}

// buffers returns the whole frame: dst's pieces with the ranges between.
func (sp *splices) buffers(dst []byte) net.Buffers {
	out := make(net.Buffers, 0, 2*len(sp.at)+1)
	prev := 0
	for i, at := range sp.at {
		if at > prev {
			out = append(out, dst[prev:at])
		}
		out = append(out, sp.data[i])
		prev = at
	}
	if prev < len(dst) {
		out = append(out, dst[prev:])
	}
	return out
}

// join returns the frame as one buffer: dst with the ranges copied in.
func (sp *splices) join(dst []byte) []byte {
	if sp.n == 0 {
		return dst
	}
	out := make([]byte, 0, len(dst)+sp.n)
	for _, b := range sp.buffers(dst) {
		out = append(out, b...)
	}
	return out
}

// plainFetch reports whether appendFetch encodes r as kmsg would: it
// knows versions 4 to 18 and leaves out the tagged fields, which the agent
// never sets (unknown tags, a diverging epoch, a current leader, a
// snapshot ID, node endpoints); other responses are encoded by kmsg.
func plainFetch(r *kmsg.FetchResponse) bool {
	if r.Version < 4 || r.Version > 18 || r.UnknownTags.Len() > 0 || len(r.Brokers) > 0 {
		return false
	}
	for i := range r.Topics {
		t := &r.Topics[i]
		if t.UnknownTags.Len() > 0 {
			return false
		}
		for j := range t.Partitions {
			p := &t.Partitions[j]
			if p.UnknownTags.Len() > 0 ||
				p.DivergingEpoch.Epoch != -1 || p.DivergingEpoch.EndOffset != -1 || p.DivergingEpoch.UnknownTags.Len() > 0 ||
				p.CurrentLeader.LeaderID != -1 || p.CurrentLeader.LeaderEpoch != -1 || p.CurrentLeader.UnknownTags.Len() > 0 ||
				p.SnapshotID.EndOffset != -1 || p.SnapshotID.Epoch != -1 || p.SnapshotID.UnknownTags.Len() > 0 {
				return false
			}
			for k := range p.AbortedTransactions {
				if p.AbortedTransactions[k].UnknownTags.Len() > 0 {
					return false
				}
			}
		}
	}
	return true
}

// fetchRecords is how appendFetch writes one partition's RecordBatches:
// patch, when set, says they are Shared and their batches take their
// committed offsets from base on.
type fetchRecords struct {
	patch bool
	base  int64
}

// appendFetch appends the body of r (a plainFetch response of version 4 to
// 18) as kmsg's AppendTo would, except that record batches of spliceMin
// bytes or more are left out into sp (when sp is not nil) and that the
// batches of partitions recs marks are given their committed offsets.
// recs maps a partition, by topic and partition index, to how its records
// are written; partitions it lacks are written as they are.
func appendFetch(dst []byte, r *kmsg.FetchResponse, recs func(t, p int) fetchRecords, sp *splices) ([]byte, error) {
	v := r.Version
	flexible := v >= 12
	arrayLen := func(dst []byte, n int) []byte {
		if flexible {
			return kbin.AppendCompactArrayLen(dst, n)
		}
		return kbin.AppendArrayLen(dst, n)
	}
	dst = kbin.AppendInt32(dst, r.ThrottleMillis)
	if v >= 7 {
		dst = kbin.AppendInt16(dst, r.ErrorCode)
		dst = kbin.AppendInt32(dst, r.SessionID)
	}
	dst = arrayLen(dst, len(r.Topics))
	for ti := range r.Topics {
		t := &r.Topics[ti]
		switch {
		case v >= 13:
			dst = kbin.AppendUuid(dst, t.TopicID)
		case flexible:
			dst = kbin.AppendCompactString(dst, t.Topic)
		default:
			dst = kbin.AppendString(dst, t.Topic)
		}
		dst = arrayLen(dst, len(t.Partitions))
		for pi := range t.Partitions {
			p := &t.Partitions[pi]
			dst = kbin.AppendInt32(dst, p.Partition)
			dst = kbin.AppendInt16(dst, p.ErrorCode)
			dst = kbin.AppendInt64(dst, p.HighWatermark)
			dst = kbin.AppendInt64(dst, p.LastStableOffset)
			if v >= 5 {
				dst = kbin.AppendInt64(dst, p.LogStartOffset)
			}
			if flexible {
				dst = kbin.AppendCompactNullableArrayLen(dst, len(p.AbortedTransactions), p.AbortedTransactions == nil)
			} else {
				dst = kbin.AppendNullableArrayLen(dst, len(p.AbortedTransactions), p.AbortedTransactions == nil)
			}
			for _, a := range p.AbortedTransactions {
				dst = kbin.AppendInt64(dst, a.ProducerID)
				dst = kbin.AppendInt64(dst, a.FirstOffset)
				if flexible {
					dst = append(dst, 0) // no tags
				}
			}
			if v >= 11 {
				dst = kbin.AppendInt32(dst, p.PreferredReadReplica)
			}
			b := p.RecordBatches
			switch {
			case b == nil && flexible:
				dst = kbin.AppendUvarint(dst, 0)
			case b == nil:
				dst = kbin.AppendInt32(dst, -1)
			case flexible:
				dst = kbin.AppendUvarint(dst, uint32(len(b)+1))
			default:
				dst = kbin.AppendInt32(dst, int32(len(b)))
			}
			var err error
			if dst, err = appendBatches(dst, b, recs(ti, pi), sp); err != nil {
				return dst, err
			}
			if flexible {
				dst = append(dst, 0) // no tags
			}
		}
		if flexible {
			dst = append(dst, 0)
		}
	}
	if flexible {
		dst = append(dst, 0)
	}
	return dst, nil
}

// patchedLen is how much of a batch patching writes: the base offset, the
// length (unchanged) and the leader epoch.
const patchedLen = records.LeaderEpochAt + 4

// appendBatches writes record batches b: left out into sp when sp is set
// and they are large enough, with their committed offsets when rec says
// so (then a large batch's first patchedLen bytes are copied and patched,
// and only its rest left out).
func appendBatches(dst, b []byte, rec fetchRecords, sp *splices) ([]byte, error) {
	if !rec.patch {
		if sp != nil && len(b) >= spliceMin {
			sp.add(dst, b)
			return dst, nil
		}
		return append(dst, b...), nil
	}
	base := rec.base
	for len(b) > 0 {
		batch, rest, err := records.Next(b)
		if err != nil {
			return dst, err
		}
		start := len(dst)
		if sp != nil && len(batch) >= spliceMin {
			dst = append(dst, batch[:patchedLen]...)
			sp.add(dst, batch[patchedLen:])
		} else {
			dst = append(dst, batch...)
		}
		binary.BigEndian.PutUint64(dst[start+records.BaseOffsetAt:], uint64(base))
		binary.BigEndian.PutUint32(dst[start+records.LeaderEpochAt:], uint32(records.LeaderEpoch))
		base += records.Offsets(batch)
		b = rest
	}
	return dst, nil
}
