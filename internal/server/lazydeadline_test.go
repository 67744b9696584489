package server

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// tcpPair returns the two ends of a real loopback TCP connection.
func tcpPair(tb testing.TB) (client, server net.Conn) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		tb.Fatalf("dial: %v", err)
	}
	server = <-accepted
	if server == nil {
		tb.Fatal("accept failed")
	}
	tb.Cleanup(func() { _ = client.Close(); _ = server.Close() })
	return client, server
}

func TestKeepArmed(t *testing.T) {
	at := time.Unix(1_000_000, 0)
	const slack = 50 * time.Millisecond
	tests := []struct {
		name        string
		armed, want time.Time
		keep        bool
	}{
		{"none armed, none wanted", time.Time{}, time.Time{}, true},
		{"none armed, one wanted", time.Time{}, at, false},
		{"one armed, none wanted", at, time.Time{}, false},
		{"same", at, at, true},
		{"armed earlier within the slack", at.Add(-slack), at, true},
		{"armed earlier by more than the slack", at.Add(-slack - time.Nanosecond), at, false},
		{"armed later: never late", at.Add(time.Nanosecond), at, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := keepArmed(tt.armed, tt.want, slack); got != tt.keep {
				t.Errorf("keepArmed(%v, %v) = %v, want %v", tt.armed, tt.want, got, tt.keep)
			}
		})
	}
	for _, tt := range []struct{ d, slack time.Duration }{
		{160 * time.Millisecond, 10 * time.Millisecond},
		{time.Second, 50 * time.Millisecond},
		{90 * time.Second, 50 * time.Millisecond},
	} {
		if got := lazySlack(tt.d); got != tt.slack {
			t.Errorf("lazySlack(%v) = %v, want %v", tt.d, got, tt.slack)
		}
	}
}

// TestLazyReadConnDeadlines: a deadline set before a Read governs it (a
// short one after a long one is not lost), clearing it works, and a deadline
// set while a Read is blocked interrupts it.
func TestLazyReadConnDeadlines(t *testing.T) {
	client, srv := tcpPair(t)
	c := &lazyReadConn{Conn: srv}
	buf := make([]byte, 8)

	// A long idle deadline, then a short one before the read: the short one counts.
	if err := c.SetReadDeadline(time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := c.SetReadDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read after an expired deadline: err = %v, want a deadline error", err)
	}

	// Cleared: the read waits for data.
	if err := c.SetReadDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Read(buf); err != nil || n != 1 {
		t.Fatalf("Read with no deadline = %d, %v; want 1, nil", n, err)
	}

	// A blocked Read is interrupted by a deadline set meanwhile.
	done := make(chan error, 1)
	go func() {
		_, err := c.Read(buf)
		done <- err
	}()
	for {
		if c.reading.Load() {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err := c.SetReadDeadline(time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("blocked Read after SetReadDeadline(now): err = %v, want a deadline error", err)
	}
}

// TestSlowKeepAliveRequestIsDisconnected: the second request on a
// keep-alive connection arrives half, then nothing. Its first bytes came
// under the idle timeout (60s), the rest is read under read_timeout (2s),
// which lazyReadConn arms only when that read starts: the server must still
// give up on the client.
func TestSlowKeepAliveRequestIsDisconnected(t *testing.T) {
	t.Parallel()
	g := startGateway(t) // read_timeout: 2s, idle_timeout: the default 60s
	conn, err := net.Dial("tcp", strings.TrimPrefix(g.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A generous test deadline, not a timing assertion: under the idle
	// timeout alone the last read would block until it.
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(conn)
	if _, err := io.WriteString(conn, "GET /api/users HTTP/1.1\r\nHost: gw\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("first request: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.Close {
		t.Fatal("first response closed the connection; want keep-alive")
	}
	if _, err := io.WriteString(conn, "GET /api/users HTTP/1.1\r\nHost: gw\r\nX-Slow: "); err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(br)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("server kept a slowloris connection open on its second request")
	}
}

// BenchmarkKeepAliveDeadlines is the deadline work fasthttp's server does
// per request on a keep-alive connection (real loopback TCP, no I/O timed):
// the idle read deadline, the start of the read that gets the request, then
// the ReadTimeout deadline; on the bare connection and through lazyReadConn.
func BenchmarkKeepAliveDeadlines(b *testing.B) {
	_, srv := tcpPair(b)
	b.Run("bare", func(b *testing.B) {
		for b.Loop() {
			_ = srv.SetReadDeadline(time.Now().Add(90 * time.Second))
			_ = srv.SetReadDeadline(time.Now().Add(30 * time.Second))
		}
	})
	b.Run("lazy", func(b *testing.B) {
		c := &lazyReadConn{Conn: srv}
		for b.Loop() {
			_ = c.SetReadDeadline(time.Now().Add(90 * time.Second))
			if err := c.beginRead(); err != nil {
				b.Fatal(err)
			}
			c.endRead()
			_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
		}
	})
}
