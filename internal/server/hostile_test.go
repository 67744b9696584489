package server

import (
	"encoding/json"
	"log/slog"
	"net"
	"net/textproto"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/route"
)

// forwardedHead is an upstream request head, parsed for the checks.
type forwardedHead struct {
	method, target string
	names          []string            // every field name, as sent
	values         map[string][]string // canonical name → values
}

func parseHead(t testing.TB, raw string) forwardedHead {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(raw, "\r\n\r\n"), "\r\n")
	parts := strings.Split(lines[0], " ")
	if len(parts) != 3 || parts[2] != "HTTP/1.1" {
		t.Fatalf("upstream request line %q", lines[0])
	}
	h := forwardedHead{method: parts[0], target: parts[1], values: map[string][]string{}}
	for _, line := range lines[1:] {
		k, v, ok := strings.Cut(line, ":")
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			t.Fatalf("upstream got a malformed field line %q in\n%s", line, raw)
		}
		h.names = append(h.names, k)
		ck := textproto.CanonicalMIMEHeaderKey(k)
		h.values[ck] = append(h.values[ck], strings.TrimSpace(v))
	}
	return h
}

// gatewayOwned are the fields the gateway sets on every forwarded request of
// hostile.yaml's routes (X-Gateway-Set by the route's headers plugin), each
// of which must arrive exactly once, with the gateway's value.
func checkGatewayFields(t testing.TB, h forwardedHead, requestID, gatewaySet string) {
	t.Helper()
	want := map[string]string{
		"X-Forwarded-For":   "127.0.0.1",
		"X-Forwarded-Proto": "http",
		"X-Forwarded-Host":  "gw.test",
		"X-Request-Id":      requestID,
		"X-Gateway-Set":     gatewaySet,
	}
	for name, v := range want {
		if got := h.values[name]; len(got) != 1 || got[0] != v {
			t.Errorf("upstream %s = %q, want exactly [%q]", name, got, v)
		}
	}
}

// forbiddenUpstream reports a field name no client may get to an upstream:
// hop-by-hop fields, forwarding fields other than the gateway's three,
// method overrides, names with an underscore.
func forbiddenUpstream(name string) bool {
	switch textproto.CanonicalMIMEHeaderKey(name) {
	case "Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Proxy-Connection",
		"Te", "Trailer", "Upgrade", "Expect",
		"Forwarded", "X-Real-Ip", "X-Original-Url", "X-Rewrite-Url", "X-Original-Uri", "X-Original-Host",
		"X-Host", "True-Client-Ip", "X-Client-Ip", "Client-Ip",
		"X-Http-Method-Override", "X-Http-Method", "X-Method-Override":
		return true
	case "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host":
		return false
	}
	return strings.HasPrefix(strings.ToLower(name), "x-forwarded-") || strings.Contains(name, "_")
}

// gatehouseMessages are the error texts gatehouse writes for the edge's
// refusals; a client never sees another.
var gatehouseMessages = []string{
	"bad request", "invalid request path", "not found", "method not allowed", "method not implemented",
	"request header too large", "request uri too long", "request body too large", "request timeout",
	"ambiguous request framing", "invalid transfer encoding", "unsupported transfer encoding",
	"upstream unavailable", "upstream timeout", "request body incomplete",
}

// startHostile runs a gateway on hostile.yaml in front of a raw upstream.
func startHostile(t testing.TB) (addr string, up *rawUpstream) {
	up = newRawUpstream(t)
	data := map[string]string{"RAW": up.url}
	cfg := loadConfig(t, "hostile.yaml", data)
	srv, err := New(cfg, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown(t.Context()) })
	return ln.Addr().String(), up
}

// TestHostileRequests is the edge's table: each hostile shape found so far
// (issue 11 and the request-smuggling shapes) in one place, so that the next
// finding is one more row. A row either is refused with gatehouse's own text,
// or reaches the upstream on the path it was routed by, with every field the
// gateway sets and none a client may not send (checked on every forwarded
// row, not only the row's own concern).
func TestHostileRequests(t *testing.T) {
	t.Parallel()
	addr, up := startHostile(t)
	const head = "Host: gw\r\nConnection: close\r\n"
	tests := []struct {
		name, req string
		status    int
		msg       string // the error, when refused
		path      string // the upstream request target, when forwarded
		set       string // X-Gateway-Set, when forwarded
		check     func(t *testing.T, h forwardedHead)
	}{
		{name: "plain", req: "GET /api/x HTTP/1.1\r\n" + head + "\r\n", status: 200, path: "/api/x", set: "api"},
		// 11.2: Connection nominating the gateway's own fields.
		{name: "connection names gateway fields", req: "GET /api/x HTTP/1.1\r\nHost: gw\r\n" +
			"Connection: close, X-Gateway-Set, X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Host, X-Request-Id, Authorization\r\n\r\n",
			status: 200, path: "/api/x", set: "api"},
		{name: "connection names a client field", req: "GET /api/x HTTP/1.1\r\n" + head + "Connection: X-Drop\r\nX-Drop: 1\r\nX-Keep: 2\r\n\r\n",
			status: 200, path: "/api/x", set: "api", check: func(t *testing.T, h forwardedHead) {
				if h.values["X-Drop"] != nil || h.values["X-Keep"] == nil {
					t.Errorf("X-Drop %q (want none), X-Keep %q (want it)", h.values["X-Drop"], h.values["X-Keep"])
				}
			}},
		{name: "hop-by-hop fields", req: "GET /api/x HTTP/1.1\r\n" + head +
			"Keep-Alive: 5\r\nTE: trailers\r\nUpgrade: websocket\r\nProxy-Authorization: Basic eA==\r\nProxy-Connection: keep-alive\r\nTrailer: X\r\n\r\n",
			status: 200, path: "/api/x", set: "api"},
		// 11.3: ';' path parameters.
		{name: "path parameter picks another route", req: "GET /api/admin;x/users HTTP/1.1\r\n" + head + "\r\n", status: 400, msg: "invalid request path"},
		{name: "encoded path parameter", req: "GET /api/admin%3bx/users HTTP/1.1\r\n" + head + "\r\n", status: 400, msg: "invalid request path"},
		{name: "dot-dot path parameter", req: "GET /api/x/..;/admin HTTP/1.1\r\n" + head + "\r\n", status: 400, msg: "invalid request path"},
		{name: "encoded traversal is routed as resolved", req: "GET /api/public/..%2fadmin/x HTTP/1.1\r\n" + head + "\r\n", status: 200, path: "/api/admin/x", set: "admin"},
		{name: "encoded traversal to a method-limited route", req: "POST /api/x/..%2Fadmin/x HTTP/1.1\r\n" + head + "Content-Length: 0\r\n\r\n", status: 405, msg: "method not allowed"},
		// 11.4: forwarding fields from an untrusted peer.
		{name: "forwarding fields", req: "GET /api/x HTTP/1.1\r\n" + head +
			"X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Host: evil\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Prefix: /evil\r\n" +
			"X-Forwarded-Port: 1\r\nx-forwarded-ssl: on\r\nX-Forwarded-Scheme: https\r\nX-Forwarded-Server: evil\r\n" +
			"Forwarded: for=6.6.6.6\r\nX-Real-IP: 6.6.6.6\r\nX-Original-URL: /admin\r\nX-Rewrite-URL: /admin\r\nTrue-Client-IP: 6.6.6.6\r\n\r\n",
			status: 200, path: "/api/x", set: "api"},
		{name: "underscored spoof of a forwarding field", req: "GET /api/x HTTP/1.1\r\n" + head + "X-Forwarded_For: 6.6.6.6\r\nX_Gateway_Set: evil\r\n\r\n",
			status: 200, path: "/api/x", set: "api"},
		{name: "client's own copy of a plugin-set field", req: "GET /api/x HTTP/1.1\r\n" + head + "X-Gateway-Set: evil\r\nx-gateway-set: evil2\r\n\r\n",
			status: 200, path: "/api/x", set: "api"},
		{name: "method override", req: "GET /api/admin/x HTTP/1.1\r\n" + head + "X-HTTP-Method-Override: DELETE\r\nX-HTTP-Method: DELETE\r\nX-Method-Override: DELETE\r\n\r\n",
			status: 200, path: "/api/admin/x", set: "admin"},
		{name: "field name with a space", req: "GET /api/x HTTP/1.1\r\n" + head + "X-Gateway Set: evil\r\n\r\n", status: 400, msg: "bad request"},
		{name: "folded field line", req: "GET /api/x HTTP/1.1\r\n" + head + "X-A: a\r\n X-Gateway-Set: evil\r\n\r\n", status: 400, msg: "bad request"},
		// 11.5 and request smuggling: framing.
		{name: "TE identity with CL", req: "POST /api/x HTTP/1.1\r\n" + head + "Transfer-Encoding: identity\r\nContent-Length: 3\r\n\r\nabc", status: 400, msg: "ambiguous request framing"},
		// Without Connection: close: the edge relies on headerReceived having
		// marked the refused head to close (edge.go).
		{name: "TE identity, keep-alive", req: "POST /api/x HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: identity\r\nContent-Length: 3\r\n\r\nabc", status: 400, msg: "ambiguous request framing"},
		{name: "Content-Length over max_body, keep-alive", req: "POST /api/x HTTP/1.1\r\nHost: gw\r\nContent-Length: 100000\r\n\r\n", status: 413, msg: "request body too large"},
		{name: "TE identity", req: "POST /api/x HTTP/1.1\r\n" + head + "Transfer-Encoding: identity\r\n\r\nabc", status: 400, msg: "invalid transfer encoding"},
		{name: "TE chunked with CL", req: "POST /api/x HTTP/1.1\r\n" + head + "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n", status: 400, msg: "ambiguous request framing"},
		// fasthttp refuses codings it does not know before the edge sees them
		// (the edge would answer 501: TestFramingError).
		{name: "TE gzip, chunked", req: "POST /api/x HTTP/1.1\r\n" + head + "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", status: 400, msg: "bad request"},
		{name: "TE chunked, gzip", req: "POST /api/x HTTP/1.1\r\n" + head + "Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", status: 400},
		{name: "two Content-Lengths", req: "POST /api/x HTTP/1.1\r\n" + head + "Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", status: 400},
		// fasthttp does not take a lone LF as the end of the head: it waits
		// for one, until read_timeout.
		{name: "bare LF line ends", req: "GET /api/x HTTP/1.1\nHost: gw\nConnection: close\n\n", status: 408, msg: "request timeout"},
		// 11.7: a body over max_body is refused from its head alone.
		{name: "Content-Length over max_body", req: "POST /api/x HTTP/1.1\r\n" + head + "Content-Length: 100000\r\n\r\n", status: 413, msg: "request body too large"},
		// 11.1: a parser error never echoes the head.
		{name: "control byte with secrets", req: "GET /api/x HTTP/1.1\r\n" + head + "Cookie: gatehouse=SECRETCOOKIE\r\nAuthorization: Bearer SECRETTOKEN\r\nX-E: \x01\r\n\r\n", status: 400, msg: "bad request"},
		{name: "unknown method", req: "BREW /api/x HTTP/1.1\r\n" + head + "\r\n", status: 501, msg: "method not implemented"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body, _ := exchange(t, "http://"+addr, tt.req, false)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d %q, want %d", resp.StatusCode, body, tt.status)
			}
			if strings.Contains(body, "SECRET") || strings.Contains(strings.Join(resp.Header.Values("X-Request-Id"), ""), "SECRET") {
				t.Fatalf("the answer echoes the request: %q", body)
			}
			if tt.status != 200 {
				checkOwnError(t, body, tt.msg)
				return
			}
			raw := up.take(resp.Header.Get("X-Request-Id"))
			if raw == "" {
				t.Fatalf("the upstream got no request with id %q", resp.Header.Get("X-Request-Id"))
			}
			h := parseHead(t, raw)
			if h.target != tt.path {
				t.Errorf("upstream target %q, want %q", h.target, tt.path)
			}
			checkGatewayFields(t, h, resp.Header.Get("X-Request-Id"), tt.set)
			for _, name := range h.names {
				if forbiddenUpstream(name) {
					t.Errorf("upstream got %s:\n%s", name, raw)
				}
			}
			if tt.check != nil {
				tt.check(t, h)
			}
		})
	}
}

// checkOwnError fails unless body is {"error": m} with m one of gatehouse's
// own messages (and want, when set).
func checkOwnError(t testing.TB, body, want string) {
	t.Helper()
	var e map[string]string
	if err := json.Unmarshal([]byte(body), &e); err != nil || len(e) != 1 {
		t.Fatalf("error body %q is not gatehouse's JSON", body)
	}
	if !slices.Contains(gatehouseMessages, e["error"]) || want != "" && e["error"] != want {
		t.Fatalf("error %q, want %q (one of gatehouse's own)", e["error"], want)
	}
}

// FuzzEdge is the edge's differential fuzz target: random request heads
// through the real server to a raw-socket upstream. Each either gets a clean
// 4xx/5xx with gatehouse's own text, or reaches the upstream on the path it
// was routed by (the canonical form of the one sent), carrying every field
// the gateway sets (once, with its value) and none a client may not send.
func FuzzEdge(f *testing.F) {
	seeds := []struct{ method, path, fields string }{
		{"GET", "/api/x", "X-A: 1"},
		{"GET", "/api/x", "Connection: X-Gateway-Set, X-Forwarded-For\nX-Gateway-Set: evil"},
		{"GET", "/api/admin;x/users", ""},
		{"GET", "/api/x/..%2fadmin/y", "X-Forwarded-Prefix: /e\nX-Forwarded_For: 1.2.3.4"},
		{"POST", "/api/x", "Transfer-Encoding: identity\nContent-Length: 0"},
		{"POST", "/api/x", "Transfer-Encoding: chunked"},
		{"GET", "/api/x", "X-A: a\x01b\nCookie: gatehouse=S"},
		{"GET", "/api/x", "X-A: a\n b"},
		{"GET", "/api/x", "X-HTTP-Method-Override: DELETE\nUpgrade: h2c\nConnection: Upgrade"},
		{"PATCH", "/api/admin/x", "Content-Length: 0"},
	}
	for _, s := range seeds {
		f.Add(s.method, s.path, s.fields)
	}
	addr, up := startHostile(f)
	f.Fuzz(func(t *testing.T, method, path, fields string) {
		if method == "" || len(method) > 16 || strings.ContainsAny(method, " \r\n") ||
			strings.ContainsAny(path, " \r\n") || len(fields) > 4096 {
			return
		}
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		var b strings.Builder
		b.WriteString(method + " " + path + " HTTP/1.1\r\nHost: gw\r\n")
		for line := range strings.SplitSeq(fields, "\n") {
			line = strings.TrimSuffix(line, "\r")
			if line == "" {
				continue // keep one head: an empty line would end it early
			}
			b.WriteString(line + "\r\n")
		}
		b.WriteString("Connection: close\r\n\r\n")
		resp, body, _ := exchange(t, "http://"+addr, b.String(), false)
		if resp.StatusCode != 200 {
			if resp.StatusCode < 400 {
				t.Fatalf("status %d for %q", resp.StatusCode, b.String())
			}
			checkOwnError(t, body, "")
			return
		}
		id := resp.Header.Get("X-Request-Id")
		raw := up.take(id)
		if raw == "" {
			t.Fatalf("200 without an upstream request for %q", b.String())
		}
		h := parseHead(t, raw)
		canon, ok := route.Normalize(nil, []byte(strings.SplitN(path, "?", 2)[0]))
		if !ok {
			t.Fatalf("forwarded a path Normalize refuses: %q", path)
		}
		if got := strings.SplitN(h.target, "?", 2)[0]; got != string(canon) {
			t.Fatalf("routed %q, forwarded %q", canon, got)
		}
		set := "api"
		if route.HasPrefix(canon, "/api/admin") {
			set = "admin"
		}
		checkGatewayFields(t, h, id, set)
		for _, name := range h.names {
			if forbiddenUpstream(name) {
				t.Fatalf("upstream got %s for %q:\n%s", name, b.String(), raw)
			}
		}
	})
}
