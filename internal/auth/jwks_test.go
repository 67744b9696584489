package auth

import (
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"net/http"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse-dev/gatehouse/internal/oidc/oidctest"
)

// TestKeyRotationAtRealOP: the OP publishes a new key, signs with it and
// withdraws the old one; the next login validates without a restart.
func TestKeyRotationAtRealOP(t *testing.T) {
	t.Parallel()
	op, h := startOPHarness(t, oidctest.Options{})
	if r := h.loginAtOP(op, "/"); r.StatusCode != http.StatusFound {
		t.Fatalf("login before rotation = %d", r.StatusCode)
	}
	if err := op.RotateKeys("key-2", true); err != nil {
		t.Fatal(err)
	}
	if r := h.loginAtOP(op, "/"); r.StatusCode != http.StatusFound {
		t.Fatalf("login after rotation = %d %s, want 302", r.StatusCode, readBody(t, r))
	}
	// An access token the OP signed with the new key passes a bearer route.
	s, err := h.sessions.Load(t.Context(), h.sessionCookie())
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := jwt.NewParser().ParseUnverified(s.AccessToken, jwt.MapClaims{})
	if err != nil {
		t.Fatalf("access token after rotation: %v", err)
	}
	if kid := tok.Header["kid"]; kid != "key-2" {
		t.Fatalf("access token after rotation has kid %v, want key-2", kid)
	}
	if r := doWith(t, &http.Client{}, http.MethodGet, h.url+"/bearer/x", nil, "Authorization", "Bearer "+s.AccessToken); r.StatusCode != http.StatusOK {
		t.Fatalf("bearer token signed with the rotated key = %d %s, want 200", r.StatusCode, readBody(t, r))
	}
}

// TestBogusKIDFloodBounded: 100 bearer tokens with random kids cause at most
// one JWKS fetch, and each is refused with 401.
func TestBogusKIDFloodBounded(t *testing.T) {
	t.Parallel()
	iss, h := startIssuerHarness(t, harnessOpts{clientSecret: "s"})
	attacker, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	before := iss.JWKSFetches()
	plain := &http.Client{}
	for i := range 100 {
		tok := oidctest.SignWith(jwt.SigningMethodRS256, attacker, fmt.Sprintf("bogus-%d", i), iss.Claims(""))
		if r := doWith(t, plain, http.MethodGet, h.url+"/bearer/x", nil, "Authorization", "Bearer "+tok); r.StatusCode != http.StatusUnauthorized {
			t.Fatalf("bogus kid %d = %d, want 401", i, r.StatusCode)
		}
	}
	if got := iss.JWKSFetches() - before; got > 1 {
		t.Errorf("JWKS fetches during a 100-kid flood = %d, want at most 1", got)
	}
	if h.hitCount() != 0 {
		t.Error("a bogus-kid request was forwarded")
	}
}
