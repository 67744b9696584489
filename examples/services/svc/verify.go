// Package svc holds the two example microservices behind gatehouse — profile
// and orders — and the bearer-token check they share. It is what a team's own
// service does when gatehouse forwards `Authorization: Bearer <access token>`:
// verify the JWT against the issuer's published keys, then trust its claims.
//
// The services never see a browser cookie and never call the IdP except to
// fetch its JWKS. `go run ./examples/services` starts both.
package svc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

// DefaultAlgorithms is the JWS algorithm allowlist when VerifierConfig.Algorithms
// is empty: asymmetric only. HS256 with the IdP's public key as the "secret"
// and "none" are the classic forgeries an allowlist shuts out.
var DefaultAlgorithms = []string{"RS256", "ES256", "PS256", "EdDSA"}

// VerifierConfig says which tokens a service accepts.
type VerifierConfig struct {
	// Issuer must equal the token's iss claim exactly. Required.
	Issuer string
	// JWKSURL is where the signing keys are fetched. Default: the jwks_uri
	// of Issuer's discovery document. Set it when the service reaches the IdP
	// under another host name than the one in iss (containers: see deploy/).
	JWKSURL string
	// Audience, when set, must be one of the token's aud values.
	Audience string
	// Algorithms is the JWS allowlist. Default DefaultAlgorithms.
	Algorithms []string
	// Leeway is the clock skew tolerated on exp/nbf/iat. Default 30s.
	Leeway time.Duration
	// HTTPClient fetches discovery and the JWKS. Default: 10s timeout.
	HTTPClient *http.Client
	// Logger receives key-fetch problems. Default slog.Default().
	Logger *slog.Logger
}

// Claims are the parts of a verified access token the services use.
type Claims struct {
	Subject           string   `json:"sub"`
	Name              string   `json:"name,omitempty"`
	Email             string   `json:"email,omitempty"`
	PreferredUsername string   `json:"preferred_username,omitempty"`
	Scope             string   `json:"scope,omitempty"`
	Audience          []string `json:"aud,omitempty"`
	Issuer            string   `json:"iss"`
	ExpiresAt         int64    `json:"exp"`
}

// Errors Verify returns; handlers answer all but ErrNotReady with 401.
var (
	// ErrNoToken: no "Authorization: Bearer" header.
	ErrNoToken = errors.New("missing bearer token")
	// ErrInvalidToken: the token failed a check (signature, iss, exp, aud, alg).
	ErrInvalidToken = errors.New("invalid token")
	// ErrNotReady: the issuer's keys could not be fetched yet.
	ErrNotReady = errors.New("signing keys not available yet")
)

// Verifier checks bearer tokens against an issuer's JWKS. Start it with
// NewVerifier; it finds the keys in the background, so a service can come up
// before its IdP does.
type Verifier struct {
	cfg    VerifierConfig
	parser *jwt.Parser
	kf     atomic.Pointer[keyfunc.Keyfunc]
	ready  chan struct{} // closed once kf is set
	log    *slog.Logger
}

// NewVerifier validates cfg and starts fetching the keys in the background
// (discovery first when JWKSURL is empty), retrying until ctx ends. ctx also
// ends the periodic JWKS refresh.
func NewVerifier(ctx context.Context, cfg VerifierConfig) (*Verifier, error) {
	if cfg.Issuer == "" {
		return nil, errors.New("issuer is required")
	}
	if len(cfg.Algorithms) == 0 {
		cfg.Algorithms = DefaultAlgorithms
	}
	for _, a := range cfg.Algorithms {
		if a == "none" || strings.HasPrefix(a, "HS") {
			return nil, fmt.Errorf("algorithm %q is not allowed for tokens signed by an IdP", a)
		}
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = 30 * time.Second
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(cfg.Algorithms),
		jwt.WithIssuer(cfg.Issuer),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(cfg.Leeway),
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	v := &Verifier{cfg: cfg, parser: jwt.NewParser(opts...), ready: make(chan struct{}), log: cfg.Logger}
	go v.load(ctx)
	return v, nil
}

// load finds the JWKS URL and creates the key function, retrying with
// backoff (1s doubling to 30s) until it succeeds or ctx ends.
func (v *Verifier) load(ctx context.Context) {
	delay := time.Second
	for {
		err := v.loadOnce(ctx)
		if err == nil || ctx.Err() != nil {
			return
		}
		v.log.WarnContext(ctx, "fetching signing keys failed; retrying", "issuer", v.cfg.Issuer, "retry_in", delay, "error", err)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		delay = min(2*delay, 30*time.Second)
	}
}

func (v *Verifier) loadOnce(ctx context.Context) error {
	jwksURL := v.cfg.JWKSURL
	if jwksURL == "" {
		u, err := discoverJWKS(ctx, v.cfg.HTTPClient, v.cfg.Issuer)
		if err != nil {
			return err
		}
		jwksURL = u
	}
	fail := false
	kf, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{jwksURL}, keyfunc.Override{
		Client:      v.cfg.HTTPClient,
		HTTPTimeout: 10 * time.Second,
		// Fail here (and retry) rather than start with an empty key set.
		NoErrorReturnFirstHTTPReq: &fail,
		RefreshInterval:           15 * time.Minute,
		// A token with an unknown kid (key rotation) may refresh the set, at
		// most every 30s: attacker-chosen kids cannot hammer the IdP.
		RefreshUnknownKID: rate.NewLimiter(rate.Every(30*time.Second), 1),
		RefreshErrorHandlerFunc: func(u string) func(context.Context, error) {
			return func(ctx context.Context, err error) {
				v.log.WarnContext(ctx, "refreshing JWKS failed", "url", u, "error", err)
			}
		},
	})
	if err != nil {
		return fmt.Errorf("fetching JWKS %q: %w", jwksURL, err)
	}
	v.kf.Store(&kf)
	close(v.ready)
	v.log.InfoContext(ctx, "signing keys loaded", "issuer", v.cfg.Issuer, "jwks", jwksURL)
	return nil
}

// discoverJWKS reads jwks_uri from the issuer's discovery document and checks
// that the document names the same issuer (OpenID Connect Discovery §4.3).
func discoverJWKS(ctx context.Context, client *http.Client, issuer string) (string, error) {
	u := strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", fmt.Errorf("discovery request: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("discovery: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("discovery %q: status %d", u, resp.StatusCode)
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&doc); err != nil {
		return "", fmt.Errorf("decoding discovery %q: %w", u, err)
	}
	if doc.Issuer != issuer {
		return "", fmt.Errorf("discovery %q names issuer %q, want %q", u, doc.Issuer, issuer)
	}
	if doc.JWKSURI == "" {
		return "", fmt.Errorf("discovery %q has no jwks_uri", u)
	}
	return doc.JWKSURI, nil
}

// Ready reports whether the signing keys have been loaded.
func (v *Verifier) Ready() bool { return v.kf.Load() != nil }

// Done returns a channel closed once the signing keys are loaded.
func (v *Verifier) Done() <-chan struct{} { return v.ready }

// Verify checks the request's bearer token and returns its claims.
func (v *Verifier) Verify(ctx context.Context, authorization string) (*Claims, error) {
	scheme, tok, ok := strings.Cut(authorization, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return nil, ErrNoToken
	}
	kf := v.kf.Load()
	if kf == nil {
		return nil, ErrNotReady
	}
	var mc claimsJWT
	if _, err := v.parser.ParseWithClaims(strings.TrimSpace(tok), &mc, (*kf).KeyfuncCtx(ctx)); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if mc.Subject == "" {
		return nil, fmt.Errorf("%w: no sub claim", ErrInvalidToken)
	}
	c := &Claims{
		Subject: mc.Subject, Name: mc.Name, Email: mc.Email, PreferredUsername: mc.PreferredUsername,
		Scope: mc.Scope, Audience: mc.Audience, Issuer: mc.Issuer,
	}
	if mc.ExpiresAt != nil {
		c.ExpiresAt = mc.ExpiresAt.Unix()
	}
	return c, nil
}

// claimsJWT is the token's claim set as golang-jwt decodes it.
type claimsJWT struct {
	jwt.RegisteredClaims
	Name              string `json:"name"`
	Email             string `json:"email"`
	PreferredUsername string `json:"preferred_username"`
	Scope             string `json:"scope"`
}
