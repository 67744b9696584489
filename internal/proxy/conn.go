package proxy

import (
	"fmt"
	"net"
	"time"
)

// dialer makes the upstream connections of one route.
type dialer struct {
	timeout   time.Duration // connect
	firstByte time.Duration // route timeout: request sent → first response byte
	idle      time.Duration // any other read or write
}

// dialError marks a failure to connect: the request was not sent, so it may
// go to another target, and the target is ejected.
type dialError struct{ err error }

func (e *dialError) Error() string { return "dialing upstream: " + e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// dial is the HostClient's Dial function.
func (d dialer) dial(addr string) (net.Conn, error) {
	nd := net.Dialer{Timeout: d.timeout}
	c, err := nd.Dial("tcp", addr)
	if err != nil {
		return nil, &dialError{err: err}
	}
	return &deadlineConn{Conn: c, firstByte: d.firstByte, idle: d.idle}, nil
}

// deadlineConn bounds each Read and Write on an upstream connection.
//
// fasthttp sets one absolute read deadline per request, which would also cut
// a streamed response body at the route timeout, and none at all without a
// timeout. Instead, a write marks the connection as awaiting a response; the
// next read may wait firstByte (the route timeout) and every later read or
// write idle. fasthttp uses a connection for one request at a time, and its
// pool orders those uses, so the fields need no locking.
//
// Deadlines are moved lazily: one already set is kept when it falls short of
// the exact one (now + duration) by at most deadlineSlack, so that a
// connection carrying back-to-back requests does not re-arm its timers on
// every read and write. Re-arming is a timer-heap update in the Go runtime;
// doing it on every call cost about 5% of the CPU per proxied request. A
// timeout may therefore fire up to deadlineSlack early, never late.
type deadlineConn struct {
	net.Conn
	firstByte, idle time.Duration
	awaiting        bool
	// The deadlines set on Conn (zero: none yet).
	readDeadline, writeDeadline time.Time
}

// deadlineSlack is how much earlier than now+d a deadline already set may
// fall and still be kept: d/16, at most 50ms.
func deadlineSlack(d time.Duration) time.Duration {
	return min(d/16, 50*time.Millisecond)
}

// moveDeadline returns the deadline to set for a wait of at most d from now,
// and whether it differs from cur (the one set) enough to be set: cur is
// later than wanted, or earlier by more than the slack.
func moveDeadline(cur, now time.Time, d time.Duration) (time.Time, bool) {
	want := now.Add(d)
	if cur.After(want) || want.Sub(cur) > deadlineSlack(d) {
		return want, true
	}
	return cur, false
}

// Write implements net.Conn.
func (c *deadlineConn) Write(b []byte) (int, error) {
	c.awaiting = true
	if dl, move := moveDeadline(c.writeDeadline, time.Now(), c.idle); move {
		if err := c.Conn.SetWriteDeadline(dl); err != nil {
			return 0, fmt.Errorf("setting write deadline: %w", err)
		}
		c.writeDeadline = dl
	}
	return c.Conn.Write(b)
}

// Read implements net.Conn.
func (c *deadlineConn) Read(b []byte) (int, error) {
	d := c.idle
	if c.awaiting {
		d = c.firstByte
	}
	if dl, move := moveDeadline(c.readDeadline, time.Now(), d); move {
		if err := c.Conn.SetReadDeadline(dl); err != nil {
			return 0, fmt.Errorf("setting read deadline: %w", err)
		}
		c.readDeadline = dl
	}
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.awaiting = false
	}
	return n, err
}

// SetDeadline ignores fasthttp's absolute deadlines; see deadlineConn.
func (c *deadlineConn) SetDeadline(time.Time) error { return nil }

// SetReadDeadline ignores fasthttp's absolute deadlines; see deadlineConn.
func (c *deadlineConn) SetReadDeadline(time.Time) error { return nil }

// SetWriteDeadline ignores fasthttp's absolute deadlines; see deadlineConn.
func (c *deadlineConn) SetWriteDeadline(time.Time) error { return nil }
