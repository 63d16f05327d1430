// Package recordstest builds Kafka v2 record batches for tests.
package recordstest

import (
	"bytes"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/records"
)

// Timestamp is the first record's timestamp in a Batch; record i has
// Timestamp+i.
const Timestamp = 1_700_000_000_000

// Batch returns a valid uncompressed producer batch of n records: record
// i has key "k<i%10>", a value of valueSize bytes of one letter ('a' +
// i%26) and one header h=v. mod, if set, edits the batch before it is
// encoded (the length and CRC are computed after).
func Batch(n, valueSize int, mod func(*kmsg.RecordBatch)) []byte {
	b := kmsg.RecordBatch{
		PartitionLeaderEpoch: -1,
		Magic:                2,
		LastOffsetDelta:      int32(n - 1),
		FirstTimestamp:       Timestamp,
		MaxTimestamp:         Timestamp + int64(n-1),
		ProducerID:           -1,
		ProducerEpoch:        -1,
		FirstSequence:        -1,
		NumRecords:           int32(n),
	}
	for i := 0; i < n; i++ {
		r := kmsg.Record{TimestampDelta64: int64(i), OffsetDelta: int32(i), Key: []byte{'k', byte('0' + i%10)},
			Value: bytes.Repeat([]byte{byte('a' + i%26)}, valueSize), Headers: []kmsg.Header{{Key: "h", Value: []byte("v")}}}
		body := r.AppendTo(nil)[1:] // drop the placeholder length varint (0 is one byte)
		b.Records = kbin.AppendVarint(b.Records, int32(len(body)))
		b.Records = append(b.Records, body...)
	}
	if mod != nil {
		mod(&b)
	}
	b.Length = int32(records.HeaderSize - records.LengthEnd + len(b.Records))
	raw := b.AppendTo(nil)
	records.SetCRC(raw)
	return raw
}
