package proxy

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/gatehouse-dev/gatehouse/internal/clientip"
	"github.com/gatehouse-dev/gatehouse/internal/hopbyhop"
)

// rawUpstream answers every request on its connections with the literal
// response resp and sends the request head it read on got.
func rawUpstream(t *testing.T, resp string) (addr string, got <-chan http.Header) {
	t.Helper()
	ch := make(chan http.Header, 10)
	addr = serveTCP(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, req.Body)
			h := req.Header.Clone()
			// net/http moves these out of Header; put them back for the checks.
			if len(req.TransferEncoding) > 0 {
				h.Set("Transfer-Encoding", strings.Join(req.TransferEncoding, ", "))
			}
			if req.Close {
				h.Set("Connection", "close")
			}
			ch <- h
			if _, err := io.WriteString(c, resp); err != nil {
				return
			}
		}
	})
	return addr, ch
}

// forwardRaw sends the raw request through a gateway to a raw upstream and
// returns the request header the upstream received.
func forwardRaw(t *testing.T, opts Options, raw string) http.Header {
	t.Helper()
	addr, got := rawUpstream(t, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	gw := newGateway(t, route1("r", "/", "http://"+addr), opts)
	if resp := rawRequest(t, gw.url, raw); !strings.HasPrefix(resp, "200") {
		t.Fatalf("response = %q, want 200", resp)
	}
	return <-got
}

func TestHopByHopRequestHeaders(t *testing.T) {
	t.Parallel()
	raw := "GET /x HTTP/1.1\r\nHost: gw\r\n" +
		"Connection: keep-alive, X-Secret, x-other\r\n" +
		"X-Secret: s\r\nX-Other: o\r\nX-Kept: k\r\n" +
		"Keep-Alive: timeout=5\r\nTE: trailers\r\nTrailer: X-T\r\nUpgrade: websocket\r\n" +
		"Proxy-Connection: keep-alive\r\nProxy-Authorization: Basic Zm9vOmJhcg==\r\n" +
		"Proxy-Authenticate: Basic\r\n\r\n"
	h := forwardRaw(t, Options{}, raw)
	for _, name := range []string{
		"Connection", "X-Secret", "X-Other", "Keep-Alive", "Te", "Trailer", "Upgrade",
		"Proxy-Connection", "Proxy-Authorization", "Proxy-Authenticate", "Transfer-Encoding",
	} {
		if v := h.Values(name); len(v) > 0 {
			t.Errorf("upstream got %s: %q, want it removed", name, v)
		}
	}
	if h.Get("X-Kept") != "k" {
		t.Errorf("upstream X-Kept = %q, want %q", h.Get("X-Kept"), "k")
	}
}

func TestHopByHopResponseHeaders(t *testing.T) {
	t.Parallel()
	addr, _ := rawUpstream(t, "HTTP/1.1 200 OK\r\n"+
		"Connection: X-Internal\r\nX-Internal: secret\r\nX-Kept: k\r\n"+
		"Keep-Alive: timeout=5\r\nProxy-Authenticate: Basic\r\nUpgrade: h2c\r\n"+
		"Proxy-Connection: keep-alive\r\nTrailer: X-T\r\n"+
		"Content-Length: 2\r\n\r\nok")
	gw := newGateway(t, route1("r", "/", "http://"+addr), Options{})
	resp, body := get(t, gw.url+"/")
	if resp.StatusCode != http.StatusOK || string(body) != "ok" {
		t.Fatalf("GET / = %d %q, want 200 ok", resp.StatusCode, body)
	}
	for _, name := range []string{"X-Internal", "Keep-Alive", "Proxy-Authenticate", "Upgrade", "Proxy-Connection", "Trailer"} {
		if v := resp.Header.Values(name); len(v) > 0 {
			t.Errorf("client got %s: %q, want it removed", name, v)
		}
	}
	if resp.Header.Get("X-Kept") != "k" {
		t.Errorf("client X-Kept = %q, want %q", resp.Header.Get("X-Kept"), "k")
	}
}

func TestClientConnectionCloseNotForwarded(t *testing.T) {
	t.Parallel()
	h := forwardRaw(t, Options{}, "GET / HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n")
	if h.Get("Connection") != "" {
		t.Errorf("upstream Connection = %q, want none (the upstream connection is kept alive)", h.Get("Connection"))
	}
}

// TestStaleKeepAliveRetried: an upstream that closes each connection after
// one response without saying so leaves a dead connection in the pool; the
// next GET fails on it and must be retried once on a fresh connection.
func TestStaleKeepAliveRetried(t *testing.T) {
	t.Parallel()
	addr := serveTCP(t, func(c net.Conn) {
		if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
			return
		}
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	})
	gw := newGateway(t, route1("r", "/", "http://"+addr), Options{})
	for i := range 3 {
		if resp, body := get(t, gw.url+"/"); resp.StatusCode != http.StatusOK {
			t.Fatalf("GET #%d = %d %s, want 200 (stale pooled connection retried)", i, resp.StatusCode, body)
		}
	}
}

// TestDuplicateForwardedHeadersReplaced: a client repeating a header line
// must not slip a second value past the replacement.
func TestDuplicateForwardedHeadersReplaced(t *testing.T) {
	t.Parallel()
	raw := "GET / HTTP/1.1\r\nHost: gw\r\n" +
		"X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-For: 7.7.7.7\r\n" +
		"X-Forwarded-Proto: https\r\nX-Forwarded-Proto: https\r\n" +
		"X-Forwarded-Host: a.example\r\nX-Forwarded-Host: b.example\r\n" +
		"X-Request-Id: one\r\nX-Request-Id: two\r\n\r\n"
	h := forwardRaw(t, Options{}, raw)
	want := map[string]string{
		"X-Forwarded-For":   "127.0.0.1",
		"X-Forwarded-Proto": "http",
		"X-Forwarded-Host":  "gw",
		"X-Request-Id":      "one",
	}
	for k, w := range want {
		if v := strings.Join(h.Values(k), ", "); v != w {
			t.Errorf("upstream %s = %q, want %q", k, v, w)
		}
	}
}

// TestAuthorizationFromIdentity: with an identity the upstream gets exactly
// the gateway's Bearer token, whatever the client sent; without one the
// client's Authorization passes.
func TestAuthorizationFromIdentity(t *testing.T) {
	t.Parallel()
	up := newRecorder(t, "u")
	gw := newGateway(t, route1("r", "/", up.srv.URL), Options{})
	tests := []struct {
		name, identity string
		client         []string
		want           []string
	}{
		{"identity replaces every client line", "tok-1", []string{"Bearer forged", "Bearer forged2"}, []string{"Bearer tok-1"}},
		{"identity without a client header", "tok-2", nil, []string{"Bearer tok-2"}},
		{"no identity: the client's passes", "", []string{"Basic dXNlcjpwdw=="}, []string{"Basic dXNlcjpwdw=="}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, gw.url+"/", nil)
			for _, v := range tt.client {
				req.Header.Add("Authorization", v)
			}
			if tt.identity != "" {
				req.Header.Set("X-Test-Identity-Token", tt.identity)
			}
			if resp, body := do(t, req); resp.StatusCode != http.StatusOK {
				t.Fatalf("GET / = %d %s", resp.StatusCode, body)
			}
			if got := up.last(t).header.Values("Authorization"); !slices.Equal(got, tt.want) {
				t.Errorf("upstream Authorization = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestAbsoluteFormUserinfoNotForwarded: the userinfo of an absolute-form
// request target (GET http://user:pw@host/path) is no header. fasthttp would
// send it as "Authorization: Basic" whenever the request has none, after the
// proxy's rules ran (a plugin that removes Authorization would see it come
// back). The upstream gets the target's path and query only, and exactly
// the Authorization the request carries.
func TestAbsoluteFormUserinfoNotForwarded(t *testing.T) {
	t.Parallel()
	up := newRecorder(t, "u")
	gw := newGateway(t, route1("r", "/", up.srv.URL), Options{})
	tests := []struct {
		name, fields string
		want         []string
	}{
		{"none", "", nil},
		{"the identity's", "X-Test-Identity-Token: tok-1\r\n", []string{"Bearer tok-1"}},
		{"the client's", "Authorization: Bearer own\r\n", []string{"Bearer own"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := "GET http://user:pw@gw/p?q=1 HTTP/1.1\r\nHost: gw\r\n" + tt.fields + "Connection: close\r\n\r\n"
			if resp := rawRequest(t, gw.url, raw); !strings.HasPrefix(resp, "200") {
				t.Fatalf("GET = %q, want 200", resp)
			}
			got := up.last(t)
			if got.uri != "/p?q=1" {
				t.Errorf("upstream request-target = %q, want %q", got.uri, "/p?q=1")
			}
			if auth := got.header.Values("Authorization"); !slices.Equal(auth, tt.want) {
				t.Errorf("upstream Authorization = %q, want %q", auth, tt.want)
			}
		})
	}
}

// hopByHopSample returns a header line (or lines) of the hop-by-hop field
// name, and the framing line and body that keep a message carrying it well
// framed.
func hopByHopSample(name string) (lines, framing, body string) {
	switch name {
	case "Connection":
		return "Connection: X-Secret\r\nX-Secret: s", "Content-Length: 2\r\n", "ok"
	case "Transfer-Encoding":
		return "Transfer-Encoding: chunked", "", "2\r\nok\r\n0\r\n\r\n"
	}
	return name + ": v", "Content-Length: 2\r\n", "ok"
}

// TestHopByHopFieldsDropped: each field of the hop-by-hop table, sent alone,
// is found by the one-pass scan and never crosses the proxy: not from a
// client to the upstream, not from the upstream to the client.
func TestHopByHopFieldsDropped(t *testing.T) {
	t.Parallel()
	for _, name := range hopbyhop.Fields {
		lines, framing, body := hopByHopSample(name)
		t.Run("request "+name, func(t *testing.T) {
			h := forwardRaw(t, Options{}, "POST /x HTTP/1.1\r\nHost: gw\r\n"+framing+lines+"\r\n\r\n"+body)
			for _, n := range []string{name, "X-Secret"} {
				if n == "Transfer-Encoding" && slices.Equal(h.Values(n), []string{"chunked"}) {
					continue // the proxy's own framing of the upstream request
				}
				if v := h.Values(n); len(v) > 0 {
					t.Errorf("upstream got %s: %q, want it removed", n, v)
				}
			}
		})
		t.Run("response "+name, func(t *testing.T) {
			addr, _ := rawUpstream(t, "HTTP/1.1 200 OK\r\n"+framing+lines+"\r\n\r\n"+body)
			gw := newGateway(t, route1("r", "/", "http://"+addr), Options{})
			// net/http's reader keeps every field but Transfer-Encoding
			// (which would be the gateway's own framing anyway) and
			// Connection: close.
			resp := rawRequest(t, gw.url, "GET / HTTP/1.1\r\nHost: gw\r\n\r\n")
			status, head, _ := strings.Cut(resp, "\n")
			if !strings.HasPrefix(status, "200 ") {
				t.Fatalf("response %q, want 200", resp)
			}
			for line := range strings.SplitSeq(head, "\r\n") {
				n, _, _ := strings.Cut(line, ":")
				if strings.EqualFold(n, name) || strings.EqualFold(n, "X-Secret") {
					t.Errorf("client got %q, want it removed", line)
				}
			}
		})
	}
}

func TestUnderscoredRequestHeadersDropped(t *testing.T) {
	t.Parallel()
	h := forwardRaw(t, Options{}, "GET /x HTTP/1.1\r\nHost: gw\r\n"+
		"X-Forwarded_For: 6.6.6.6\r\nX_Real_IP: 6.6.6.6\r\nx_user_id: admin\r\nX-Kept: k\r\n\r\n")
	for k, v := range h {
		if strings.Contains(k, "_") {
			t.Errorf("upstream got %s: %q, want every underscored field dropped", k, v)
		}
	}
	if h.Get("X-Kept") != "k" {
		t.Errorf("upstream X-Kept = %q, want %q", h.Get("X-Kept"), "k")
	}
}

// The names classify and SetCanonical use must be the form fasthttp stores,
// or a client's field would be missed and a second line would slip through.
func TestCanonicalNames(t *testing.T) {
	t.Parallel()
	for _, k := range [][]byte{keyXForwardedFor, keyXForwardedProto, keyXForwardedHost, keyXRequestID, keyAuthorization} {
		var h fasthttp.RequestHeader
		h.SetBytesKV(bytes.ToLower(k), []byte("v"))
		for name := range h.All() {
			if string(name) != string(k) {
				t.Errorf("fasthttp stores %q as %q", k, name)
			}
		}
	}
	names := append(hopbyhop.Fields[:], "Expect", "Forwarded", "X-Real-Ip", "X-Forwarded-For",
		"X-Forwarded-Proto", "X-Forwarded-Host", "X-Request-Id", "Authorization", "X-Forwarded-Prefix",
		"X-Original-Url", "X-Rewrite-Url", "X-Original-Uri", "X-Original-Host", "X-Original-Method",
		"X-Original-Forwarded-For", "X-Host", "Front-End-Https", "X-Url-Scheme", "Client-Ip", "X-Client-Ip",
		"True-Client-Ip", "X-Cluster-Client-Ip", "Cf-Connecting-Ip")
	for _, name := range names {
		if name == fiber.HeaderTransferEncoding {
			continue // fasthttp frames the body itself and never lists it
		}
		for _, spelling := range []string{name, strings.ToLower(name), strings.ToUpper(name)} {
			var h fasthttp.RequestHeader
			h.Set(spelling, "v")
			if scanRequest(&h) == 0 {
				t.Errorf("a client's %q is not found by scanRequest", spelling)
			}
		}
	}
}

// TestConnectionCannotRemoveGatewayFields (Traefik CVE-2024-45410): the
// fields a client's Connection names are removed before the gateway sets
// its own, so naming one never removes the gateway's; the client's own
// nominated fields are still removed, and Host, Content-Length and Cookie
// are never removed by a nomination.
func TestConnectionCannotRemoveGatewayFields(t *testing.T) {
	t.Parallel()
	up := newRecorder(t, "u")
	gw := newGateway(t, route1("r", "/", up.srv.URL), Options{PublicURL: &url.URL{Scheme: "https", Host: "app.example"}})
	req, _ := http.NewRequest(http.MethodPost, gw.url+"/x", strings.NewReader("body"))
	req.Header.Set("Connection", "X-User-Id, Authorization, X-Request-Id, X-Forwarded-For, X-Forwarded-Proto, "+
		"X-Forwarded-Host, X-Own, Host, Content-Length, Cookie")
	req.Header.Set("X-Own", "client")
	req.Header.Set("Cookie", "a=1")
	req.Header.Set("X-Test-Plugin-Set", "X-User-Id: alice")
	req.Header.Set("X-Test-Identity-Token", "tok")
	req.Header.Set("X-Test-Locals-Id", "rid-1")
	if resp, body := do(t, req); resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /x = %d %s", resp.StatusCode, body)
	}
	got := up.last(t)
	want := map[string]string{
		"X-User-Id": "alice", "Authorization": "Bearer tok", "X-Request-Id": "rid-1",
		"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "app.example",
		"Cookie": "a=1", "X-Own": "",
	}
	for k, w := range want {
		if v := strings.Join(got.header.Values(k), ", "); v != w {
			t.Errorf("upstream %s = %q, want %q", k, v, w)
		}
	}
	if string(got.body) != "body" || got.host == "" {
		t.Errorf("upstream body %q host %q, want the body and a Host", got.body, got.host)
	}
}

// TestForwardingFieldsFromUntrustedPeers: from a peer that is not a trusted
// proxy the whole forwarding family is dropped (X-Forwarded-For, -Proto and
// -Host are then the gateway's own); from a trusted proxy it passes. A field
// of the family that the gateway sets itself (a headers plugin) reaches the
// upstream from any peer.
func TestForwardingFieldsFromUntrustedPeers(t *testing.T) {
	t.Parallel()
	sent := []string{
		"X-Forwarded-Prefix", "X-Forwarded-Port", "X-Forwarded-Ssl", "X-Forwarded-Scheme", "X-Forwarded-Server",
		"x-forwarded-uri", "X-FORWARDED-METHOD", "Forwarded", "X-Real-IP", "X-Original-URL", "X-Rewrite-URL",
		"X-Original-URI", "X-Original-Host", "X-Host", "Front-End-Https", "X-Url-Scheme", "True-Client-IP",
		"X-Client-IP", "Client-IP", "X-Cluster-Client-IP", "CF-Connecting-IP",
	}
	for _, tc := range []struct {
		name    string
		trusted []netip.Prefix
		kept    bool
	}{
		{"untrusted peer", nil, false},
		{"trusted proxy", []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := Options{}
			if tc.trusted != nil {
				opts.TrustedProxies = clientip.New(tc.trusted)
			}
			raw := "GET /x HTTP/1.1\r\nHost: gw\r\nX-Test-Plugin-Set: X-Forwarded-Prefix: /set-by-gateway\r\n"
			for _, name := range sent {
				if name != "X-Forwarded-Prefix" {
					raw += name + ": evil\r\n"
				}
			}
			h := forwardRaw(t, opts, raw+"X-Forwarded-Prefix: /evil\r\nX-Kept: k\r\n\r\n")
			for _, name := range sent {
				v := h.Values(name)
				switch {
				case name == "X-Forwarded-Prefix":
					if strings.Join(v, ", ") != "/set-by-gateway" {
						t.Errorf("upstream %s = %q, want only the gateway's %q", name, v, "/set-by-gateway")
					}
				case tc.kept && (len(v) != 1 || v[0] != "evil"):
					t.Errorf("upstream %s = %q from a trusted proxy, want it kept", name, v)
				case !tc.kept && len(v) > 0:
					t.Errorf("upstream %s = %q from an untrusted peer, want it dropped", name, v)
				}
			}
			if h.Get("X-Kept") != "k" {
				t.Errorf("upstream X-Kept = %q, want %q", h.Get("X-Kept"), "k")
			}
		})
	}
}
