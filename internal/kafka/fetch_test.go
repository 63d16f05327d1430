package kafka

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/records"
)

// TestFetchOffsetsMixedPartitions fetches, in one request, partitions whose
// records the response encodes straight from cached blocks (their offsets
// patched in the encoded response), partitions whose records were copied
// from several files, an empty partition and an unknown topic: every
// batch must carry its committed offset, with intact CRCs, in every
// response version and isolation level. Batches of 10-byte values are
// copied into the encoded frame; batches of 20,000-byte ones (over
// spliceMin) are written from where they lie (writev).
func TestFetchOffsetsMixedPartitions(t *testing.T) {
	for _, valueSize := range []int{10, 20000} {
		t.Run(fmt.Sprint(valueSize), func(t *testing.T) { testFetchOffsetsMixedPartitions(t, valueSize) })
	}
}

func testFetchOffsetsMixedPartitions(t *testing.T, valueSize int) {
	ts := startBadInputServer(t)
	ts.createTopic("u", 3, nil)
	rc := ts.dial()
	// Three files; t/0 gets batches at 0, 2, 4; t/1 at 0, 3, 6; u/2 at 0, 1, 2.
	for round := 0; round < 3; round++ {
		resp := rc.roundTrip(produceReq(9, -1,
			producePart{"t", 0, newBatch(2, valueSize, nil)},
			producePart{"t", 1, newBatch(3, valueSize, nil)},
			producePart{"u", 2, newBatch(1, valueSize, nil)},
		)).(*kmsg.ProduceResponse)
		for _, p := range []struct {
			topic string
			part  int32
		}{{"t", 0}, {"t", 1}, {"u", 2}} {
			if got := producePartResult(t, resp, p.topic, p.part); got.ErrorCode != 0 {
				t.Fatalf("round %d: produce %s/%d: %+v", round, p.topic, p.part, got)
			}
		}
	}
	type want struct {
		topic  string
		part   int32
		offset int64
		err    int16
		bases  string
	}
	wants := []want{
		{"t", 0, 4, 0, "[4]"}, // one extent: shared
		{"nope", 0, 0, kerr.UnknownTopicOrPartition.Code, "[]"},
		{"t", 1, 1, 0, "[0 3 6]"}, // three files: copied
		{"u", 0, 0, 0, "[]"},      // empty
		{"u", 2, 2, 0, "[2]"},     // shared
		{"u", 1, 0, 0, "[]"},      // empty, after a shared one
	}
	for _, version := range []int16{4, 11, 12} {
		for _, isolation := range []int8{0, 1} {
			req := kmsg.NewPtrFetchRequest()
			req.Version = version
			req.ReplicaID = -1
			req.MinBytes = 1
			req.MaxBytes = 1 << 20
			req.IsolationLevel = isolation
			for _, w := range wants {
				if n := len(req.Topics); n == 0 || req.Topics[n-1].Topic != w.topic {
					rt := kmsg.NewFetchRequestTopic()
					rt.Topic = w.topic
					req.Topics = append(req.Topics, rt)
				}
				rp := kmsg.NewFetchRequestTopicPartition()
				rp.Partition = w.part
				rp.FetchOffset = w.offset
				rp.PartitionMaxBytes = 1 << 20
				rt := &req.Topics[len(req.Topics)-1]
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp := rc.roundTrip(req).(*kmsg.FetchResponse)
			var got []kmsg.FetchResponseTopicPartition
			for _, rt := range resp.Topics {
				got = append(got, rt.Partitions...)
			}
			if len(got) != len(wants) {
				t.Fatalf("v%d isolation %d: %d partitions in the response, want %d", version, isolation, len(got), len(wants))
			}
			for i, w := range wants {
				p := got[i]
				if p.ErrorCode != w.err {
					t.Fatalf("v%d isolation %d: %s/%d error %d, want %d", version, isolation, w.topic, w.part, p.ErrorCode, w.err)
				}
				var bases []int64
				for rest := p.RecordBatches; len(rest) > 0; {
					batch, next, err := records.Next(rest)
					if err != nil {
						t.Fatalf("v%d isolation %d: %s/%d: %v", version, isolation, w.topic, w.part, err)
					}
					var b kmsg.RecordBatch
					if err := b.ReadFrom(batch); err != nil {
						t.Fatal(err)
					}
					if records.Checksum(batch) != uint32(b.CRC) {
						t.Fatalf("v%d isolation %d: %s/%d batch at %d: bad CRC", version, isolation, w.topic, w.part, b.FirstOffset)
					}
					bases = append(bases, int64(binary.BigEndian.Uint64(batch)))
					rest = next
				}
				if fmt.Sprint(bases) != w.bases {
					t.Fatalf("v%d isolation %d: %s/%d from %d: batches at %v, want %s", version, isolation, w.topic, w.part, w.offset, bases, w.bases)
				}
			}
		}
	}
}
