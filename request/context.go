package plugins

import (
	"context"
	"sync"
	"time"
)

// requestIDKey is the context key of the request id.
type requestIDKey struct{}

// RequestIDFrom returns the request id ctx carries, or "" when none: code
// that only has a request's context (a store, an IdP call) can name the
// request in its logs.
func RequestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// NewRequestContext returns the context of one request: it carries the
// request id (RequestIDFrom) and ends at deadline, or when end is called
// (the request is over), whichever comes first. The server gives one to
// every routed request as c.UserContext().
//
// It does what context.WithTimeout(context.WithValue(...)) does at a third
// of the cost on the common path: the channel Done returns, and the timer
// that closes it, are made only when something asks for Done; Err and
// Deadline need neither.
func NewRequestContext(id string, deadline time.Time) (ctx context.Context, end func()) {
	c := &requestContext{id: id, deadline: deadline}
	return c, c.end
}

// requestContext is NewRequestContext's context.
type requestContext struct {
	id       string
	deadline time.Time

	mu    sync.Mutex
	done  chan struct{} // made by the first Done
	timer *time.Timer   // closes done at the deadline
	err   error         // set when done is closed, or when end ran first
}

func (c *requestContext) Deadline() (time.Time, bool) { return c.deadline, true }

func (c *requestContext) Value(key any) any {
	if key == (requestIDKey{}) {
		return c.id
	}
	return nil
}

func (c *requestContext) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		c.done = make(chan struct{})
		switch {
		case c.err != nil:
			close(c.done)
		case !time.Now().Before(c.deadline):
			c.err = context.DeadlineExceeded
			close(c.done)
		default:
			c.timer = time.AfterFunc(time.Until(c.deadline), func() { c.finish(context.DeadlineExceeded) })
		}
	}
	return c.done
}

func (c *requestContext) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil && !time.Now().Before(c.deadline) {
		c.err = context.DeadlineExceeded
		if c.done != nil {
			close(c.done)
			c.timer.Stop()
		}
	}
	return c.err
}

// end cancels the context (context.Canceled) unless it has ended already.
func (c *requestContext) end() { c.finish(context.Canceled) }

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
		c.timer.Stop()
	}
}

func (c *requestContext) String() string { return "gatehouse request context" }
