package fetch

import (
	"context"
	"errors"
	"fmt"
	"runtime"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/cache"
	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/records"
)

// OffsetForTimestamp returns the first offset whose record timestamp is at or
// after ts, with that record's timestamp, as ListOffsets defines it. found is
// false when every record is older than ts.
func (r *Reader) OffsetForTimestamp(ctx context.Context, topic metadata.TopicID, partition int32, ts int64) (offset, timestamp int64, found bool, err error) {
	st, err := r.log.PartitionState(ctx, topic, partition)
	if err != nil {
		return 0, 0, false, err
	}
	e, err := r.log.ExtentAtTimestamp(ctx, topic, partition, ts)
	if errors.Is(err, metadata.ErrNotFound) {
		return 0, 0, false, nil
	}
	if err != nil {
		return 0, 0, false, err
	}
	from := max(e.BaseOffset, st.LogStartOffset)
	res := Result{State: st, NextOffset: from}
	raw, keep, err := r.cache.ReadRangesViews(ctx, e.FileKey, e.FileSize, []cache.Range{{Off: e.ByteOffset, Len: e.ByteLength}})
	if err != nil {
		return 0, 0, false, fmt.Errorf("%w: %v", ErrStorage, err)
	}
	_, err = appendExtent(&res, e, raw[0], int(e.ByteLength), true, false) // a copy
	runtime.KeepAlive(keep)
	if err != nil {
		return 0, 0, false, err
	}
	data := res.Records
	for len(data) > 0 {
		batch, rest, err := records.Next(data)
		if err != nil {
			return 0, 0, false, err
		}
		data = rest
		if records.MaxTimestamp(batch) < ts {
			continue
		}
		off, t, ok, err := firstRecordAtOrAfter(batch, ts)
		if err != nil {
			return 0, 0, false, fmt.Errorf("%w: %v", ErrStorage, err)
		}
		if ok && off >= from {
			return off, t, true, nil
		}
	}
	// The extent's max timestamp said a record qualifies; if its batches
	// disagree (LogAppendTime batches carry the time in the header only), fall
	// back to the extent's first offset, as Kafka falls back to the batch.
	return from, e.MaxTimestamp, true, nil
}

// firstRecordAtOrAfter decodes a batch's records and returns the first one
// whose timestamp is at or after ts.
func firstRecordAtOrAfter(raw []byte, ts int64) (offset, timestamp int64, found bool, err error) {
	h, err := records.ReadHeader(raw)
	if err != nil {
		return 0, 0, false, err
	}
	if h.Attributes&records.AttrLogAppendTime != 0 { // every record has the batch's max timestamp
		return h.BaseOffset, h.MaxTimestamp, h.MaxTimestamp >= ts, nil
	}
	section, err := records.Section(raw, records.MaxDecompressedBatch)
	if err != nil {
		return 0, 0, false, err
	}
	it := records.NewRecordIter(section)
	for i := int32(0); i < h.NumRecords && it.Next(); i++ {
		var rec kmsg.Record
		if err := rec.ReadFrom(it.Record()); err != nil {
			return 0, 0, false, fmt.Errorf("record %d: %v", i, err)
		}
		t := h.FirstTimestamp + rec.TimestampDelta64
		if t >= ts {
			return h.BaseOffset + int64(rec.OffsetDelta), t, true, nil
		}
	}
	return 0, 0, false, it.Err()
}
