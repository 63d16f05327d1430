package groups

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// manualClock is a Clock that moves only when a test advances it. Timers
// fire in deadline order (ties in the order they were armed) in the
// goroutine that calls Advance, one at a time, so a scenario runs the same
// way every time and never sleeps.
type manualClock struct {
	mu     sync.Mutex // guards now, seq and timers
	now    time.Time
	seq    int
	timers []*manualTimer // armed and not yet fired or stopped
}

type manualTimer struct {
	c   *manualClock
	at  time.Time
	seq int
	f   func()
}

func newManualClock() *manualClock {
	return &manualClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	t := &manualTimer{c: c, at: c.now.Add(d), seq: c.seq, f: f}
	c.timers = append(c.timers, t)
	return t
}

func (t *manualTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	return t.c.removeLocked(t)
}

func (c *manualClock) removeLocked(t *manualTimer) bool {
	for i, x := range c.timers {
		if x == t {
			c.timers = append(c.timers[:i], c.timers[i+1:]...)
			return true
		}
	}
	return false
}

// Advance moves the clock forward by d, firing every timer due by then,
// each at its own deadline (so a timer armed by a firing one fires too if
// it falls due within d).
func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		var next *manualTimer
		for _, t := range c.timers {
			if !t.at.After(end) && (next == nil || t.at.Before(next.at) || (t.at.Equal(next.at) && t.seq < next.seq)) {
				next = t
			}
		}
		if next == nil {
			c.now = end
			c.mu.Unlock()
			return
		}
		c.removeLocked(next)
		if next.at.After(c.now) {
			c.now = next.at
		}
		c.mu.Unlock()
		next.f()
	}
}

// Pending reports how many timers are armed.
func (c *manualClock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

func TestManualClock(t *testing.T) {
	c := newManualClock()
	start := c.Now()
	var fired []string
	c.AfterFunc(2*time.Second, func() { fired = append(fired, "b") })
	a := c.AfterFunc(time.Second, func() {
		fired = append(fired, "a")
		// Armed while firing, due within the same Advance.
		c.AfterFunc(500*time.Millisecond, func() { fired = append(fired, "a2") })
	})
	stopped := c.AfterFunc(time.Second, func() { fired = append(fired, "stopped") })
	if !stopped.Stop() || stopped.Stop() {
		t.Fatal("Stop should report true once, then false")
	}
	c.Advance(999 * time.Millisecond)
	if len(fired) != 0 {
		t.Fatalf("fired early: %v", fired)
	}
	c.Advance(time.Second)
	if got := c.Now().Sub(start); got != 1999*time.Millisecond {
		t.Fatalf("now is start+%v", got)
	}
	if want := "[a a2]"; fmt.Sprint(fired) != want {
		t.Fatalf("fired %v, want %s", fired, want)
	}
	if a.Stop() {
		t.Fatal("Stop of a fired timer reported true")
	}
	c.Advance(time.Millisecond)
	if want := "[a a2 b]"; fmt.Sprint(fired) != want || c.Pending() != 0 {
		t.Fatalf("fired %v (pending %d), want %s", fired, c.Pending(), want)
	}
}
