package auth

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse-dev/gatehouse/internal/oidc/oidctest"
)

func startIssuerHarness(t *testing.T, o harnessOpts) (*oidctest.Issuer, *harness) {
	t.Helper()
	iss := oidctest.NewIssuer(t)
	o.issuer = iss.URL
	h := newHarness(t, o)
	h.waitReady()
	return iss, h
}

// callbackWith starts a login to /after and answers the callback as the IdP
// would, with the ID token idToken(nonce) from the token endpoint.
func callbackWith(t *testing.T, iss *oidctest.Issuer, h *harness, extra url.Values, idToken func(nonce string) string) *http.Response {
	t.Helper()
	return callbackFor(t, iss, h, "/after", extra, idToken)
}

// callbackFor is callbackWith for a login to returnTo.
func callbackFor(t *testing.T, iss *oidctest.Issuer, h *harness, returnTo string, extra url.Values, idToken func(nonce string) string) *http.Response {
	t.Helper()
	authorize := h.startLogin(returnTo)
	q := authorize.Query()
	nonce := q.Get("nonce")
	iss.SetTokenHandler(func(form url.Values) (int, any) {
		if form.Get("code") != "the-code" || form.Get("code_verifier") == "" {
			return http.StatusBadRequest, map[string]string{"error": "invalid_grant"}
		}
		return http.StatusOK, map[string]any{
			"access_token": "at-1", "token_type": "Bearer", "expires_in": 300,
			"refresh_token": "rt-1", "id_token": idToken(nonce),
		}
	})
	v := url.Values{"code": {"the-code"}, "state": {q.Get("state")}}
	for k, vs := range extra {
		v[k] = vs
	}
	return h.do(http.MethodGet, PathCallback+"?"+v.Encode(), nil)
}

// TestHostileIdP: every bad ID token ends the login with 401 and no session.
func TestHostileIdP(t *testing.T) {
	t.Parallel()
	iss, h := startIssuerHarness(t, harnessOpts{clientSecret: "s"})
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pubDER, _ := x509.MarshalPKIXPublicKey(&iss.Key.PublicKey)
	claims := func(nonce string, f func(jwt.MapClaims)) jwt.MapClaims {
		c := iss.Claims(nonce)
		if f != nil {
			f(c)
		}
		return c
	}
	tests := []struct {
		name  string
		token func(nonce string) string
	}{
		{"bad signature", func(n string) string {
			return oidctest.SignWith(jwt.SigningMethodRS256, other, iss.KID, claims(n, nil))
		}},
		{"unknown kid", func(n string) string {
			return oidctest.SignWith(jwt.SigningMethodRS256, other, "k-unknown", claims(n, nil))
		}},
		{"wrong iss", func(n string) string {
			return iss.Sign(claims(n, func(c jwt.MapClaims) { c["iss"] = "https://evil.example" }))
		}},
		{"wrong aud", func(n string) string { return iss.Sign(claims(n, func(c jwt.MapClaims) { c["aud"] = "other-client" })) }},
		{"several aud without azp", func(n string) string {
			return iss.Sign(claims(n, func(c jwt.MapClaims) { c["aud"] = []string{"gatehouse", "x"} }))
		}},
		{"expired", func(n string) string {
			return iss.Sign(claims(n, func(c jwt.MapClaims) {
				c["exp"] = time.Now().Add(-time.Hour).Unix()
				c["iat"] = time.Now().Add(-2 * time.Hour).Unix()
			}))
		}},
		{"missing iat", func(n string) string { return iss.Sign(claims(n, func(c jwt.MapClaims) { delete(c, "iat") })) }},
		{"nonce mismatch", func(string) string { return iss.Sign(claims("another-login", nil)) }},
		{"alg none", func(n string) string {
			return oidctest.SignWith(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, iss.KID, claims(n, nil))
		}},
		{"HS256 keyed with the public key", func(n string) string {
			return oidctest.SignWith(jwt.SigningMethodHS256, pubDER, iss.KID, claims(n, nil))
		}},
		{"no id_token", func(string) string { return "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := callbackWith(t, iss, h, nil, tt.token)
			if body := readBody(t, r); r.StatusCode != http.StatusUnauthorized || strings.Contains(body, "token") {
				t.Errorf("callback with %s = %d %s, want 401 without detail", tt.name, r.StatusCode, body)
			}
			if names := setCookieNames(r); len(names) != 0 {
				t.Errorf("callback with %s set cookies %v, want none", tt.name, names)
			}
			if h.sessionCookie() != "" {
				t.Errorf("callback with %s left a session cookie", tt.name)
			}
		})
	}
	t.Run("control: valid token logs in", func(t *testing.T) {
		r := callbackWith(t, iss, h, nil, func(n string) string { return iss.Sign(claims(n, nil)) })
		if r.StatusCode != http.StatusFound || r.Header.Get("Location") != "/after" || h.sessionCookie() == "" {
			t.Fatalf("callback with a valid token = %d %s, want 302 /after and a session", r.StatusCode, readBody(t, r))
		}
	})
}

// TestCallbackIssParameter: RFC 9207 — a present iss must match; required when advertised.
func TestCallbackIssParameter(t *testing.T) {
	t.Parallel()
	iss, h := startIssuerHarness(t, harnessOpts{clientSecret: "s"})
	valid := func(n string) string { return iss.Sign(iss.Claims(n)) }
	if r := callbackWith(t, iss, h, url.Values{"iss": {"https://evil.example"}}, valid); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("callback with a foreign iss = %d, want 401", r.StatusCode)
	}
	if r := callbackWith(t, iss, h, url.Values{"iss": {iss.URL}}, valid); r.StatusCode != http.StatusFound {
		t.Errorf("callback with the right iss = %d %s, want 302", r.StatusCode, readBody(t, r))
	}

	iss2, h2 := func() (*oidctest.Issuer, *harness) {
		i := oidctest.NewIssuer(t)
		i.SetMetadata("authorization_response_iss_parameter_supported", true)
		hh := newHarness(t, harnessOpts{issuer: i.URL, clientSecret: "s"})
		hh.waitReady()
		return i, hh
	}()
	if r := callbackWith(t, iss2, h2, nil, func(n string) string { return iss2.Sign(iss2.Claims(n)) }); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("callback without iss from an IdP advertising it = %d, want 401", r.StatusCode)
	}
}

func TestCallbackErrors(t *testing.T) {
	t.Parallel()
	iss, h := startIssuerHarness(t, harnessOpts{clientSecret: "s"})
	authorize := h.startLogin("/")
	state := authorize.Query().Get("state")

	r := h.do(http.MethodGet, PathCallback+"?error=access_denied&error_description=%3Cscript%3E&state="+state, nil)
	if body := readBody(t, r); r.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "access_denied") || strings.Contains(body, "script") {
		t.Errorf("callback error=access_denied = %d %s, want 401 naming access_denied only", r.StatusCode, body)
	}
	// The error consumed the state.
	if r := callbackWith(t, iss, h, nil, func(n string) string { return iss.Sign(iss.Claims(n)) }); r.StatusCode != http.StatusFound {
		t.Fatalf("fresh login after an error = %d", r.StatusCode)
	}
	v := url.Values{"code": {"the-code"}, "state": {state}}
	if r := h.do(http.MethodGet, PathCallback+"?"+v.Encode(), nil); r.StatusCode != http.StatusBadRequest {
		t.Errorf("callback with a state consumed by an error = %d, want 400", r.StatusCode)
	}
	for name, q := range map[string]string{
		"missing state": "code=x",
		"unknown state": "code=x&state=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"huge state":    "code=x&state=" + strings.Repeat("a", 300),
	} {
		if r := h.do(http.MethodGet, PathCallback+"?"+q, nil); r.StatusCode != http.StatusBadRequest {
			t.Errorf("callback with %s = %d, want 400", name, r.StatusCode)
		}
	}
	if r := h.do(http.MethodGet, PathCallback+"?error=%00weird%0d%0a", nil); r.StatusCode != http.StatusUnauthorized || strings.Contains(readBody(t, r), "weird") {
		t.Errorf("callback with a junk error code = %d, want 401 with a generic message", r.StatusCode)
	}
}

func TestCallbackErrorRedirect(t *testing.T) {
	t.Parallel()
	_, h := startIssuerHarness(t, harnessOpts{clientSecret: "s", errorPage: "/login-failed"})
	r := h.do(http.MethodGet, PathCallback+"?error=access_denied", nil)
	if r.StatusCode != http.StatusFound || r.Header.Get("Location") != "/login-failed?error=access_denied" {
		t.Errorf("callback error with error_redirect = %d Location %q, want 302 /login-failed?error=access_denied", r.StatusCode, r.Header.Get("Location"))
	}
	r = h.do(http.MethodGet, PathCallback+"?code=x&state=nope", nil)
	if r.StatusCode != http.StatusFound || r.Header.Get("Location") != "/login-failed?error=invalid_state" {
		t.Errorf("bad state with error_redirect = %d Location %q, want 302 ?error=invalid_state", r.StatusCode, r.Header.Get("Location"))
	}
}
