package kafka

import (
	"fmt"
	"math"
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

// BenchmarkValidateBatchWindow is BenchmarkValidateBatch on a topic with
// a CreateTime window (message.timestamp.before/after.max.ms), where every
// record's timestamp is checked: validation and the window check share one
// pass over the records, so a compressed batch is decompressed once.
func BenchmarkValidateBatchWindow(b *testing.B) {
	p := timestampPolicy{before: math.MaxInt64 - 1, after: math.MaxInt64 - 1}
	for _, c := range []struct {
		name  string
		codec kgo.CompressionCodec
	}{{"lz4", kgo.Lz4Compression()}, {"zstd", kgo.ZstdCompression()}} {
		b.Run(c.name+"/records=1000", func(b *testing.B) {
			raw := compressedBatch(1000, c.codec)
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				window := p.window(1_700_000_000_000)
				c, code, err := validateBatch(raw, window)
				if code != 0 {
					b.Fatal(err)
				}
				if errs, err := p.check(&c, window); err != nil || errs != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
