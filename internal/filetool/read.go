package filetool

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/objstore"
	"github.com/sluicehq/sluice/internal/records"
	"github.com/sluicehq/sluice/internal/segment"
)

// ReadOptions shape how Read and Locate print records.
type ReadOptions struct {
	// MaxValueBytes truncates printed keys, values and header values
	// (0: 256; negative: no limit).
	MaxValueBytes int
}

func (o ReadOptions) max() int {
	if o.MaxValueBytes == 0 {
		return 256
	}
	return o.MaxValueBytes
}

// Read reads the file at key and writes every record of every batch to w,
// under its chunk and batch. Offsets are relative to the chunk: a file
// holds batches before the metadata store sequences them, so their
// absolute offsets are in the index (see Locate), not in the file.
func Read(ctx context.Context, bucket objstore.Bucket, key string, names func(metadata.TopicID) string, opts ReadOptions, w io.Writer) error {
	data, err := bucket.GetRange(ctx, key, 0, -1)
	if err != nil {
		return fmt.Errorf("read %s: %w", key, err)
	}
	f, err := segment.Parse(data)
	if err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	fmt.Fprintf(w, "file %s: %d bytes, %d chunks, checksum ok\n", key, len(data), len(f.Entries))
	for i, e := range f.Entries {
		fmt.Fprintf(w, "\nchunk %d: topic %s partition %d, %d batches, %d records\n", i, topicName(e.TopicID, names), e.Partition, e.Batches, e.Records)
		chunk := f.Chunk(i)
		var rel int64
		for n := 0; len(chunk) > 0; n++ {
			raw, rest, err := records.Next(chunk)
			if err != nil {
				return fmt.Errorf("%s chunk %d: %w", key, i, err)
			}
			h, err := records.ReadHeader(raw)
			if err != nil {
				return fmt.Errorf("%s chunk %d batch %d: %w", key, i, n, err)
			}
			fmt.Fprintf(w, "  batch %d: relative offsets %d..%d, %s%s, crc %s\n", n, rel, rel+int64(h.LastOffsetDelta),
				codecName(h.Attributes), flags(h.Attributes), crcVerdict(raw, h))
			recs, err := batchRecords(raw, h)
			if err != nil {
				fmt.Fprintf(w, "    records unreadable: %v\n", err)
			}
			for _, r := range recs {
				printRecord(w, "    ", rel+int64(r.OffsetDelta), h.FirstTimestamp+r.TimestampDelta64, r, opts.max())
			}
			rel += int64(h.LastOffsetDelta) + 1
			chunk = rest
		}
	}
	return nil
}

// Located is where Locate found an offset.
type Located struct {
	Extent metadata.Extent
	// FileChecksumOK says whether the whole file matches its checksum.
	FileChecksumOK bool
	// Found says whether a batch of the extent holds the offset (a key
	// compacted extent may have dropped it).
	Found bool
}

// Locate finds offset in a partition of topic: the extent and file that
// hold it, the byte range, the batch header with its CRC verdict, the
// file's checksum verdict and the record itself, written to w.
func Locate(ctx context.Context, store metadata.Store, bucket objstore.Bucket, topic string, partition int32, offset int64, opts ReadOptions, w io.Writer) (Located, error) {
	var loc Located
	t, err := store.Topic(ctx, topic)
	if err != nil {
		return loc, fmt.Errorf("topic %s: %w", topic, err)
	}
	if partition < 0 || partition >= t.Partitions {
		return loc, fmt.Errorf("topic %s has partitions 0..%d, not %d", topic, t.Partitions-1, partition)
	}
	st, err := store.PartitionState(ctx, t.ID, partition)
	if err != nil {
		return loc, err
	}
	if offset < st.LogStartOffset || offset >= st.HighWatermark {
		return loc, fmt.Errorf("offset %d is outside %s/%d's log [%d, %d)", offset, topic, partition, st.LogStartOffset, st.HighWatermark)
	}
	exts, err := store.Extents(ctx, t.ID, partition, offset, 1)
	if err != nil {
		return loc, err
	}
	if len(exts) == 0 || offset < exts[0].BaseOffset || offset >= exts[0].EndOffset {
		return loc, fmt.Errorf("no extent of %s/%d holds offset %d", topic, partition, offset)
	}
	e := exts[0]
	loc.Extent = e
	fmt.Fprintf(w, "%s/%d offset %d (log [%d, %d))\n", topic, partition, offset, st.LogStartOffset, st.HighWatermark)
	fmt.Fprintf(w, "extent offsets [%d, %d), committed %s\n", e.BaseOffset, e.EndOffset, e.CommittedAt.UTC().Format("2006-01-02T15:04:05.000Z07:00"))
	fmt.Fprintf(w, "file %s: bytes [%d, +%d) of %d\n", e.FileKey, e.ByteOffset, e.ByteLength, e.FileSize)
	data, err := bucket.GetRange(ctx, e.FileKey, 0, -1)
	if errors.Is(err, objstore.ErrNotFound) {
		fmt.Fprintf(w, "file checksum: MISSING (the object is not in the bucket)\n")
		return loc, fmt.Errorf("%s: %w", e.FileKey, err)
	}
	if err != nil {
		return loc, fmt.Errorf("read %s: %w", e.FileKey, err)
	}
	_, err = segment.Parse(data)
	loc.FileChecksumOK = err == nil
	if err != nil {
		fmt.Fprintf(w, "file checksum: BAD (%v)\n", err)
	} else {
		fmt.Fprintf(w, "file checksum: ok\n")
	}
	if e.ByteOffset < 0 || e.ByteLength < 0 || e.ByteOffset+e.ByteLength > int64(len(data)) {
		return loc, fmt.Errorf("extent bytes [%d, +%d) lie outside the %d-byte file", e.ByteOffset, e.ByteLength, len(data))
	}
	chunk := data[e.ByteOffset : e.ByteOffset+e.ByteLength]
	base := e.BaseOffset
	pos := e.ByteOffset
	for len(chunk) > 0 {
		raw, rest, err := records.Next(chunk)
		if err != nil {
			return loc, fmt.Errorf("extent at byte %d: %w", pos, err)
		}
		h, err := records.ReadHeader(raw)
		if err != nil {
			return loc, fmt.Errorf("batch at byte %d: %w", pos, err)
		}
		last := base + int64(h.LastOffsetDelta)
		if offset >= base && offset <= last {
			loc.Found = true
			fmt.Fprintf(w, "batch at byte %d: %d bytes, offsets %d..%d, %d records, %s%s, crc %s",
				pos, len(raw), base, last, h.NumRecords, codecName(h.Attributes), flags(h.Attributes), crcVerdict(raw, h))
			if h.ProducerID >= 0 {
				fmt.Fprintf(w, ", producer %d/%d seq %d", h.ProducerID, h.ProducerEpoch, h.FirstSequence)
			}
			fmt.Fprintln(w)
			recs, err := batchRecords(raw, h)
			if err != nil {
				return loc, fmt.Errorf("batch at byte %d: %w", pos, err)
			}
			for _, r := range recs {
				if base+int64(r.OffsetDelta) == offset {
					printRecord(w, "", offset, h.FirstTimestamp+r.TimestampDelta64, r, opts.max())
					return loc, nil
				}
			}
			fmt.Fprintf(w, "offset %d is not in the batch (removed by key compaction)\n", offset)
			loc.Found = false
			return loc, nil
		}
		base = last + 1
		pos += int64(len(raw))
		chunk = rest
	}
	fmt.Fprintf(w, "no batch of the extent holds offset %d (removed by key compaction)\n", offset)
	return loc, nil
}

// batchRecords decodes a batch's records.
func batchRecords(raw []byte, h records.Header) ([]kmsg.Record, error) {
	section, err := records.Section(raw, records.MaxDecompressedBatch)
	if err != nil {
		return nil, err
	}
	var out []kmsg.Record
	it := records.NewRecordIter(section)
	for it.Next() {
		var r kmsg.Record
		if err := r.ReadFrom(it.Record()); err != nil {
			return out, fmt.Errorf("record %d: %w", len(out), err)
		}
		out = append(out, r)
	}
	if it.Err() != nil {
		return out, it.Err()
	}
	if len(out) != int(h.NumRecords) {
		return out, fmt.Errorf("batch header says %d records, found %d", h.NumRecords, len(out))
	}
	return out, nil
}

// crcVerdict checks a batch's CRC-32C (over everything after the CRC
// field) against its header.
func crcVerdict(raw []byte, h records.Header) string {
	if got := records.Checksum(raw); got != h.CRC {
		return fmt.Sprintf("BAD (header %08x, computed %08x)", h.CRC, got)
	}
	return "ok"
}

func printRecord(w io.Writer, indent string, offset, ts int64, r kmsg.Record, max int) {
	fmt.Fprintf(w, "%soffset %d timestamp %s key %s value %s\n", indent, offset, tsString(ts), show(r.Key, max), show(r.Value, max))
	for _, hd := range r.Headers {
		fmt.Fprintf(w, "%s  header %s=%s\n", indent, strconv.Quote(hd.Key), show(hd.Value, max))
	}
}

func tsString(ms int64) string { return ts(ms) }

// show prints bytes as quoted text when they are UTF-8, as hex otherwise,
// truncated to max bytes.
func show(b []byte, max int) string {
	if b == nil {
		return "null"
	}
	cut := ""
	if max >= 0 && len(b) > max {
		cut = fmt.Sprintf("…(%d bytes)", len(b))
		b = b[:max]
	}
	if utf8.Valid(b) {
		return strconv.Quote(string(b)) + cut
	}
	return "0x" + hex.EncodeToString(b) + cut
}

func topicName(id [16]byte, names func(metadata.TopicID) string) string {
	topic := metadata.TopicID(id).Base64()
	if names != nil {
		if n := names(id); n != "" {
			topic = n + " (" + topic + ")"
		}
	}
	return topic
}
