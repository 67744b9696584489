package oidc

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse-dev/gatehouse/internal/oidc/oidctest"
)

func jwksJSON(t *testing.T, keys ...any) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseJWKSSkipsUnusableKeys(t *testing.T) {
	t.Parallel()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	good := oidctest.RSAJWK("good", &key.PublicKey)
	enc := oidctest.RSAJWK("enc", &key.PublicKey)
	enc["use"] = "enc"
	body := jwksJSON(t,
		map[string]string{"kty": "XYZ", "kid": "future", "foo": "bar"},                                              // unknown type
		map[string]string{"kty": "oct", "kid": "hmac", "k": base64.RawURLEncoding.EncodeToString([]byte("secret"))}, // symmetric
		map[string]string{"kty": "EC", "kid": "bad-ec", "crv": "P-256", "x": "AAAA", "y": "AAAA"},                   // malformed
		map[string]string{"kty": "OKP", "kid": "x448", "crv": "X448", "x": "AAAA"},                                  // unsupported curve
		"not an object",
		enc,
		good,
	)
	keys, err := ParseJWKS(body, quietLogger())
	if err != nil {
		t.Fatalf("ParseJWKS() error = %v, want the usable key kept", err)
	}
	var kids []string
	for _, k := range keys {
		kids = append(kids, k.Marshal().KID)
	}
	if len(kids) != 1 || kids[0] != "good" {
		t.Errorf("ParseJWKS() kids = %v, want [good]", kids)
	}

	if _, err := ParseJWKS(jwksJSON(t, map[string]string{"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"}), quietLogger()); err == nil {
		t.Error("ParseJWKS(only oct) error = nil, want no usable key")
	}
}

// TestOctKeyNeverVerifies: a JWKS publishing a symmetric key must not let a
// token HMAC-signed with that (public!) key pass, whatever the allowlist.
func TestOctKeyNeverVerifies(t *testing.T) {
	t.Parallel()
	iss := oidctest.NewIssuer(t)
	secret := []byte("a-published-symmetric-secret-of-32b")
	iss.SetJWKS(jwksJSON(t,
		oidctest.RSAJWK(iss.KID, &iss.Key.PublicKey),
		map[string]string{"kty": "oct", "kid": "hmac", "alg": "HS256", "k": base64.RawURLEncoding.EncodeToString(secret)},
	), "")
	p := readyProvider(t, iss, nil)
	ks, _ := p.KeySet()
	if _, err := ks.KeyRead(context.Background(), "hmac"); err == nil {
		t.Fatal("KeyRead(hmac) error = nil, want the oct key absent")
	}
	// Even a parser allowing HS256 gets no key for it.
	parser := jwt.NewParser(jwt.WithValidMethods([]string{"HS256"}))
	tok := oidctest.SignWith(jwt.SigningMethodHS256, secret, "hmac", iss.Claims("n"))
	if _, err := parser.Parse(tok, ks.Keyfunc(context.Background())); err == nil {
		t.Error("HS256 token with the JWKS oct key verified, want refusal")
	}
}

func TestJWKSSizeBound(t *testing.T) {
	t.Parallel()
	iss := oidctest.NewIssuer(t)
	big := jwksJSON(t, oidctest.RSAJWK(iss.KID, &iss.Key.PublicKey), map[string]string{"kty": "XYZ", "pad": strings.Repeat("A", 4096)})
	iss.SetJWKS(big, "")
	_, err := NewKeySet(context.Background(), iss.URL+"/jwks", nil, quietLogger(), JWKSOptions{MaxBytes: 1024})
	if !errors.Is(err, ErrJWKSTooLarge) {
		t.Fatalf("NewKeySet(oversized JWKS) error = %v, want ErrJWKSTooLarge", err)
	}
	if _, err := NewKeySet(context.Background(), iss.URL+"/jwks", nil, quietLogger(), JWKSOptions{MaxBytes: int64(len(big))}); err != nil {
		t.Fatalf("NewKeySet(JWKS at the limit) error = %v, want nil", err)
	}
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestUnknownKIDRefreshLimited: a spray of unknown kids causes at most one
// JWKS fetch per interval, and a genuine rotation is picked up once the
// interval has passed (seconds, not keyfunc's default five minutes).
func TestUnknownKIDRefreshLimited(t *testing.T) {
	t.Parallel()
	iss := oidctest.NewIssuer(t)
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ks, err := NewKeySet(ctx, iss.URL+"/jwks", nil, quietLogger(), JWKSOptions{UnknownKIDInterval: 10 * time.Second, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	base := iss.JWKSFetches()
	for i := range 50 {
		if _, err := ks.KeyRead(ctx, "bogus-"+string(rune('a'+i%26))); err == nil {
			t.Fatal("KeyRead(bogus) error = nil")
		}
	}
	if got := iss.JWKSFetches() - base; got != 1 {
		t.Fatalf("JWKS fetches after 50 bogus kids = %d, want 1", got)
	}

	// The IdP rotates: new key published, old one withdrawn.
	newKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	iss.SetJWKS(oidctest.JWKS(map[string]*rsa.PublicKey{"k2": &newKey.PublicKey}), "")
	if _, err := ks.KeyRead(ctx, "k2"); err == nil {
		t.Fatal("KeyRead(k2) inside the limit interval = nil error; the limiter did not hold")
	}
	clock.Add(10 * time.Second)
	if _, err := ks.KeyRead(ctx, "k2"); err != nil {
		t.Fatalf("KeyRead(k2) after the interval error = %v, want the rotated key", err)
	}
	if _, err := ks.KeyRead(ctx, iss.KID); err == nil {
		t.Error("KeyRead(withdrawn k1) error = nil, want it gone after rotation")
	}
}

func TestRefreshInterval(t *testing.T) {
	t.Parallel()
	o := JWKSOptions{}
	o.defaults()
	tests := []struct {
		header string
		want   time.Duration
	}{
		{"", 15 * time.Minute},
		{"max-age=300", 5 * time.Minute},
		{"public, max-age=600, must-revalidate", 10 * time.Minute},
		{"MAX-AGE=120", 2 * time.Minute},
		{"max-age=0", time.Minute},
		{"max-age=5", time.Minute},
		{"max-age=999999999999", time.Hour},
		{"max-age=-5", 15 * time.Minute},
		{"max-age=abc", 15 * time.Minute},
		{"no-cache", 15 * time.Minute},
	}
	for _, tt := range tests {
		if got := refreshInterval(tt.header, o); got != tt.want {
			t.Errorf("refreshInterval(%q) = %v, want %v", tt.header, got, tt.want)
		}
	}
}

func TestKeySetHonoursMaxAge(t *testing.T) {
	t.Parallel()
	iss := oidctest.NewIssuer(t)
	iss.SetJWKS(oidctest.JWKS(map[string]*rsa.PublicKey{iss.KID: &iss.Key.PublicKey}), "public, max-age=300")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ks, err := NewKeySet(ctx, iss.URL+"/jwks", nil, quietLogger(), JWKSOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := ks.Interval(); got != 5*time.Minute {
		t.Errorf("Interval() = %v, want 5m from max-age=300", got)
	}
}

func TestKeySetKeepsKeysWhenRefreshFails(t *testing.T) {
	t.Parallel()
	iss := oidctest.NewIssuer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ks, err := NewKeySet(ctx, iss.URL+"/jwks", nil, quietLogger(), JWKSOptions{})
	if err != nil {
		t.Fatal(err)
	}
	iss.SetJWKS([]byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`), "")
	if err := ks.Refresh(ctx); err == nil {
		t.Fatal("Refresh(JWKS without usable keys) error = nil")
	}
	if _, err := ks.KeyRead(ctx, iss.KID); err != nil {
		t.Errorf("KeyRead(%s) after failed refresh error = %v, want the old key kept", iss.KID, err)
	}
}

// FuzzParseJWKS: any body either fails or yields only asymmetric signing keys.
func FuzzParseJWKS(f *testing.F) {
	key, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(oidctest.JWKS(map[string]*rsa.PublicKey{"k": &key.PublicKey}))
	f.Add([]byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0"},{"kty":"EC","crv":"P-256","x":"","y":""}]}`))
	f.Add([]byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`))
	f.Add([]byte(`{"keys":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		keys, err := ParseJWKS(body, quietLogger())
		if err != nil {
			return
		}
		if len(keys) == 0 {
			t.Fatal("ParseJWKS() = no keys and no error")
		}
		for _, k := range keys {
			switch k.Key().(type) {
			case []byte:
				t.Fatalf("ParseJWKS(%q) kept a symmetric key", body)
			}
			if u := k.Marshal().USE; u != "" && u != "sig" {
				t.Fatalf("ParseJWKS(%q) kept a key with use %q", body, u)
			}
		}
	})
}
