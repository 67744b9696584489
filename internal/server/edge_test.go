package server

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/gatehouse-dev/gatehouse/internal/oidc/oidctest"
	"github.com/gatehouse-dev/gatehouse/internal/proxy"
)

// rawUpstream is a loopback upstream on a bare socket: it records the
// request head of every request exactly as it arrived (no HTTP library
// cleans it first), reads the body by its framing, and answers 200 "ok".
type rawUpstream struct {
	url   string
	heads chan string // the latest heads, in order (the oldest dropped when full)
	mu    sync.Mutex
	byID  map[string]string // X-Request-Id → head, until taken by take
}

func newRawUpstream(t testing.TB) *rawUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	u := &rawUpstream{url: "http://" + ln.Addr().String(), heads: make(chan string, 64), byID: map[string]string{}}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go u.serve(c)
		}
	}()
	return u
}

func (u *rawUpstream) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		var head strings.Builder
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			head.WriteString(line)
			if line == "\r\n" {
				break
			}
		}
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(head.String())))
		if err != nil {
			return
		}
		var body io.Reader = io.LimitReader(br, req.ContentLength)
		chunked := slices.Contains(req.TransferEncoding, "chunked")
		if chunked {
			body = httputil.NewChunkedReader(br)
		}
		if _, err := io.Copy(io.Discard, body); err != nil {
			return
		}
		for chunked { // the trailer section, up to its blank line
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			chunked = line != "\r\n"
		}
		u.mu.Lock()
		u.byID[req.Header.Get("X-Request-Id")] = head.String()
		u.mu.Unlock()
		select {
		case u.heads <- head.String():
		default: // a fuzz run forwards more than anyone reads in order
		}
		if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"); err != nil {
			return
		}
	}
}

// take returns (and forgets) the head of the request with the id, or "".
func (u *rawUpstream) take(id string) string {
	u.mu.Lock()
	defer u.mu.Unlock()
	h := u.byID[id]
	delete(u.byID, id)
	return h
}

// forwarded returns the heads the upstream received so far. A forwarded
// request is recorded before the upstream answers, hence before the
// gateway's answer reaches the client.
func (u *rawUpstream) forwarded() []string {
	var out []string
	for {
		select {
		case h := <-u.heads:
			out = append(out, h)
		default:
			return out
		}
	}
}

// fieldValues returns the values of the field name (any case) in a raw head.
func fieldValues(head, name string) []string {
	var out []string
	for _, line := range strings.Split(head, "\r\n")[1:] {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.EqualFold(k, name) {
			out = append(out, strings.Trim(v, " \t"))
		}
	}
	return out
}

// exchange is one raw request on a fresh connection: the response, its
// body, and (when wantClosed) whether the gateway then closed the
// connection. The deadline only keeps a broken gateway from hanging the
// test; nothing is asserted about time.
func exchange(t testing.TB, base, req string, checkClosed bool) (resp *http.Response, body string, closed bool) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err = http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading the response to %q: %v", req, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if checkClosed {
		_, err := br.ReadByte()
		closed = errors.Is(err, io.EOF)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Errorf("the gateway kept the connection of %q open", req)
		}
	}
	return resp, string(b), closed
}

func startEdgeGateway(t *testing.T, trusted string) (*rawUpstream, string) {
	t.Helper()
	api := newRawUpstream(t)
	cfg := loadConfig(t, "edge.yaml", map[string]string{"API": api.url, "TRUSTED": trusted})
	_, base := serve(t, cfg, listen(t))
	return api, base
}

// TestEdgeFraming: requests whose body framing gatehouse does not accept are
// refused with its own text, never forwarded, and their connection closed;
// the accepted spellings of chunked pass.
func TestEdgeFraming(t *testing.T) {
	t.Parallel()
	api, base := startEdgeGateway(t, "192.0.2.0/24")
	const post = "POST /api/x HTTP/1.1\r\nHost: gw\r\n"
	tests := []struct {
		name, req  string
		wantStatus int
		wantError  string // "" for 200
	}{
		{"identity with content-length", post + "Transfer-Encoding: identity\r\nContent-Length: 3\r\n\r\nabc", 400, "ambiguous request framing"},
		{"identity alone", post + "Transfer-Encoding: identity\r\n\r\nGET /api/smuggled HTTP/1.1\r\nHost: gw\r\n\r\n", 400, "invalid transfer encoding"},
		{"IDENTITY alone", post + "transfer-encoding: IDENTITY\r\n\r\n", 400, "invalid transfer encoding"},
		{"chunked and content-length", post + "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n", 400, "ambiguous request framing"},
		{"folded transfer-encoding", post + "Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n", 400, "bad request"},
		{"gzip before chunked", post + "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 400, "bad request"},
		{"chunked not last", post + "Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", 400, "bad request"},
		{"chunked twice", post + "Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 400, "bad request"},
		{"two lines", post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "bad request"},
		{"content-length over max_body", post + "Content-Length: 2048\r\n\r\n" + strings.Repeat("x", 2048), 413, "request body too large"},
		{"chunked in capitals", post + "Transfer-Encoding: CHUNKED \r\n\r\n3\r\nabc\r\n0\r\n\r\n", 200, ""},
		{"chunked after a tab", post + "Transfer-Encoding:\tchunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body, closed := exchange(t, base, tc.req, tc.wantStatus != 200)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status = %d %s, want %d", resp.StatusCode, body, tc.wantStatus)
			}
			got := api.forwarded()
			if tc.wantError == "" {
				if len(got) != 1 || !slices.Equal(fieldValues(got[0], "Transfer-Encoding"), []string{"chunked"}) {
					t.Errorf("upstream got %q, want one chunked request", got)
				}
				return
			}
			if e := errorOf(t, body); e != tc.wantError {
				t.Errorf("error = %q, want %q", e, tc.wantError)
			}
			if len(got) > 0 {
				t.Errorf("a refused request reached the upstream: %q", got)
			}
			if !closed {
				t.Error("the connection stayed open after a refused framing")
			}
		})
	}
}

// TestEdgeBodyTooLargeFromHead: a Content-Length over max_body is answered
// 413 from the head alone, before any body byte is sent (before, fasthttp
// waited for the body and the client got a 408 after read_timeout), and an
// Expect: 100-continue gets no 100 Continue first.
func TestEdgeBodyTooLargeFromHead(t *testing.T) {
	t.Parallel()
	api, base := startEdgeGateway(t, "192.0.2.0/24")
	for _, tc := range []struct{ name, extra string }{
		{"plain", ""},
		{"expect 100-continue", "Expect: 100-continue\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := "POST /api/upload HTTP/1.1\r\nHost: gw\r\nContent-Length: 104857600\r\n" + tc.extra + "\r\n"
			resp, body, closed := exchange(t, base, req, true) // the head only; the body never comes
			if resp.StatusCode != fiber.StatusRequestEntityTooLarge || errorOf(t, body) != "request body too large" {
				t.Fatalf("status = %d %s, want 413 request body too large", resp.StatusCode, body)
			}
			if !closed {
				t.Error("the connection stayed open: the unread body would be read as the next request")
			}
			if got := api.forwarded(); len(got) > 0 {
				t.Errorf("upstream got %q", got)
			}
		})
	}
}

// TestEdgeConnectionAndForwarding: the fields a client names in Connection
// are removed before the gateway sets its own, so naming a gateway field
// removes nothing the gateway set; from an untrusted peer the whole
// forwarding family is dropped (the gateway's own X-Forwarded-For/-Proto/
// -Host and a plugin's X-Forwarded-Prefix and X-Real-Ip arrive); from a
// trusted proxy it passes.
func TestEdgeConnectionAndForwarding(t *testing.T) {
	t.Parallel()
	forged := []string{
		"X-Forwarded-Port", "X-Forwarded-Ssl", "X-Forwarded-Scheme", "X-Forwarded-Server", "x-forwarded-uri",
		"X-Original-URL", "X-Rewrite-URL", "Forwarded", "X-Original-Host", "True-Client-IP",
	}
	req := "GET /api/x HTTP/1.1\r\nHost: gw\r\n" +
		"Connection: X-User-Id, X-Request-Id, X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Host, " +
		"X-Forwarded-Prefix, X-Real-Ip, X-Own, Host\r\n" +
		"X-Request-Id: rid-edge-1\r\nX-Own: mine\r\nX-User-Id: forged\r\n" +
		"X-Forwarded-Prefix: /evil\r\nX-Real-IP: 6.6.6.6\r\n"
	for _, name := range forged {
		req += name + ": evil\r\n"
	}
	req += "\r\n"
	tests := []struct {
		name, trusted string
		want          map[string]string // "" means absent
		forgedKept    bool
	}{
		{
			name: "untrusted peer", trusted: "192.0.2.0/24",
			want: map[string]string{
				"X-User-Id": "u-1", "X-Request-Id": "rid-edge-1", "X-Forwarded-For": "127.0.0.1",
				"X-Forwarded-Proto": "http", "X-Forwarded-Host": "gw.test", "X-Forwarded-Prefix": "/api",
				"X-Real-Ip": "127.0.0.1", "X-Own": "",
			},
		},
		{
			name: "trusted proxy", trusted: "127.0.0.1/32", forgedKept: true,
			want: map[string]string{
				"X-User-Id": "u-1", "X-Request-Id": "rid-edge-1", "X-Forwarded-For": "127.0.0.1",
				"X-Forwarded-Proto": "http", "X-Forwarded-Host": "gw", "X-Forwarded-Prefix": "/api",
				"X-Own": "",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			api, base := startEdgeGateway(t, tc.trusted)
			resp, body, _ := exchange(t, base, req, false)
			if resp.StatusCode != 200 {
				t.Fatalf("status = %d %s, want 200", resp.StatusCode, body)
			}
			got := api.forwarded()
			if len(got) != 1 {
				t.Fatalf("upstream got %d requests, want 1", len(got))
			}
			head := got[0]
			for name, want := range tc.want {
				if v := strings.Join(fieldValues(head, name), ", "); v != want {
					t.Errorf("upstream %s = %q, want %q", name, v, want)
				}
			}
			if len(fieldValues(head, "Host")) != 1 {
				t.Errorf("upstream Host = %q, want one (a nomination never removes Host)", fieldValues(head, "Host"))
			}
			for _, name := range forged {
				v := fieldValues(head, name)
				if kept := slices.Equal(v, []string{"evil"}); kept != tc.forgedKept {
					t.Errorf("upstream %s = %q, want kept = %v", name, v, tc.forgedKept)
				}
			}
			for _, name := range []string{"Connection", "Keep-Alive", "Te", "Upgrade"} {
				if v := fieldValues(head, name); len(v) > 0 {
					t.Errorf("upstream %s = %q, want none", name, v)
				}
			}
		})
	}
}

// TestEdgeConnectionClose: removing Connection at the edge keeps what it
// says about the client's connection: close closes it after the response
// (with Connection: close), an HTTP/1.0 keep-alive keeps it open for the
// next request.
func TestEdgeConnectionClose(t *testing.T) {
	t.Parallel()
	api, base := startEdgeGateway(t, "192.0.2.0/24")
	resp, _, closed := exchange(t, base, "GET /api/x HTTP/1.1\r\nHost: gw\r\nConnection: close, X-Own\r\nX-Own: o\r\n\r\n", true)
	if resp.StatusCode != 200 || !resp.Close || !closed {
		t.Errorf("Connection: close → %d, response close %v, connection closed %v; want 200, both", resp.StatusCode, resp.Close, closed)
	}
	if got := api.forwarded(); len(got) != 1 || len(fieldValues(got[0], "Connection"))+len(fieldValues(got[0], "X-Own")) != 0 {
		t.Errorf("upstream got %q, want one request without Connection or X-Own", got)
	}

	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second)) // a hang guard only
	br := bufio.NewReader(conn)
	for i := range 2 {
		if _, err := io.WriteString(conn, "GET /api/x HTTP/1.0\r\nHost: gw\r\nConnection: keep-alive\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("HTTP/1.0 keep-alive request #%d: %v", i, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Close {
			t.Fatalf("HTTP/1.0 keep-alive request #%d = %d close %v, want 200 kept alive", i, resp.StatusCode, resp.Close)
		}
	}
}

// TestEdgeSessionFields: with a real session, a client naming the gateway's
// fields in Connection removes none of them (Authorization from the session,
// the headers plugin's X-User-Id from the claim, X-Request-Id,
// X-Forwarded-*), and the session cookie is cut from every Cookie line while
// the other cookies arrive byte for byte and in order.
func TestEdgeSessionFields(t *testing.T) {
	t.Parallel()
	ln := listen(t)
	public := "http://" + ln.Addr().String()
	op := oidctest.Start(t, oidctest.Options{RedirectURIs: []string{public + "/auth/callback"}})
	api := newRecorder(t)
	cfg := loadConfig(t, "fullstack.yaml", map[string]string{
		"PUBLIC": public, "ISSUER": op.Issuer, "SECRET": op.ClientSecret, "API": api.URL})
	serve(t, cfg, ln)
	b := newBrowser(t, public)
	b.waitReady()
	sc := b.login(op, "/")
	session := sc.Name + "=" + sc.Value

	req := "GET /api/orders HTTP/1.1\r\nHost: gw\r\nX-CSRF: 1\r\nX-Request-Id: rid-edge-2\r\n" +
		"Connection: close, Authorization, X-User-Id, X-Request-Id, X-Forwarded-For, X-Forwarded-Host, X-Forwarded-Proto, Cookie\r\n" +
		"Authorization: Bearer forged\r\nX-User-Id: mallory\r\n" +
		`Cookie: a=1; ` + session + `; j={"a":1,"b":2}` + "\r\n" +
		`Cookie: q="a b";x="y; ` + session + `"` + "\r\n" +
		"Cookie: " + session + "\r\n\r\n"
	resp, body, _ := exchange(t, public, req, false)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /api/orders = %d %s, want 200", resp.StatusCode, body)
	}
	h, _ := api.last()
	token := strings.TrimPrefix(h.Get("Authorization"), "Bearer ")
	if len(h.Values("Authorization")) != 1 || token == "forged" || strings.Count(token, ".") != 2 {
		t.Errorf("upstream Authorization = %q, want the session's token", h.Values("Authorization"))
	}
	checks := map[string][]string{
		"X-User-Id":         {op.User.Subject},
		"X-Request-Id":      {"rid-edge-2"},
		"X-Forwarded-For":   {"127.0.0.1"},
		"X-Forwarded-Proto": {"http"},
		"X-Forwarded-Host":  {strings.TrimPrefix(public, "http://")},
		"Cookie":            {`a=1; j={"a":1,"b":2}`, `q="a b";x="y`},
	}
	for name, want := range checks {
		if got := h.Values(name); !slices.Equal(got, want) {
			t.Errorf("upstream %s = %q, want %q", name, got, want)
		}
	}
	for _, v := range h.Values("Cookie") {
		if strings.Contains(v, sc.Value) {
			t.Errorf("upstream Cookie %q holds the session cookie's value", v)
		}
	}
}

// TestFramingError covers framingError's verdicts on raw header blocks,
// including codings fasthttp itself already refuses before a handler runs.
func TestFramingError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, fields string
		want         error
	}{
		{"no body", "", nil},
		{"content-length", "Content-Length: 1024\r\n", nil},
		{"content-length over", "Content-Length: 1025\r\n", errBodyTooLarge},
		{"content-length huge", "Content-Length: 99999999999999999999999\r\n", errBodyTooLarge},
		{"chunked", "Transfer-Encoding: chunked\r\n", nil},
		{"identity", "Transfer-Encoding: identity\r\n", errInvalidTransferEncoding},
		{"gzip, chunked", "Transfer-Encoding: gzip, chunked\r\n", errUnsupportedTransferEncoding},
		{"gzip and chunked lines", "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n", errUnsupportedTransferEncoding},
		{"chunked, gzip", "Transfer-Encoding: chunked, gzip\r\n", errInvalidTransferEncoding},
		{"chunked twice", "Transfer-Encoding: chunked\r\ntransfer-encoding: Chunked\r\n", errInvalidTransferEncoding},
		{"empty", "Transfer-Encoding: ,\r\n", errInvalidTransferEncoding},
		{"with content-length", "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n", errAmbiguousFraming},
		{"folded", "X-A: 1\r\n 2\r\n", errFoldedHeader},
		{"field name with a space", "X-User Id: 1\r\n", errBadFieldName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := "Host: gw\r\n" + tt.fields + "\r\n"
			if got := framingError([]byte(raw), 1024); got != tt.want {
				t.Errorf("framingError(%q) = %v, want %v", raw, got, tt.want)
			}
		})
	}
}

// BenchmarkEdgeRules: the edge's work on a browser's request head (which
// always carries Connection: keep-alive) allocates nothing.
func BenchmarkEdgeRules(b *testing.B) {
	const head = "GET /api/orders?x=1 HTTP/1.1\r\nHost: app.example\r\nConnection: keep-alive\r\n" +
		"User-Agent: Mozilla/5.0\r\nAccept: application/json\r\nX-CSRF: 1\r\nAccept-Language: en\r\n" +
		"Cookie: theme=dark; gatehouse=abc\r\nSec-Fetch-Mode: cors\r\n\r\n"
	var in fasthttp.RequestHeader
	if err := in.Read(bufio.NewReader(strings.NewReader(head))); err != nil {
		b.Fatal(err)
	}
	var h fasthttp.RequestHeader
	b.ReportAllocs()
	for b.Loop() {
		in.CopyTo(&h)
		if err := framingError(h.RawHeaders(), 10<<20); err != nil {
			b.Fatal(err)
		}
		proxy.StripClientRequest(&h, false)
	}
}
