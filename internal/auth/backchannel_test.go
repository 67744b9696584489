package auth

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse-dev/gatehouse/internal/oidc"
	"github.com/gatehouse-dev/gatehouse/internal/oidc/oidctest"
)

func logoutClaims(iss *oidctest.Issuer, jti string) jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{
		"iss": iss.URL, "aud": iss.ClientID, "iat": now.Unix(), "exp": now.Add(2 * time.Minute).Unix(),
		"jti": jti, "sid": "idp-session-1",
		"events": map[string]any{oidc.BackChannelLogoutEvent: map[string]any{}},
	}
}

func postLogoutToken(t *testing.T, h *harness, tok string) *http.Response {
	t.Helper()
	return doWith(t, &http.Client{}, http.MethodPost, h.url+PathBackChannelLogout,
		strings.NewReader(url.Values{"logout_token": {tok}}.Encode()), "Content-Type", "application/x-www-form-urlencoded")
}

// loginWithSID logs a new browser in with an ID token carrying sid.
func loginWithSID(t *testing.T, iss *oidctest.Issuer, h *harness, sid string) string {
	t.Helper()
	r := callbackWith(t, iss, h, nil, func(n string) string {
		c := iss.Claims(n)
		c["sid"] = sid
		return iss.Sign(c)
	})
	if r.StatusCode != http.StatusFound {
		t.Fatalf("login = %d %s", r.StatusCode, readBody(t, r))
	}
	return h.sessionCookie()
}

func TestBackChannelLogout(t *testing.T) {
	t.Parallel()
	iss, h := startIssuerHarness(t, harnessOpts{clientSecret: "s"})
	victim := loginWithSID(t, iss, h, "idp-session-1")

	with := func(f func(jwt.MapClaims)) string {
		c := logoutClaims(iss, "jti-bad")
		f(c)
		return iss.Sign(c)
	}
	refused := []struct{ name, token string }{
		{"empty", ""},
		{"nonce present (an ID token)", with(func(c jwt.MapClaims) { c["nonce"] = "n" })},
		{"no events", with(func(c jwt.MapClaims) { delete(c, "events") })},
		{"events without the logout member", with(func(c jwt.MapClaims) { c["events"] = map[string]any{"other": map[string]any{}} })},
		{"no jti", with(func(c jwt.MapClaims) { delete(c, "jti") })},
		{"no sub nor sid", with(func(c jwt.MapClaims) { delete(c, "sid") })},
		{"wrong aud", with(func(c jwt.MapClaims) { c["aud"] = "other" })},
		{"expired", with(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() })},
		{"no iat", with(func(c jwt.MapClaims) { delete(c, "iat") })},
		{"an ID token", iss.Sign(iss.Claims("nonce"))},
		{"alg none", oidctest.SignWith(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, iss.KID, logoutClaims(iss, "j"))},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			r := postLogoutToken(t, h, tt.token)
			if r.StatusCode != http.StatusBadRequest {
				t.Errorf("back-channel logout with %s = %d, want 400", tt.name, r.StatusCode)
			}
			if _, err := h.sessions.Load(context.Background(), victim); err != nil {
				t.Fatalf("session ended by a refused logout token (%s)", tt.name)
			}
		})
	}

	tok := iss.Sign(logoutClaims(iss, "jti-1"))
	if r := postLogoutToken(t, h, tok); r.StatusCode != http.StatusOK || r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("back-channel logout = %d (Cache-Control %q), want 200 no-store", r.StatusCode, r.Header.Get("Cache-Control"))
	}
	if _, err := h.sessions.Load(context.Background(), victim); err == nil {
		t.Error("session alive after back-channel logout")
	}
	if r := h.do(http.MethodGet, "/api/x", nil, "X-CSRF", "1"); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("API after back-channel logout = %d, want 401", r.StatusCode)
	}
	if r := postLogoutToken(t, h, tok); r.StatusCode != http.StatusBadRequest {
		t.Errorf("replayed logout token = %d, want 400", r.StatusCode)
	}
}

func TestBackChannelLogoutBySubject(t *testing.T) {
	t.Parallel()
	iss, h := startIssuerHarness(t, harnessOpts{clientSecret: "s"})
	first := loginWithSID(t, iss, h, "sid-a")
	h.client.Jar = newJar()
	second := loginWithSID(t, iss, h, "sid-b")
	c := logoutClaims(iss, "jti-sub")
	delete(c, "sid")
	c["sub"] = "user-1"
	if r := postLogoutToken(t, h, iss.Sign(c)); r.StatusCode != http.StatusOK {
		t.Fatalf("back-channel logout by sub = %d", r.StatusCode)
	}
	for _, ck := range []string{first, second} {
		if _, err := h.sessions.Load(context.Background(), ck); err == nil {
			t.Error("a session of the subject survived back-channel logout by sub")
		}
	}
}

// rawPost sends a POST to the back-channel logout endpoint over a raw
// connection, the head with the extra header lines then body, and returns
// the answer, read while the body is still being written: the body may be
// incomplete (a handler that waited for the rest would never answer) or
// larger than the server will read.
func rawPost(t *testing.T, h *harness, headers, body string) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(h.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second)) // hang guard, not a timing assertion
	head := "POST " + PathBackChannelLogout + " HTTP/1.1\r\nHost: gatehouse\r\n" +
		"Content-Type: application/x-www-form-urlencoded\r\n" + headers + "\r\n"
	written := make(chan struct{})
	go func() {
		defer close(written)
		// Fails once the server has answered and closed: what it refused to read.
		_, _ = io.WriteString(conn, head+body)
	}()
	defer func() { <-written }() // after conn.Close, which ends a blocked write
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// chunked encodes body as chunks of at most 8 KiB, with the last chunk when end.
func chunked(body string, end bool) string {
	var b strings.Builder
	for len(body) > 0 {
		n := min(len(body), 8<<10)
		fmt.Fprintf(&b, "%x\r\n%s\r\n", n, body[:n])
		body = body[n:]
	}
	if end {
		b.WriteString("0\r\n\r\n")
	}
	return b.String()
}

// TestBackChannelLogoutBodyLimit: the endpoint is unauthenticated, so it
// reads at most 64 KiB of a body: more is 413 without waiting for the rest.
func TestBackChannelLogoutBodyLimit(t *testing.T) {
	t.Parallel()
	iss, h := startIssuerHarness(t, harnessOpts{clientSecret: "s"})
	form := func(n int) string { // a form of exactly n bytes without a valid token
		return "logout_token=" + strings.Repeat("a", n-len("logout_token="))
	}
	token := "logout_token=" + iss.Sign(logoutClaims(iss, "jti-chunked"))
	const mib = 1 << 20
	tests := []struct {
		name, headers, body string
		status              int
	}{
		// fasthttp reads the first 8 KiB of a body before the handler runs.
		{"Content-Length 1 MiB, 8 KiB sent", "Content-Length: " + strconv.Itoa(mib) + "\r\n", form(mib)[:8<<10], http.StatusRequestEntityTooLarge},
		{"Content-Length 1 MiB, all sent", "Content-Length: " + strconv.Itoa(mib) + "\r\n", form(mib), http.StatusRequestEntityTooLarge},
		{"Content-Length 64 KiB + 1", "Content-Length: " + strconv.Itoa(maxBackChannelBody+1) + "\r\n", form(maxBackChannelBody + 1), http.StatusRequestEntityTooLarge},
		{"chunked 1 MiB, 72 KiB sent", "Transfer-Encoding: chunked\r\n", chunked(form(mib)[:72<<10], false), http.StatusRequestEntityTooLarge},
		{"chunked 1 MiB, all sent", "Transfer-Encoding: chunked\r\n", chunked(form(mib), true), http.StatusRequestEntityTooLarge},
		{"chunked 64 KiB + 1", "Transfer-Encoding: chunked\r\n", chunked(form(maxBackChannelBody+1), true), http.StatusRequestEntityTooLarge},
		{"Content-Length 64 KiB", "Content-Length: " + strconv.Itoa(maxBackChannelBody) + "\r\n", form(maxBackChannelBody), http.StatusBadRequest},
		{"chunked 64 KiB", "Transfer-Encoding: chunked\r\n", chunked(form(maxBackChannelBody), true), http.StatusBadRequest},
		{"chunked, a valid token", "Transfer-Encoding: chunked\r\n", chunked(token, true), http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := rawPost(t, h, tt.headers, tt.body)
			if status != tt.status {
				t.Errorf("POST %s = %d %s, want %d", PathBackChannelLogout, status, body, tt.status)
			}
			if tt.status == http.StatusRequestEntityTooLarge && body != `{"error":"request body too large"}` {
				t.Errorf("413 body = %s, want {\"error\":\"request body too large\"}", body)
			}
		})
	}
}
