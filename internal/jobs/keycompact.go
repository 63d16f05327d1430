package jobs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/records"
	"github.com/sluicehq/sluice/internal/topics"
)

// keyCompactedSuffix ends the keys of files key compaction writes; an
// extent in another file is data key compaction has not yet seen.
const keyCompactedSuffix = ".k.slc"

// keyCompactionMaxBytes bounds the bytes of one partition key compaction
// reads (and holds in memory) in one pass, from the log start on.
const keyCompactionMaxBytes = 256 << 20

// compactKeys key-compacts the partitions of topics with
// cleanup.policy=compact (or compact,delete) that hold data not yet
// compacted: of the records in the cleanable range (from the log start up
// to the first extent younger than min.compaction.lag.ms, and never at or
// above compactableEnd) it keeps only the latest record of each key, drops
// tombstones whose extent was committed more than delete.retention.ms ago,
// and keeps every survivor's offset. Control batches and transactional
// batches are kept untouched. The result is swapped in like a merge.
func (r *Runner) compactKeys(ctx context.Context, h *holding) error {
	list, err := r.store.ListTopics(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, t := range list {
		c := r.cleanupOf(t)
		if !c.Compact {
			continue
		}
		for p := int32(0); p < t.Partitions; p++ {
			if err := h.renew(ctx); err != nil {
				return err
			}
			err := r.compactPartitionKeys(ctx, h, t, p, c)
			if err != nil && !errors.Is(err, metadata.ErrUnknownPartition) {
				errs = append(errs, fmt.Errorf("key compaction of %s/%d: %w", t.Name, p, err))
			}
		}
	}
	return errors.Join(errs...)
}

func (r *Runner) compactPartitionKeys(ctx context.Context, h *holding, t metadata.Topic, p int32, c topics.Cleanup) error {
	now := r.now()
	lagCutoff := now.Add(-time.Duration(c.MinCompactionLagMs) * time.Millisecond)
	all, err := r.compactableExtents(ctx, t.ID, p)
	if err != nil {
		return err
	}
	// The cleanable range: a prefix of extents old enough, without gaps.
	var (
		exts        []metadata.Extent
		size, dirty int64
	)
	for i, e := range all {
		if !e.CommittedAt.Before(lagCutoff) || (i > 0 && e.BaseOffset != all[i-1].EndOffset) || size+e.ByteLength > keyCompactionMaxBytes {
			break
		}
		size += e.ByteLength
		exts = append(exts, e)
		if !strings.HasSuffix(e.FileKey, keyCompactedSuffix) {
			dirty += e.ByteLength
		}
	}
	// As Kafka's min.cleanable.dirty.ratio: compact once the data not yet
	// compacted is that share of the range, so each byte is rewritten a
	// bounded number of times however often new data arrives.
	if dirty == 0 || float64(dirty) < c.MinCleanableDirtyRatio*float64(size) {
		return nil
	}
	tombstoneCutoff := now.Add(-time.Duration(c.DeleteRetentionMs) * time.Millisecond)

	// Read every batch of the range with its final offsets.
	type stored struct {
		raw       []byte
		committed time.Time
	}
	var (
		batches []stored
		read    int64
	)
	for _, e := range exts {
		data, err := r.bucket.GetRange(ctx, e.FileKey, e.ByteOffset, e.ByteLength)
		if err != nil {
			return err
		}
		read += int64(len(data))
		if _, err := records.PatchBaseOffsets(data, e.BaseOffset); err != nil {
			return err
		}
		for len(data) > 0 {
			b, rest, err := records.Next(data)
			if err != nil {
				return err
			}
			data = rest
			batches = append(batches, stored{raw: b, committed: e.CommittedAt})
		}
	}
	// Pass 1: the latest offset of every key.
	latest := map[string]int64{}
	decoded := make([][]kmsg.Record, len(batches))
	headers := make([]kmsg.RecordBatch, len(batches))
	for i, b := range batches {
		if err := headers[i].ReadFrom(b.raw); err != nil {
			return err
		}
		hb := &headers[i]
		if hb.Attributes&(records.AttrControl|records.AttrTransactional) != 0 {
			continue
		}
		recs, err := decodeRecords(hb)
		if err != nil {
			return err
		}
		decoded[i] = recs
		for _, rec := range recs {
			if rec.Key != nil {
				latest[string(rec.Key)] = hb.FirstOffset + int64(rec.OffsetDelta)
			}
		}
	}
	// Pass 2: rewrite. A batch left without records takes no bytes: its
	// offsets are absorbed by the previous rewritten batch (a longer last
	// offset delta) or, at the start of the range or after an untouched
	// batch, by the next one (a lower base offset, higher record deltas).
	// Offsets stay contiguous and every survivor keeps its offset.
	var (
		out     [][]byte
		outHdr  []*kmsg.RecordBatch // nil for batches kept untouched
		removed int
		pending []int // emptied batches waiting for a next batch to absorb them
	)
	keepPending := func() {
		for _, j := range pending {
			removed -= len(decoded[j])
			out, outHdr = append(out, batches[j].raw), append(outHdr, nil)
		}
		pending = nil
	}
	for i, b := range batches {
		hb := &headers[i]
		if decoded[i] == nil {
			keepPending()
			out, outHdr = append(out, b.raw), append(outHdr, nil)
			continue
		}
		var kept []kmsg.Record
		for _, rec := range decoded[i] {
			off := hb.FirstOffset + int64(rec.OffsetDelta)
			switch {
			case rec.Key == nil:
			case latest[string(rec.Key)] != off:
				removed++
				continue
			case rec.Value == nil && b.committed.Before(tombstoneCutoff):
				removed++
				continue
			}
			kept = append(kept, rec)
		}
		if len(kept) == 0 {
			if last := len(outHdr) - 1; last >= 0 && outHdr[last] != nil && len(pending) == 0 {
				outHdr[last].LastOffsetDelta = int32(hb.FirstOffset + int64(hb.LastOffsetDelta) - outHdr[last].FirstOffset)
				out[last] = nil
			} else {
				pending = append(pending, i)
			}
			continue
		}
		nb := *hb
		var shift int64
		if len(pending) > 0 {
			shift = hb.FirstOffset - headers[pending[0]].FirstOffset
			nb.FirstOffset -= shift
			nb.LastOffsetDelta += int32(shift)
			for k := range kept {
				kept[k].OffsetDelta += int32(shift)
			}
			pending = nil
		}
		setRecords(&nb, kept)
		if len(kept) == len(decoded[i]) && shift == 0 {
			out = append(out, b.raw)
		} else {
			out = append(out, nil)
		}
		outHdr = append(outHdr, &nb)
	}
	keepPending()
	if removed == 0 && allKeyCompacted(exts) {
		return nil
	}
	f := &compactionFile{}
	cg := compactedGroup{mergeGroup: mergeGroup{topic: t.ID, partition: p, extents: exts}}
	var maxTS int64 = -1
	var latestCommit time.Time
	for _, e := range exts {
		maxTS = max(maxTS, e.MaxTimestamp)
		if e.CommittedAt.After(latestCommit) {
			latestCommit = e.CommittedAt
		}
	}
	for i := range out {
		raw := out[i]
		if raw == nil {
			if raw, err = encodeBatch(outHdr[i]); err != nil {
				return err
			}
		}
		info, err := records.InfoOf(raw)
		if err != nil {
			return err
		}
		f.w.Add(t.ID, p, raw, info)
		cg.batches++
		cg.length += int64(len(raw))
	}
	cg.newExtents = []metadata.NewExtent{{BaseOffset: exts[0].BaseOffset, EndOffset: exts[len(exts)-1].EndOffset,
		Batches: int32(cg.batches), MaxTimestamp: maxTS, CommittedAt: latestCommit}}
	f.groups = []compactedGroup{cg}
	f.read = read
	data, _, positions := f.w.FinishWithPositions()
	ne := cg.newExtents[0]
	ne.ByteOffset, ne.ByteLength = int64(positions[0]), cg.length
	old := make([]metadata.ExtentRef, len(exts))
	for i, e := range exts {
		old[i] = metadata.ExtentRef{BaseOffset: e.BaseOffset, EndOffset: e.EndOffset, FileKey: e.FileKey}
	}
	key := strings.TrimSuffix(newKey(r.now()), ".slc") + keyCompactedSuffix
	repl := metadata.Replacement{Key: key, Size: int64(len(data)), Partitions: []metadata.PartitionSwap{{TopicID: t.ID, Partition: p, Old: old, New: []metadata.NewExtent{ne}}}}
	if err := r.swapIn(ctx, h, repl, data, read); err != nil {
		return err
	}
	r.logger.Debug("key-compacted", "topic", t.Name, "partition", p, "records_removed", removed, "extents", len(exts))
	return nil
}

func allKeyCompacted(exts []metadata.Extent) bool {
	for _, e := range exts {
		if !strings.HasSuffix(e.FileKey, keyCompactedSuffix) {
			return false
		}
	}
	return true
}

// decodeRecords returns a batch's records, decompressing them if needed
// (bounded, as produce validation bounds them).
func decodeRecords(b *kmsg.RecordBatch) ([]kmsg.Record, error) {
	section, err := records.Decompress(b.Records, int8(b.Attributes&records.AttrCompression), records.MaxDecompressedBatch)
	if err != nil {
		return nil, fmt.Errorf("decompress batch at %d: %w", b.FirstOffset, err)
	}
	out := make([]kmsg.Record, 0, b.NumRecords)
	it := records.NewRecordIter(section)
	for i := int32(0); i < b.NumRecords; i++ {
		if !it.Next() {
			return nil, fmt.Errorf("batch at %d: record %d does not fit", b.FirstOffset, i)
		}
		var rec kmsg.Record
		if err := rec.ReadFrom(it.Record()); err != nil {
			return nil, fmt.Errorf("batch at %d: record %d: %w", b.FirstOffset, i, err)
		}
		out = append(out, rec)
	}
	return out, nil
}

// setRecords encodes recs as b's (uncompressed) records body; encodeBatch
// compresses it with b's codec.
func setRecords(b *kmsg.RecordBatch, recs []kmsg.Record) {
	var body []byte
	for i := range recs {
		rb := recs[i].AppendTo(nil)[1:] // AppendTo writes a placeholder length first
		body = kbin.AppendVarint(body, int32(len(rb)))
		body = append(body, rb...)
	}
	b.Records = body
	b.NumRecords = int32(len(recs))
}

// encodeBatch encodes b (records uncompressed in b.Records) with its codec,
// length and CRC.
func encodeBatch(b *kmsg.RecordBatch) ([]byte, error) {
	nb := *b
	if codec := kgo.CompressionCodecType(b.Attributes & records.AttrCompression); codec != kgo.CodecNone && len(b.Records) > 0 {
		var cc kgo.CompressionCodec
		switch codec {
		case kgo.CodecGzip:
			cc = kgo.GzipCompression()
		case kgo.CodecSnappy:
			cc = kgo.SnappyCompression()
		case kgo.CodecLz4:
			cc = kgo.Lz4Compression()
		case kgo.CodecZstd:
			cc = kgo.ZstdCompression()
		default:
			return nil, fmt.Errorf("unknown compression codec %d", codec)
		}
		c, err := kgo.DefaultCompressor(cc)
		if err != nil {
			return nil, err
		}
		compressed, used := c.Compress(new(bytes.Buffer), b.Records)
		nb.Records = append([]byte(nil), compressed...)
		nb.Attributes = nb.Attributes&^records.AttrCompression | int16(used)
	}
	nb.Length = int32(records.HeaderSize - records.LengthEnd + len(nb.Records))
	raw := nb.AppendTo(nil)
	records.SetCRC(raw)
	return raw, nil
}
