package demo

import (
	"fmt"
	"sync"
	"time"
)

// Clock is a simulated clock that only moves forwards. The demo opens the
// event store and the ledger service with its Now method, so that the
// events of the demo campaign carry 2017 times and the domain's deadline
// rules see the simulated date. A Clock is safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock showing t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's current time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set moves the clock to t. Setting it to its current time is a no-op;
// setting it to an earlier time is an error and leaves the clock alone,
// because the ledger's recorded times never go backwards.
func (c *Clock) Set(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.Before(c.now) {
		return fmt.Errorf("demo clock: cannot go back from %s to %s", c.now.Format(time.RFC3339), t.Format(time.RFC3339))
	}
	c.now = t
	return nil
}

// Advance moves the clock forwards by d; a negative d is ignored.
func (c *Clock) Advance(d time.Duration) {
	if d <= 0 {
		return
	}
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}
