// Package bufpool recycles large byte buffers in power-of-two size
// classes. The read and write paths allocate buffers of up to tens of
// MiB per request or file; fresh ones are zeroed by the runtime, which
// cost a seventh of the agent's CPU serving consumers and a tenth
// producing, before they were recycled.
package bufpool

import (
	"math/bits"
	"sync"
)

// Pool holds buffers of 1<<minShift to 1<<maxShift bytes. The zero value
// is not usable; see New. A Pool is safe for concurrent use.
type Pool struct {
	minShift, maxShift int
	classes            []sync.Pool // class i holds buffers of 1<<(minShift+i) bytes
}

// New returns a pool for buffers of 1<<minShift to 1<<maxShift bytes.
func New(minShift, maxShift int) *Pool {
	return &Pool{minShift: minShift, maxShift: maxShift, classes: make([]sync.Pool, maxShift-minShift+1)}
}

// class returns the class whose buffers hold n bytes, or -1.
func (p *Pool) class(n int) int {
	if n <= 0 || n > 1<<p.maxShift {
		return -1
	}
	return max(bits.Len(uint(n-1)), p.minShift) - p.minShift
}

// Get returns an empty buffer with room for n bytes: a recycled one of its
// class, or a new one (of its class's size, so it can be recycled; of
// exactly n bytes outside the classes).
func (p *Pool) Get(n int) []byte {
	c := p.class(n)
	if c < 0 {
		return make([]byte, 0, n)
	}
	if v := p.classes[c].Get(); v != nil {
		return (*v.(*[]byte))[:0]
	}
	return make([]byte, 0, 1<<(c+p.minShift))
}

// Put hands b back for reuse. Nothing may use b, or any slice of it,
// afterwards. Buffers whose capacity is not a class size (not from Get, or
// grown past it by append) are left to the garbage collector.
func (p *Pool) Put(b []byte) {
	n := cap(b)
	c := p.class(n)
	if c < 0 || n != 1<<(c+p.minShift) {
		return
	}
	b = b[:0]
	p.classes[c].Put(&b)
}
