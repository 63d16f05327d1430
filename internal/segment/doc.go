// Package segment defines the object file format Sluice writes to the bucket.
//
// One file is written per flush. It holds the Kafka record batches of many
// partitions, grouped so each partition's batches are one contiguous byte
// range (a chunk), followed by an index that describes every chunk:
//
//	+--------+------------------------------+-------------+---------+
//	| header | chunk 0 | chunk 1 | … chunk N | index (N+1) | trailer |
//	+--------+------------------------------+-------------+---------+
//
//	header  (8 bytes)  magic "SLCF", uint16 format version, uint16 flags (0)
//	chunk              record batches exactly as the producer sent them
//	                   (their format is package records')
//	index   (N × 82)   one fixed-size Entry per chunk, big endian
//	trailer (24 bytes) uint64 index offset, uint32 entry count,
//	                   uint32 CRC-32C of every byte before the checksum field
//	                   (header, chunks, index and the first 12 trailer bytes),
//	                   uint32 reserved (0), magic "SLCF"
//
// Batches keep the base offset the client sent (normally 0). The offsets a
// batch really has are assigned when the file is committed to the metadata
// store; readers patch them in with records.PatchBaseOffsets. Kafka's batch
// CRC starts after the base offset field, so patching keeps every batch valid.
// This package knows batches only as byte ranges with a records.BatchInfo;
// it reads their CRC field to derive the file checksum (crc.go).
//
// Example:
//
//	var w segment.Writer
//	w.Add(topicID, 0, batchBytes, info) // info from records.Validate or records.InfoOf
//	file, entries := w.Finish()
//	parsed, err := segment.Parse(file) // verifies the checksum and the index
package segment
