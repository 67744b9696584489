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
type deadlineConn struct {
	net.Conn
	firstByte, idle time.Duration
	awaiting        bool
}

// Write implements net.Conn.
func (c *deadlineConn) Write(b []byte) (int, error) {
	c.awaiting = true
	if err := c.Conn.SetWriteDeadline(time.Now().Add(c.idle)); err != nil {
		return 0, fmt.Errorf("setting write deadline: %w", err)
	}
	return c.Conn.Write(b)
}

// Read implements net.Conn.
func (c *deadlineConn) Read(b []byte) (int, error) {
	d := c.idle
	if c.awaiting {
		d = c.firstByte
	}
	if err := c.Conn.SetReadDeadline(time.Now().Add(d)); err != nil {
		return 0, fmt.Errorf("setting read deadline: %w", err)
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
