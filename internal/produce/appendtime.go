package produce

import (
	"time"

	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/records"
)

// stampLogAppendTime rewrites the batches that asked for LogAppendTime
// (message.timestamp.type=LogAppendTime) before their file is built: the
// batch header's timestamp type, first and max timestamps become sealed
// (the agent's clock when the flush was sealed, in ms) and the CRC is
// recomputed, as a Kafka broker does on append. The index entry's
// timestamps follow, so ListOffsets by time and time-based retention see
// the append time. Every batch of one flush gets the same time, and seal
// times on one agent follow the order in which flushes commit.
func stampLogAppendTime(batches []Batch, sealed time.Time) {
	ts := sealed.UnixMilli()
	for i := range batches {
		bt := &batches[i]
		if !bt.LogAppendTime {
			continue
		}
		records.SetLogAppendTime(bt.Data, ts)
		bt.Info.MinTimestamp, bt.Info.MaxTimestamp = ts, ts
	}
}

// logAppendTime is what a Produce response reports for the batch: its
// append time for a LogAppendTime batch (set by stampLogAppendTime), -1
// otherwise.
func logAppendTime(bt *Batch) int64 {
	if !bt.LogAppendTime {
		return -1
	}
	return bt.Info.MaxTimestamp
}

// duplicateAppendTimes gives each LogAppendTime batch that the commit found
// to be a producer's retry of an already committed batch the append time of
// the original, as Kafka answers a duplicate: the max timestamp of the
// extent holding the original, which is the original flush's seal time
// (every LogAppendTime batch of a flush gets that time). It runs only for
// such retries. If the lookup fails, the result keeps this flush's time.
func (b *Batcher) duplicateAppendTimes(f *flush, res []metadata.BatchResult) {
	for i := range f.batches {
		bt := &f.batches[i]
		if !bt.LogAppendTime || !res[i].Duplicate || res[i].Err != nil {
			continue
		}
		ext, err := b.log.Extents(b.ctx, bt.Topic, bt.Partition, res[i].BaseOffset, 1)
		if err != nil || len(ext) == 0 || ext[0].BaseOffset > res[i].BaseOffset {
			b.logger.Warn("cannot find the append time of a retried batch", "partition", bt.Partition, "offset", res[i].BaseOffset, "err", err)
			continue
		}
		f.results[i].LogAppendTime = ext[0].MaxTimestamp
	}
}
