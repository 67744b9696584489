package server

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestMaxConnections: with server.max_connections: 2, two open keep-alive
// connections are served, a third gets a JSON 503 with Retry-After and is
// closed, and once one of the two closes a new connection is served again.
func TestMaxConnections(t *testing.T) {
	t.Parallel()
	users := newUpstream(t, "users")
	cfg := loadConfig(t, "core.yaml", map[string]string{"USERS": users.URL, "PUBLIC": users.URL, "FILES": users.URL})
	cfg.Server.MaxConnections = 2
	_, base := serve(t, cfg, listen(t))
	addr := strings.TrimPrefix(base, "http://")

	dial := func() (net.Conn, *bufio.Reader) {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		return c, bufio.NewReader(c)
	}
	roundTrip := func(c net.Conn, r *bufio.Reader) *http.Response {
		t.Helper()
		if _, err := io.WriteString(c, "GET /api/users/1 HTTP/1.1\r\nHost: gw\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Body = io.NopCloser(strings.NewReader(string(body)))
		return resp
	}

	a, ra := dial()
	b, rb := dial()
	for _, conn := range []struct {
		c net.Conn
		r *bufio.Reader
	}{{a, ra}, {b, rb}} {
		if resp := roundTrip(conn.c, conn.r); resp.StatusCode != 200 {
			t.Fatalf("within the limit: %d", resp.StatusCode)
		}
	}

	c, rc := dial()
	resp, err := http.ReadResponse(rc, nil) // answered before it sends anything
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	var e map[string]string
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "1" || !resp.Close ||
		json.Unmarshal(body, &e) != nil || e["error"] != "server at capacity, retry" {
		t.Fatalf("over the limit: %d %v %q", resp.StatusCode, resp.Header, body)
	}
	if _, err := rc.ReadByte(); err != io.EOF {
		t.Errorf("the refused connection is not closed: %v", err)
	}
	c.Close()

	a.Close()
	// The place a held is given back when the gateway sees the close; a new
	// connection is served from then on.
	for i := 0; ; i++ {
		d, rd := dial()
		if _, err := io.WriteString(d, "GET /api/users/1 HTTP/1.1\r\nHost: gw\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(rd, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == 200 {
			break
		}
		if i == 200 {
			t.Fatalf("a closed connection's place never came back (last status %d)", resp.StatusCode)
		}
		d.Close()
		time.Sleep(10 * time.Millisecond)
	}
	if resp := roundTrip(b, rb); resp.StatusCode != 200 {
		t.Fatalf("the held connection: %d", resp.StatusCode)
	}
}
