package produce

import (
	"time"

	"github.com/sluicehq/sluice/internal/segment"
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
		segment.SetLogAppendTime(bt.Data, ts)
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
