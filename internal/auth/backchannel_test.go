package auth

import (
	"context"
	"net/http"
	"net/url"
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
