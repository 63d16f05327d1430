package kafka

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkValidateBatch measures the per-batch work of a produce request
// (framing, CRC, decompression, every record's fields). allocs/op must not
// grow with the record count: nothing is allocated per record.
func BenchmarkValidateBatch(b *testing.B) {
	codecs := []struct {
		name  string
		codec kgo.CompressionCodec
		none  bool
	}{{name: "none", none: true}, {name: "lz4", codec: kgo.Lz4Compression()}, {name: "zstd", codec: kgo.ZstdCompression()}}
	for _, c := range codecs {
		for _, n := range []int{10, 1000} {
			b.Run(fmt.Sprintf("%s/records=%d", c.name, n), func(b *testing.B) {
				var raw []byte
				if c.none {
					raw = newBatch(n, 100, nil)
				} else {
					raw = compressedBatch(n, c.codec)
				}
				b.SetBytes(int64(len(raw)))
				b.ReportAllocs()
				for b.Loop() {
					if _, code, err := validateBatch(raw, nil); code != 0 {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
