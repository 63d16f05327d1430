package records

import (
	"encoding/binary"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// MarkerBatch encodes a transaction marker as Kafka writes it: a v2 record
// batch (transactional, control) of one record whose key is the control
// record key (version 0, type 0 abort or 1 commit) and whose value is the
// end-transaction marker (version 0, coordinator epoch). The base offset is
// 0; the read path patches in the committed one.
func MarkerBatch(producerID int64, epoch int16, commit bool, coordinatorEpoch int32, timestamp int64) []byte {
	key := kmsg.NewControlRecordKey()
	key.Type = kmsg.ControlRecordKeyTypeAbort
	if commit {
		key.Type = kmsg.ControlRecordKeyTypeCommit
	}
	val := kmsg.NewEndTxnMarker()
	val.CoordinatorEpoch = coordinatorEpoch
	k, v := key.AppendTo(nil), val.AppendTo(nil)

	var rec []byte
	rec = append(rec, 0)             // attributes
	rec = kbin.AppendVarlong(rec, 0) // timestamp delta
	rec = kbin.AppendVarint(rec, 0)  // offset delta
	rec = kbin.AppendVarint(rec, int32(len(k)))
	rec = append(rec, k...)
	rec = kbin.AppendVarint(rec, int32(len(v)))
	rec = append(rec, v...)
	rec = kbin.AppendVarint(rec, 0) // headers
	records := kbin.AppendVarint(nil, int32(len(rec)))
	records = append(records, rec...)

	b := kmsg.RecordBatch{
		Magic:          2,
		Attributes:     AttrTransactional | AttrControl,
		FirstTimestamp: timestamp,
		MaxTimestamp:   timestamp,
		ProducerID:     producerID,
		ProducerEpoch:  epoch,
		FirstSequence:  -1,
		NumRecords:     1,
		Records:        records,
	}
	raw := b.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[LengthAt:], uint32(len(raw)-LengthEnd))
	SetCRC(raw)
	return raw
}
