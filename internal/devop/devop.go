// Package devop is a development OpenID Provider: a real OP
// (github.com/zitadel/oidc/v3's op package) with one client, one user and a
// login page a person can use, all in memory. `go run ./examples/demo` runs
// it beside gatehouse, and internal/oidc/oidctest wraps it for tests.
//
// It is for development only: the user's password is in the Options, the
// login page names the test user, and nothing survives a restart.
package devop

import (
	"crypto/rand"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// User is the OP's one user.
type User struct {
	Subject, Username, Password, Email, Name string
}

// DefaultUser returns the user when Options.User is zero: alice /
// wonderland, subject "alice-sub".
func DefaultUser() User {
	return User{
		Subject: "alice-sub", Username: "alice", Password: "wonderland",
		Email: "alice@example.test", Name: "Alice Liddell",
	}
}

// Options configure New; zero values take the documented defaults.
type Options struct {
	// ClientID defaults to "gatehouse".
	ClientID string
	// ClientSecret defaults to "gatehouse-secret"; Public true makes a
	// public client (no secret, PKCE only).
	ClientSecret string
	Public       bool
	// PostAuth true makes the client authenticate with client_secret_post
	// instead of client_secret_basic.
	PostAuth bool
	// RedirectURIs and PostLogoutRedirectURIs are registered for the client;
	// SetRedirectURIs replaces them later.
	RedirectURIs, PostLogoutRedirectURIs []string
	// AccessTokenTTL defaults to 5m; IDTokenTTL to 5m; RefreshTokenTTL to 1h.
	AccessTokenTTL, IDTokenTTL, RefreshTokenTTL time.Duration
	// User defaults to DefaultUser().
	User User
	// TrailingSlashIssuer makes the issuer identifier the origin followed by
	// "/", as Auth0's (https://tenant.auth0.com/) and authentik's are: a
	// relying party must then use it exactly so, in discovery and the
	// tokens' iss. Default false: the bare origin.
	TrailingSlashIssuer bool
}

// withDefaults returns o with every zero value replaced by its default.
func (o Options) withDefaults() Options {
	if o.ClientID == "" {
		o.ClientID = "gatehouse"
	}
	if o.Public {
		o.ClientSecret = ""
	} else if o.ClientSecret == "" {
		o.ClientSecret = "gatehouse-secret"
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
		o.User = DefaultUser()
	}
	return o
}

// Provider is an OP ready to serve: mount Handler at the root of the
// issuer's origin.
type Provider struct {
	// Issuer is the issuer identifier (see New and Options.TrailingSlashIssuer).
	Issuer string
	// User is the test user.
	User User
	// ClientID and ClientSecret are the registered client's credentials.
	ClientID, ClientSecret string

	st      *storage
	handler http.Handler
}

// LoggedOutPath is where the OP sends a browser after logout when the
// client named no post_logout_redirect_uri.
const LoggedOutPath = "/logged-out"

// New builds an OP whose issuer identifier is issuer: an http(s) origin
// with no path (http is accepted, for loopback development), with a
// trailing "/" only under Options.TrailingSlashIssuer. Serve its Handler
// at that origin.
func New(issuer string, opts Options) (*Provider, error) {
	u, err := url.Parse(issuer)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		strings.TrimSuffix(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("issuer %q: want an http(s) origin such as http://127.0.0.1:9000", issuer)
	}
	origin := u.Scheme + "://" + u.Host
	issuer = origin
	o := opts.withDefaults()
	if o.TrailingSlashIssuer {
		issuer += "/"
	}
	if o.User.Username == "" || o.User.Password == "" || o.User.Subject == "" {
		return nil, errors.New("user: subject, username and password are required")
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
			loginURL: origin + "/login?authRequestID=",
		},
		user: o.User, accessTTL: o.AccessTokenTTL, refreshTTL: o.RefreshTokenTTL,
		authRequests: map[string]*authRequest{}, codes: map[string]string{},
		accessTokens: map[string]*token{}, refreshTokens: map[string]*token{},
		keys: []*signingKey{key},
	}
	// The key encrypts what the OP hands out opaquely (codes); a fresh one
	// per run, so nothing from an earlier run is accepted.
	var cryptoKey [32]byte
	if _, err := rand.Read(cryptoKey[:]); err != nil {
		return nil, fmt.Errorf("generating crypto key: %w", err)
	}
	provider, err := op.NewProvider(&op.Config{
		CryptoKey:                cryptoKey,
		DefaultLogoutRedirectURI: LoggedOutPath,
		CodeMethodS256:           true,
		AuthMethodPost:           true,
		GrantTypeRefreshToken:    true,
	}, st, op.StaticIssuer(issuer), op.WithAllowInsecure())
	if err != nil {
		return nil, fmt.Errorf("creating op: %w", err)
	}
	p := &Provider{Issuer: issuer, User: o.User, ClientID: o.ClientID, ClientSecret: o.ClientSecret, st: st}
	p.handler = p.routes(provider)
	return p, nil
}

// Handler serves the OP: discovery, authorize, token, userinfo, JWKS,
// revocation, end-session, and the login page at /login.
func (p *Provider) Handler() http.Handler { return p.handler }

func (p *Provider) routes(provider *op.Provider) http.Handler {
	callback := op.AuthCallbackURL(provider)
	issuer := op.NewIssuerInterceptor(provider.IssuerFromRequest)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		p.renderLogin(w, http.StatusOK, loginData{ID: r.FormValue("authRequestID")})
	})
	mux.HandleFunc("POST /login", issuer.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, username := r.FormValue("id"), r.FormValue("username")
		if err := p.st.checkLogin(id, username, r.FormValue("password")); err != nil {
			p.renderLogin(w, http.StatusUnauthorized, loginData{ID: id, Username: username, Error: err.Error()})
			return
		}
		http.Redirect(w, r, callback(r.Context(), id), http.StatusFound)
	}))
	mux.HandleFunc("GET "+LoggedOutPath, func(w http.ResponseWriter, _ *http.Request) {
		p.renderLogin(w, http.StatusOK, loginData{LoggedOut: true})
	})
	mux.Handle("/", provider)
	return mux
}

type loginData struct {
	ID, Username, Error string
	LoggedOut           bool
	User                User
}

// renderLogin writes the login page. It is the only HTML the OP serves, so
// it carries its own strict headers: no framing (clickjacking of the
// password form), no scripts at all, not cached.
func (p *Provider) renderLogin(w http.ResponseWriter, status int, d loginData) {
	d.User = p.User
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	// No form-action: browsers apply it to the redirects after the post too,
	// and the login's redirect goes to the client, on another origin.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	_ = loginPage.Execute(w, d)
}

var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>{{if .LoggedOut}}Signed out{{else}}Sign in{{end}} · gatehouse dev OP</title>
<style>
  :root { --bg: #f4f5f7; --card: #fff; --fg: #1d2330; --muted: #5d6677; --line: #d9dde4; --accent: #3157d5; --err: #b42318; }
  @media (prefers-color-scheme: dark) {
    :root { --bg: #12151b; --card: #1b2029; --fg: #e7eaf0; --muted: #9aa3b2; --line: #2e3542; --accent: #7d9bff; --err: #ff8a80; }
  }
  * { box-sizing: border-box; }
  body { margin: 0; min-height: 100vh; display: grid; place-items: center; padding: 1rem;
         font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background: var(--bg); color: var(--fg); }
  main { width: 100%; max-width: 24rem; background: var(--card); border: 1px solid var(--line);
         border-radius: 12px; padding: 2rem 1.75rem; box-shadow: 0 4px 24px rgb(0 0 0 / .06); }
  h1 { margin: 0 0 .25rem; font-size: 1.4rem; }
  .sub { margin: 0 0 1.5rem; color: var(--muted); font-size: .95rem; }
  label { display: block; margin: 0 0 1rem; font-weight: 600; font-size: .9rem; }
  input { display: block; width: 100%; margin-top: .35rem; padding: .6rem .7rem; font: inherit; color: inherit;
          background: transparent; border: 1px solid var(--line); border-radius: 8px; }
  input:focus { outline: 2px solid var(--accent); outline-offset: 1px; border-color: transparent; }
  button { width: 100%; padding: .65rem; font: inherit; font-weight: 600; color: #fff; background: var(--accent);
           border: 0; border-radius: 8px; cursor: pointer; }
  .alert { margin: 0 0 1rem; padding: .6rem .75rem; border-radius: 8px; color: var(--err);
           border: 1px solid currentColor; font-size: .92rem; }
  .hint { margin: 1.5rem 0 0; padding-top: 1rem; border-top: 1px solid var(--line); color: var(--muted); font-size: .88rem; }
  code { font: .9em ui-monospace, SFMono-Regular, Menlo, monospace; }
</style>
</head>
<body>
<main>
{{if .LoggedOut}}
  <h1 data-testid="op-signed-out">Signed out</h1>
  <p class="sub">Your session at the development OP has ended. You can close this tab.</p>
{{else}}
  <h1>Sign in</h1>
  <p class="sub">gatehouse development OpenID Provider</p>
  {{if .Error}}<p class="alert" role="alert" data-testid="op-login-error">{{.Error}}</p>{{end}}
  <form method="post" action="/login" data-testid="op-login-form">
    <input type="hidden" name="id" value="{{.ID}}">
    <label>Username
      <input name="username" id="username" data-testid="op-username" autocomplete="username" autocapitalize="none" spellcheck="false" value="{{.Username}}" required autofocus>
    </label>
    <label>Password
      <input name="password" id="password" data-testid="op-password" type="password" autocomplete="current-password" required>
    </label>
    <button type="submit" id="submit" data-testid="op-submit">Sign in</button>
  </form>
  <p class="hint">Development only. Test user: <code>{{.User.Username}}</code> / <code>{{.User.Password}}</code></p>
{{end}}
</main>
</body>
</html>
`))

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

// SetRedirectURIs replaces the client's registered redirect and post-logout
// redirect URIs.
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
