package segment

import (
	"encoding/binary"
	"hash/crc32"

	"github.com/sluicehq/sluice/internal/records"
)

// The file checksum is a CRC-32C over the whole file, most of which is
// record batches that already carry a CRC-32C of all but their first 21
// bytes, verified when they were produced. Rather than read every byte a
// second time, the writer derives the file checksum from those: a CRC of
// a concatenation follows from the CRCs of its parts and the length of
// the second, by arithmetic on polynomials over GF(2) modulo the CRC's
// polynomial (the identity zlib's crc32_combine rests on):
//
//	crc(A‖B) = crc(A)·x^(8·len(B)) ⊕ crc(B)   (mod P)
//
// Polynomials are 32-bit words in the CRC's reflected order: bit 31 is the
// coefficient of x^0, bit 0 that of x^31.

// castagnoliReflected is the CRC-32C polynomial without its x^32 term,
// reflected.
const castagnoliReflected = 0x82F63B78

// polyOne is the polynomial 1 (x^0).
const polyOne = uint32(1) << 31

// mulMod returns a·b mod P.
func mulMod(a, b uint32) uint32 {
	var p uint32
	for a != 0 {
		if a&polyOne != 0 {
			p ^= b
		}
		a <<= 1 // the next coefficient of a, x^1 on, moves to x^0
		// b·x: each coefficient moves up one; x^31·x = x^32 ≡ P - x^32.
		b = b>>1 ^ castagnoliReflected&-(b&1)
	}
	return p
}

// xPow2 holds x^(2^k) mod P for k = 0..63.
var xPow2 = func() (t [64]uint32) {
	t[0] = polyOne >> 1 // x^1
	for k := 1; k < len(t); k++ {
		t[k] = mulMod(t[k-1], t[k-1])
	}
	return t
}()

// xPowMod returns x^n mod P.
func xPowMod(n uint64) uint32 {
	p := polyOne
	for k := 0; n != 0; k, n = k+1, n>>1 {
		if n&1 != 0 {
			p = mulMod(p, xPow2[k])
		}
	}
	return p
}

// crcCombine returns the CRC-32C of A‖B from crcA, crcB (the CRC-32Cs of A
// and B, as hash/crc32 computes them) and the length of B.
func crcCombine(crcA, crcB uint32, lenB int) uint32 {
	return mulMod(xPowMod(8*uint64(lenB)), crcA) ^ crcB
}

// combineMinBatch is the batch size from which appending a batch's CRC by
// combining is clearly cheaper than running the CRC over its bytes (a
// combine costs about 0.5 µs, about what hashing 2 KiB costs).
const combineMinBatch = 4096

// updateBatchCRC returns crc (a CRC-32C so far) extended over batch. With
// trusted, the batch's own CRC field (at records.CRCAt) is taken to be right
// for its bytes from records.AttributesAt on, and only the bytes before are
// read.
func updateBatchCRC(crc uint32, batch []byte, trusted bool) uint32 {
	if !trusted || len(batch) < combineMinBatch {
		return crc32.Update(crc, castagnoli, batch)
	}
	crc = crc32.Update(crc, castagnoli, batch[:records.AttributesAt])
	return crcCombine(crc, binary.BigEndian.Uint32(batch[records.CRCAt:]), len(batch)-records.AttributesAt)
}
