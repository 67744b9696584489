package server

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/gatehouse-dev/gatehouse/plugins/all"
)

// upstream is a real loopback HTTP server that records what reached it.
type upstream struct {
	*httptest.Server
	name string
	mu   sync.Mutex
	got  []*http.Request
}

func newUpstream(t *testing.T, name string) *upstream {
	t.Helper()
	u := &upstream{name: name}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.got = append(u.got, r.Clone(r.Context()))
		u.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"upstream":%q,"path":%q,"query":%q}`, name, r.URL.EscapedPath(), r.URL.RawQuery)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) requests() []*http.Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]*http.Request(nil), u.got...)
}

// gateway starts a Server for testdata/core.yaml on a loopback port.
type gateway struct {
	base                 string
	users, public, files *upstream
	srv                  *Server
}

func startGateway(t *testing.T) *gateway {
	t.Helper()
	g := &gateway{users: newUpstream(t, "users"), public: newUpstream(t, "public"), files: newUpstream(t, "files")}
	cfg := loadConfig(t, "core.yaml", map[string]string{"USERS": g.users.URL, "PUBLIC": g.public.URL, "FILES": g.files.URL})
	g.srv, g.base = serve(t, cfg, listen(t))
	return g
}

// rawRequest sends bytes as they are (no client-side cleaning of the path)
// and returns the status and body.
func rawRequest(t *testing.T, base, req string) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading response to %q: %v", req, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func get(path string) string {
	return "GET " + path + " HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n"
}

func errorOf(t *testing.T, body string) string {
	t.Helper()
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error == "" {
		t.Fatalf("body %q is not a JSON error", body)
	}
	return e.Error
}

func TestRoutingAfterNormalisation(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	tests := []struct {
		name, path, wantUpstream, wantPath string
	}{
		{"exact prefix", "/api/users", "users", "/api/users"},
		{"below prefix", "/api/users/7", "users", "/api/users/7"},
		{"dot-dot escapes public into users", "/api/public/../users", "users", "/api/users"},
		{"encoded dot-dot", "/api/public/%2e%2e/users", "users", "/api/users"},
		{"encoded slash", "/api/public/..%2fusers", "users", "/api/users"},
		{"backslash", "/api/public/..%5cusers", "users", "/api/users"},
		{"duplicate slashes", "//api//public///x", "public", "/api/public/x"},
		{"strip prefix", "/files/a/b", "files", "/a/b"},
		{"strip prefix to root", "/files", "files", "/"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := rawRequest(t, g.base, get(tc.path))
			if status != 200 {
				t.Fatalf("GET %s = %d %s, want 200", tc.path, status, body)
			}
			var got struct{ Upstream, Path string }
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatal(err)
			}
			if got.Upstream != tc.wantUpstream || got.Path != tc.wantPath {
				t.Errorf("GET %s reached %s %s, want %s %s", tc.path, got.Upstream, got.Path, tc.wantUpstream, tc.wantPath)
			}
		})
	}
}

func TestQueryForwardedByteForByte(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	const q = "b=2&a=1&x=%2F%20+y&empty=&dup=1&dup=2"
	status, body := rawRequest(t, g.base, get("/api/users?"+q))
	if status != 200 {
		t.Fatalf("status %d", status)
	}
	var got struct{ Query string }
	_ = json.Unmarshal([]byte(body), &got)
	if got.Query != q {
		t.Errorf("upstream saw query %q, want %q", got.Query, q)
	}
}

func TestErrorsAreJSON(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	tests := []struct {
		name, req  string
		wantStatus int
		wantError  string
	}{
		{"no route", get("/nowhere"), 404, "not found"},
		{"prefix boundary", get("/api/usersX"), 404, "not found"},
		{"method not allowed", "DELETE /api/public/x HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n", 405, "method not allowed"},
		{"uri too long", get("/api/users/" + strings.Repeat("a", 600)), 414, "request uri too long"},
		{"invalid escape", get("/api/users/%zz"), 400, "invalid request path"},
		{"encoded NUL", get("/api/users/%00"), 400, "invalid request path"},
		{"body over max_body", "POST /api/users HTTP/1.1\r\nHost: gw\r\nConnection: close\r\nContent-Length: 5000\r\n\r\n" + strings.Repeat("x", 5000), 413, ""},
		{"both content-length and transfer-encoding", "POST /api/users HTTP/1.1\r\nHost: gw\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, ""},
		{"duplicate transfer-encoding", "POST /api/users HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, ""},
		{"duplicate content-length", "POST /api/users HTTP/1.1\r\nHost: gw\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400, ""},
		{"invalid chunk size", "POST /api/users HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", 400, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := rawRequest(t, g.base, tc.req)
			if status != tc.wantStatus {
				t.Fatalf("status = %d (%s), want %d", status, body, tc.wantStatus)
			}
			if tc.wantError != "" {
				if got := errorOf(t, body); got != tc.wantError {
					t.Errorf("error = %q, want %q", got, tc.wantError)
				}
			}
		})
	}
	if n := len(g.users.requests()); n != 0 {
		t.Errorf("users upstream got %d requests from refused ones, want 0", n)
	}
}

func TestHeaderTooLarge(t *testing.T) {
	t.Parallel()
	g := startGateway(t) // max_header_bytes: 6KB
	for _, tc := range []struct {
		size int
		want int
	}{{5 << 10, 200}, {8 << 10, 431}} {
		req := "GET /api/users HTTP/1.1\r\nHost: gw\r\nX-Big: " + strings.Repeat("a", tc.size) + "\r\nConnection: close\r\n\r\n"
		if status, _ := rawRequest(t, g.base, req); status != tc.want {
			t.Errorf("a %d-byte header: status = %d, want %d", tc.size, status, tc.want)
		}
	}
}

func TestSlowClientIsDisconnected(t *testing.T) {
	t.Parallel()
	g := startGateway(t) // read_timeout: 2s
	conn, err := net.Dial("tcp", strings.TrimPrefix(g.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Half a request head, then nothing: the server must give up on us.
	if _, err := io.WriteString(conn, "GET /api/users HTTP/1.1\r\nHost: gw\r\nX-Slow: "); err != nil {
		t.Fatal(err)
	}
	// A generous test deadline, not a timing assertion: without a server read
	// timeout this read would block until it.
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, err = io.ReadAll(conn)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("server kept a slowloris connection open")
	}
}

func TestRequestIDPropagated(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	req, _ := http.NewRequest("GET", g.base+"/api/users/1", nil)
	req.Header.Set("X-Request-Id", "abc-123")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("X-Request-Id"); got != "abc-123" {
		t.Errorf("response X-Request-Id = %q, want abc-123", got)
	}
	up := g.users.requests()
	if len(up) != 1 || up[0].Header.Get("X-Request-Id") != "abc-123" {
		t.Errorf("upstream did not get X-Request-Id abc-123")
	}

	// A hostile id (log injection) is replaced by a generated one.
	req, _ = http.NewRequest("GET", g.base+"/api/users/1", nil)
	req.Header.Set("X-Request-Id", "x\"}{evil")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	got := resp.Header.Get("X-Request-Id")
	if got == "x\"}{evil" || len(got) != 32 {
		t.Errorf("response X-Request-Id = %q, want a fresh 32-hex id", got)
	}
	// The upstream gets the same fresh id, never the client's.
	up = g.users.requests()
	if len(up) != 2 || strings.Join(up[1].Header.Values("X-Request-Id"), ", ") != got {
		t.Errorf("upstream X-Request-Id = %q, want only the fresh id %q", up[len(up)-1].Header.Values("X-Request-Id"), got)
	}
}

func TestHealthMetricsAndReadiness(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	for _, p := range []string{"/healthz", "/readyz"} {
		status, body := rawRequest(t, g.base, get(p))
		if status != 200 {
			t.Errorf("GET %s = %d %s, want 200", p, status, body)
		}
	}
	rawRequest(t, g.base, get("/api/users/1"))
	status, body := rawRequest(t, g.base, get("/metrics"))
	if status != 200 || !strings.Contains(body, `gatehouse_requests_total{code="200",method="GET",route="users"}`) {
		t.Errorf("GET /metrics = %d, want per-route request counts; got:\n%.2000s", status, body)
	}

	// A dead upstream is reported, not gated on: see TestReadyz (health_test.go).
}

func TestUpstreamDown(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	g.users.Close()
	status, body := rawRequest(t, g.base, get("/api/users/1"))
	if status != 502 || errorOf(t, body) != "upstream unavailable" {
		t.Errorf("GET to a closed upstream = %d %s, want 502 upstream unavailable", status, body)
	}
}

// TestAccessLog: one JSON line per request with the route, status, request
// id and the upstream target it went to.
func TestAccessLog(t *testing.T) {
	t.Parallel()
	users := newUpstream(t, "users")
	cfg := loadConfig(t, "core.yaml", map[string]string{"USERS": users.URL, "PUBLIC": users.URL, "FILES": users.URL})
	buf, addr := serveLogged(t, cfg)
	rawRequest(t, "http://"+addr,
		"GET /api/users/7 HTTP/1.1\r\nHost: gw\r\nX-Request-Id: log-test-1\r\nConnection: close\r\n\r\n")
	// observe writes the log line before the response is sent: it is there.

	var line struct {
		Msg, Method, Route, Upstream string
		RequestID                    string `json:"request_id"`
		Status                       int
	}
	for _, l := range strings.Split(buf.String(), "\n") {
		if strings.Contains(l, `"msg":"request"`) {
			if err := json.Unmarshal([]byte(l), &line); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := struct{ method, route, id, upstream string }{"GET", "users", "log-test-1", users.URL}
	if line.Method != want.method || line.Route != want.route || line.RequestID != want.id ||
		line.Upstream != want.upstream || line.Status != 200 {
		t.Errorf("access log = %+v, want method %s route %s request_id %s upstream %s status 200",
			line, want.method, want.route, want.id, want.upstream)
	}
}
