// Package records owns the bytes of Kafka v2 record batches: every package
// that reads or writes a batch (produce validation, the write path, the
// read path, compaction, transaction markers, the file tool) goes through
// it, and nothing else knows the header layout, the attribute bits or the
// CRC.
//
// A batch is a 61-byte header followed by its records, compressed as a
// whole by the codec in its attributes:
//
//	 0 base offset       int64   rewritten by PatchBaseOffsets at read time
//	 8 batch length      int32   bytes after this field
//	12 leader epoch      int32   rewritten by PatchBaseOffsets (LeaderEpoch)
//	16 magic             int8    2
//	17 CRC-32C           uint32  of bytes 21 to the end (Checksum)
//	21 attributes        int16   codec, LogAppendTime, transactional, control
//	23 last offset delta int32
//	27 first timestamp   int64
//	35 max timestamp     int64
//	43 producer id       int64
//	51 producer epoch    int16
//	53 first sequence    int32
//	57 record count      int32
//	61 records           each a varint length and its fields
//
// What the package offers:
//
//   - Validate: the produce path's single pass over a batch (framing, CRC,
//     producer fields, every record after at most one bounded
//     decompression, and the topic's timestamp window), returning the
//     BatchInfo the file index needs.
//   - Next, ReadHeader, InfoOf, Offsets, MaxTimestamp: splitting and
//     reading stored batches; Section and RecordIter: their records.
//   - Decompress: the only decompressor, bounded against decompression
//     bombs.
//   - PatchBaseOffsets, SetLogAppendTime, SetCRC: the rewrites Sluice
//     makes (committed offsets at read time, the append time at seal
//     time), and MarkerBatch: transaction markers.
//
// Example, a produce handler:
//
//	c, err := records.Validate(raw, records.Options{Window: &records.Window{Now: now, Before: b, After: a}})
//	if errors.Is(err, records.ErrCorrupt) { … CORRUPT_MESSAGE … }
//	for _, s := range c.OutOfWindow { … INVALID_TIMESTAMP for record s.Index … }
//	w.Add(topic, partition, raw, c.Info) // a segment.Writer
package records
