package server

import (
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// overloadResponse is written to a connection accepted beyond
// server.max_connections before it is closed: gatehouse's JSON form of 503,
// which fasthttp's own limit would answer in plain text.
var overloadResponse = []byte("HTTP/1.1 503 Service Unavailable\r\n" +
	"Content-Type: application/json\r\n" +
	"Cache-Control: no-store\r\n" +
	"Retry-After: 1\r\n" +
	"Connection: close\r\n" +
	"Content-Length: " + strconv.Itoa(len(overloadBody)) + "\r\n" +
	"\r\n" +
	overloadBody)

const overloadBody = `{"error":"server at capacity, retry"}`

// overloadWriteTimeout bounds writing the 503 to a refused connection, so
// that a client that does not read cannot stall the accept loop.
const overloadWriteTimeout = 100 * time.Millisecond

// limitListener bounds the connections open at once: what one process holds
// (goroutines, buffers) is bounded by it, whatever the load. A connection
// over the limit is answered 503 and closed at once, so that a load balancer
// moves on and the gateway answers again as soon as the load drops.
type limitListener struct {
	net.Listener
	max     int64
	open    atomic.Int64
	refused func() // counts a refused connection
	// silent closes a refused connection without writing the 503: set
	// under TLS, where plain text would not be read (see tls.go).
	silent bool
}

func newLimitListener(ln net.Listener, max int, refused func()) *limitListener {
	return &limitListener{Listener: ln, max: int64(max), refused: refused}
}

// Accept returns the next connection within the limit; those beyond it are
// answered and closed here.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.open.Add(1) <= l.max {
			// Read deadlines are armed lazily (lazyReadConn): fasthttp sets
			// two per request, each a runtime timer update.
			return &limitedConn{Conn: &lazyReadConn{Conn: c}, l: l}, nil
		}
		l.open.Add(-1)
		l.refused()
		if !l.silent {
			_ = c.SetWriteDeadline(time.Now().Add(overloadWriteTimeout))
			_, _ = c.Write(overloadResponse)
		}
		_ = c.Close()
	}
}

// limitedConn gives its place back to the listener when closed (once).
type limitedConn struct {
	net.Conn
	l    *limitListener
	once sync.Once
}

func (c *limitedConn) Close() error {
	c.once.Do(func() { c.l.open.Add(-1) })
	return c.Conn.Close()
}
