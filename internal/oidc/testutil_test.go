package oidc

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/oidc/oidctest"
)

// testLeeway is oidc.leeway's default in config.
const testLeeway = 30 * time.Second

// testAlgs is the algorithm allowlist config gives by default.
var testAlgs = []string{"RS256", "ES256", "PS256", "EdDSA"}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// readyProvider returns a Provider for iss whose discovery has completed.
func readyProvider(t *testing.T, iss *oidctest.Issuer, mutate func(*Config)) *Provider {
	t.Helper()
	cfg := Config{Issuer: iss.URL, ClientID: iss.ClientID, ClientSecret: "s", RedirectURL: "http://rp.test/auth/callback",
		AllowedAlgorithms: testAlgs, Leeway: testLeeway, Logger: quietLogger()}
	if mutate != nil {
		mutate(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	p.Start(ctx)
	waitReady(t, p)
	return p
}

func waitReady(t *testing.T, p *Provider) {
	t.Helper()
	select {
	case <-p.Done():
	case <-time.After(30 * time.Second): // a hang guard, not a timing assertion
		t.Fatalf("provider not ready: %v", p.Ready())
	}
}
