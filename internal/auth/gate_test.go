package auth

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse-dev/gatehouse/internal/oidc/oidctest"
)

// loggedIn returns an issuer harness with a logged-in browser.
func loggedIn(t *testing.T) (*oidctest.Issuer, *harness) {
	t.Helper()
	iss, h := startIssuerHarness(t, harnessOpts{clientSecret: "s"})
	if r := callbackWith(t, iss, h, nil, func(n string) string { return iss.Sign(iss.Claims(n)) }); r.StatusCode != http.StatusFound {
		t.Fatalf("login = %d %s", r.StatusCode, readBody(t, r))
	}
	return iss, h
}

func TestSessionGate(t *testing.T) {
	t.Parallel()
	_, h := loggedIn(t)
	anon := &http.Client{CheckRedirect: h.client.CheckRedirect}
	tests := []struct {
		name    string
		client  *http.Client
		method  string
		headers []string
		want    int
	}{
		{"no cookie → 401, not a redirect", anon, http.MethodGet, []string{"X-CSRF", "1", "Accept", "text/html"}, http.StatusUnauthorized},
		{"forged cookie → 401", anon, http.MethodGet, []string{"X-CSRF", "1", "Cookie", "gatehouse=forged.value"}, http.StatusUnauthorized},
		{"missing CSRF header → 403", nil, http.MethodGet, nil, http.StatusForbidden},
		{"CSRF header not 1 → 403", nil, http.MethodGet, []string{"X-CSRF", "true"}, http.StatusForbidden},
		{"cross-site Origin on POST → 403", nil, http.MethodPost, []string{"X-CSRF", "1", "Origin", "https://evil.example"}, http.StatusForbidden},
		{"null Origin on DELETE → 403", nil, http.MethodDelete, []string{"X-CSRF", "1", "Origin", "null"}, http.StatusForbidden},
		{"same Origin on POST → 200", nil, http.MethodPost, []string{"X-CSRF", "1", "Origin", "{origin}"}, http.StatusOK},
		{"no Origin on PUT → 200", nil, http.MethodPut, []string{"X-CSRF", "1"}, http.StatusOK},
		{"cross-site Origin on GET → 200 (safe method)", nil, http.MethodGet, []string{"X-CSRF", "1", "Origin", "https://other.example"}, http.StatusOK},
		{"CORS preflight → 403", nil, http.MethodOptions, []string{"Origin", "https://evil.example", "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "x-csrf"}, http.StatusForbidden},
		{"CORS preflight without cookie → 403", anon, http.MethodOptions, []string{"Origin", "https://evil.example", "Access-Control-Request-Method", "GET"}, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.client
			if c == nil {
				c = h.client
			}
			hdr := append([]string(nil), tt.headers...)
			for i := range hdr {
				hdr[i] = strings.ReplaceAll(hdr[i], "{origin}", h.url)
			}
			before := h.hitCount()
			r := doWith(t, c, tt.method, h.url+"/api/x", nil, hdr...)
			if r.StatusCode != tt.want {
				t.Fatalf("%s /api/x = %d %s, want %d", tt.method, r.StatusCode, readBody(t, r), tt.want)
			}
			forwarded := h.hitCount() != before
			if forwarded != (tt.want == http.StatusOK) {
				t.Errorf("%s /api/x forwarded = %v, want %v", tt.method, forwarded, tt.want == http.StatusOK)
			}
			for k := range r.Header {
				if strings.HasPrefix(strings.ToLower(k), "access-control-allow") {
					t.Errorf("response grants CORS: %s: %s", k, r.Header.Get(k))
				}
			}
			if r.StatusCode == http.StatusUnauthorized && r.Header.Get("Location") != "" {
				t.Errorf("401 carries a Location %q", r.Header.Get("Location"))
			}
		})
	}
}

func TestNoneRouteStripsSessionCookie(t *testing.T) {
	t.Parallel()
	_, h := loggedIn(t)
	h.client.Jar.SetCookies(mustURL(t, h.url), []*http.Cookie{{Name: "lang", Value: "fr"}})
	r := h.do(http.MethodGet, "/public/x", nil, "Authorization", "Bearer client-own")
	if r.StatusCode != http.StatusOK {
		t.Fatalf("GET /public/x = %d", r.StatusCode)
	}
	hit, _ := h.lastHit()
	if strings.Contains(hit.Cookie, h.sessions.CookieName()+"=") || !strings.Contains(hit.Cookie, "lang=fr") {
		t.Errorf("none route forwarded Cookie %q, want lang=fr only", hit.Cookie)
	}
	if hit.Identity != nil {
		t.Errorf("none route identity = %+v, want nil", hit.Identity)
	}
}

func TestBearerGate(t *testing.T) {
	t.Parallel()
	iss, h := startIssuerHarness(t, harnessOpts{clientSecret: "s"})
	plain := &http.Client{}
	good := iss.Sign(iss.Claims(""))
	edit := func(f func(jwt.MapClaims)) jwt.MapClaims {
		c := iss.Claims("")
		f(c)
		return c
	}
	foreign, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&iss.Key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, auth, wantChallenge string
		want                      int
	}{
		{"valid", "Bearer " + good, "", http.StatusOK},
		{"scheme case-insensitive", "bearer " + good, "", http.StatusOK},
		{"no header", "", `Bearer realm="gatehouse"`, http.StatusUnauthorized},
		{"basic scheme", "Basic dXNlcjpwYXNz", `Bearer realm="gatehouse"`, http.StatusUnauthorized},
		{"garbage", "Bearer abc.def.ghi", `error="invalid_token"`, http.StatusUnauthorized},
		{"expired", "Bearer " + iss.Sign(func() jwt.MapClaims {
			c := iss.Claims("")
			c["exp"] = time.Now().Add(-time.Hour).Unix()
			return c
		}()), `error="invalid_token"`, http.StatusUnauthorized},
		{"wrong audience", "Bearer " + iss.Sign(func() jwt.MapClaims { c := iss.Claims(""); c["aud"] = "other"; return c }()), `error="invalid_token"`, http.StatusUnauthorized},
		{"alg none", "Bearer " + oidctest.SignWith(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, iss.KID, iss.Claims("")), `error="invalid_token"`, http.StatusUnauthorized},
		{"wrong issuer", "Bearer " + iss.Sign(edit(func(c jwt.MapClaims) { c["iss"] = "https://evil.example" })), `error="invalid_token"`, http.StatusUnauthorized},
		{"not yet valid (nbf)", "Bearer " + iss.Sign(edit(func(c jwt.MapClaims) { c["nbf"] = time.Now().Add(time.Hour).Unix() })), `error="invalid_token"`, http.StatusUnauthorized},
		{"no exp", "Bearer " + iss.Sign(edit(func(c jwt.MapClaims) { delete(c, "exp") })), `error="invalid_token"`, http.StatusUnauthorized},
		{"no iat", "Bearer " + iss.Sign(edit(func(c jwt.MapClaims) { delete(c, "iat") })), `error="invalid_token"`, http.StatusUnauthorized},
		{"no sub", "Bearer " + iss.Sign(edit(func(c jwt.MapClaims) { delete(c, "sub") })), `error="invalid_token"`, http.StatusUnauthorized},
		{"an ID token", "Bearer " + iss.Sign(iss.Claims("a-login-nonce")), `error="invalid_token"`, http.StatusUnauthorized},
		{"foreign key under the issuer's kid", "Bearer " + oidctest.SignWith(jwt.SigningMethodRS256, foreign, iss.KID, iss.Claims("")), `error="invalid_token"`, http.StatusUnauthorized},
		{"algorithm not allowlisted (RS512)", "Bearer " + oidctest.SignWith(jwt.SigningMethodRS512, iss.Key, iss.KID, iss.Claims("")), `error="invalid_token"`, http.StatusUnauthorized},
		{"HS256 keyed with the public key", "Bearer " + oidctest.SignWith(jwt.SigningMethodHS256, pubDER, iss.KID, iss.Claims("")), `error="invalid_token"`, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := h.hitCount()
			hdr := []string{"Cookie", h.sessions.CookieName() + "=x; keep=1"}
			if tt.auth != "" {
				hdr = append(hdr, "Authorization", tt.auth)
			}
			r := doWith(t, plain, http.MethodGet, h.url+"/bearer/x", nil, hdr...)
			if r.StatusCode != tt.want {
				t.Fatalf("GET /bearer/x = %d %s, want %d", r.StatusCode, readBody(t, r), tt.want)
			}
			if tt.wantChallenge != "" && !strings.Contains(r.Header.Get("WWW-Authenticate"), tt.wantChallenge) {
				t.Errorf("WWW-Authenticate = %q, want it to contain %q", r.Header.Get("WWW-Authenticate"), tt.wantChallenge)
			}
			if tt.want != http.StatusOK {
				if h.hitCount() != before {
					t.Error("rejected bearer request was forwarded")
				}
				return
			}
			hit, _ := h.lastHit()
			if hit.Identity == nil || hit.Identity.Subject != "user-1" || hit.Identity.SessionID != "" {
				t.Errorf("bearer identity = %+v, want sub user-1 without a session", hit.Identity)
			}
			if strings.Contains(hit.Cookie, h.sessions.CookieName()+"=") {
				t.Errorf("bearer route forwarded the session cookie: %q", hit.Cookie)
			}
		})
	}
}

// TestBearerRouteAudience: a route's audience replaces client_id as the aud
// a token must carry.
func TestBearerRouteAudience(t *testing.T) {
	t.Parallel()
	iss, h := startIssuerHarness(t, harnessOpts{clientSecret: "s"})
	withAud := func(aud any) string {
		c := iss.Claims("")
		c["aud"] = aud
		return "Bearer " + iss.Sign(c)
	}
	tests := []struct {
		name, path, auth string
		want             int
	}{
		{"route audience", "/orders-api/x", withAud("orders-api"), http.StatusOK},
		{"route audience among several", "/orders-api/x", withAud([]string{"billing", "orders-api"}), http.StatusOK},
		{"client_id is not the route audience", "/orders-api/x", withAud("gatehouse"), http.StatusUnauthorized},
		{"route audience is not client_id", "/bearer/x", withAud("orders-api"), http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := doWith(t, &http.Client{}, http.MethodGet, h.url+tt.path, nil, "Authorization", tt.auth)
			if r.StatusCode != tt.want {
				t.Errorf("GET %s = %d %s, want %d", tt.path, r.StatusCode, readBody(t, r), tt.want)
			}
		})
	}
}

func TestAnyGate(t *testing.T) {
	t.Parallel()
	iss, h := loggedIn(t)
	// With the cookie: a session request, so CSRF applies.
	if r := h.do(http.MethodGet, "/any/x", nil); r.StatusCode != http.StatusForbidden {
		t.Errorf("GET /any/x with cookie, no CSRF = %d, want 403", r.StatusCode)
	}
	if r := h.do(http.MethodGet, "/any/x", nil, "X-CSRF", "1"); r.StatusCode != http.StatusOK {
		t.Errorf("GET /any/x with cookie and CSRF = %d, want 200", r.StatusCode)
	}
	if hit, _ := h.lastHit(); hit.Identity == nil || hit.Identity.SessionID == "" {
		t.Errorf("any route with a cookie: identity %+v, want the session's", hit.Identity)
	}
	plain := &http.Client{}
	if r := doWith(t, plain, http.MethodGet, h.url+"/any/x", nil, "Authorization", "Bearer "+iss.Sign(iss.Claims(""))); r.StatusCode != http.StatusOK {
		t.Errorf("GET /any/x with a bearer token = %d, want 200", r.StatusCode)
	}
	if r := doWith(t, plain, http.MethodGet, h.url+"/any/x", nil); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /any/x with nothing = %d, want 401", r.StatusCode)
	}
}

func TestMeNeedsCSRFAndSession(t *testing.T) {
	t.Parallel()
	_, h := loggedIn(t)
	if r := h.do(http.MethodGet, PathMe, nil); r.StatusCode != http.StatusForbidden {
		t.Errorf("GET /auth/me without CSRF = %d, want 403", r.StatusCode)
	}
	anon := &http.Client{}
	if r := doWith(t, anon, http.MethodGet, h.url+PathMe, nil, "X-CSRF", "1"); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /auth/me without session = %d, want 401", r.StatusCode)
	}
}

func TestLogoutModes(t *testing.T) {
	t.Parallel()
	form := func() *strings.Reader { return strings.NewReader("") }
	tests := []struct {
		name    string
		headers []string
		want    int
	}{
		{"fetch without CSRF header", []string{"Content-Type", "application/json"}, http.StatusForbidden},
		{"fetch from another origin", []string{"X-CSRF", "1", "Origin", "https://evil.example"}, http.StatusForbidden},
		{"form post from another origin", []string{"Content-Type", "application/x-www-form-urlencoded", "Origin", "https://evil.example"}, http.StatusForbidden},
		{"form post without origin proof", []string{"Content-Type", "application/x-www-form-urlencoded"}, http.StatusForbidden},
		{"form post, cross-site fetch metadata", []string{"Content-Type", "application/x-www-form-urlencoded", "Sec-Fetch-Site", "cross-site"}, http.StatusForbidden},
		{"form post, same origin", []string{"Content-Type", "application/x-www-form-urlencoded", "Origin", "{origin}"}, http.StatusFound},
		{"form post, Sec-Fetch-Site same-origin", []string{"Content-Type", "application/x-www-form-urlencoded", "Sec-Fetch-Site", "same-origin"}, http.StatusFound},
		{"fetch with CSRF header", []string{"X-CSRF", "1", "Origin", "{origin}"}, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			iss, h := loggedIn(t)
			hdr := append([]string(nil), tt.headers...)
			for i := range hdr {
				hdr[i] = strings.ReplaceAll(hdr[i], "{origin}", h.url)
			}
			cookie := h.sessionCookie()
			r := h.do(http.MethodPost, PathLogout, form(), hdr...)
			if r.StatusCode != tt.want {
				t.Fatalf("POST /auth/logout = %d %s, want %d", r.StatusCode, readBody(t, r), tt.want)
			}
			_, err := h.sessions.Load(t.Context(), cookie)
			ended := err != nil
			if ended != (tt.want != http.StatusForbidden) {
				t.Errorf("session ended = %v, want %v", ended, tt.want != http.StatusForbidden)
			}
			if tt.want == http.StatusFound {
				loc := mustURL(t, r.Header.Get("Location"))
				if !strings.HasPrefix(loc.String(), iss.URL+"/logout") || loc.Query().Get("id_token_hint") == "" {
					t.Errorf("form logout Location = %s, want the end-session URL", loc)
				}
			}
		})
	}
}

func TestLogoutWithoutSession(t *testing.T) {
	t.Parallel()
	_, h := startIssuerHarness(t, harnessOpts{clientSecret: "s"})
	if r := h.do(http.MethodPost, PathLogout, nil, "X-CSRF", "1"); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("POST /auth/logout without a session = %d, want 401", r.StatusCode)
	}
}

// TestLogoutRevocationFailureNotFatal: the IdP refusing revocation does not stop logout.
func TestLogoutRevocationFailureNotFatal(t *testing.T) {
	t.Parallel()
	iss, h := loggedIn(t)
	cookie := h.sessionCookie()
	iss.Server.Close() // the IdP (and its revocation_endpoint) is gone
	r := h.do(http.MethodPost, PathLogout, nil, "X-CSRF", "1")
	if r.StatusCode != http.StatusOK {
		t.Fatalf("POST /auth/logout with the IdP down = %d %s, want 200", r.StatusCode, readBody(t, r))
	}
	if _, err := h.sessions.Load(t.Context(), cookie); err == nil {
		t.Error("session alive after logout with the IdP down")
	}
}
