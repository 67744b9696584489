// Package oidctest runs a real OpenID Provider — internal/devop, built on
// github.com/zitadel/oidc/v3's op package — in-process on a loopback port,
// for tests of the relying party and of the whole gateway. It has one
// client, one user and a login form that tests post programmatically
// (Provider.Login), and it counts the token endpoint's grants by type so
// tests can assert single-flight refreshes. Issuer holds a scriptable fake
// issuer for the negative tests a real OP cannot stage.
package oidctest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/devop"
)

// User is the OP's one test user.
type User = devop.User

// Options configure Start; zero values take the documented defaults (see
// devop.Options: client "gatehouse" with secret "gatehouse-secret", user
// alice / wonderland with subject "alice-sub", 5m access and ID tokens, 1h
// refresh tokens).
type Options = devop.Options

// Provider is a running OP: the development OP (whose fields Issuer,
// User, ClientID, ClientSecret and methods SetRedirectURIs, RotateKeys,
// SetAccessTokenTTL, DropRefreshTokens are promoted) behind a test server
// that counts grants and can hold or fail token requests.
type Provider struct {
	*devop.Provider
	// Server is the underlying test server; the issuer is its URL.
	Server *httptest.Server

	mu          sync.Mutex
	grants      map[string]int
	revocations int
	authorize   []url.Values  // each authorization request's query, in order
	hold        chan struct{} // non-nil: token requests wait on it
	down        bool
	changed     chan struct{} // closed and replaced whenever a grant is counted
}

// Start runs an OP until the test ends.
func Start(t testing.TB, opts Options) *Provider {
	t.Helper()
	p, err := start(opts)
	if err != nil {
		t.Fatalf("oidctest.Start: %v", err)
	}
	t.Cleanup(p.Server.Close)
	return p
}

func start(o Options) (*Provider, error) {
	// The issuer must be known before the OP is built: take the listener's
	// address first, start serving after.
	srv := httptest.NewUnstartedServer(nil)
	dp, err := devop.New("http://"+srv.Listener.Addr().String(), o)
	if err != nil {
		srv.Close()
		return nil, err
	}
	p := &Provider{Provider: dp, Server: srv, grants: map[string]int{}, changed: make(chan struct{})}
	srv.Config.Handler = p.intercept(dp.Handler())
	srv.Start()
	return p, nil
}

// intercept records authorization requests, counts grants and revocations
// and applies Hold / SetDown.
func (p *Provider) intercept(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/authorize" {
			p.mu.Lock()
			p.authorize = append(p.authorize, r.URL.Query())
			p.mu.Unlock()
		}
		if r.Method == http.MethodPost && (r.URL.Path == "/oauth/token" || r.URL.Path == "/revoke") {
			body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
			r.Body = io.NopCloser(bytes.NewReader(body))
			form, _ := url.ParseQuery(string(body))
			p.mu.Lock()
			if r.URL.Path == "/revoke" {
				p.revocations++
			} else {
				p.grants[form.Get("grant_type")]++
				close(p.changed)
				p.changed = make(chan struct{})
			}
			p.mu.Unlock()
		}
		p.mu.Lock()
		down, hold := p.down, p.hold
		p.mu.Unlock()
		if down && r.URL.Path != "/login" {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		if r.Method == http.MethodPost && r.URL.Path == "/oauth/token" {
			if hold != nil {
				select {
				case <-hold:
				case <-r.Context().Done():
					return
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// Grants returns how many token requests of grantType ("authorization_code",
// "refresh_token") the token endpoint received, including those answered 503
// while SetDown(true).
func (p *Provider) Grants(grantType string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.grants[grantType]
}

// WaitGrants blocks until the token endpoint has received at least n
// requests of grantType (counted on arrival, before any Hold) or ctx ends.
func (p *Provider) WaitGrants(ctx context.Context, grantType string, n int) error {
	for {
		p.mu.Lock()
		got, ch := p.grants[grantType], p.changed
		p.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("waiting for %d %s grants (have %d): %w", n, grantType, got, ctx.Err())
		}
	}
}

// AuthorizeRequests returns the query of each request the authorization
// endpoint received, oldest first.
func (p *Provider) AuthorizeRequests() []url.Values {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.authorize)
}

// Revocations returns how many requests the revocation endpoint received.
func (p *Provider) Revocations() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.revocations
}

// Hold makes token requests wait until the returned release function is called.
func (p *Provider) Hold() (release func()) {
	ch := make(chan struct{})
	p.mu.Lock()
	p.hold = ch
	p.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			p.mu.Lock()
			p.hold = nil
			p.mu.Unlock()
			close(ch)
		})
	}
}

// SetDown makes every endpoint but the login form answer 503 while down is true.
func (p *Provider) SetDown(down bool) {
	p.mu.Lock()
	p.down = down
	p.mu.Unlock()
}

// Login drives the OP's side of a login: it GETs authorizeURL (the RP's
// redirect target), posts the user's credentials to the login form and
// follows the OP's redirects until one leaves the OP. It returns that URL: the
// RP's redirect_uri with code and state. c must not follow redirects itself
// (CheckRedirect returning http.ErrUseLastResponse).
func (p *Provider) Login(ctx context.Context, c *http.Client, authorizeURL string) (string, error) {
	loc, err := p.follow(ctx, c, http.MethodGet, authorizeURL, nil)
	if err != nil {
		return "", err
	}
	u, err := url.Parse(loc)
	if err != nil {
		return "", fmt.Errorf("parsing login redirect: %w", err)
	}
	id := u.Query().Get("authRequestID")
	if id == "" {
		return loc, nil // the OP answered at once (an error redirect to the RP)
	}
	form := url.Values{"id": {id}, "username": {p.User.Username}, "password": {p.User.Password}}
	return p.follow(ctx, c, http.MethodPost, p.Server.URL+"/login", form)
}

// follow performs one request and then follows redirects while they stay on
// the OP, returning the first location outside it.
func (p *Provider) follow(ctx context.Context, c *http.Client, method, target string, form url.Values) (string, error) {
	for range 10 {
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, err := http.NewRequestWithContext(ctx, method, target, body)
		if err != nil {
			return "", fmt.Errorf("building request: %w", err)
		}
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := c.Do(req)
		if err != nil {
			return "", fmt.Errorf("requesting %s: %w", target, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		if resp.StatusCode/100 != 3 || loc == "" {
			return "", fmt.Errorf("%s %s: status %d, want a redirect", method, target, resp.StatusCode)
		}
		next, err := resp.Request.URL.Parse(loc)
		if err != nil {
			return "", fmt.Errorf("parsing location %q: %w", loc, err)
		}
		if !strings.HasPrefix(next.String(), p.Server.URL+"/") || strings.HasPrefix(next.Path, "/login") {
			return next.String(), nil
		}
		method, target, form = http.MethodGet, next.String(), nil
	}
	return "", fmt.Errorf("too many redirects from %s", target)
}
