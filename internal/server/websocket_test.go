package server

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/valyala/fasthttp"

	"github.com/gatehouse-dev/gatehouse/internal/oidc/oidctest"
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
	cfg := loadConfig(t, "websocket.yaml", map[string]string{
		"PUBLIC": g.public, "ISSUER": g.op.Issuer, "SECRET": g.op.ClientSecret, "API": api.URL, "WS": g.up.URL})
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
			before := len(g.up.seen)
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
			if reached := len(g.up.seen) > before; reached != strings.Contains(tc.path, "refuse") {
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
	c, _, err := g.dial(t, "/ws/echo", "Cookie", cookie+"; theme=dark", "Origin", g.public,
		"Authorization", "Bearer forged", "X-Forwarded-For", "6.6.6.6")
	if err != nil {
		t.Fatal(err)
	}
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
	g := startWSGateway(t)
	cookie := g.cookie.Name + "=" + g.cookie.Value
	c, _, err := g.dial(t, "/ws/echo", "Cookie", cookie, "Origin", g.public)
	if err != nil {
		t.Fatal(err)
	}
	echo(t, c, "before")
	bearer, _, err := g.dial(t, "/wsb/echo", "Authorization", "Bearer "+g.apiToken)
	if err != nil {
		t.Fatal(err)
	}
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
	g := startWSGateway(t)
	g.srv.wsSessionCheck = 50 * time.Millisecond
	cookie := g.cookie.Name + "=" + g.cookie.Value
	c, _, err := g.dial(t, "/ws/echo", "Cookie", cookie, "Origin", g.public)
	if err != nil {
		t.Fatal(err)
	}
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
	g := startWSGateway(t)
	c, _, err := g.dial(t, "/wsidle/echo")
	if err != nil {
		t.Fatal(err)
	}
	echo(t, c, "one")
	if code := closedWith(t, c); code != websocket.StatusNormalClosure {
		t.Fatalf("idle socket ended with %d, want 1000", code)
	}
	waitFor(t, func() bool { return g.srv.sockets.count() == 0 })
}

func TestWebSocketMaxConnections(t *testing.T) {
	g := startWSGateway(t)
	first, _, err := g.dial(t, "/wsmax/echo")
	if err != nil {
		t.Fatal(err)
	}
	echo(t, first, "one")
	before := len(g.up.seen)
	if _, status, err := g.dial(t, "/wsmax/echo"); err == nil || status != 503 {
		t.Fatalf("second dial = %d, %v; want 503", status, err)
	}
	if len(g.up.seen) != before {
		t.Error("the refused handshake reached the upstream")
	}
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
	got := closeFrame(1008, "session ended")
	want := append([]byte{0x88, 15, 0x03, 0xf0}, "session ended"...)
	if string(got) != string(want) {
		t.Fatalf("closeFrame = % x, want % x", got, want)
	}
}
