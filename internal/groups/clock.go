package groups

// The coordinator's time source. Both state machines read the time and
// arm their timers (session expiry, rebalance and revocation timeouts,
// metadata refresh) through a Clock, so tests drive them with a manual
// clock instead of sleeping.

import "time"

// Clock tells the time and runs functions later.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// AfterFunc calls f in its own goroutine (or, for a manual clock, in
	// the goroutine that advances it) once d has passed. f runs without
	// any of the coordinator's locks held, and takes the ones it needs.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc call.
type Timer interface {
	// Stop prevents the call if it has not started, and reports whether
	// it did so. Like time.Timer.Stop, it does not wait for a call that
	// has started.
	Stop() bool
}

// realClock is wall-clock time.
type realClock struct{}

func (realClock) Now() time.Time                            { return time.Now() }
func (realClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// stopTimer stops *t, if set, and clears it.
func stopTimer(t *Timer) {
	if *t != nil {
		(*t).Stop()
		*t = nil
	}
}
