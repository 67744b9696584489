package svc

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// idp is a minimal issuer: discovery and a JWKS with one RSA key.
type idp struct {
	url string
	key *rsa.PrivateKey
	kid string
}

func newIdP(t *testing.T) *idp {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p := &idp{key: key, kid: "k1"}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			json.NewEncoder(w).Encode(map[string]string{"issuer": p.url, "jwks_uri": p.url + "/jwks"})
		case "/jwks":
			b64 := base64.RawURLEncoding.EncodeToString
			json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{
				"kty": "RSA", "kid": p.kid, "use": "sig", "alg": "RS256",
				"n": b64(key.N.Bytes()), "e": b64(big.NewInt(int64(key.E)).Bytes()),
			}}})
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	p.url = srv.URL
	return p
}

// claims returns a valid claim set for sub; tweak it per test.
func (p *idp) claims(sub string) jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{
		"iss": p.url, "sub": sub, "aud": []string{"example-services", "account"},
		"exp": now.Add(5 * time.Minute).Unix(), "iat": now.Unix(),
		"name": "Alice Example", "email": "alice@example.com", "preferred_username": "alice",
		"scope": "openid profile email",
	}
}

func (p *idp) sign(t *testing.T, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
	tok.Header["kid"] = p.kid
	s, err := tok.SignedString(p.key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// verifier starts a Verifier on p and waits until its keys are loaded.
func verifier(t *testing.T, p *idp, cfg VerifierConfig) *Verifier {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cfg.Issuer = p.url
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	v, err := NewVerifier(ctx, cfg)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	<-v.Done()
	return v
}

func get(t *testing.T, h http.Handler, path, authz string) (int, map[string]any, http.Header) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("GET %s: body %q is not JSON: %v", path, rec.Body.String(), err)
	}
	return rec.Code, body, rec.Header()
}

func TestTokenChecks(t *testing.T) {
	p := newIdP(t)
	v := verifier(t, p, VerifierConfig{Audience: "example-services"})
	h := Profile(v, slog.New(slog.NewTextHandler(io.Discard, nil)))
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&p.key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	with := func(change func(jwt.MapClaims)) string {
		c := p.claims("user-1")
		change(c)
		return "Bearer " + p.sign(t, c)
	}
	signed := func(m jwt.SigningMethod, key any, kid string) string {
		tok := jwt.NewWithClaims(m, p.claims("user-1"))
		if kid != "" {
			tok.Header["kid"] = kid
		}
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return "Bearer " + s
	}
	tests := []struct {
		name   string
		authz  string
		status int
	}{
		{"valid", with(func(jwt.MapClaims) {}), 200},
		{"lower-case scheme", strings.Replace(with(func(jwt.MapClaims) {}), "Bearer", "bearer", 1), 200},
		{"no header", "", 401},
		{"basic scheme", "Basic YWxpY2U6YWxpY2U=", 401},
		{"empty token", "Bearer ", 401},
		{"garbage", "Bearer not.a.jwt", 401},
		{"expired", with(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() }), 401},
		{"no exp", with(func(c jwt.MapClaims) { delete(c, "exp") }), 401},
		{"issued in the future", with(func(c jwt.MapClaims) { c["iat"] = time.Now().Add(time.Hour).Unix() }), 401},
		{"other issuer", with(func(c jwt.MapClaims) { c["iss"] = "https://evil.example" }), 401},
		{"other audience", with(func(c jwt.MapClaims) { c["aud"] = "someone-else" }), 401},
		{"no sub", with(func(c jwt.MapClaims) { delete(c, "sub") }), 401},
		{"signed by another key", signed(jwt.SigningMethodRS256, other, "k1"), 401},
		{"unknown kid", signed(jwt.SigningMethodRS256, other, "k2"), 401},
		{"HS256 with the public key as secret", signed(jwt.SigningMethodHS256, pubPEM, "k1"), 401},
		{"alg none", signed(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "k1"), 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body, hdr := get(t, h, "/api/profile", tt.authz)
			if status != tt.status {
				t.Fatalf("GET /api/profile (%s) status = %d, want %d (body %v)", tt.name, status, tt.status, body)
			}
			if status == 401 {
				if hdr.Get("WWW-Authenticate") == "" {
					t.Errorf("401 without WWW-Authenticate")
				}
				if body["sub"] != nil || body["email"] != nil {
					t.Errorf("401 body = %v, leaks claims", body)
				}
			}
		})
	}
}

func TestProfileReturnsTheCallersClaims(t *testing.T) {
	p := newIdP(t)
	v := verifier(t, p, VerifierConfig{})
	h := Profile(v, slog.Default())
	status, body, _ := get(t, h, "/api/profile", "Bearer "+p.sign(t, p.claims("alice-sub")))
	if status != 200 {
		t.Fatalf("GET /api/profile status = %d, want 200", status)
	}
	want := map[string]any{
		"sub": "alice-sub", "name": "Alice Example", "email": "alice@example.com",
		"preferredUsername": "alice", "issuer": p.url, "service": "profile",
	}
	for k, w := range want {
		if body[k] != w {
			t.Errorf("GET /api/profile %s = %v, want %v", k, body[k], w)
		}
	}
}

func TestOrdersPerUser(t *testing.T) {
	p := newIdP(t)
	v := verifier(t, p, VerifierConfig{})
	h := Orders(v, slog.Default())
	fetch := func(sub string) []any {
		status, body, _ := get(t, h, "/api/orders", "Bearer "+p.sign(t, p.claims(sub)))
		if status != 200 || body["sub"] != sub {
			t.Fatalf("GET /api/orders as %s = %d %v, want 200 with sub %q", sub, status, body, sub)
		}
		return body["orders"].([]any)
	}
	a1, a2, b := fetch("alice"), fetch("alice"), fetch("bob")
	if !reflect.DeepEqual(a1, a2) {
		t.Errorf("orders for alice differ between calls:\n%v\n%v", a1, a2)
	}
	if reflect.DeepEqual(a1, b) {
		t.Errorf("orders for alice and bob are the same: %v", a1)
	}
	if n := len(a1); n < 2 || n > 5 {
		t.Errorf("len(orders for alice) = %d, want 2..5", n)
	}
	if status, _, _ := get(t, h, "/api/orders", ""); status != 401 {
		t.Errorf("GET /api/orders without token status = %d, want 401", status)
	}
}

func TestOrdersForIsDeterministic(t *testing.T) {
	if a, b := OrdersFor("x"), OrdersFor("x"); !reflect.DeepEqual(a, b) {
		t.Errorf("OrdersFor(x) = %v then %v, want equal", a, b)
	}
	for _, o := range OrdersFor("x") {
		if o.TotalCents <= 0 || o.Quantity < 1 || o.ID == "" || o.Product == "" {
			t.Errorf("OrdersFor(x) has a malformed order %+v", o)
		}
	}
}

func TestPublicEndpoints(t *testing.T) {
	p := newIdP(t)
	v := verifier(t, p, VerifierConfig{})
	profile, orders := Profile(v, slog.Default()), Orders(v, slog.Default())
	tests := []struct {
		name   string
		h      http.Handler
		path   string
		status int
		key    string
		cache  string // Cache-Control
	}{
		{"catalog", profile, "/api/catalog", 200, "products", CatalogCacheControl},
		{"catalog item", profile, "/api/catalog/p-101", 200, "name", CatalogCacheControl},
		{"missing catalog item", profile, "/api/catalog/nope", 404, "error", "no-store"},
		{"profile health", profile, "/healthz", 200, "status", "no-store"},
		{"orders status at root", orders, "/", 200, "status", "no-store"},
		{"orders health", orders, "/healthz", 200, "status", "no-store"},
		{"unknown path is JSON 404", orders, "/nope", 404, "error", "no-store"},
		{"profile root is 404", profile, "/", 404, "error", "no-store"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body, hdr := get(t, tt.h, tt.path, "")
			if status != tt.status || body[tt.key] == nil || hdr.Get("Cache-Control") != tt.cache {
				t.Errorf("GET %s = %d %v (Cache-Control %q), want %d with %q (%q)", tt.path, status, body,
					hdr.Get("Cache-Control"), tt.status, tt.key, tt.cache)
			}
		})
	}
}

func TestNotReady(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler()) // no discovery document
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	v, err := NewVerifier(ctx, VerifierConfig{Issuer: srv.URL, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	status, _, hdr := get(t, Profile(v, slog.Default()), "/api/profile", "Bearer x.y.z")
	if status != 503 || hdr.Get("Retry-After") == "" {
		t.Errorf("GET /api/profile before keys load = %d (Retry-After %q), want 503 with Retry-After", status, hdr.Get("Retry-After"))
	}
}

func TestDiscoveryRefusesIssuerMismatch(t *testing.T) {
	p := newIdP(t)
	_, err := discoverJWKS(context.Background(), http.DefaultClient, p.url+"/")
	if err == nil || !strings.Contains(err.Error(), "names issuer") {
		t.Errorf("discoverJWKS(issuer with trailing slash) error = %v, want an issuer mismatch", err)
	}
	u, err := discoverJWKS(context.Background(), http.DefaultClient, p.url)
	if err != nil || u != p.url+"/jwks" {
		t.Errorf("discoverJWKS(%q) = %q, %v, want %q", p.url, u, err, p.url+"/jwks")
	}
}

func TestNewVerifierRefusesBadConfig(t *testing.T) {
	for _, cfg := range []VerifierConfig{
		{},
		{Issuer: "http://x", Algorithms: []string{"HS256"}},
		{Issuer: "http://x", Algorithms: []string{"none"}},
	} {
		if _, err := NewVerifier(context.Background(), cfg); err == nil {
			t.Errorf("NewVerifier(%+v) error = nil, want an error", cfg)
		}
	}
}
