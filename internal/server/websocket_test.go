package server

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/valyala/fasthttp"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/oidc/oidctest"
	"github.com/gatehouse-dev/gatehouse/internal/proxy"
)

// wsUpstream is a real WebSocket echo server (github.com/coder/websocket)
// that records each handshake's headers. /ws/refuse answers 403 instead.
type wsUpstream struct {
	*httptest.Server
	mu   sync.Mutex
	seen []http.Header
}

func newWSUpstream(t *testing.T) *wsUpstream {
	u := &wsUpstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.seen = append(u.seen, r.Header.Clone())
		u.mu.Unlock()
		if strings.HasSuffix(r.URL.Path, "/refuse") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `{"error":"not for you"}`)
			return
		}
		if r.Header.Get("Upgrade") == "" {
			io.WriteString(w, `{"plain":true}`)
			return
		}
		// The gateway forwards the browser's Origin; checking it is the
		// gateway's job here.
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
		if err != nil {
			return
		}
		defer c.CloseNow()
		ctx := context.Background()
		for {
			typ, msg, err := c.Read(ctx)
			if err != nil {
				return
			}
			if err := c.Write(ctx, typ, msg); err != nil {
				return
			}
		}
	}))
	t.Cleanup(u.Close)
	return u
}

// count is how many requests the upstream saw.
func (u *wsUpstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.seen)
}

// last returns the headers of the latest request the upstream saw.
func (u *wsUpstream) last() http.Header {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.seen) == 0 {
		return nil
	}
	return u.seen[len(u.seen)-1]
}

// wsGateway is a gateway with the routes of testdata/websocket.yaml, a
// logged-in browser and the access token of its session.
type wsGateway struct {
	srv      *Server
	public   string // http://127.0.0.1:PORT
	ws       string // ws://127.0.0.1:PORT
	b        *browser
	op       *oidctest.Provider
	up       *wsUpstream
	cookie   *http.Cookie
	api      *recorder
	apiToken string // the access token the session's API calls carry
}

func startWSGateway(t *testing.T) *wsGateway {
	ln := listen(t)
	g := &wsGateway{public: "http://" + ln.Addr().String(), ws: "ws://" + ln.Addr().String()}
	g.op = oidctest.Start(t, oidctest.Options{
		RedirectURIs:           []string{g.public + "/auth/callback"},
		PostLogoutRedirectURIs: []string{g.public + "/"},
	})
	g.up = newWSUpstream(t)
	api := newRecorder(t)
	g.api = api
	cfg := loadConfig(t, "websocket.yaml", map[string]string{
		"PUBLIC": g.public, "ISSUER": g.op.Issuer, "SECRET": g.op.ClientSecret, "API": api.URL, "WS": g.up.URL,
		"RAW": handshakeUpstream(t)})
	g.srv, _ = serve(t, cfg, ln)
	g.b = newBrowser(t, g.public)
	g.b.waitReady()
	g.cookie = g.b.login(g.op, "/")
	if resp := g.b.do("GET", "/api/x", "X-CSRF", "1"); resp.StatusCode != 200 {
		t.Fatalf("GET /api/x = %d", resp.StatusCode)
	}
	h, _ := api.last()
	g.apiToken = strings.TrimPrefix(h.Get("Authorization"), "Bearer ")
	if g.apiToken == "" {
		t.Fatal("the API saw no access token")
	}
	return g
}

// dial opens a WebSocket through the gateway with the given header lines
// (name, value, ...); on a refused handshake it returns the status.
func (g *wsGateway) dial(t *testing.T, path string, headers ...string) (*websocket.Conn, int, error) {
	t.Helper()
	h := http.Header{}
	for i := 0; i+1 < len(headers); i += 2 {
		h.Add(headers[i], headers[i+1])
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, g.ws+path, &websocket.DialOptions{HTTPHeader: h})
	status := 0
	if resp != nil {
		status = resp.StatusCode
	}
	if c != nil {
		t.Cleanup(func() { c.CloseNow() })
	}
	return c, status, err
}

// open is dial for a handshake that must succeed.
func (g *wsGateway) open(t *testing.T, path string, headers ...string) *websocket.Conn {
	t.Helper()
	c, status, err := g.dial(t, path, headers...)
	if err != nil {
		t.Fatalf("dial %s = %d, %v", path, status, err)
	}
	return c
}

// refused wants a handshake to path refused with status want, and the
// upstream never asked.
func (g *wsGateway) refused(t *testing.T, path string, want int) {
	t.Helper()
	before := g.up.count()
	if _, status, err := g.dial(t, path); err == nil || status != want {
		t.Fatalf("dial %s = %d, %v; want %d", path, status, err, want)
	}
	if g.up.count() != before {
		t.Errorf("the refused handshake to %s reached the upstream", path)
	}
}

// echo sends msg and wants it back.
func echo(t *testing.T, c *websocket.Conn, msg string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		t.Fatalf("write: %v", err)
	}
	_, got, err := c.Read(ctx)
	if err != nil || string(got) != msg {
		t.Fatalf("read = %q, %v; want %q", got, err, msg)
	}
}

// closedWith reads until c ends (within a generous guard) and returns the
// close code the gateway sent (-1: none, the connection just ended).
func closedWith(t *testing.T, c *websocket.Conn) websocket.StatusCode {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for {
		_, _, err := c.Read(ctx)
		if err == nil {
			continue
		}
		if ctx.Err() != nil {
			t.Fatal("the socket was not closed within 10s")
		}
		return websocket.CloseStatus(err)
	}
}

func TestWebSocketSessionHandshake(t *testing.T) {
	t.Parallel()
	g := startWSGateway(t)
	cookie := g.cookie.Name + "=" + g.cookie.Value

	for _, tc := range []struct {
		name    string
		path    string
		headers []string
		status  int // 0: upgraded
	}{
		{"same origin", "/ws/echo", []string{"Cookie", cookie, "Origin", g.public}, 0},
		{"origin in another case", "/ws/echo", []string{"Cookie", cookie, "Origin", strings.ToUpper(g.public)}, 0},
		{"the route's cors origin", "/ws/echo", []string{"Cookie", cookie, "Origin", "http://app.localhost:8443"}, 0},
		{"cross-site origin", "/ws/echo", []string{"Cookie", cookie, "Origin", "http://evil.example"}, 403},
		{"origin of another port", "/ws/echo", []string{"Cookie", cookie, "Origin", "http://127.0.0.1:1"}, 403},
		{"no origin", "/ws/echo", []string{"Cookie", cookie}, 403},
		{"the string null", "/ws/echo", []string{"Cookie", cookie, "Origin", "null"}, 403},
		{"no cookie", "/ws/echo", []string{"Origin", g.public}, 401},
		{"a forged cookie", "/ws/echo", []string{"Cookie", "gatehouse=x.y", "Origin", g.public}, 401},
		{"auth any: a cookie is held to the Origin check", "/wsany/echo", []string{"Cookie", cookie, "Origin", "http://evil.example"}, 403},
		{"auth any: a cookie with the origin", "/wsany/echo", []string{"Cookie", cookie, "Origin", g.public}, 0},
		{"a refusing upstream is relayed", "/ws/refuse", []string{"Cookie", cookie, "Origin", g.public}, 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := g.up.count()
			c, status, err := g.dial(t, tc.path, tc.headers...)
			if tc.status == 0 {
				if err != nil {
					t.Fatalf("dial = %d, %v; want an upgrade", status, err)
				}
				echo(t, c, "hello "+tc.name)
				return
			}
			if err == nil || status != tc.status {
				t.Fatalf("dial = %d, %v; want %d", status, err, tc.status)
			}
			if reached := g.up.count() > before; reached != strings.Contains(tc.path, "refuse") {
				t.Errorf("upstream reached = %v", reached)
			}
		})
	}

	// A plain GET of the socket's path is proxied, and never cached in a
	// way that would answer a later handshake in the upstream's stead.
	for range 2 {
		if resp := g.b.do("GET", "/ws/echo", "X-CSRF", "1"); resp.StatusCode != 200 || bodyOf(resp) != `{"plain":true}` {
			t.Fatalf("plain GET /ws/echo = %d", resp.StatusCode)
		}
	}
	if _, status, err := g.dial(t, "/ws/echo", "Cookie", cookie, "Origin", g.public); err != nil {
		t.Fatalf("dial after a plain GET = %d, %v", status, err)
	}

	// What the upstream saw on a session handshake: the session's token,
	// the plugin's header, the gateway's forwarding fields, no session
	// cookie, and the handshake fields.
	c := g.open(t, "/ws/echo", "Cookie", cookie+"; theme=dark", "Origin", g.public,
		"Authorization", "Bearer forged", "X-Forwarded-For", "6.6.6.6")
	echo(t, c, "x")
	h := g.up.last()
	for name, want := range map[string]string{
		"Authorization":   "Bearer " + g.apiToken,
		"X-User-Id":       "alice-sub",
		"X-Forwarded-For": "127.0.0.1",
		"Cookie":          "theme=dark",
		"Upgrade":         "websocket",
		"Origin":          g.public,
	} {
		if got := h.Get(name); got != want {
			t.Errorf("upstream %s = %q, want %q", name, got, want)
		}
	}
	if h.Get("X-Request-Id") == "" || h.Get("Sec-WebSocket-Key") == "" {
		t.Errorf("upstream request id %q, key %q: want both", h.Get("X-Request-Id"), h.Get("Sec-WebSocket-Key"))
	}
}

func TestWebSocketBearer(t *testing.T) {
	t.Parallel()
	g := startWSGateway(t)
	cookie := g.cookie.Name + "=" + g.cookie.Value
	for _, tc := range []struct {
		name    string
		path    string
		headers []string
		status  int
	}{
		{"bearer, no origin needed", "/wsb/echo", []string{"Authorization", "Bearer " + g.apiToken}, 0},
		{"bearer from anywhere", "/wsb/echo", []string{"Authorization", "Bearer " + g.apiToken, "Origin", "http://evil.example"}, 0},
		{"no token", "/wsb/echo", nil, 401},
		{"a cookie is no bearer token", "/wsb/echo", []string{"Cookie", cookie, "Origin", g.public}, 401},
		{"a bad token", "/wsb/echo", []string{"Authorization", "Bearer x.y.z"}, 401},
		{"auth any without a cookie: bearer", "/wsany/echo", []string{"Authorization", "Bearer " + g.apiToken}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, status, err := g.dial(t, tc.path, tc.headers...)
			if tc.status != 0 {
				if err == nil || status != tc.status {
					t.Fatalf("dial = %d, %v; want %d", status, err, tc.status)
				}
				return
			}
			if err != nil {
				t.Fatalf("dial = %d, %v", status, err)
			}
			echo(t, c, "hi")
			if got := g.up.last().Get("Authorization"); got != "Bearer "+g.apiToken {
				t.Errorf("upstream Authorization = %q", got)
			}
		})
	}
}

// TestWebSocketLogoutCloses: a logout closes the session's open sockets
// with 1008 at once; another session's socket and bearer sockets stay.
func TestWebSocketLogoutCloses(t *testing.T) {
	t.Parallel()
	g := startWSGateway(t)
	cookie := g.cookie.Name + "=" + g.cookie.Value
	c := g.open(t, "/ws/echo", "Cookie", cookie, "Origin", g.public)
	echo(t, c, "before")
	bearer := g.open(t, "/wsb/echo", "Authorization", "Bearer "+g.apiToken)
	if resp := g.b.do("POST", "/auth/logout", "X-CSRF", "1"); resp.StatusCode != 200 {
		t.Fatalf("logout = %d", resp.StatusCode)
	}
	if code := closedWith(t, c); code != websocket.StatusPolicyViolation {
		t.Fatalf("after logout the socket ended with %d, want 1008", code)
	}
	echo(t, bearer, "still here")
	// The old cookie cannot open a new one.
	if _, status, _ := g.dial(t, "/ws/echo", "Cookie", cookie, "Origin", g.public); status != 401 {
		t.Errorf("dial with the old cookie = %d, want 401", status)
	}
}

// TestWebSocketSessionGoneCloses: a session that ends without this
// process's logout (another replica's, a refused refresh, a timeout) is
// found by the socket's store check.
func TestWebSocketSessionGoneCloses(t *testing.T) {
	t.Parallel()
	g := startWSGateway(t)
	g.srv.wsSessionCheck = 50 * time.Millisecond
	cookie := g.cookie.Name + "=" + g.cookie.Value
	c := g.open(t, "/ws/echo", "Cookie", cookie, "Origin", g.public)
	echo(t, c, "before")
	var id string
	g.srv.sockets.mu.Lock()
	for s := range g.srv.sockets.open {
		id = s.sessionID
	}
	g.srv.sockets.mu.Unlock()
	if id == "" {
		t.Fatal("no registered socket with a session")
	}
	if err := g.srv.sessions.Delete(t.Context(), id); err != nil { // as another replica would
		t.Fatal(err)
	}
	if code := closedWith(t, c); code != websocket.StatusPolicyViolation {
		t.Fatalf("the socket ended with %d, want 1008", code)
	}
}

func TestWebSocketIdleTimeout(t *testing.T) {
	t.Parallel()
	g := startWSGateway(t)
	c := g.open(t, "/wsidle/echo")
	echo(t, c, "one")
	if code := closedWith(t, c); code != websocket.StatusNormalClosure {
		t.Fatalf("idle socket ended with %d, want 1000", code)
	}
	waitFor(t, func() bool { return g.srv.sockets.count() == 0 })
}

func TestWebSocketMaxConnections(t *testing.T) {
	t.Parallel()
	g := startWSGateway(t)
	first := g.open(t, "/wsmax/echo")
	echo(t, first, "one")
	g.refused(t, "/wsmax/echo", 503)
	first.Close(websocket.StatusNormalClosure, "")
	// Its slot comes back once the socket is over.
	waitFor(t, func() bool {
		c, _, err := g.dial(t, "/wsmax/echo")
		if err == nil {
			c.CloseNow()
		}
		return err == nil
	})
}

// TestWebSocketNotARoute: a handshake to a route without websocket: true
// is a plain GET to the upstream (no Upgrade), as before.
func TestWebSocketNotARoute(t *testing.T) {
	t.Parallel()
	g := startWSGateway(t)
	if _, status, err := g.dial(t, "/plain/echo"); err == nil || status != 200 {
		t.Fatalf("dial = %d, %v; want the upstream's plain 200", status, err)
	}
	if up := g.up.last().Get("Upgrade"); up != "" {
		t.Errorf("upstream saw Upgrade %q", up)
	}
}

// waitFor polls cond for up to 10s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestIsWebSocketUpgrade(t *testing.T) {
	t.Parallel()
	const key = "dGhlIHNhbXBsZSBub25jZQ=="
	for _, tc := range []struct {
		name string
		head string
		want bool
	}{
		{"valid", "GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + key, true},
		{"lists, any case", "GET / HTTP/1.1\r\nConnection: keep-alive, UPGRADE\r\nUpgrade: WebSocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + key, true},
		{"POST", "POST / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + key, false},
		{"no Connection upgrade", "GET / HTTP/1.1\r\nConnection: keep-alive\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + key, false},
		{"h2c", "GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: h2c\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + key, false},
		{"version 8", "GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 8\r\nSec-WebSocket-Key: " + key, false},
		{"no key", "GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13", false},
		{"short key", "GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: c2hvcnQ=", false},
		{"a body", "GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nContent-Length: 5\r\nSec-WebSocket-Key: " + key, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h fasthttp.RequestHeader
			if err := h.Read(bufio.NewReader(strings.NewReader(tc.head + "\r\nHost: x\r\n\r\n"))); err != nil {
				t.Fatal(err)
			}
			if got := isWebSocketUpgrade(&h); got != tc.want {
				t.Errorf("isWebSocketUpgrade = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestFrameCursor(t *testing.T) {
	t.Parallel()
	// Three frames: a short masked text, a 300-byte binary (16-bit
	// length), an empty ping; each boundary must be found wherever the
	// stream is cut.
	var stream []byte
	var bounds []int
	frame := func(head []byte, payload int) {
		stream = append(stream, head...)
		stream = append(stream, make([]byte, payload)...)
		bounds = append(bounds, len(stream))
	}
	frame([]byte{0x81, 0x85, 1, 2, 3, 4}, 5)
	frame([]byte{0x82, 126, 0x01, 0x2c}, 300)
	frame([]byte{0x89, 0x00}, 0)
	frame([]byte{0x82, 127, 0, 0, 0, 0, 0, 0, 0x01, 0x00}, 256)
	for cut := 1; cut < len(stream); cut++ {
		var f frameCursor
		if n := f.advance(stream[:cut], false); n != cut {
			t.Fatalf("cut %d: advance consumed %d", cut, n)
		}
		at := false
		next := 0
		for _, b := range bounds {
			at = at || b == cut
			if next == 0 && b > cut {
				next = b
			}
		}
		if f.atBoundary() != at {
			t.Fatalf("cut %d: atBoundary = %v, want %v", cut, f.atBoundary(), at)
		}
		// With stop, the rest is consumed up to the next boundary only.
		want := next - cut
		if at {
			want = 0
		}
		if n := f.advance(stream[cut:], true); n != want {
			t.Fatalf("cut %d: advance(stop) = %d, want %d", cut, n, want)
		}
	}
}

func TestCloseFrame(t *testing.T) {
	t.Parallel()
	got := closeFrame(1008, "session ended")
	want := append([]byte{0x88, 15, 0x03, 0xf0}, "session ended"...)
	if string(got) != string(want) {
		t.Fatalf("closeFrame = % x, want % x", got, want)
	}
}

// TestWebSocketShutdown: a shutdown ends the open sockets at once with
// 1001 (going away), rather than waiting shutdown_timeout for them.
func TestWebSocketShutdown(t *testing.T) {
	t.Parallel()
	g := startWSGateway(t)
	c := g.open(t, "/wsmax/echo")
	echo(t, c, "one")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- g.srv.Shutdown(ctx) }()
	if code := closedWith(t, c); code != websocket.StatusGoingAway {
		t.Fatalf("on shutdown the socket ended with %d, want 1001", code)
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// handshakeUpstream serves handshakes by hand: /wsraw/good answers a correct 101
// and a text frame "hi" in the same write; /wsraw/bad-accept a 101 whose
// Sec-WebSocket-Accept does not answer the key; /wsraw/h2c a 101 to
// another protocol. It returns its base URL.
func handshakeUpstream(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				req, err := http.ReadRequest(bufio.NewReader(conn))
				if err != nil {
					return
				}
				sum := sha1.Sum([]byte(req.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
				accept, upgrade := base64.StdEncoding.EncodeToString(sum[:]), "websocket"
				switch req.URL.Path {
				case "/wsraw/bad-accept":
					accept = "dGhlIHNhbXBsZSBub25jZQ=="
				case "/wsraw/h2c":
					upgrade = "h2c"
				}
				fmt.Fprintf(conn, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: %s\r\nConnection: Upgrade\r\n"+
					"Sec-WebSocket-Accept: %s\r\n\r\n\x81\x02hi", upgrade, accept)
				io.Copy(io.Discard, conn) // until the gateway closes
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

// TestWebSocketUpstreamAnswer: only a true WebSocket 101 (Upgrade:
// websocket, the accept that answers the key) opens the socket; bytes the
// upstream sends right behind its 101 reach the client.
func TestWebSocketUpstreamAnswer(t *testing.T) {
	t.Parallel()
	g := startWSGateway(t)
	c := g.open(t, "/wsraw/good")
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, msg, err := c.Read(ctx); err != nil || string(msg) != "hi" {
		t.Fatalf("first message = %q, %v; want the frame sent behind the 101", msg, err)
	}
	for _, path := range []string{"/wsraw/bad-accept", "/wsraw/h2c"} {
		if _, status, err := g.dial(t, path); err == nil || status != 502 {
			t.Errorf("%s: dial = %d, %v; want 502", path, status, err)
		}
	}
}

// TestSocketsSessionsEnded: which open sockets a logout ends — by session
// id (logout), by IdP sid or by subject (back-channel logout); never a
// bearer socket, never another session's.
func TestSocketsSessionsEnded(t *testing.T) {
	t.Parallel()
	type sock struct{ id, sid, sub string }
	all := []sock{
		{"s1", "idp-a", "alice"}, {"s2", "idp-b", "alice"}, {"s3", "idp-c", "bob"}, {"", "", "alice"}, // the last: bearer
	}
	for _, tc := range []struct {
		name  string
		end   auth.SessionEnd
		ended []bool
	}{
		{"logout", auth.SessionEnd{ID: "s2"}, []bool{false, true, false, false}},
		{"back-channel sid", auth.SessionEnd{SID: "idp-a"}, []bool{true, false, false, false}},
		{"back-channel subject", auth.SessionEnd{Subject: "alice"}, []bool{true, true, false, false}},
		{"unknown", auth.SessionEnd{ID: "s9"}, []bool{false, false, false, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := newSockets()
			var socks []*socket
			for _, s := range all {
				up, other := net.Pipe()
				t.Cleanup(func() { up.Close(); other.Close() })
				so := &socket{sessionID: s.id, sid: s.sid, subject: s.sub, up: &proxy.Upgraded{Conn: up}}
				reg.add(so)
				socks = append(socks, so)
			}
			reg.SessionsEnded(tc.end)
			for i, so := range socks {
				if got := so.ending.Load() == closePolicy; got != tc.ended[i] {
					t.Errorf("socket %+v ended = %v, want %v", all[i], got, tc.ended[i])
				}
			}
		})
	}
}

// TestWebSocketBearerExpiry: a bearer socket ends (1008) when its token's
// exp passes; the gate only judged the token at the handshake.
func TestWebSocketBearerExpiry(t *testing.T) {
	t.Parallel()
	g := startWSGateway(t)
	g.op.SetAccessTokenTTL(2 * time.Second)
	// A new login gets a token valid for 2 s, which the API sees.
	b := newBrowser(t, g.public)
	b.login(g.op, "/")
	if resp := b.do("GET", "/api/x", "X-CSRF", "1"); resp.StatusCode != 200 {
		t.Fatalf("GET /api/x = %d", resp.StatusCode)
	}
	h, _ := g.api.last()
	tok := strings.TrimPrefix(h.Get("Authorization"), "Bearer ")
	if tok == g.apiToken {
		t.Fatal("the API saw the first session's token")
	}
	c := g.open(t, "/wsb/echo", "Authorization", "Bearer "+tok)
	if code := closedWith(t, c); code != websocket.StatusPolicyViolation {
		t.Fatalf("at the token's exp the socket ended with %d, want 1008", code)
	}
}

// TestWebSocketRateLimit: a handshake is a request to the route's
// rate_limit plugin: beyond the limit, 429 and the upstream never asked.
func TestWebSocketRateLimit(t *testing.T) {
	t.Parallel()
	g := startWSGateway(t)
	c := g.open(t, "/wsrl/echo")
	echo(t, c, "one")
	g.refused(t, "/wsrl/echo", 429)
}

// TestWebSocketHandshakeThatCloses: a handshake whose connection is to close
// after the answer (Connection: upgrade, close; or HTTP/1.0) can never
// become a socket: fasthttp closes it instead of handing it over. It is
// proxied as a plain GET, and holds no socket slot (with
// websocket_max_connections: 1, a real socket opens right after it).
func TestWebSocketHandshakeThatCloses(t *testing.T) {
	t.Parallel()
	g := startWSGateway(t)
	for _, head := range []string{
		"GET /wsmax/echo HTTP/1.1\r\nHost: gw\r\nConnection: Upgrade, close\r\n",
		"GET /wsmax/echo HTTP/1.0\r\nHost: gw\r\nConnection: Upgrade\r\n",
	} {
		resp, _, _ := exchange(t, g.public, head+"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"+
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", false)
		if resp.StatusCode == http.StatusSwitchingProtocols {
			t.Fatalf("%q got 101", head)
		}
		c, status, err := g.dial(t, "/wsmax/echo")
		if err != nil {
			t.Fatalf("a socket after %q = %d, %v: the closing handshake held the route's only slot", head, status, err)
		}
		c.CloseNow()
		// The slot comes back once the socket is over. Read, not probed: a
		// probe socket would take the slot again until its own end.
		waitFor(t, func() bool { return g.openSockets(t, "wsmax") == 0 })
	}
}

// openSockets returns how many sockets hold a slot of the named route.
func (g *wsGateway) openSockets(t *testing.T, route string) int64 {
	t.Helper()
	for _, rh := range g.srv.current.Load().routes {
		if rh.route.Name == route && rh.ws != nil {
			return rh.ws.open.Load()
		}
	}
	t.Fatalf("no websocket route %q", route)
	return 0
}
