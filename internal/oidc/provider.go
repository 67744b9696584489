// Package oidc is gatehouse's OpenID Connect relying party: discovery (retried
// in the background), the authorization-code flow with PKCE through
// golang.org/x/oauth2, ID-token and bearer access-token validation with
// golang-jwt against the IdP's JWKS (fetched through a hardened jwkset storage
// read by keyfunc), refresh, RFC 7009 revocation and the end-session URL.
//
// A Provider is safe for concurrent use. Every call that talks to the IdP takes
// a ctx and uses the Provider's *http.Client, which has timeouts.
package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/safego"
	"golang.org/x/oauth2"
)

// ErrNotReady is returned (wrapped, with the reason) while discovery has not succeeded.
var ErrNotReady = errors.New("identity provider unavailable")

// Default limits; each can be changed through Config.
const (
	// DefaultHTTPTimeout bounds every request to the IdP.
	DefaultHTTPTimeout = 10 * time.Second
	// maxDiscoveryBytes bounds the discovery document.
	maxDiscoveryBytes = 1 << 20
	// maxTokenResponseBytes bounds token and revocation responses.
	maxTokenResponseBytes = 1 << 20
)

// Config configures a Provider.
type Config struct {
	// Issuer is the IdP's issuer identifier; it must equal the discovery document's issuer.
	Issuer string
	// ClientID is the gateway's client_id.
	ClientID string
	// ClientSecret is empty for a public client.
	ClientSecret string
	// ClientAuth is "client_secret_basic" (default) or "client_secret_post".
	ClientAuth string
	// RedirectURL is public_url + "/auth/callback".
	RedirectURL string
	// Scopes requested at login; "openid" is added when missing.
	Scopes []string
	// AuthParams are extra query parameters of the authorization request
	// (Auth0's audience, Google's access_type and prompt). New refuses the
	// ones the flow sets itself (OwnedAuthParam) and client credentials.
	AuthParams map[string]string
	// AllowedAlgorithms is the JWS allowlist, as config gives
	// oidc.allowed_algorithms (its default applied, asymmetric algorithms
	// only: config refuses "none" and HS*). Required: New refuses an empty
	// list, which golang-jwt would take for "any algorithm".
	AllowedAlgorithms []string
	// Leeway is the clock skew tolerated on exp, iat and nbf, as config
	// gives oidc.leeway (default 30s there; 0 here is none).
	Leeway time.Duration
	// HTTPClient is used for every IdP call. Default: a client with DefaultHTTPTimeout.
	HTTPClient *http.Client
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// JWKS tunes the key set; zero values take the documented defaults.
	JWKS JWKSOptions
	// DiscoveryBackoff is the first retry delay of discovery (doubling up to
	// DiscoveryMaxBackoff). Defaults 500ms and 30s.
	DiscoveryBackoff, DiscoveryMaxBackoff time.Duration
	// Now returns the current time; default time.Now. Tests set it.
	Now func() time.Time
}

// Metadata is the part of the discovery document gatehouse uses.
type Metadata struct {
	Issuer                            string   `json:"issuer"`
	AuthorizationEndpoint             string   `json:"authorization_endpoint"`
	TokenEndpoint                     string   `json:"token_endpoint"`
	JWKSURI                           string   `json:"jwks_uri"`
	RevocationEndpoint                string   `json:"revocation_endpoint,omitempty"`
	EndSessionEndpoint                string   `json:"end_session_endpoint,omitempty"`
	AuthorizationResponseIssParameter bool     `json:"authorization_response_iss_parameter_supported,omitempty"`
	IDTokenSigningAlgValuesSupported  []string `json:"id_token_signing_alg_values_supported,omitempty"`
}

// state is what discovery produced; it is swapped in once, atomically.
type state struct {
	meta   Metadata
	oauth  *oauth2.Config
	keys   *KeySet
	parser *parsers
}

// Provider is the relying party for one issuer.
type Provider struct {
	cfg    Config
	client *http.Client
	log    *slog.Logger
	now    func() time.Time

	st      atomic.Pointer[state]
	lastErr atomic.Pointer[error]
	ready   chan struct{}
	start   sync.Once
}

// New validates cfg and returns a Provider that is not ready until Start's
// background discovery succeeds.
func New(cfg Config) (*Provider, error) {
	if cfg.Issuer == "" {
		return nil, errors.New("oidc: issuer is required")
	}
	if cfg.ClientID == "" {
		return nil, errors.New("oidc: client_id is required")
	}
	switch cfg.ClientAuth {
	case "", "client_secret_basic", "client_secret_post":
	default:
		return nil, fmt.Errorf("oidc: unknown client_auth %q", cfg.ClientAuth)
	}
	if len(cfg.AllowedAlgorithms) == 0 {
		return nil, errors.New("oidc: no allowed algorithms")
	}
	cfg.AllowedAlgorithms = slices.Clone(cfg.AllowedAlgorithms)
	for name := range cfg.AuthParams {
		if OwnedAuthParam(name) {
			return nil, fmt.Errorf("oidc: authorization parameter %q is set by the relying party itself", name)
		}
	}
	cfg.AuthParams = maps.Clone(cfg.AuthParams)
	if !hasScope(cfg.Scopes, "openid") {
		cfg.Scopes = append([]string{"openid"}, cfg.Scopes...)
	}
	if cfg.DiscoveryBackoff <= 0 {
		cfg.DiscoveryBackoff = 500 * time.Millisecond
	}
	if cfg.DiscoveryMaxBackoff <= 0 {
		cfg.DiscoveryMaxBackoff = 30 * time.Second
	}
	p := &Provider{cfg: cfg, client: cfg.HTTPClient, log: cfg.Logger, now: cfg.Now, ready: make(chan struct{})}
	if p.client == nil {
		p.client = DefaultHTTPClient()
	}
	if p.log == nil {
		p.log = slog.Default()
	}
	if p.now == nil {
		p.now = time.Now
	}
	notYet := fmt.Errorf("%w: discovery not done yet", ErrNotReady)
	p.lastErr.Store(&notYet)
	return p, nil
}

// DefaultHTTPClient returns a client with connect, TLS, header and overall
// timeouts, for IdP calls.
func DefaultHTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	tr.TLSHandshakeTimeout = 5 * time.Second
	tr.ResponseHeaderTimeout = DefaultHTTPTimeout
	tr.MaxIdleConnsPerHost = 16
	return &http.Client{Timeout: DefaultHTTPTimeout, Transport: tr}
}

// Start launches discovery in the background, retrying with exponential
// backoff until it succeeds or ctx ends. ctx also ends the JWKS refresh. Only
// the first call has an effect.
func (p *Provider) Start(ctx context.Context) {
	p.start.Do(func() { safego.Loop(ctx, p.log, "oidc discovery", p.discoverLoop) })
}

// Ready returns nil once discovery has succeeded, otherwise an error wrapping
// ErrNotReady that says why (for /readyz and logs; not for browsers).
func (p *Provider) Ready() error {
	if p.st.Load() != nil {
		return nil
	}
	return *p.lastErr.Load()
}

// Done returns a channel closed once discovery has succeeded.
func (p *Provider) Done() <-chan struct{} { return p.ready }

// Metadata returns the discovery document, or ErrNotReady.
func (p *Provider) Metadata() (Metadata, error) {
	s, err := p.state()
	if err != nil {
		return Metadata{}, err
	}
	return s.meta, nil
}

// Issuer returns the configured issuer.
func (p *Provider) Issuer() string { return p.cfg.Issuer }

// ClientID returns the configured client_id.
func (p *Provider) ClientID() string { return p.cfg.ClientID }

// KeySet returns the JWKS key set, or ErrNotReady.
func (p *Provider) KeySet() (*KeySet, error) {
	s, err := p.state()
	if err != nil {
		return nil, err
	}
	return s.keys, nil
}

func (p *Provider) state() (*state, error) {
	if s := p.st.Load(); s != nil {
		return s, nil
	}
	return nil, p.Ready()
}

func (p *Provider) discoverLoop(ctx context.Context) {
	delay := p.cfg.DiscoveryBackoff
	for attempt := 1; ; attempt++ {
		err := p.discover(ctx)
		if err == nil {
			close(p.ready)
			p.log.InfoContext(ctx, "oidc discovery done", "issuer", p.cfg.Issuer, "attempts", attempt)
			return
		}
		wrapped := fmt.Errorf("%w: %w", ErrNotReady, err)
		p.lastErr.Store(&wrapped)
		p.log.WarnContext(ctx, "oidc discovery failed; retrying", "issuer", p.cfg.Issuer, "attempt", attempt, "retry_in", delay, "error", err)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		delay = min(delay*2, p.cfg.DiscoveryMaxBackoff)
	}
}

// discover fetches and checks the discovery document, then builds the key set.
func (p *Provider) discover(ctx context.Context) error {
	meta, err := p.fetchMetadata(ctx)
	if err != nil {
		return err
	}
	keys, err := NewKeySet(ctx, meta.JWKSURI, p.client, p.log, p.cfg.JWKS)
	if err != nil {
		return err
	}
	style := oauth2.AuthStyleInHeader
	if p.cfg.ClientAuth == "client_secret_post" || p.cfg.ClientSecret == "" {
		// A public client sends only client_id in the body (RFC 6749 §2.3, §4.1.3).
		style = oauth2.AuthStyleInParams
	}
	oc := &oauth2.Config{
		ClientID:     p.cfg.ClientID,
		ClientSecret: p.cfg.ClientSecret,
		RedirectURL:  p.cfg.RedirectURL,
		Scopes:       p.cfg.Scopes,
		Endpoint: oauth2.Endpoint{
			AuthURL:   meta.AuthorizationEndpoint,
			TokenURL:  meta.TokenEndpoint,
			AuthStyle: style,
		},
	}
	p.st.Store(&state{meta: meta, oauth: oc, keys: keys, parser: p.newParsers(meta.Issuer)})
	return nil
}

func (p *Provider) fetchMetadata(ctx context.Context) (Metadata, error) {
	u := strings.TrimSuffix(p.cfg.Issuer, "/") + "/.well-known/openid-configuration"
	ctx, cancel := context.WithTimeout(ctx, DefaultHTTPTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return Metadata{}, fmt.Errorf("building discovery request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		return Metadata{}, fmt.Errorf("fetching discovery document: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Metadata{}, fmt.Errorf("fetching discovery document: status %d", resp.StatusCode)
	}
	var m Metadata
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxDiscoveryBytes)).Decode(&m); err != nil {
		return Metadata{}, fmt.Errorf("decoding discovery document: %w", err)
	}
	// OpenID Connect Discovery 1.0 §4.3: the issuer must be exactly the one we asked.
	if m.Issuer != p.cfg.Issuer {
		return Metadata{}, fmt.Errorf("discovery issuer %q does not match configured issuer %q", m.Issuer, p.cfg.Issuer)
	}
	for name, v := range map[string]string{
		"authorization_endpoint": m.AuthorizationEndpoint,
		"token_endpoint":         m.TokenEndpoint,
		"jwks_uri":               m.JWKSURI,
	} {
		if err := absoluteURL(v); err != nil {
			return Metadata{}, fmt.Errorf("discovery %s: %w", name, err)
		}
	}
	for name, v := range map[string]*string{
		"revocation_endpoint":  &m.RevocationEndpoint,
		"end_session_endpoint": &m.EndSessionEndpoint,
	} {
		if *v != "" && absoluteURL(*v) != nil {
			p.log.WarnContext(ctx, "oidc discovery: ignoring invalid endpoint", "name", name, "value", *v)
			*v = ""
		}
	}
	return m, nil
}

func absoluteURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("parsing %q: %w", s, err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%q is not an absolute http(s) URL", s)
	}
	return nil
}

func hasScope(scopes []string, s string) bool {
	for _, x := range scopes {
		if x == s {
			return true
		}
	}
	return false
}
