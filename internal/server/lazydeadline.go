package server

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// lazyReadConn applies the read deadlines set on a client connection when
// the next Read starts, not when they are set, and keeps a deadline already
// armed when the new one is at most lazySlack later.
//
// fasthttp sets a read deadline twice per request on a keep-alive
// connection: the idle timeout before waiting for the request, then
// ReadTimeout once its first byte arrived. Each is a timer-heap update in
// the Go runtime (~0.5 µs of CPU per request together, as much as the
// gateway's access log). The second one governs only the reads after the
// first byte, and a request's head usually arrives whole with that byte, so
// it is armed only when such a read happens; and the idle deadline of the
// next request, a few µs later than the one armed before, is kept.
//
// A Read therefore never runs under a deadline later than the last one set,
// and at most lazySlack earlier: a timeout may fire up to lazySlack early,
// never late. A deadline set while a Read is in progress (the WebSocket
// relay interrupts a blocked read that way) is applied at once, as net.Conn
// requires. Write deadlines are passed through.
type lazyReadConn struct {
	net.Conn
	reading atomic.Bool // a Read is in progress
	mu      sync.Mutex  // guards the fields below
	pending bool        // want has not been applied yet
	want    time.Time   // the read deadline last set
	armed   time.Time   // the read deadline set on Conn
	slack   time.Duration
}

// lazySlack is how much earlier than a wanted read deadline the one armed
// for a wait of d may be and still be kept: d/16, at most 50ms.
func lazySlack(d time.Duration) time.Duration {
	return min(d/16, 50*time.Millisecond)
}

// keepArmed reports whether armed (with its slack) may stand for want: both
// are deadlines, armed is not later than want, and at most slack earlier.
func keepArmed(armed, want time.Time, slack time.Duration) bool {
	if armed.IsZero() || want.IsZero() {
		return armed.Equal(want)
	}
	return !armed.After(want) && want.Sub(armed) <= slack
}

// apply arms c.want on Conn unless the deadline armed may stand for it.
// c.mu must be held.
func (c *lazyReadConn) apply() error {
	c.pending = false
	if keepArmed(c.armed, c.want, c.slack) {
		return nil
	}
	if err := c.Conn.SetReadDeadline(c.want); err != nil {
		c.armed = time.Time{} // unknown: set it again next time
		return err
	}
	c.armed, c.slack = c.want, 0
	if !c.want.IsZero() {
		c.slack = lazySlack(time.Until(c.want))
	}
	return nil
}

// Read implements net.Conn: the pending read deadline is applied first.
func (c *lazyReadConn) Read(b []byte) (int, error) {
	if err := c.beginRead(); err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(b)
	c.endRead()
	return n, err
}

// beginRead applies the pending read deadline and marks a Read in progress.
func (c *lazyReadConn) beginRead() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending {
		if err := c.apply(); err != nil {
			return err
		}
	}
	c.reading.Store(true)
	return nil
}

// endRead marks the Read over. A SetReadDeadline that still saw it in
// progress has applied its deadline at once, which is harmless.
func (c *lazyReadConn) endRead() { c.reading.Store(false) }

// SetReadDeadline implements net.Conn: t is applied by the next Read, or
// now when a Read is in progress.
func (c *lazyReadConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.want, c.pending = t, true
	if c.reading.Load() {
		return c.apply()
	}
	return nil
}

// SetDeadline implements net.Conn: the write deadline at once, the read
// deadline as SetReadDeadline does.
func (c *lazyReadConn) SetDeadline(t time.Time) error {
	if err := c.Conn.SetWriteDeadline(t); err != nil {
		return err
	}
	return c.SetReadDeadline(t)
}
