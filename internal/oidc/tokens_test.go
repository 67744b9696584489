package oidc

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse-dev/gatehouse/internal/oidc/oidctest"
)

func TestVerifyIDToken(t *testing.T) {
	t.Parallel()
	iss := oidctest.NewIssuer(t)
	p := readyProvider(t, iss, nil)
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&iss.Key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	const nonce = "n-123"
	with := func(f func(jwt.MapClaims)) jwt.MapClaims {
		c := iss.Claims(nonce)
		f(c)
		return c
	}
	past := time.Now().Add(-time.Hour)
	tests := []struct {
		name  string
		token string
		ok    bool
	}{
		{"valid", iss.Sign(iss.Claims(nonce)), true},
		{"valid within leeway", iss.Sign(with(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-10 * time.Second).Unix() })), true},
		{"several audiences with azp", iss.Sign(with(func(c jwt.MapClaims) { c["aud"] = []string{"gatehouse", "api"}; c["azp"] = "gatehouse" })), true},
		{"bad signature", oidctest.SignWith(jwt.SigningMethodRS256, other, iss.KID, iss.Claims(nonce)), false},
		{"unknown kid", oidctest.SignWith(jwt.SigningMethodRS256, other, "nope", iss.Claims(nonce)), false},
		{"no kid, foreign key", oidctest.SignWith(jwt.SigningMethodRS256, other, "", iss.Claims(nonce)), false},
		{"wrong iss", iss.Sign(with(func(c jwt.MapClaims) { c["iss"] = "https://evil.example" })), false},
		{"wrong aud", iss.Sign(with(func(c jwt.MapClaims) { c["aud"] = "someone-else" })), false},
		{"several audiences without azp", iss.Sign(with(func(c jwt.MapClaims) { c["aud"] = []string{"gatehouse", "api"} })), false},
		{"several audiences, wrong azp", iss.Sign(with(func(c jwt.MapClaims) { c["aud"] = []string{"gatehouse", "api"}; c["azp"] = "api" })), false},
		{"single audience, wrong azp", iss.Sign(with(func(c jwt.MapClaims) { c["azp"] = "api" })), false},
		{"expired", iss.Sign(with(func(c jwt.MapClaims) { c["exp"] = past.Unix(); c["iat"] = past.Add(-time.Minute).Unix() })), false},
		{"missing exp", iss.Sign(with(func(c jwt.MapClaims) { delete(c, "exp") })), false},
		{"missing iat", iss.Sign(with(func(c jwt.MapClaims) { delete(c, "iat") })), false},
		{"iat in the future", iss.Sign(with(func(c jwt.MapClaims) { c["iat"] = time.Now().Add(time.Hour).Unix() })), false},
		{"nbf in the future", iss.Sign(with(func(c jwt.MapClaims) { c["nbf"] = time.Now().Add(time.Hour).Unix() })), false},
		{"missing sub", iss.Sign(with(func(c jwt.MapClaims) { delete(c, "sub") })), false},
		{"nonce mismatch", iss.Sign(with(func(c jwt.MapClaims) { c["nonce"] = "other" })), false},
		{"nonce missing", iss.Sign(with(func(c jwt.MapClaims) { delete(c, "nonce") })), false},
		{"alg none", oidctest.SignWith(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, iss.KID, iss.Claims(nonce)), false},
		{"HS256 keyed with the public key (DER)", oidctest.SignWith(jwt.SigningMethodHS256, pubDER, iss.KID, iss.Claims(nonce)), false},
		{"HS256 keyed with the modulus", oidctest.SignWith(jwt.SigningMethodHS256, iss.Key.N.Bytes(), iss.KID, iss.Claims(nonce)), false},
		{"RS512 not allowlisted", oidctest.SignWith(jwt.SigningMethodRS512, iss.Key, iss.KID, iss.Claims(nonce)), false},
		{"garbage", "not.a.jwt", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			claims, err := p.VerifyIDToken(context.Background(), tt.token, nonce)
			if tt.ok != (err == nil) {
				t.Fatalf("VerifyIDToken(%s) error = %v, want ok %v", tt.name, err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidToken) {
				t.Errorf("VerifyIDToken(%s) error = %v, want ErrInvalidToken", tt.name, err)
			}
			if err == nil && claims["sub"] != "user-1" {
				t.Errorf("VerifyIDToken(%s) sub = %v, want user-1", tt.name, claims["sub"])
			}
		})
	}
}

func TestVerifyAccessToken(t *testing.T) {
	t.Parallel()
	iss := oidctest.NewIssuer(t)
	p := readyProvider(t, iss, func(c *Config) { c.AllowedAlgorithms = []string{"RS256", "ES256"} })
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	with := func(f func(jwt.MapClaims)) jwt.MapClaims {
		c := iss.Claims("")
		f(c)
		return c
	}
	tests := []struct {
		name, audience, token string
		ok                    bool
	}{
		{"valid, client_id audience", "", iss.Sign(iss.Claims("")), true},
		{"valid, route audience", "orders-api", iss.Sign(with(func(c jwt.MapClaims) { c["aud"] = []string{"orders-api", "other"} })), true},
		{"route audience missing", "orders-api", iss.Sign(iss.Claims("")), false},
		{"expired", "", iss.Sign(with(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() })), false},
		{"nbf in the future", "", iss.Sign(with(func(c jwt.MapClaims) { c["nbf"] = time.Now().Add(time.Hour).Unix() })), false},
		{"wrong issuer", "", iss.Sign(with(func(c jwt.MapClaims) { c["iss"] = "https://evil.example" })), false},
		{"no exp", "", iss.Sign(with(func(c jwt.MapClaims) { delete(c, "exp") })), false},
		{"foreign ES256 key", "", oidctest.SignWith(jwt.SigningMethodES256, ec, iss.KID, iss.Claims("")), false},
		{"alg none", "", oidctest.SignWith(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, iss.KID, iss.Claims("")), false},
		{"an ID token (nonce)", "", iss.Sign(iss.Claims("login-nonce")), false},
		{"an ID token (at_hash)", "", iss.Sign(with(func(c jwt.MapClaims) { c["at_hash"] = "x" })), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := p.VerifyAccessToken(context.Background(), tt.token, tt.audience)
			if tt.ok != (err == nil) {
				t.Fatalf("VerifyAccessToken(%s, aud %q) error = %v, want ok %v", tt.name, tt.audience, err, tt.ok)
			}
		})
	}
}

// TestNewNeedsAlgorithms: an empty allowlist would let golang-jwt accept
// any algorithm (nil) or none (empty); config always gives one, and New
// refuses to run without. Which algorithms may be listed is config's rule.
func TestNewNeedsAlgorithms(t *testing.T) {
	t.Parallel()
	for _, algs := range [][]string{nil, {}} {
		if _, err := New(Config{Issuer: "http://idp.test", ClientID: "c", AllowedAlgorithms: algs}); err == nil {
			t.Errorf("New(algs %#v) error = nil, want refusal", algs)
		}
	}
}

func BenchmarkVerifyIDToken(b *testing.B) {
	iss := oidctest.NewIssuer(b)
	p, err := New(Config{Issuer: iss.URL, ClientID: iss.ClientID, AllowedAlgorithms: testAlgs, Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := p.discover(ctx); err != nil {
		b.Fatal(err)
	}
	tok := iss.Sign(iss.Claims("n"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.VerifyIDToken(context.Background(), tok, "n"); err != nil {
			b.Fatal(err)
		}
	}
}
