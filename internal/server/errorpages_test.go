package server

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Request headers as a browser sends them for a top-level navigation, and
// as fetch() sends them (the example SPA's api()).
var (
	navigate = []string{"Sec-Fetch-Mode", "navigate", "Sec-Fetch-Dest", "document",
		"Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
	fetchJSON = []string{"Sec-Fetch-Mode", "cors", "Sec-Fetch-Dest", "empty", "Accept", "application/json"}
)

// errorPagesGateway serves testdata/errorpages.yaml: an IdP that is down, an
// upstream that answers, one that refuses connections and one that hangs.
// pages, when set, is server.error_pages.
func errorPagesGateway(t *testing.T, pages string) *browser {
	t.Helper()
	api := newUpstream(t, "api")
	slow := hangingUpstream(t)
	env := map[string]string{"API": api.URL, "SLOW": slow, "DOWN": closedAddr(t), "ISSUER": closedAddr(t), "PAGES": pages}
	ln := listen(t)
	_, base := serve(t, loadConfig(t, "errorpages.yaml", env), ln)
	return newBrowser(t, base)
}

// closedAddr returns an http:// URL where nothing listens.
func closedAddr(t *testing.T) string {
	ln := listen(t)
	addr := "http://" + ln.Addr().String()
	_ = ln.Close()
	return addr
}

// hangingUpstream accepts requests and answers none until the test ends.
func hangingUpstream(t *testing.T) string {
	ln := listen(t)
	done := make(chan struct{})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { <-done; c.Close() }()
		}
	}()
	t.Cleanup(func() { close(done); ln.Close() })
	return "http://" + ln.Addr().String()
}

// TestErrorPagesNegotiated: every kind of error a browser can navigate into
// gets an HTML page with its status, its sentence and the right link; the
// same request from fetch() gets JSON; headers an error keeps stay.
func TestErrorPagesNegotiated(t *testing.T) {
	t.Parallel()
	b := errorPagesGateway(t, "")
	b.do("GET", "/limited/x", fetchJSON...) // spends the only token: the next one is 429
	for _, tt := range []struct {
		name, method, path string
		body               int // bytes of request body
		status             int
		sentence, link     string
		keep               string // a header the answer must keep
	}{
		{"no route", "GET", "/nope.txt", 0, 404, "There is nothing at this address.", `href="/">Go to the start page`, ""},
		{"session required", "GET", "/private/orders", 0, 401, "You need to log in to see this page.",
			`href="/auth/login?returnTo=%2Fprivate%2Forders">Log in`, ""},
		{"rate limited", "GET", "/limited/x", 0, 429, "too many requests in a short time", `href="/limited/x">Try again`, "Retry-After"},
		{"method", "DELETE", "/getonly/x", 0, 405, "This page cannot be used this way.", `href="/">Go to the start page`, "Allow"},
		{"body too large", "POST", "/private/x", 5000, 413, "larger than this site accepts", `href="/">`, ""},
		{"upstream refused", "GET", "/down/a/b", 0, 502, "did not answer properly", `href="/down/a/b">Try again`, ""},
		{"upstream timeout", "GET", "/slow", 0, 504, "took too long to answer", `href="/slow">Try again`, ""},
		{"IdP down at login", "GET", "/auth/login?returnTo=/orders%3Fx%3D1", 0, 503, "not available right now",
			`href="/auth/login?returnTo=%2Forders%3Fx%3D1">Try again`, ""},
		{"IdP down at login, unsafe returnTo", "GET", "/auth/login?returnTo=//evil.example", 0, 503, "not available right now",
			`href="/auth/login">Try again`, ""},
		{"expired or foreign login", "GET", "/auth/callback?state=abc&code=def", 0, 400, "Please log in again.",
			`href="/auth/login">Log in`, ""},
		{"refused at the IdP", "GET", "/auth/callback?error=access_denied&state=abc", 0, 401, "Please log in again.",
			`href="/auth/login">Log in`, ""},
		{"unknown auth endpoint", "GET", "/auth/nope", 0, 404, "There is nothing at this address.", `href="/">`, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp := send(t, b, tt.method, tt.path, tt.body, navigate)
			page := bodyOf(resp)
			h := resp.Header
			if resp.StatusCode != tt.status || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
				t.Fatalf("navigation = %d %s, want %d text/html:\n%s", resp.StatusCode, h.Get("Content-Type"), tt.status, page)
			}
			for _, want := range []string{fmt.Sprintf("<title>%d ", tt.status), "<h1>", tt.sentence, tt.link, `<html lang="en">`} {
				if !strings.Contains(page, want) {
					t.Errorf("page lacks %q:\n%s", want, page)
				}
			}
			for name, want := range map[string]string{
				"Cache-Control":           "no-store",
				"X-Content-Type-Options":  "nosniff",
				"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
			} {
				if got := h.Get(name); got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
			if tt.keep != "" && h.Get(tt.keep) == "" {
				t.Errorf("the page lost %s (headers %v)", tt.keep, h)
			}
			if id := h.Get("X-Request-Id"); id == "" || !strings.Contains(page, id) {
				t.Errorf("page does not name its request id %q", id)
			}

			resp = send(t, b, tt.method, tt.path, tt.body, fetchJSON)
			body := bodyOf(resp)
			if resp.StatusCode != tt.status || resp.Header.Get("Content-Type") != "application/json" || errorOf(t, body) == "" {
				t.Errorf("fetch = %d %s %s, want %d JSON", resp.StatusCode, resp.Header.Get("Content-Type"), body, tt.status)
			}
			if tt.keep != "" && resp.Header.Get(tt.keep) == "" {
				t.Errorf("the JSON answer lost %s", tt.keep)
			}
		})
	}
}

// send makes a request through b's client with a body of size bytes.
func send(t *testing.T, b *browser, method, path string, size int, headers []string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, b.base+path, strings.NewReader(strings.Repeat("x", size)))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := b.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// TestErrorPagesAccept: without Sec-Fetch headers (older browsers, other
// clients), Accept decides; the tie and every wildcard go to JSON.
func TestErrorPagesAccept(t *testing.T) {
	t.Parallel()
	b := errorPagesGateway(t, "")
	for _, tt := range []struct {
		name    string
		headers []string
		html    bool
	}{
		{"browser Accept", []string{"Accept", "text/html,application/xhtml+xml,*/*;q=0.8"}, true},
		{"no Accept", nil, false},
		{"curl */*", []string{"Accept", "*/*"}, false},
		{"json", []string{"Accept", "application/json"}, false},
		{"tie", []string{"Accept", "application/json, text/html"}, false},
		{"html below json", []string{"Accept", "text/html;q=0.4, application/json"}, false},
		{"text/*", []string{"Accept", "text/*"}, true},
		{"fetch with a browser Accept", []string{"Sec-Fetch-Mode", "cors", "Accept", "text/html"}, false},
		{"same-origin fetch", []string{"Sec-Fetch-Mode", "same-origin", "Accept", "text/html"}, false},
		{"navigation with a JSON Accept", []string{"Sec-Fetch-Mode", "navigate", "Accept", "application/json"}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp := b.do("GET", "/nope.txt", tt.headers...)
			body := bodyOf(resp)
			html := strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html")
			if resp.StatusCode != 404 || html != tt.html {
				t.Errorf("= %d %s, want 404 with html=%v:\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), tt.html, body)
			}
			if !html && errorOf(t, body) != "not found" {
				t.Errorf("JSON body %s", body)
			}
			if !strings.Contains(resp.Header.Get("Vary"), "Sec-Fetch-Mode") {
				t.Errorf("Vary = %q, want Accept, Sec-Fetch-Mode", resp.Header.Get("Vary"))
			}
		})
	}
}

// TestErrorPagesHoldNothingFromTheRequest: a path full of markup and quotes,
// sent byte for byte, never reaches the page, escaped or not: links fall
// back to the start page and the login without returnTo.
func TestErrorPagesHoldNothingFromTheRequest(t *testing.T) {
	t.Parallel()
	b := errorPagesGateway(t, "")
	addr := strings.TrimPrefix(b.base, "http://")
	const evil = `/<script>alert("pwned")</script>'x`
	for _, tt := range []struct {
		prefix string
		status int
		link   string
	}{
		{"", 404, `href="/">Go to the start page`},
		{"/private", 401, `href="/auth/login">Log in`},
		{"/down", 502, `href="/">Go to the start page`},
	} {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			status, page := rawNavigation(t, addr, tt.prefix+evil)
			if status != tt.status || !strings.Contains(page, tt.link) {
				t.Errorf("= %d, want %d with %q:\n%s", status, tt.status, tt.link, page)
			}
			for _, bad := range []string{"pwned", "alert", "<script", "%3cscript", "&lt;script", "&#39;x"} {
				if strings.Contains(strings.ToLower(page), strings.ToLower(bad)) {
					t.Errorf("page holds %q:\n%s", bad, page)
				}
			}
		})
	}
}

// rawNavigation sends a navigation for target exactly as written (no client
// escaping) and returns the status and body.
func rawNavigation(t *testing.T, addr, target string) (int, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: gw.test\r\nSec-Fetch-Mode: navigate\r\nAccept: text/html\r\nConnection: close\r\n\r\n", target)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestErrorPagesCustom: server.error_pages replaces the built-in page, a
// status's own template first, then error.html.
func TestErrorPagesCustom(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, body := range map[string]string{
		"404.html":   `<!doctype html><html lang="de"><title>{{.Status}}</title><h1>Nicht gefunden</h1><p>{{.RequestID}}</p>`,
		"error.html": `<!doctype html><html lang="de"><title>{{.Status}}</title><h1>{{.Title}}</h1>{{with .RetryURL}}<a href="{{.}}">Nochmal</a>{{end}}`,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b := errorPagesGateway(t, dir)
	for _, tt := range []struct {
		path   string
		status int
		want   string
	}{
		{"/nope.txt", 404, "<h1>Nicht gefunden</h1>"},
		{"/down/x", 502, `<h1>Service unavailable</h1><a href="/down/x">Nochmal</a>`},
	} {
		resp := b.do("GET", tt.path, navigate...)
		page := bodyOf(resp)
		if resp.StatusCode != tt.status || !strings.Contains(page, tt.want) || !strings.Contains(page, `lang="de"`) {
			t.Errorf("GET %s = %d:\n%s\nwant %d with %q", tt.path, resp.StatusCode, page, tt.status, tt.want)
		}
	}
}
