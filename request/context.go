package request

import (
	"context"
	"sync"
	"time"
)

// FromContext returns the State whose Context ctx is or derives from, or nil:
// code that only has a request's context (a store, an IdP call) can name the
// request in its logs.
func FromContext(ctx context.Context) *State {
	s, _ := ctx.Value(stateKey{}).(*State)
	return s
}

// IDFrom returns the id of the request ctx belongs to, or "" when none.
func IDFrom(ctx context.Context) string {
	if s := FromContext(ctx); s != nil {
		return s.ID
	}
	return ""
}

// requestContext is State.Context: it ends at the deadline (when one is
// set), or when the request is over, whichever comes first.
//
// It does what context.WithTimeout(context.WithValue(...)) does at a third
// of the cost on the common path: the channel Done returns, and the timer
// that closes it, are made only when something asks for Done; Err and
// Deadline need neither.
type requestContext struct {
	state    *State
	deadline time.Time // zero: none

	mu    sync.Mutex
	done  chan struct{} // made by the first Done
	timer *time.Timer   // closes done at the deadline
	err   error         // set when done is closed, or when end ran first
}

func (c *requestContext) Deadline() (time.Time, bool) { return c.deadline, !c.deadline.IsZero() }

func (c *requestContext) Value(key any) any {
	if key == (stateKey{}) {
		return c.state
	}
	return nil
}

// expired reports a deadline that has passed.
func (c *requestContext) expired() bool {
	return !c.deadline.IsZero() && !time.Now().Before(c.deadline)
}

func (c *requestContext) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		c.done = make(chan struct{})
		switch {
		case c.err != nil:
			close(c.done)
		case c.expired():
			c.err = context.DeadlineExceeded
			close(c.done)
		case !c.deadline.IsZero():
			c.timer = time.AfterFunc(time.Until(c.deadline), func() { c.finish(context.DeadlineExceeded) })
		}
	}
	return c.done
}

func (c *requestContext) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil && c.expired() {
		c.err = context.DeadlineExceeded
		if c.done != nil {
			close(c.done)
			c.stopTimer()
		}
	}
	return c.err
}

// finish ends the context with err, once.
func (c *requestContext) finish(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return
	}
	c.err = err
	if c.done != nil {
		close(c.done)
		c.stopTimer()
	}
}

func (c *requestContext) stopTimer() {
	if c.timer != nil {
		c.timer.Stop()
	}
}

func (c *requestContext) String() string { return "gatehouse request context" }
