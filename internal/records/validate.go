package records

import (
	"errors"
	"fmt"
	"math"

	"github.com/twmb/franz-go/pkg/kbin"
)

// ErrInvalid is returned (wrapped) by Validate for a well-framed batch that
// may not be stored: Kafka's INVALID_RECORD. Validate's other failures are
// ErrCorrupt (CORRUPT_MESSAGE) and ErrDecompressLimit (MESSAGE_TOO_LARGE).
var ErrInvalid = errors.New("records: invalid batch")

// batchError is a Validate failure: its message is the reason alone, and it
// is of one kind (ErrCorrupt, ErrInvalid or ErrDecompressLimit).
type batchError struct {
	kind, err error
}

func (e *batchError) Error() string   { return e.err.Error() }
func (e *batchError) Unwrap() []error { return []error{e.kind, e.err} }

func failure(kind error, format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	if errors.Is(err, ErrDecompressLimit) {
		kind = ErrDecompressLimit
	}
	return &batchError{kind: kind, err: err}
}

// Options says what Validate checks beyond the format.
type Options struct {
	// MaxDecompressed bounds what the records may decompress to;
	// MaxDecompressedBatch when 0.
	MaxDecompressed int
	// Window, when not nil, is checked against every record's timestamp:
	// records outside it are listed in Checked.OutOfWindow.
	Window *Window
}

// Window is a range of record timestamps around Now (ms): a record is
// outside when it is more than Before older or After newer than Now.
// math.MaxInt64 leaves a side open. Timestamps of -1 (none) are not
// checked, and a LogAppendTime batch's records take its max timestamp, as
// readers see them.
type Window struct {
	Now, Before, After int64
}

// Contains reports whether ts is inside the window. The differences are
// saturated, so timestamps at the ends of the range cannot wrap around
// into it.
func (w *Window) Contains(ts int64) bool {
	return satSub(w.Now, ts) <= w.Before && satSub(ts, w.Now) <= w.After
}

// Bounds returns the first and last timestamps inside the window.
func (w *Window) Bounds() (first, last int64) {
	return satSub(w.Now, w.Before), satAdd(w.Now, w.After)
}

// Stamp is a record, by its position in its batch, and its timestamp.
type Stamp struct {
	Index     int32
	Timestamp int64
}

// Checked is what Validate learns of a batch it accepts.
type Checked struct {
	// Info is what the file index needs; CRCChecked is set.
	Info       BatchInfo
	Attributes int16
	// OutOfWindow lists the records outside Options.Window, in order.
	OutOfWindow []Stamp
}

// Validate checks that raw is exactly one well-formed v2 record batch a
// producer may send, as a Kafka broker does before appending it: framing,
// magic, CRC, no control batch, a record count that matches the last
// offset delta, sane producer fields, and every record's framing and offset
// delta after decompression (bounded by Options.MaxDecompressed). It reads
// the batch once, decompressing it at most once, and checks the timestamp
// window in the same pass. raw is not modified.
func Validate(raw []byte, o Options) (Checked, error) {
	var c Checked
	if len(raw) == 0 {
		return c, failure(ErrInvalid, "no record batch")
	}
	batch, rest, err := Next(raw)
	if err != nil {
		return c, err
	}
	if len(rest) != 0 {
		return c, failure(ErrInvalid, "more than one record batch for a partition")
	}
	h := header(batch)
	if h.Magic != 2 {
		return c, failure(ErrInvalid, "record batch magic %d, only v2 is accepted", h.Magic)
	}
	if crc := Checksum(batch); crc != h.CRC {
		return c, failure(ErrCorrupt, "record batch CRC %08x does not match computed %08x", h.CRC, crc)
	}
	if h.Attributes&AttrControl != 0 {
		return c, failure(ErrInvalid, "clients may not produce control batches")
	}
	if h.NumRecords <= 0 || h.LastOffsetDelta != h.NumRecords-1 {
		return c, failure(ErrInvalid, "record count %d does not match last offset delta %d", h.NumRecords, h.LastOffsetDelta)
	}
	if h.ProducerID >= 0 && (h.ProducerEpoch < 0 || h.FirstSequence < 0) {
		return c, failure(ErrInvalid, "producer %d sent epoch %d and sequence %d", h.ProducerID, h.ProducerEpoch, h.FirstSequence)
	}
	if h.Attributes&AttrTransactional != 0 && h.ProducerID < 0 {
		return c, failure(ErrInvalid, "transactional batch without a producer id")
	}
	if c.OutOfWindow, err = checkRecords(&h, batch[HeaderSize:], o); err != nil {
		return Checked{}, err
	}
	c.Info = h.Info()
	// Verified above; nothing changes the bytes it covers on the way to
	// the file, except LogAppendTime stamping, which recomputes it.
	c.Info.CRCChecked = true
	c.Attributes = h.Attributes
	return c, nil
}

// checkRecords checks each record's framing and offset delta, so a batch
// whose CRC is right but whose contents no consumer could parse is refused,
// and returns the records outside o.Window.
func checkRecords(h *Header, section []byte, o Options) ([]Stamp, error) {
	if codec := h.Codec(); codec != CodecNone {
		if codec > CodecZstd {
			return nil, failure(ErrInvalid, "unknown compression codec %d", codec)
		}
		limit := o.MaxDecompressed
		if limit <= 0 {
			limit = MaxDecompressedBatch
		}
		var err error
		if section, err = Decompress(section, codec, limit); err != nil {
			return nil, failure(ErrInvalid, "cannot decompress records: %w", err)
		}
	}
	w := o.Window
	logAppendTime := h.Attributes&AttrLogAppendTime != 0
	var out []Stamp
	for i := int32(0); i < h.NumRecords; i++ {
		// RecordIter.Next's step, by hand: this loop is the produce path's
		// hottest, and the call per record cost 4% of it.
		length, n := kbin.Varint(section)
		if n <= 0 || length < 0 || int(length) > len(section)-n {
			return nil, failure(ErrInvalid, "record %d: length does not fit the batch", i)
		}
		tsDelta, delta, err := recordDeltas(section[n : n+int(length)])
		section = section[n+int(length):]
		if err != nil {
			return nil, failure(ErrInvalid, "record %d: %w", i, err)
		}
		if delta != i {
			return nil, failure(ErrInvalid, "record %d has offset delta %d", i, delta)
		}
		if w != nil {
			ts := h.FirstTimestamp + tsDelta
			if logAppendTime {
				ts = h.MaxTimestamp
			}
			if ts != -1 && !w.Contains(ts) {
				out = append(out, Stamp{Index: i, Timestamp: ts})
			}
		}
	}
	if n := len(section); n != 0 {
		return nil, failure(ErrInvalid, "%d bytes after the last record", n)
	}
	return out, nil
}

// satAdd and satSub are int64 addition and subtraction that saturate
// instead of wrapping, for timestamps at the ends of the range.
func satAdd(a, b int64) int64 {
	s := a + b
	switch {
	case a > 0 && b > 0 && s < 0:
		return math.MaxInt64
	case a < 0 && b < 0 && s >= 0:
		return math.MinInt64
	}
	return s
}

func satSub(a, b int64) int64 {
	if b == math.MinInt64 {
		if a >= 0 {
			return math.MaxInt64
		}
		return a - b
	}
	return satAdd(a, -b)
}
