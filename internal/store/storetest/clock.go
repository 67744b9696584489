package storetest

import (
	"sync"
	"time"
)

// Clock is a manually advanced clock for deterministic tests of stores and of
// their users (memory.Options.Now, session.WithClock): time moves only when
// the test says so, never with the machine's load. Safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a Clock standing at a fixed instant.
func NewClock() *Clock {
	return &Clock{t: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}
