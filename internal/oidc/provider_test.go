package oidc

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/oidc/oidctest"
)

// TestDiscoveryRetriesUntilIdPUp: the provider starts while the IdP is down,
// reports why it is not ready, and becomes ready once the IdP answers. The
// third discovery request is held until the test has looked at Ready: by
// then the first two have failed (discovery is sequential), so nothing is
// polled.
func TestDiscoveryRetriesUntilIdPUp(t *testing.T) {
	t.Parallel()
	iss := oidctest.NewIssuer(t)
	var up atomic.Bool
	var attempts atomic.Int32
	third, release := make(chan struct{}), make(chan struct{})
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/openid-configuration") {
			if attempts.Add(1) == 3 {
				close(third)
				<-release
			}
			if !up.Load() {
				http.Error(w, "down", http.StatusServiceUnavailable)
				return
			}
		}
		iss.Server.Config.Handler.ServeHTTP(w, r)
	}))
	defer front.Close()
	var releaseOnce sync.Once
	open := func() { releaseOnce.Do(func() { close(release) }) }
	defer open() // before front.Close, which waits for the held request
	iss.SetMetadata("issuer", front.URL)
	iss.SetMetadata("jwks_uri", iss.URL+"/jwks")

	p, err := New(Config{Issuer: front.URL, ClientID: "gatehouse", AllowedAlgorithms: testAlgs, Logger: quietLogger(), DiscoveryBackoff: 1, DiscoveryMaxBackoff: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Ready(); !errors.Is(err, ErrNotReady) {
		t.Fatalf("Ready() before Start = %v, want ErrNotReady", err)
	}
	if _, err := p.AuthCodeURL("s", "n", "v"); !errors.Is(err, ErrNotReady) {
		t.Fatalf("AuthCodeURL() before discovery error = %v, want ErrNotReady", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p.Start(ctx)
	select {
	case <-third:
	case <-time.After(30 * time.Second): // a hang guard, not a timing assertion
		t.Fatalf("no third discovery attempt after two failures (%d attempts); Ready() = %v", attempts.Load(), p.Ready())
	}
	if err := p.Ready(); !errors.Is(err, ErrNotReady) || !strings.Contains(err.Error(), "503") {
		t.Errorf("Ready() after two failed attempts = %v, want ErrNotReady with the reason (status 503)", err)
	}
	up.Store(true)
	open()
	waitReady(t, p)
	if err := p.Ready(); err != nil {
		t.Errorf("Ready() after discovery = %v, want nil", err)
	}
}

func TestDiscoveryRefusesIssuerMismatch(t *testing.T) {
	t.Parallel()
	iss := oidctest.NewIssuer(t)
	iss.SetMetadata("issuer", "https://evil.example")
	p, err := New(Config{Issuer: iss.URL, ClientID: "gatehouse", AllowedAlgorithms: testAlgs, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.discover(context.Background()); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("discover() error = %v, want issuer mismatch", err)
	}
}

func TestAuthCodeURL(t *testing.T) {
	t.Parallel()
	iss := oidctest.NewIssuer(t)
	p := readyProvider(t, iss, func(c *Config) { c.Scopes = []string{"profile"} })
	raw, err := p.AuthCodeURL("the-state", "the-nonce", "the-verifier-the-verifier-the-verifier-123")
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	want := map[string]string{
		"response_type": "code", "client_id": "gatehouse", "state": "the-state", "nonce": "the-nonce",
		"code_challenge_method": "S256", "redirect_uri": "http://rp.test/auth/callback", "scope": "openid profile",
	}
	for k, v := range want {
		if q.Get(k) != v {
			t.Errorf("AuthCodeURL() %s = %q, want %q", k, q.Get(k), v)
		}
	}
	if q.Get("code_challenge") == "" || strings.Contains(raw, "the-verifier") {
		t.Errorf("AuthCodeURL() = %s, want an S256 challenge and no verifier", raw)
	}
}

func TestEndSessionURL(t *testing.T) {
	t.Parallel()
	iss := oidctest.NewIssuer(t)
	p := readyProvider(t, iss, nil)
	got, err := url.Parse(p.EndSessionURL("id.tok.en", "http://rp.test/bye"))
	if err != nil {
		t.Fatal(err)
	}
	q := got.Query()
	if got.Path != "/logout" || q.Get("id_token_hint") != "id.tok.en" || q.Get("post_logout_redirect_uri") != "http://rp.test/bye" {
		t.Errorf("EndSessionURL() = %s, want /logout with id_token_hint and post_logout_redirect_uri", got)
	}
}
