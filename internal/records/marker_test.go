package records

import (
	"hash/crc32"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestMarkerBatch decodes a marker the way a consumer does: a valid v2
// control batch of one record whose key and value are Kafka's marker types.
func TestMarkerBatch(t *testing.T) {
	for _, commit := range []bool{false, true} {
		raw := MarkerBatch(1234, 7, commit, 3, 1700000000000)
		batch, rest, err := Next(raw)
		if err != nil || len(rest) != 0 || len(batch) != len(raw) {
			t.Fatalf("NextBatch: %v, %d rest", err, len(rest))
		}
		var b kmsg.RecordBatch
		if err := b.ReadFrom(raw); err != nil {
			t.Fatal(err)
		}
		if crc := crc32.Checksum(raw[21:], Castagnoli); int32(crc) != b.CRC {
			t.Fatalf("crc %08x, header says %08x", crc, uint32(b.CRC))
		}
		if b.Magic != 2 || b.Attributes != 0x30 || b.ProducerID != 1234 || b.ProducerEpoch != 7 || b.FirstSequence != -1 ||
			b.NumRecords != 1 || b.LastOffsetDelta != 0 || b.FirstTimestamp != 1700000000000 || b.MaxTimestamp != 1700000000000 {
			t.Fatalf("header = %+v", b)
		}
		if Offsets(raw) != 1 {
			t.Fatalf("spans %d offsets", Offsets(raw))
		}
		// The index sees what the transaction coordinator recorded for
		// markers before they were encoded here.
		info, err := InfoOf(raw)
		if want := (BatchInfo{Records: 1, MinTimestamp: 1700000000000, MaxTimestamp: 1700000000000, ProducerID: 1234,
			ProducerEpoch: 7, FirstSequence: -1, LastSequence: -1, Transactional: true, Control: true}); err != nil || info != want {
			t.Fatalf("InfoOf = %+v, %v; want %+v", info, err, want)
		}
		var r kmsg.Record
		if err := r.ReadFrom(b.Records); err != nil {
			t.Fatalf("record: %v", err)
		}
		var key kmsg.ControlRecordKey
		if err := key.ReadFrom(r.Key); err != nil {
			t.Fatal(err)
		}
		want := kmsg.ControlRecordKeyTypeAbort
		if commit {
			want = kmsg.ControlRecordKeyTypeCommit
		}
		if key.Version != 0 || key.Type != want {
			t.Fatalf("control key = %+v, want type %v", key, want)
		}
		var val kmsg.EndTxnMarker
		if err := val.ReadFrom(r.Value); err != nil || val.CoordinatorEpoch != 3 {
			t.Fatalf("marker value = %+v, %v", val, err)
		}
	}
}
