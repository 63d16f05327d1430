package records_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/records"
	"github.com/sluicehq/sluice/internal/records/recordstest"
	"github.com/sluicehq/sluice/internal/segment"
)

// newBatch returns a valid uncompressed producer batch (see recordstest.Batch).
var newBatch = recordstest.Batch

// compress replaces b's records with their compression by codec.
func compress(b *kmsg.RecordBatch, codec kgo.CompressionCodec) {
	c, err := kgo.DefaultCompressor(codec)
	if err != nil {
		panic(err)
	}
	out, typ := c.Compress(new(bytes.Buffer), b.Records)
	b.Records = append([]byte(nil), out...)
	b.Attributes = b.Attributes&^records.AttrCompression | int16(typ)
}

// compressedBatch returns a valid batch of n records compressed with codec.
func compressedBatch(n int, codec kgo.CompressionCodec) []byte {
	return newBatch(n, 20, func(b *kmsg.RecordBatch) { compress(b, codec) })
}

// steppedBatch is a valid batch of n records with timestamps first,
// first+step, …, compressed with codec unless it is nil.
func steppedBatch(n int, first, step int64, codec *kgo.CompressionCodec) []byte {
	return newBatch(n, 10, func(b *kmsg.RecordBatch) {
		b.FirstTimestamp, b.MaxTimestamp = first, first+int64(n-1)*step
		b.Records = nil
		for i := 0; i < n; i++ {
			r := kmsg.Record{TimestampDelta64: int64(i) * step, OffsetDelta: int32(i), Value: []byte("v")}
			body := r.AppendTo(nil)[1:]
			b.Records = kbin.AppendVarint(b.Records, int32(len(body)))
			b.Records = append(b.Records, body...)
		}
		if codec != nil {
			compress(b, *codec)
		}
	})
}

// fixBatch sets raw's length field to its size and recomputes its CRC, so
// mutations reach the checks behind them.
func fixBatch(raw []byte) []byte {
	if len(raw) < records.HeaderSize {
		return raw
	}
	raw = slices.Clone(raw)
	binary.BigEndian.PutUint32(raw[records.LengthAt:], uint32(len(raw)-records.LengthEnd))
	records.SetCRC(raw)
	return raw
}

// kindOf names the kind of a Validate error.
func kindOf(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, records.ErrDecompressLimit):
		return "too large"
	case errors.Is(err, records.ErrCorrupt):
		return "corrupt"
	case errors.Is(err, records.ErrInvalid):
		return "invalid"
	}
	return "unknown: " + err.Error()
}

// TestValidateKinds: every refusal is of the kind a Kafka broker answers
// it with (CORRUPT_MESSAGE, INVALID_RECORD, MESSAGE_TOO_LARGE).
func TestValidateKinds(t *testing.T) {
	good := newBatch(2, 5, nil)
	badCRC := slices.Clone(good)
	badCRC[len(badCRC)-1] ^= 1
	zstd := kgo.ZstdCompression()
	for _, c := range []struct {
		name string
		raw  []byte
		want string
	}{
		{"valid", good, "ok"},
		{"valid compressed", steppedBatch(5, 1, 1, &zstd), "ok"},
		{"empty", nil, "invalid"},
		{"truncated", good[:len(good)-1], "corrupt"},
		{"two batches", append(slices.Clone(good), good...), "invalid"},
		{"bad CRC", badCRC, "corrupt"},
		{"magic 1", newBatch(1, 1, func(b *kmsg.RecordBatch) { b.Magic = 1 }), "invalid"},
		{"control", newBatch(1, 1, func(b *kmsg.RecordBatch) { b.Attributes = records.AttrControl }), "invalid"},
		{"count", newBatch(2, 1, func(b *kmsg.RecordBatch) { b.NumRecords = 3 }), "invalid"},
		{"producer without epoch", newBatch(1, 1, func(b *kmsg.RecordBatch) { b.ProducerID = 1 }), "invalid"},
		{"transactional without producer", newBatch(1, 1, func(b *kmsg.RecordBatch) { b.Attributes = records.AttrTransactional }), "invalid"},
		{"bad record length", newBatch(1, 1, func(b *kmsg.RecordBatch) { b.Records = []byte{0xff, 0xff, 0xff, 0xff, 0xff, 1} }), "invalid"},
		{"trailing bytes", newBatch(1, 1, func(b *kmsg.RecordBatch) { b.Records = append(b.Records, 0) }), "invalid"},
		{"unknown codec", newBatch(1, 1, func(b *kmsg.RecordBatch) { b.Attributes = 5 }), "invalid"},
		{"bad gzip", newBatch(1, 1, func(b *kmsg.RecordBatch) { b.Attributes = records.CodecGzip }), "invalid"},
		{"over the bound", compressedBatch(2000, kgo.Lz4Compression()), "too large"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := records.Validate(c.raw, records.Options{MaxDecompressed: 10_000})
			if got := kindOf(err); got != c.want {
				t.Fatalf("Validate: %s (%v), want %s", got, err, c.want)
			}
		})
	}
}

// TestValidateWindow: the records outside the window are listed with
// their timestamps, compressed or not; a LogAppendTime batch's records
// all have its max timestamp; -1 is never outside.
func TestValidateWindow(t *testing.T) {
	const now = 1_800_000_000_000
	w := &records.Window{Now: now, Before: 3600_000, After: 60_000}
	gz := kgo.GzipCompression()
	lat := func(first, max int64) []byte {
		return newBatch(3, 1, func(b *kmsg.RecordBatch) {
			b.Attributes |= records.AttrLogAppendTime
			b.FirstTimestamp, b.MaxTimestamp = first, max
		})
	}
	for _, c := range []struct {
		name string
		raw  []byte
		want []records.Stamp
	}{
		{"in window", steppedBatch(3, now-1000, 1, nil), nil},
		{"straddles the lower bound", steppedBatch(3, now-3600_000-30_000, 60_000, nil), []records.Stamp{{0, now - 3600_000 - 30_000}}},
		{"straddles the upper bound, compressed", steppedBatch(3, now-60_000, 90_000, &gz), []records.Stamp{{2, now + 120_000}}},
		{"absurdly old", steppedBatch(1, math.MinInt64, 1, nil), []records.Stamp{{0, math.MinInt64}}},
		{"no timestamp", steppedBatch(1, -1, 0, nil), nil},
		{"LogAppendTime, old", lat(now, now-2*3600_000), []records.Stamp{{0, now - 2*3600_000}, {1, now - 2*3600_000}, {2, now - 2*3600_000}}},
		{"LogAppendTime, in window", lat(0, now), nil},
		{"LogAppendTime, none", lat(-1, -1), nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := records.Validate(c.raw, records.Options{Window: w})
			if err != nil || !slices.Equal(got.OutOfWindow, c.want) {
				t.Fatalf("Validate: %v, out of window %v; want %v", err, got.OutOfWindow, c.want)
			}
			if got, err := records.Validate(c.raw, records.Options{}); err != nil || got.OutOfWindow != nil {
				t.Fatalf("without a window: %v, %v", err, got.OutOfWindow)
			}
		})
	}
}

// FuzzValidate checks that Validate never panics or modifies its input,
// refuses only with a known kind, and that whatever it accepts is exactly
// one batch the segment and read paths can split, index, patch and
// return, whose BatchInfo agrees with its header.
func FuzzValidate(f *testing.F) {
	f.Add(newBatch(1, 10, nil))
	f.Add(newBatch(3, 0, nil))
	f.Add(newBatch(2, 100, func(b *kmsg.RecordBatch) {
		var recs []byte
		for i := 0; i < 2; i++ { // null key, null value, no headers
			body := kbin.AppendInt8(nil, 0)
			body = kbin.AppendVarlong(body, int64(i))
			body = kbin.AppendVarint(body, int32(i))
			body = kbin.AppendVarint(body, -1)
			body = kbin.AppendVarint(body, -1)
			body = kbin.AppendVarint(body, 0)
			recs = append(kbin.AppendVarint(recs, int32(len(body))), body...)
		}
		b.Records = recs
	}))
	for _, c := range []kgo.CompressionCodec{kgo.GzipCompression(), kgo.SnappyCompression(), kgo.Lz4Compression(), kgo.ZstdCompression()} {
		f.Add(compressedBatch(3, c))
	}
	good := newBatch(2, 5, nil)
	f.Add(good[:len(good)-1])
	f.Add(append(slices.Clone(good), good...))
	f.Add(newBatch(1, 1, func(b *kmsg.RecordBatch) { b.Attributes = 0x20 }))
	f.Add(newBatch(1, 1, func(b *kmsg.RecordBatch) { b.ProducerID = 1 }))
	f.Add(newBatch(2, 1, func(b *kmsg.RecordBatch) { b.ProducerID, b.ProducerEpoch, b.FirstSequence = 1, 0, 0 }))
	f.Add(newBatch(1, 1, func(b *kmsg.RecordBatch) { b.Magic = 1 }))
	f.Add(newBatch(1, 1, func(b *kmsg.RecordBatch) { b.Records = []byte{0xff, 0xff, 0xff, 0xff, 0xff, 1} }))
	f.Add(make([]byte, records.HeaderSize))
	f.Add([]byte{})

	// Inputs that decompress to the production bound (128 MiB) take a
	// second each and stall the fuzzer; the bound itself is tested in
	// TestValidateKinds and the kafka package's TestProduceBadBatches.
	opts := records.Options{MaxDecompressed: 1 << 20}
	check := func(t *testing.T, raw []byte) {
		orig := slices.Clone(raw)
		c, err := records.Validate(raw, opts)
		if !bytes.Equal(raw, orig) {
			t.Fatal("Validate modified its input")
		}
		if err != nil {
			if k := kindOf(err); k != "corrupt" && k != "invalid" && k != "too large" {
				t.Fatalf("refused with %s", k)
			}
			return
		}
		info := c.Info
		batch, rest, err := records.Next(raw)
		if err != nil || len(rest) != 0 || len(batch) != len(raw) {
			t.Fatalf("accepted batch does not split cleanly: %v, %d rest, %d of %d bytes", err, len(rest), len(batch), len(raw))
		}
		if info.Records < 1 || info.Records != records.Offsets(raw) {
			t.Fatalf("info.Records %d, batch spans %d offsets", info.Records, records.Offsets(raw))
		}
		var hdr kmsg.RecordBatch
		if err := hdr.ReadFrom(raw); err != nil {
			t.Fatalf("accepted batch does not decode: %v", err)
		}
		if info.MaxTimestamp != records.MaxTimestamp(raw) || info.MinTimestamp != hdr.FirstTimestamp ||
			info.ProducerID != hdr.ProducerID || info.ProducerEpoch != hdr.ProducerEpoch || info.FirstSequence != hdr.FirstSequence ||
			info.Transactional != (hdr.Attributes&0x10 != 0) || hdr.Magic != 2 || hdr.Attributes&0x20 != 0 || info.Control ||
			c.Attributes != hdr.Attributes || !info.CRCChecked {
			t.Fatalf("info %+v disagrees with the batch header %+v", info, hdr)
		}
		if info.ProducerID >= 0 && (info.ProducerEpoch < 0 || info.FirstSequence < 0) {
			t.Fatalf("accepted producer %d with epoch %d, sequence %d", info.ProducerID, info.ProducerEpoch, info.FirstSequence)
		}
		// InfoOf reads the same from the header, without a CRC check.
		i2, err := records.InfoOf(raw)
		if i2.CRCChecked = true; err != nil || i2 != info {
			t.Fatalf("InfoOf = %+v, %v; Validate said %+v", i2, err, info)
		}
		var w segment.Writer
		w.Add([16]byte{9}, 3, raw, info)
		file, entries := w.Finish()
		parsed, err := segment.Parse(file)
		if err != nil || len(entries) != 1 || entries[0].Records != info.Records {
			t.Fatalf("segment round trip: %v, entries %+v", err, entries)
		}
		chunk := slices.Clone(parsed.Chunk(0))
		if !bytes.Equal(chunk, raw) {
			t.Fatal("segment chunk differs from the batch")
		}
		end, err := records.PatchBaseOffsets(chunk, 1000)
		if err != nil || end != 1000+info.Records {
			t.Fatalf("PatchBaseOffsets = %d, %v; want %d", end, err, 1000+info.Records)
		}
		if binary.BigEndian.Uint64(chunk) != 1000 || crc32.Checksum(chunk[21:], crc32.MakeTable(crc32.Castagnoli)) != binary.BigEndian.Uint32(chunk[17:]) {
			t.Fatal("patched batch has a wrong base offset or CRC")
		}
		// Patching the base offset and epoch does not change the verdict.
		c2, err2 := records.Validate(chunk, opts)
		if err2 != nil || c2.Info != info {
			t.Fatalf("patched batch: %v, info %+v (was %+v)", err2, c2.Info, info)
		}
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		check(t, raw)
		check(t, fixBatch(raw))
	})
}

// FuzzValidateWindow feeds mutated batches that Validate accepts through
// its timestamp window and the LogAppendTime rewrite: no panics, the
// records outside the window are exactly those an independent decoding
// (kmsg and franz-go's decompressor) finds outside, and a stamped batch
// still decodes with a valid CRC.
func FuzzValidateWindow(f *testing.F) {
	gz := kgo.GzipCompression()
	f.Add(steppedBatch(3, 1_700_000_000_000, 1, nil), int64(1_700_000_000_000), int64(1000), int64(1000))
	f.Add(steppedBatch(4, 1_700_000_000_000, -500, &gz), int64(1_700_000_000_000), int64(1000), int64(0))
	f.Add(steppedBatch(1, -1, 1, nil), int64(5), int64(0), int64(0))
	f.Add(newBatch(2, 3, func(b *kmsg.RecordBatch) { b.Attributes |= records.AttrLogAppendTime }), int64(0), int64(math.MaxInt64), int64(math.MaxInt64))
	decompressor := kgo.DefaultDecompressor()
	f.Fuzz(func(t *testing.T, raw []byte, now, before, after int64) {
		raw = fixBatch(raw)
		opts := records.Options{MaxDecompressed: 1 << 20}
		if _, err := records.Validate(raw, opts); err != nil {
			return
		}
		before, after = max(before, 0), max(after, 0) // validated configs are >= 0
		opts.Window = &records.Window{Now: now, Before: before, After: after}
		c, err := records.Validate(raw, opts)
		if err != nil {
			t.Fatalf("accepted without a window, refused with one: %v", err)
		}
		var b kmsg.RecordBatch
		if err := b.ReadFrom(raw); err != nil {
			t.Fatal(err)
		}
		stamps := make([]int64, b.NumRecords)
		if b.Attributes&records.AttrLogAppendTime != 0 {
			for i := range stamps {
				stamps[i] = b.MaxTimestamp
			}
		} else {
			section := b.Records
			if codec := kgo.CompressionCodecType(b.Attributes & records.AttrCompression); codec != kgo.CodecNone {
				if section, err = decompressor.Decompress(section, codec); err != nil {
					t.Fatalf("franz-go cannot decompress what Validate accepted: %v", err)
				}
			}
			for i := range stamps {
				var r kmsg.Record
				length, n := kbin.Varint(section)
				if err := r.ReadFrom(section[:n+int(length)]); err != nil {
					t.Fatalf("record %d: %v", i, err)
				}
				section = section[n+int(length):]
				stamps[i] = b.FirstTimestamp + r.TimestampDelta64
			}
		}
		var want []records.Stamp
		for i, ts := range stamps {
			lo, hi := opts.Window.Bounds()
			if ts != -1 && (ts < lo || ts > hi) {
				want = append(want, records.Stamp{Index: int32(i), Timestamp: ts})
			}
		}
		if !slices.Equal(c.OutOfWindow, want) {
			t.Fatalf("now %d, window -%d/+%d: out of window %v, want %v", now, before, after, c.OutOfWindow, want)
		}

		stamped := bytes.Clone(raw)
		records.SetLogAppendTime(stamped, now)
		var s kmsg.RecordBatch
		if err := s.ReadFrom(stamped); err != nil {
			t.Fatal(err)
		}
		if crc := crc32.Checksum(stamped[21:], crc32.MakeTable(crc32.Castagnoli)); int32(crc) != s.CRC || s.MaxTimestamp != now || s.FirstTimestamp != now || s.Attributes&records.AttrLogAppendTime == 0 {
			t.Fatalf("stamped batch: crc %08x vs %08x, %+v", crc, uint32(s.CRC), s)
		}
		if !bytes.Equal(stamped[records.HeaderSize:], raw[records.HeaderSize:]) || binary.BigEndian.Uint64(stamped) != binary.BigEndian.Uint64(raw) {
			t.Fatal("stamping changed more than the header's timestamp fields")
		}
	})
}

// FuzzRecordIter: the iterator never panics, the records it returns tile
// the bytes it consumed, each is a varint length and that many bytes, and
// it stops with an error exactly when the rest is not empty.
func FuzzRecordIter(f *testing.F) {
	raw := newBatch(3, 4, nil)
	f.Add(raw[records.HeaderSize:])
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 1})
	f.Add([]byte{2, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, section []byte) {
		it := records.NewRecordIter(section)
		pos := 0
		for it.Next() {
			rec, fields := it.Record(), it.Fields()
			if !bytes.Equal(rec, section[pos:pos+len(rec)]) || !bytes.HasSuffix(rec, fields) {
				t.Fatalf("record at %d is not the next bytes", pos)
			}
			length, n := kbin.Varint(rec)
			if n <= 0 || int(length) != len(fields) || n+len(fields) != len(rec) {
				t.Fatalf("record at %d: length %d, %d bytes of fields", pos, length, len(fields))
			}
			pos += len(rec)
			if !bytes.Equal(it.Rest(), section[pos:]) {
				t.Fatal("Rest is not what follows the record")
			}
		}
		if (it.Err() != nil) != (pos != len(section)) {
			t.Fatalf("stopped at %d of %d bytes with error %v", pos, len(section), it.Err())
		}
	})
}
