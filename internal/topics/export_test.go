package topics

import "time"

// SetSweepClock sets the clock of c's sweep of negative entries.
func (c *Cache) SetSweepClock(now func() time.Time) {
	c.mu.Lock()
	c.now = now
	c.mu.Unlock()
}

// Entries returns how many entries c holds by name and by ID.
func (c *Cache) Entries() (byName, byID int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.byName), len(c.byID)
}
