package records

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Kafka's compression codec IDs (the low three bits of a batch's attributes).
const (
	CodecNone   = 0
	CodecGzip   = 1
	CodecSnappy = 2
	CodecLz4    = 3
	CodecZstd   = 4
)

// ErrDecompressLimit is returned (wrapped) by Decompress when the records
// would decompress to more than the limit.
var ErrDecompressLimit = errors.New("records: batch decompresses beyond the limit")

// Decompress returns the records section of a batch compressed with codec,
// refusing to produce more than limit bytes. The bound is checked before
// anything large is allocated where the format declares its size (snappy
// blocks, zstd frames) and while streaming otherwise (gzip, lz4), so a small
// batch crafted to expand to gigabytes (a decompression bomb) costs at most
// limit bytes of memory. CodecNone returns src itself.
func Decompress(src []byte, codec int8, limit int) ([]byte, error) {
	switch codec {
	case CodecNone:
		return src, nil
	case CodecGzip:
		zr := gzipReaders.Get().(*gzip.Reader)
		defer gzipReaders.Put(zr)
		if err := zr.Reset(bytes.NewReader(src)); err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		return readLimited(zr, limit)
	case CodecSnappy:
		return decodeSnappy(src, limit)
	case CodecLz4:
		lr := lz4Readers.Get().(*lz4.Reader)
		defer lz4Readers.Put(lr)
		lr.Reset(bytes.NewReader(src))
		return readLimited(lr, limit)
	case CodecZstd:
		d, err := zstdDecoder(limit)
		if err != nil {
			return nil, err
		}
		out, err := d.DecodeAll(src, nil)
		if errors.Is(err, zstd.ErrDecoderSizeExceeded) || errors.Is(err, zstd.ErrWindowSizeExceeded) {
			return nil, fmt.Errorf("%w (%d bytes): %v", ErrDecompressLimit, limit, err)
		}
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		if len(out) > limit {
			return nil, fmt.Errorf("%w (%d bytes)", ErrDecompressLimit, limit)
		}
		return out, nil
	}
	return nil, fmt.Errorf("unknown compression codec %d", codec)
}

var (
	gzipReaders = sync.Pool{New: func() any { return new(gzip.Reader) }}
	lz4Readers  = sync.Pool{New: func() any { return lz4.NewReader(nil) }}

	// zstdMu guards zstdDecoders: one decoder per limit in use (callers use
	// one or two limits), each safe for concurrent DecodeAll calls.
	zstdMu       sync.Mutex
	zstdDecoders = map[int]*zstd.Decoder{}
)

func zstdDecoder(limit int) (*zstd.Decoder, error) {
	zstdMu.Lock()
	defer zstdMu.Unlock()
	if d, ok := zstdDecoders[limit]; ok {
		return d, nil
	}
	d, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(runtime.GOMAXPROCS(0)),
		zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxMemory(uint64(limit)),
		zstd.WithDecoderMaxWindow(uint64(min(limit, 64<<20))))
	if err != nil {
		return nil, err
	}
	zstdDecoders[limit] = d
	return d, nil
}

// readLimited reads r to its end, failing once it yields more than limit
// bytes.
func readLimited(r io.Reader, limit int) ([]byte, error) {
	var out bytes.Buffer
	n, err := out.ReadFrom(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if n > int64(limit) {
		return nil, fmt.Errorf("%w (%d bytes)", ErrDecompressLimit, limit)
	}
	return out.Bytes(), nil
}

// xerialMagic starts snappy data framed the way the Java client writes it:
// the magic, a version and a compatible version (4 bytes each), then blocks
// of a big-endian length and a raw snappy block.
var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

func decodeSnappy(src []byte, limit int) ([]byte, error) {
	if len(src) < 16 || !bytes.HasPrefix(src, xerialMagic) {
		n, err := s2.DecodedLen(src)
		if err != nil {
			return nil, fmt.Errorf("snappy: %w", err)
		}
		if n > limit {
			return nil, fmt.Errorf("%w (%d bytes)", ErrDecompressLimit, limit)
		}
		out, err := s2.Decode(nil, src)
		if err != nil {
			return nil, fmt.Errorf("snappy: %w", err)
		}
		return out, nil
	}
	// Sum the blocks' declared sizes first so nothing is allocated for a
	// bomb, then decode each block into place.
	total := 0
	for rest := src[16:]; len(rest) > 0; {
		block, next, err := xerialBlock(rest)
		if err != nil {
			return nil, err
		}
		n, err := s2.DecodedLen(block)
		if err != nil {
			return nil, fmt.Errorf("snappy: %w", err)
		}
		if total += n; total > limit {
			return nil, fmt.Errorf("%w (%d bytes)", ErrDecompressLimit, limit)
		}
		rest = next
	}
	out := make([]byte, 0, total)
	for rest := src[16:]; len(rest) > 0; {
		block, next, _ := xerialBlock(rest)
		n, _ := s2.DecodedLen(block)
		dec, err := s2.Decode(out[len(out):len(out)+n], block)
		if err != nil {
			return nil, fmt.Errorf("snappy: %w", err)
		}
		out = out[:len(out)+len(dec)]
		rest = next
	}
	return out, nil
}

func xerialBlock(b []byte) (block, rest []byte, err error) {
	if len(b) < 4 {
		return nil, nil, errors.New("snappy: truncated xerial block length")
	}
	n := binary.BigEndian.Uint32(b)
	if uint64(n) > uint64(len(b)-4) {
		return nil, nil, errors.New("snappy: xerial block longer than the data")
	}
	return b[4 : 4+n], b[4+n:], nil
}
