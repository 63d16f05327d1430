package produce

import "time"

// ForgetLastSeal lets the next file seal early without waiting BatchTimeout
// since the previous seal, so tests of EarlySeal need not sleep.
func (b *Batcher) ForgetLastSeal() {
	b.mu.Lock()
	b.lastSeal, b.lastPartial = time.Time{}, time.Time{}
	b.mu.Unlock()
}

// SetRecoverReadAhead sets how many journaled files recovery reads at once
// and returns a function that restores it.
func SetRecoverReadAhead(n int) (restore func()) {
	old := recoverReadAhead
	recoverReadAhead = n
	return func() { recoverReadAhead = old }
}

// WaitingClassic returns how many uploaded classic flushes wait for
// their turn to commit.
func (b *Batcher) WaitingClassic() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.waitingClassic)
}
