// Package auth provides the browser login endpoints (/auth/login,
// /auth/callback, /auth/me, /auth/logout, /auth/logout/continue) and the
// IdP's back-channel logout endpoint (/auth/backchannel-logout) as a table
// the server dispatches to (Endpoints), the per-route auth gate (Gate), and
// token renewal: before a request when the access token nears its expiry,
// and after an upstream refused it (RetryWithRenewedToken, which the server
// wraps around its proxy step).
//
// It is the BFF core: the browser only ever holds an opaque session cookie; the
// tokens stay in the server-side session (internal/session) and the gate turns
// a session into a request.Identity, whose AccessToken the proxy sends
// upstream as "Authorization: Bearer ..." as its very last step. The OpenID
// Connect relying party itself (discovery, PKCE, token validation, JWKS,
// refresh, revocation) lives in internal/oidc.
//
// Errors are returned as *httperr.Error for the server's single error handler
// (JSON {"error": msg}); the messages never carry internals.
package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"golang.org/x/sync/singleflight"

	"github.com/gatehouse-dev/gatehouse/httperr"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/oidc"
	"github.com/gatehouse-dev/gatehouse/internal/seal"
	"github.com/gatehouse-dev/gatehouse/internal/session"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Client-facing error messages (the JSON "error" field).
const (
	msgAuthRequired   = "authentication required"
	msgCSRF           = "missing or invalid CSRF header"
	msgOrigin         = "cross-origin request refused"
	msgPreflight      = "CORS preflight refused"
	msgIdPUnavailable = "identity provider unavailable"
	msgInvalidState   = "invalid login state"
	msgLoginFailed    = "login failed"
	msgSessionExpired = "session expired"
	msgInvalidToken   = "invalid token"
	msgStore          = "session store unavailable"
)

// Paths of the endpoints (Endpoints).
const (
	PathLogin    = "/auth/login"
	PathCallback = "/auth/callback"
	PathMe       = "/auth/me"
	PathLogout   = "/auth/logout"
	// PathLogoutContinue is where the SPA navigates after a fetch logout.
	PathLogoutContinue = "/auth/logout/continue"
)

// loginTTL bounds how long a started login may take: the expiry sealed in the
// login cookie, and its Max-Age.
const loginTTL = 10 * time.Minute

// Auth holds the relying party, the session manager and the settings the
// endpoints and the gate need. Build it with New.
type Auth struct {
	cfg        *config.Config
	rp         *oidc.Provider // nil when the config has no oidc block
	sessions   *session.Manager
	st         store.Store
	log        *slog.Logger
	now        func() time.Time
	origin     string // public_url's origin, scheme://host[:port], lower case
	https      bool
	csrfHeader string
	margin     time.Duration
	postLogout string // absolute post_logout_redirect_uri
	errorPage  string // oidc.error_redirect ("" = JSON errors)
	flight     singleflight.Group
	retry      retryBackoff
	// loginSeal seals login states into login cookies; loginBinding
	// prefixes their additional data (see login.go).
	loginSeal    *seal.Sealer
	loginBinding []byte
	// onLockBusy, when set (tests), is called each time a refresh finds the
	// session's refresh lock held by another replica.
	onLockBusy func()
	// lockWait, when positive (tests), replaces refreshLockWait.
	lockWait time.Duration
	// ended, when set, is told of the sessions logout and back-channel
	// logout end (WithSessionObserver).
	ended SessionObserver
}

// SessionEnd names the sessions that have just ended by a logout: the one
// with ID, or every one of the IdP session SID, or every one of Subject
// (back-channel logout without a sid). Exactly one field is set.
type SessionEnd struct {
	ID, SID, Subject string
}

// SessionObserver is told when a logout (POST /auth/logout) or a
// back-channel logout has ended sessions, after the store no longer holds
// them, so that what lives on beyond a request (the server's open
// WebSockets) ends with them. SessionsEnded must not block; its argument's
// strings are its own.
type SessionObserver interface {
	SessionsEnded(SessionEnd)
}

// Option adjusts an Auth built by New.
type Option func(*Auth)

// WithSessionObserver has o told of the sessions logouts end.
func WithSessionObserver(o SessionObserver) Option { return func(a *Auth) { a.ended = o } }

// AdmitUpgrade is the cross-site WebSocket hijacking defence. The server
// calls it, before route's gate, for a request it recognised as a
// WebSocket handshake. Browsers send cookies with a cross-site handshake
// and no CORS preflight guards it, while a page's WebSocket cannot add the
// CSRF header the gate demands. So when the handshake will be
// authenticated by the session cookie (auth session, or any with the
// cookie present), its Origin must equal public_url's origin or one of
// allowed (exact origins, compared case-insensitively), else 403; a missing
// Origin is refused as well (browsers always send one). A handshake that
// passed has the CSRF header set on its request, so that the gate's check,
// for which this one stands in, passes. Bearer and anonymous handshakes
// pass unchanged: no ambient credential, nothing to forge.
func (a *Auth) AdmitUpgrade(c *fiber.Ctx, route *config.Route, allowed []string) error {
	switch route.Auth {
	case config.AuthNone, config.AuthBearer:
		return nil
	}
	if a.sessions == nil || a.sessions.CookieValue(c) == "" {
		return nil // session: the gate answers 401; any: a bearer token
	}
	if o := c.Get(fiber.HeaderOrigin); o == "" || !a.originAllowed(o, allowed) {
		return httperr.New(fiber.StatusForbidden, msgOrigin)
	}
	c.Request().Header.Set(a.csrfHeader, "1")
	return nil
}

// notifyEnded tells the observer, if any, that e's sessions ended.
func (a *Auth) notifyEnded(e SessionEnd) {
	if a.ended != nil {
		a.ended.SessionsEnded(e)
	}
}

// New builds the Auth for cfg and starts OIDC discovery in the background
// (retried with backoff until ctx ends; the gateway serves meanwhile and
// /auth/login answers 503). ctx lives as long as the loaded config: discovery
// and the JWKS refresh end with it. httpClient nil means a client with
// timeouts (oidc.DefaultHTTPClient). With cfg.OIDC nil there is no login:
// Endpoints is empty and only auth: none routes can pass the gate.
func New(ctx context.Context, cfg *config.Config, sessions *session.Manager, st store.Store, logger *slog.Logger, httpClient *http.Client, opts ...Option) (*Auth, error) {
	if cfg == nil {
		return nil, errors.New("auth: nil config")
	}
	if logger == nil {
		logger = slog.Default()
	}
	pub := cfg.Server.PublicURL // an http(s) origin: config checked it
	if pub == nil {
		return nil, errors.New("auth: nil public_url")
	}
	a := &Auth{
		cfg:        cfg,
		sessions:   sessions,
		st:         st,
		log:        logger,
		now:        time.Now,
		origin:     strings.ToLower(pub.Scheme + "://" + pub.Host),
		https:      pub.Scheme == "https",
		csrfHeader: cfg.Session.CSRFHeader,
	}
	for _, o := range opts {
		o(a)
	}
	if cfg.OIDC == nil {
		return a, nil
	}
	if sessions == nil || st == nil {
		return nil, errors.New("auth: oidc needs a session manager and a store")
	}
	o := cfg.OIDC
	a.margin = o.RefreshMargin.D()               // config's default 30s applied
	a.postLogout = o.PostLogoutRedirect.String() // absolute: config resolved it
	if o.ErrorRedirect != "" {
		if SafeReturnTo(o.ErrorRedirect) != o.ErrorRedirect {
			return nil, fmt.Errorf("auth: error_redirect %q must be a same-origin path", o.ErrorRedirect)
		}
		a.errorPage = o.ErrorRedirect
	}
	key, err := seal.Derive([]byte(cfg.Session.Secret), labelLoginState)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	if a.loginSeal, err = seal.New(key, loginSealVersion); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	// NUL-separated: none of the parts can hold a NUL byte.
	a.loginBinding = []byte("gatehouse login\x00" + a.origin + "\x00" + o.Issuer + "\x00" + o.ClientID + "\x00")
	a.rp, err = oidc.New(oidc.Config{
		Issuer:            o.Issuer,
		ClientID:          o.ClientID,
		ClientSecret:      o.ClientSecret,
		ClientAuth:        o.ClientAuth,
		RedirectURL:       a.origin + PathCallback,
		Scopes:            o.Scopes,
		AuthParams:        o.AuthorizeParams,
		AllowedAlgorithms: o.AllowedAlgorithms,
		Leeway:            o.Leeway.D(),
		HTTPClient:        httpClient,
		Logger:            logger,
	})
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	a.rp.Start(ctx)
	return a, nil
}

// Ready returns nil when logins can be served (discovery done), or why not,
// for /readyz. Without an oidc block it is always ready.
func (a *Auth) Ready(ctx context.Context) error {
	if a.rp == nil {
		return nil
	}
	return a.rp.Ready()
}

// Provider returns the relying party (nil without an oidc block), for
// back-channel logout and diagnostics.
func (a *Auth) Provider() *oidc.Provider { return a.rp }

// Methods is one endpoint's handlers by request method.
type Methods map[string]fiber.Handler

// Endpoints returns the /auth endpoints by path, each with its handlers by
// method: GET /auth/login, GET /auth/callback, GET /auth/me,
// POST /auth/logout, GET /auth/logout/continue and
// POST /auth/backchannel-logout. The server dispatches to them: a GET
// endpoint answers HEAD as well, another method gets 405 with Allow, and a
// path not in the table 404. Without an oidc block the table is empty.
// Each call returns a new table.
func (a *Auth) Endpoints() map[string]Methods {
	if a.rp == nil {
		return nil
	}
	return map[string]Methods{
		PathLogin:             {fiber.MethodGet: a.login},
		PathCallback:          {fiber.MethodGet: a.callback},
		PathMe:                {fiber.MethodGet: a.me},
		PathLogout:            {fiber.MethodPost: a.logout},
		PathLogoutContinue:    {fiber.MethodGet: a.logoutContinue},
		PathBackChannelLogout: {fiber.MethodPost: a.backChannelLogout},
	}
}
