package fetch

import (
	"math/bits"
	"sync"
)

// Response buffers (Result.Records) are recycled: a Fetch allocates up to
// its partition budget per partition, and zeroing those fresh buffers was
// about a seventh of an agent's CPU while it served consumers. Buffers of
// minPooled to maxPooled bytes are kept in power-of-two classes.
const (
	minPooledShift = 16 // 64 KiB
	maxPooledShift = 24 // 16 MiB
)

var recordPools [maxPooledShift - minPooledShift + 1]sync.Pool

// poolClass returns the class whose buffers hold n bytes, or -1.
func poolClass(n int) int {
	if n <= 0 || n > 1<<maxPooledShift {
		return -1
	}
	shift := bits.Len(uint(n - 1))
	return max(shift, minPooledShift) - minPooledShift
}

// takeRecords returns an empty buffer with room for n bytes.
func takeRecords(n int) []byte {
	c := poolClass(n)
	if c < 0 {
		return make([]byte, 0, n)
	}
	if v := recordPools[c].Get(); v != nil {
		return (*v.(*[]byte))[:0]
	}
	return make([]byte, 0, 1<<(c+minPooledShift))
}

// ReleaseRecords hands a Result.Records buffer back for reuse once the
// response holding it has been written. Nothing may use b, or any slice of
// it, afterwards.
func ReleaseRecords(b []byte) {
	n := cap(b)
	c := poolClass(n)
	if c < 0 || n != 1<<(c+minPooledShift) {
		return // not one of ours (or grown past its class by append)
	}
	b = b[:0]
	recordPools[c].Put(&b)
}
