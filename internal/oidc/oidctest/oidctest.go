// Package oidctest runs a real OpenID Provider (github.com/zitadel/oidc/v3's
// op package) in-process on a loopback port, for tests of the relying party
// and of the whole gateway. It has one client, one user and a login form that
// tests post programmatically (Provider.Login), and it counts the token
// endpoint's grants by type so tests can assert single-flight refreshes.
package oidctest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// User is the OP's one test user.
type User struct {
	Subject, Username, Password, Email, Name string
}

// Options configure Start; zero values take the documented defaults.
type Options struct {
	// ClientID defaults to "gatehouse".
	ClientID string
	// ClientSecret defaults to "gatehouse-secret"; Public true makes a public client (no secret, PKCE only).
	ClientSecret string
	Public       bool
	// PostAuth true makes the client authenticate with client_secret_post instead of basic.
	PostAuth bool
	// RedirectURIs and PostLogoutRedirectURIs are registered for the client;
	// more can be added with SetRedirectURIs after Start.
	RedirectURIs, PostLogoutRedirectURIs []string
	// AccessTokenTTL defaults to 5m; IDTokenTTL to 5m; RefreshTokenTTL to 1h.
	AccessTokenTTL, IDTokenTTL, RefreshTokenTTL time.Duration
	// User defaults to alice (sub "alice-sub", password "wonderland").
	User User
}

// Provider is a running OP.
type Provider struct {
	// Issuer is the OP's issuer URL (http://127.0.0.1:port).
	Issuer string
	// Server is the underlying test server.
	Server *httptest.Server
	// User is the test user.
	User User
	// ClientID and ClientSecret are the registered client's credentials.
	ClientID, ClientSecret string

	st *storage

	mu          sync.Mutex
	grants      map[string]int
	revocations int
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
	if o.ClientID == "" {
		o.ClientID = "gatehouse"
	}
	if o.ClientSecret == "" && !o.Public {
		o.ClientSecret = "gatehouse-secret"
	}
	if o.Public {
		o.ClientSecret = ""
	}
	if o.AccessTokenTTL == 0 {
		o.AccessTokenTTL = 5 * time.Minute
	}
	if o.IDTokenTTL == 0 {
		o.IDTokenTTL = 5 * time.Minute
	}
	if o.RefreshTokenTTL == 0 {
		o.RefreshTokenTTL = time.Hour
	}
	if o.User == (User{}) {
		o.User = User{Subject: "alice-sub", Username: "alice", Password: "wonderland", Email: "alice@example.test", Name: "Alice Liddell"}
	}
	key, err := newSigningKey("key-1")
	if err != nil {
		return nil, err
	}
	authMethod := oidc.AuthMethodBasic
	switch {
	case o.Public:
		authMethod = oidc.AuthMethodNone
	case o.PostAuth:
		authMethod = oidc.AuthMethodPost
	}
	st := &storage{
		client: &client{
			id: o.ClientID, secret: o.ClientSecret, authMethod: authMethod,
			redirectURIs: o.RedirectURIs, postLogoutURIs: o.PostLogoutRedirectURIs, idTokenTTL: o.IDTokenTTL,
		},
		user: o.User, accessTTL: o.AccessTokenTTL, refreshTTL: o.RefreshTokenTTL,
		authRequests: map[string]*authRequest{}, codes: map[string]string{},
		accessTokens: map[string]*token{}, refreshTokens: map[string]*token{},
		keys: []*signingKey{key},
	}
	p := &Provider{User: o.User, ClientID: o.ClientID, ClientSecret: o.ClientSecret, st: st, grants: map[string]int{}, changed: make(chan struct{})}
	mux := http.NewServeMux()
	p.Server = httptest.NewServer(p.intercept(mux))
	p.Issuer = p.Server.URL
	st.client.loginURL = p.Issuer + "/login?authRequestID="

	provider, err := op.NewProvider(&op.Config{
		CryptoKey:                sha256.Sum256([]byte("oidctest")),
		DefaultLogoutRedirectURI: "/logged-out",
		CodeMethodS256:           true,
		AuthMethodPost:           true,
		GrantTypeRefreshToken:    true,
	}, st, op.StaticIssuer(p.Issuer), op.WithAllowInsecure())
	if err != nil {
		p.Server.Close()
		return nil, fmt.Errorf("creating op: %w", err)
	}
	callback := op.AuthCallbackURL(provider)
	issuer := op.NewIssuerInterceptor(provider.IssuerFromRequest)
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		_ = loginPage.Execute(w, map[string]string{"ID": r.FormValue("authRequestID")})
	})
	mux.HandleFunc("POST /login", issuer.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.FormValue("id")
		if err := st.checkLogin(id, r.FormValue("username"), r.FormValue("password")); err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			_ = loginPage.Execute(w, map[string]string{"ID": id, "Error": err.Error()})
			return
		}
		http.Redirect(w, r, callback(r.Context(), id), http.StatusFound)
	}))
	mux.HandleFunc("GET /logged-out", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "signed out") })
	mux.Handle("/", provider)
	return p, nil
}

var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<title>oidctest login</title>
<form method="post" action="/login">
<input type="hidden" name="id" value="{{.ID}}">
<label>Username <input name="username"></label>
<label>Password <input name="password" type="password"></label>
<button type="submit">Log in</button>
{{if .Error}}<p role="alert">{{.Error}}</p>{{end}}
</form>`))

// intercept counts grants and revocations and applies Hold / SetDown.
func (p *Provider) intercept(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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

// SetRedirectURIs replaces the client's registered redirect and post-logout redirect URIs.
func (p *Provider) SetRedirectURIs(redirect, postLogout []string) {
	p.st.mu.Lock()
	defer p.st.mu.Unlock()
	p.st.client.redirectURIs = redirect
	p.st.client.postLogoutURIs = postLogout
}

// RotateKeys publishes a new signing key, signs with it from now on and,
// when dropOld, withdraws every older key from the JWKS.
func (p *Provider) RotateKeys(newKID string, dropOld bool) error {
	k, err := newSigningKey(newKID)
	if err != nil {
		return err
	}
	p.st.mu.Lock()
	defer p.st.mu.Unlock()
	if dropOld {
		p.st.keys = []*signingKey{k}
	} else {
		p.st.keys = append([]*signingKey{k}, p.st.keys...)
	}
	return nil
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
	return p.follow(ctx, c, http.MethodPost, p.Issuer+"/login", form)
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
		if !strings.HasPrefix(next.String(), p.Issuer+"/") || strings.HasPrefix(next.Path, "/login") {
			return next.String(), nil
		}
		method, target, form = http.MethodGet, next.String(), nil
	}
	return "", fmt.Errorf("too many redirects from %s", target)
}

// client implements op.Client.
type client struct {
	id, secret     string
	authMethod     oidc.AuthMethod
	redirectURIs   []string
	postLogoutURIs []string
	loginURL       string
	idTokenTTL     time.Duration
}

func (c *client) GetID() string                       { return c.id }
func (c *client) RedirectURIs() []string              { return c.redirectURIs }
func (c *client) PostLogoutRedirectURIs() []string    { return c.postLogoutURIs }
func (c *client) ApplicationType() op.ApplicationType { return op.ApplicationTypeWeb }
func (c *client) AuthMethod() oidc.AuthMethod         { return c.authMethod }
func (c *client) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c *client) GrantTypes() []oidc.GrantType {
	return []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken}
}
func (c *client) LoginURL(id string) string            { return c.loginURL + url.QueryEscape(id) }
func (c *client) AccessTokenType() op.AccessTokenType  { return op.AccessTokenTypeJWT }
func (c *client) IDTokenLifetime() time.Duration       { return c.idTokenTTL }
func (c *client) DevMode() bool                        { return true }
func (c *client) IsScopeAllowed(string) bool           { return false }
func (c *client) IDTokenUserinfoClaimsAssertion() bool { return true }
func (c *client) ClockSkew() time.Duration             { return 0 }
func (c *client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

// SetAccessTokenTTL changes the lifetime of access tokens issued from now on.
func (p *Provider) SetAccessTokenTTL(d time.Duration) {
	p.st.mu.Lock()
	defer p.st.mu.Unlock()
	p.st.accessTTL = d
}

// DropRefreshTokens invalidates every refresh token issued so far (as an IdP
// does when the user's session ends there): their next use gets invalid_grant.
func (p *Provider) DropRefreshTokens() {
	p.st.mu.Lock()
	defer p.st.mu.Unlock()
	clear(p.st.refreshTokens)
}
