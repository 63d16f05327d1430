package records

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kbin"
)

// MaxDecompressedBatch bounds what one batch may decompress to, so a small
// batch crafted to expand to gigabytes is refused instead of exhausting
// the agent's memory. Consumers have similar bounds (franz-go: 1 GiB,
// MaxDecompressBatchBytes). Produce validation enforces it, so every
// stored batch decompresses within it, and readers of stored batches use
// it too.
const MaxDecompressedBatch = 128 << 20

// Section returns the records section of a batch (as Next returns it),
// decompressed when the batch is compressed, refusing to produce more than
// limit bytes (ErrDecompressLimit). An uncompressed section is a slice of
// batch.
func Section(batch []byte, limit int) ([]byte, error) {
	h := header(batch)
	return Decompress(batch[HeaderSize:], h.Codec(), limit)
}

// RecordIter walks the records of an uncompressed records section (see
// Section): each is a varint length followed by that many bytes of fields.
//
//	it := records.NewRecordIter(section)
//	for it.Next() {
//		use(it.Record())
//	}
//	if it.Err() != nil { … }
type RecordIter struct {
	rest   []byte
	rec    []byte
	fields int // where the fields start in rec
	n      int32
	err    error
}

// NewRecordIter returns an iterator over section's records.
func NewRecordIter(section []byte) RecordIter {
	return RecordIter{rest: section}
}

// Next moves to the next record. It returns false at the end of the
// section, and when the next record's length does not fit in it (Err then
// says so).
func (it *RecordIter) Next() bool {
	if len(it.rest) == 0 || it.err != nil {
		return false
	}
	length, n := kbin.Varint(it.rest)
	if n <= 0 || length < 0 || int(length) > len(it.rest)-n {
		return it.fail()
	}
	end := n + int(length)
	it.rec, it.fields, it.rest = it.rest[:end], n, it.rest[end:]
	it.n++
	return true
}

// fail ends the iteration on a record whose length does not fit; out of
// Next so that Next stays small enough to inline.
func (it *RecordIter) fail() bool {
	it.err = fmt.Errorf("record %d: length does not fit the batch", it.n)
	return false
}

// Record returns the current record with its length prefix, as
// kmsg.Record.ReadFrom reads it.
func (it *RecordIter) Record() []byte { return it.rec }

// Fields returns the current record's bytes after its length prefix.
func (it *RecordIter) Fields() []byte { return it.rec[it.fields:] }

// Err returns the error that stopped the iteration, if any.
func (it *RecordIter) Err() error { return it.err }

// Rest returns the bytes after the current record.
func (it *RecordIter) Rest() []byte { return it.rest }

// recordDeltas walks the fields of one record (the bytes after its
// length) as Kafka's DefaultRecord.readFrom does and returns its timestamp
// and offset deltas. Like Kafka, it refuses a negative header count or
// header key length, and fields that do not fill the record's length
// exactly: Java consumers fail on such records, so storing them would
// wedge the partition.
func recordDeltas(fields []byte) (timestampDelta int64, offsetDelta int32, err error) {
	rd := kbin.Reader{Src: fields}
	rd.Int8() // attributes
	timestampDelta = rd.Varlong()
	offsetDelta = rd.Varint()
	rd.VarintBytes() // key
	rd.VarintBytes() // value
	headers := rd.Varint()
	if headers < 0 {
		return 0, 0, fmt.Errorf("invalid header count %d", headers)
	}
	for ; headers > 0 && rd.Ok(); headers-- {
		kl := rd.Varint()
		if kl < 0 {
			return 0, 0, fmt.Errorf("invalid header key length %d", kl)
		}
		rd.Span(int(kl))
		rd.VarintBytes() // header value
	}
	if !rd.Ok() {
		return 0, 0, fmt.Errorf("fields overrun the record length")
	}
	if len(rd.Src) != 0 {
		return 0, 0, fmt.Errorf("%d bytes after the record's fields", len(rd.Src))
	}
	return timestampDelta, offsetDelta, nil
}
