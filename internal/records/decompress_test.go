package records

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/rand"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kgo"
)

var codecs = []struct {
	name  string
	codec int8
	kgo   kgo.CompressionCodec
}{
	{"gzip", CodecGzip, kgo.GzipCompression()},
	{"snappy", CodecSnappy, kgo.SnappyCompression()},
	{"lz4", CodecLz4, kgo.Lz4Compression()},
	{"zstd", CodecZstd, kgo.ZstdCompression()},
}

// TestDecompressRoundTrip decompresses what franz-go's producer compresses.
func TestDecompressRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	plain := make([]byte, 200<<10)
	for i := range plain {
		plain[i] = byte('a' + rng.Intn(4)) // compressible, not trivially
	}
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			comp, err := kgo.DefaultCompressor(c.kgo)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			src, codec := comp.Compress(&buf, plain)
			if int8(codec) != c.codec {
				t.Fatalf("compressor used codec %d", codec)
			}
			src = bytes.Clone(src)
			out, err := Decompress(src, c.codec, len(plain))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out, plain) {
				t.Fatalf("round trip changed the data (%d bytes back of %d)", len(out), len(plain))
			}
			if _, err := Decompress(src, c.codec, len(plain)-1); !errors.Is(err, ErrDecompressLimit) {
				t.Fatalf("one byte under the size: err %v, want ErrDecompressLimit", err)
			}
		})
	}
}

// TestDecompressXerialSnappy decodes the framing the Java client writes.
func TestDecompressXerialSnappy(t *testing.T) {
	plain := bytes.Repeat([]byte("sluice xerial "), 10000)
	src := append([]byte{}, xerialMagic...)
	src = append(src, 0, 0, 0, 1, 0, 0, 0, 1)
	for rest := plain; len(rest) > 0; {
		n := min(len(rest), 32<<10)
		block := s2.EncodeSnappy(nil, rest[:n])
		src = binary.BigEndian.AppendUint32(src, uint32(len(block)))
		src = append(src, block...)
		rest = rest[n:]
	}
	out, err := Decompress(src, CodecSnappy, len(plain))
	if err != nil || !bytes.Equal(out, plain) {
		t.Fatalf("xerial: err %v, %d bytes (want %d)", err, len(out), len(plain))
	}
	if _, err := Decompress(src, CodecSnappy, len(plain)-1); !errors.Is(err, ErrDecompressLimit) {
		t.Fatalf("xerial over the limit: err %v", err)
	}
	if _, err := Decompress(src[:len(src)-3], CodecSnappy, len(plain)); err == nil {
		t.Fatal("truncated xerial data decoded without error")
	}
}

// TestDecompressBomb feeds each codec 64 MiB of zeros compressed to a few
// KiB and checks that a 1 MiB limit refuses it.
func TestDecompressBomb(t *testing.T) {
	const size = 64 << 20
	zeros := func() io.Reader { return io.LimitReader(zeroReader{}, size) }
	bombs := map[int8][]byte{}
	var buf bytes.Buffer
	gw := gzip.NewWriter(&buf)
	io.Copy(gw, zeros())
	gw.Close()
	bombs[CodecGzip] = bytes.Clone(buf.Bytes())
	buf.Reset()
	lw := lz4.NewWriter(&buf)
	io.Copy(lw, zeros())
	lw.Close()
	bombs[CodecLz4] = bytes.Clone(buf.Bytes())
	buf.Reset()
	zw, _ := zstd.NewWriter(&buf)
	io.Copy(zw, zeros())
	zw.Close()
	bombs[CodecZstd] = bytes.Clone(buf.Bytes())
	bombs[CodecSnappy] = s2.EncodeSnappy(nil, make([]byte, size))
	for codec, src := range bombs {
		if len(src) > 4<<20 {
			t.Fatalf("codec %d: bomb is %d bytes, not a bomb", codec, len(src))
		}
		if _, err := Decompress(src, codec, 1<<20); !errors.Is(err, ErrDecompressLimit) {
			t.Errorf("codec %d: %d-byte bomb: err %v, want ErrDecompressLimit", codec, len(src), err)
		}
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// FuzzDecompress checks that no input panics Decompress or makes it return
// more than its limit.
func FuzzDecompress(f *testing.F) {
	for _, c := range codecs {
		comp, _ := kgo.DefaultCompressor(c.kgo)
		var buf bytes.Buffer
		src, _ := comp.Compress(&buf, bytes.Repeat([]byte("fuzz"), 100))
		f.Add(bytes.Clone(src), c.codec)
	}
	f.Fuzz(func(t *testing.T, src []byte, codec int8) {
		const limit = 1 << 16
		out, err := Decompress(src, codec, limit)
		if err == nil && codec != CodecNone && len(out) > limit {
			t.Fatalf("returned %d bytes over the %d limit", len(out), limit)
		}
	})
}
