package segment

import (
	"testing"

	"github.com/sluicehq/sluice/internal/records"
)

// benchFile adds partitions×perPartition batches of 16 records of 1 KiB.
func benchWriter(partitions, perPartition int) (*Writer, int) {
	var w Writer
	batch := fakeBatch(16, 1, string(make([]byte, 16*1024)))
	for j := 0; j < perPartition; j++ {
		for p := 0; p < partitions; p++ {
			w.Add([16]byte{1}, int32(p), batch, records.BatchInfo{Records: 16, MinTimestamp: 1, MaxTimestamp: 1, ProducerID: 7})
		}
	}
	return &w, partitions * perPartition * len(batch)
}

// BenchmarkWriterFinish encodes a 1 MiB-ish file of 64 batches over 8
// partitions (Add + FinishWithPositions).
func BenchmarkWriterFinish(b *testing.B) {
	batch := fakeBatch(16, 1, string(make([]byte, 16*1024)))
	b.SetBytes(int64(64 * len(batch)))
	b.ReportAllocs()
	for b.Loop() {
		var w Writer
		for i := 0; i < 64; i++ {
			w.Add([16]byte{1}, int32(i%8), batch, records.BatchInfo{Records: 16, MinTimestamp: 1, MaxTimestamp: 1, ProducerID: 7})
		}
		w.FinishWithPositions()
	}
}

// BenchmarkParse verifies and indexes the same file (checksum over every
// byte dominates).
func BenchmarkParse(b *testing.B) {
	w, n := benchWriter(8, 8)
	data, _ := w.Finish()
	b.SetBytes(int64(n))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}
