package kafka

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/records"
)

// randomFetchResponse builds a Fetch response of version v the way the
// handler does (defaults, then fields), with random values, nil and empty
// aborted lists and records, and batches of several sizes (some above
// spliceMin).
func randomFetchResponse(rng *rand.Rand, v int16) *kmsg.FetchResponse {
	r := kmsg.NewPtrFetchResponse()
	r.Version = v
	r.ThrottleMillis = rng.Int32()
	r.ErrorCode = int16(rng.IntN(3))
	r.SessionID = rng.Int32()
	for range rng.IntN(3) + 1 {
		t := kmsg.NewFetchResponseTopic()
		t.Topic = string(bytes.Repeat([]byte{'t'}, rng.IntN(40)))
		for i := range t.TopicID {
			t.TopicID[i] = byte(rng.IntN(256))
		}
		for range rng.IntN(4) {
			p := kmsg.NewFetchResponseTopicPartition()
			p.Partition = rng.Int32()
			p.ErrorCode = int16(rng.IntN(2))
			p.HighWatermark, p.LastStableOffset, p.LogStartOffset = rng.Int64(), rng.Int64(), rng.Int64()
			p.PreferredReadReplica = rng.Int32()
			switch rng.IntN(3) {
			case 0:
				p.AbortedTransactions = nil
			case 1:
				p.AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
			default:
				for range rng.IntN(3) + 1 {
					a := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
					a.ProducerID, a.FirstOffset = rng.Int64(), rng.Int64()
					p.AbortedTransactions = append(p.AbortedTransactions, a)
				}
			}
			switch rng.IntN(4) {
			case 0:
				p.RecordBatches = nil
			case 1:
				p.RecordBatches = []byte{}
			default:
				for range rng.IntN(4) + 1 {
					size := []int{100, 1000, spliceMin - 1, spliceMin + 7, 3 * spliceMin}[rng.IntN(5)]
					p.RecordBatches = append(p.RecordBatches, newBatch(4, size/4, nil)...)
				}
			}
			t.Partitions = append(t.Partitions, p)
		}
		r.Topics = append(r.Topics, t)
	}
	return r
}

// TestAppendFetchMatchesKmsg checks that appendFetch encodes every version
// as kmsg does, with nothing left out and with splices joined back in.
func TestAppendFetchMatchesKmsg(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	none := func(int, int) fetchRecords { return fetchRecords{} }
	for v := int16(4); v <= 18; v++ {
		for range 50 {
			r := randomFetchResponse(rng, v)
			if !plainFetch(r) {
				t.Fatalf("v%d: a response built from defaults is not plain", v)
			}
			want := r.AppendTo([]byte{1, 2, 3})
			got, err := appendFetch([]byte{1, 2, 3}, r, none, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("v%d: appendFetch differs from kmsg:\n got %x\nwant %x", v, got, want)
			}
			var sp splices
			got, err = appendFetch([]byte{1, 2, 3}, r, none, &sp)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range sp.data {
				if len(d) < spliceMin {
					t.Fatalf("v%d: spliced %d bytes, below spliceMin", v, len(d))
				}
			}
			if joined := sp.join(got); !bytes.Equal(joined, want) {
				t.Fatalf("v%d: spliced encoding differs from kmsg once joined", v)
			}
			if len(got)+sp.n != len(want) {
				t.Fatalf("v%d: %d bytes in the frame and %d left out, want %d", v, len(got), sp.n, len(want))
			}
		}
	}
}

// TestAppendFetchPatchesShared checks that shared records are given their
// committed offsets (and the leader epoch) as PatchBaseOffsets gives them,
// whether their batches are copied or left out, and are not modified.
func TestAppendFetchPatchesShared(t *testing.T) {
	var shared []byte
	for _, size := range []int{100, 3 * spliceMin, 1000, spliceMin + 1} {
		shared = append(shared, newBatch(5, size/5, nil)...)
	}
	orig := append([]byte(nil), shared...)
	want := append([]byte(nil), shared...)
	if _, err := records.PatchBaseOffsets(want, 1000); err != nil {
		t.Fatal(err)
	}
	for _, v := range []int16{11, 12, 13} {
		r := kmsg.NewPtrFetchResponse()
		r.Version = v
		tp := kmsg.NewFetchResponseTopic()
		tp.Topic = "a"
		for i := range 2 {
			p := kmsg.NewFetchResponseTopicPartition()
			p.Partition = int32(i)
			p.RecordBatches = shared
			tp.Partitions = append(tp.Partitions, p)
		}
		r.Topics = append(r.Topics, tp)
		recs := func(t, p int) fetchRecords {
			if p == 1 {
				return fetchRecords{patch: true, base: 1000}
			}
			return fetchRecords{}
		}
		for _, sp := range []*splices{nil, {}} {
			got, err := appendFetch(nil, r, recs, sp)
			if err != nil {
				t.Fatal(err)
			}
			if sp != nil {
				if sp.n == 0 {
					t.Fatalf("v%d: nothing left out", v)
				}
				got = sp.join(got)
			}
			var dec kmsg.FetchResponse
			dec.SetVersion(v)
			if err := dec.ReadFrom(got); err != nil {
				t.Fatal(err)
			}
			ps := dec.Topics[0].Partitions
			if !bytes.Equal(ps[0].RecordBatches, orig) {
				t.Fatalf("v%d: records not marked shared were changed", v)
			}
			if !bytes.Equal(ps[1].RecordBatches, want) {
				t.Fatalf("v%d, splices %v: shared records not patched as PatchBaseOffsets does", v, sp != nil)
			}
			if !bytes.Equal(shared, orig) {
				t.Fatalf("v%d: the shared bytes were modified", v)
			}
		}
	}
}

// TestPlainFetchTaggedFields checks that responses with tagged fields are
// left to kmsg.
func TestPlainFetchTaggedFields(t *testing.T) {
	for _, set := range []func(*kmsg.FetchResponse){
		func(r *kmsg.FetchResponse) { r.Topics[0].Partitions[0].CurrentLeader.LeaderID = 3 },
		func(r *kmsg.FetchResponse) { r.Topics[0].Partitions[0].DivergingEpoch.Epoch = 3 },
		func(r *kmsg.FetchResponse) { r.Topics[0].Partitions[0].SnapshotID.EndOffset = 3 },
		func(r *kmsg.FetchResponse) { r.Brokers = append(r.Brokers, kmsg.NewFetchResponseBroker()) },
		func(r *kmsg.FetchResponse) { r.Version = 3 },
	} {
		r := kmsg.NewPtrFetchResponse()
		r.Version = 16
		tp := kmsg.NewFetchResponseTopic()
		tp.Partitions = append(tp.Partitions, kmsg.NewFetchResponseTopicPartition())
		r.Topics = append(r.Topics, tp)
		if !plainFetch(r) {
			t.Fatal("a default response is not plain")
		}
		set(r)
		if plainFetch(r) {
			t.Fatal("a response with a tagged field is plain")
		}
	}
}
