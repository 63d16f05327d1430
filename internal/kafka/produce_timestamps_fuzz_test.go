package kafka

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"math"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/segment"
)

// FuzzTimestampCheck feeds mutated batches that validateBatch accepts
// through the timestamp checks (which decode record timestamps on their
// own) and the LogAppendTime rewrite: no panics, an accepted batch has no
// record outside the window, a refused one names records that are, and a
// stamped batch still decodes with a valid CRC.
func FuzzTimestampCheck(f *testing.F) {
	gz := kgo.GzipCompression()
	f.Add(timedBatch(3, 1_700_000_000_000, nil), int64(1_700_000_000_000), int64(1000), int64(1000))
	f.Add(steppedBatch(4, 1_700_000_000_000, -500, &gz), int64(1_700_000_000_000), int64(1000), int64(0))
	f.Add(timedBatch(1, -1, nil), int64(5), int64(0), int64(0))
	f.Add(newBatch(2, 3, func(b *kmsg.RecordBatch) { b.Attributes |= attrLogAppendTime }), int64(0), int64(math.MaxInt64), int64(math.MaxInt64))
	f.Fuzz(func(t *testing.T, raw []byte, now, before, after int64) {
		raw = fixBatch(raw)
		if _, code, _ := validateBatch(raw); code != 0 {
			return
		}
		before, after = max(before, 0), max(after, 0) // validated configs are >= 0
		p := timestampPolicy{before: before, after: after}
		errs, err := p.check(raw, now)
		if err != nil && len(errs) == 0 {
			t.Fatalf("refused without record errors: %v", err)
		}
		var b kmsg.RecordBatch
		if err := b.ReadFrom(raw); err != nil {
			t.Fatal(err)
		}
		if b.Attributes&attrLogAppendTime == 0 {
			deltas, derr := timestampDeltas(&b)
			if derr != nil {
				t.Fatalf("validateBatch accepted records timestampDeltas cannot read: %v", derr)
			}
			bad := map[int32]bool{}
			for _, e := range errs {
				bad[e.RelativeOffset] = true
			}
			for i, d := range deltas {
				ts := b.FirstTimestamp + d
				out := ts != -1 && (satSub(now, ts) > before || satSub(ts, now) > after)
				if out != bad[int32(i)] {
					t.Fatalf("record %d at %d (now %d, window -%d/+%d): refused=%v", i, ts, now, before, after, bad[int32(i)])
				}
			}
		}

		stamped := bytes.Clone(raw)
		segment.SetLogAppendTime(stamped, now)
		var s kmsg.RecordBatch
		if err := s.ReadFrom(stamped); err != nil {
			t.Fatal(err)
		}
		if crc := crc32.Checksum(stamped[21:], testCRCTable); int32(crc) != s.CRC || s.MaxTimestamp != now || s.FirstTimestamp != now || s.Attributes&attrLogAppendTime == 0 {
			t.Fatalf("stamped batch: crc %08x vs %08x, %+v", crc, uint32(s.CRC), s)
		}
		if !bytes.Equal(stamped[segment.BatchHeaderSize:], raw[segment.BatchHeaderSize:]) || binary.BigEndian.Uint64(stamped) != binary.BigEndian.Uint64(raw) {
			t.Fatal("stamping changed more than the header's timestamp fields")
		}
	})
}
