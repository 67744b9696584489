package auth

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-dev/gatehouse/httperr"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/cors"
	"github.com/gatehouse-dev/gatehouse/internal/oidc"
	"github.com/gatehouse-dev/gatehouse/internal/session"
	"github.com/gatehouse-dev/gatehouse/request"
)

// errSessionEnded is the refresh outcome for invalid_grant: the session is gone.
var errSessionEnded = errors.New("session ended by the identity provider")

// Gate returns the middleware enforcing route's auth mode. On success it
// records the caller in request.State.Identity (the proxy sets the upstream
// Authorization header from it as its last step) and calls next; on failure
// it returns a *fiber.Error and next is not called:
//
//   - session: a session cookie is required (401 without one, never a
//     redirect). With the cookie, the CSRF header must be "1" (403) and an
//     unsafe method's Origin, when present, must be public_url's or one of
//     the route's cors allowed_origins (403). The
//     access token is refreshed first when it expires within refresh_margin.
//   - bearer: "Authorization: Bearer <JWT>" validated against the IdP's JWKS
//     (aud = the route's audience, default client_id); 401 with
//     WWW-Authenticate otherwise.
//   - any: session when the session cookie is present, else bearer.
//   - none: no identity.
//
// Then the route's required_scopes and required_claims are enforced (403;
// see requirements).
//
// A CORS preflight to a cookie route is refused (403) without any
// Access-Control-Allow-* header (a route with a cors policy answers those
// from its allowed origins before the gate: internal/cors). In every mode
// the session cookie is removed from the forwarded Cookie header (other
// cookies are kept): the upstream never sees the browser's credential. In
// session mode a client-sent
// Authorization header is removed too.
func (a *Auth) Gate(route *config.Route) func(next fiber.Handler) fiber.Handler {
	mode := route.Auth
	if mode == "" {
		mode = config.AuthSession
	}
	audience := route.Audience
	req := newRequirements(route)
	origins := cors.Origins(cors.For(a.cfg, route))
	return func(next fiber.Handler) fiber.Handler {
		return func(c *fiber.Ctx) error {
			if mode == config.AuthNone {
				a.stripSessionCookie(c)
				return next(c)
			}
			if a.rp == nil {
				return httperr.New(fiber.StatusUnauthorized, msgAuthRequired)
			}
			var err error
			bearer := mode == config.AuthBearer ||
				mode == config.AuthAny && a.sessions.CookieValue(c) == "" && !isPreflight(c)
			if bearer {
				err = a.bearerAuth(c, audience)
			} else {
				err = a.sessionAuth(c, origins)
			}
			if err != nil {
				return err
			}
			if !req.empty() {
				if err := a.checkRequirements(c, &req, request.From(c).Identity.Claims, bearer); err != nil {
					return err
				}
			}
			return next(c)
		}
	}
}

// isPreflight reports a CORS preflight (Fetch standard §3.2.2).
func isPreflight(c *fiber.Ctx) bool { return cors.IsPreflight(c) }

// safeMethod reports the methods RFC 9110 §9.2.1 defines as safe.
func safeMethod(m string) bool {
	switch m {
	case fiber.MethodGet, fiber.MethodHead, fiber.MethodOptions, fiber.MethodTrace:
		return true
	}
	return false
}

// checkBrowser enforces the cookie-route request rules for /auth/me and
// /auth/logout (checkBrowserFrom with the top-level cors origins).
func (a *Auth) checkBrowser(c *fiber.Ctx) error {
	return a.checkBrowserFrom(c, cors.Origins(a.cfg.CORS))
}

// checkBrowserFrom enforces the cookie-route request rules: no preflight,
// the CSRF header, and on unsafe methods an Origin that is public_url's or
// one of origins (RFC 10017 §6.1.3.3: a cross-site page cannot add a custom
// header without a preflight, which gatehouse grants to origins only).
func (a *Auth) checkBrowserFrom(c *fiber.Ctx, origins []string) error {
	if isPreflight(c) {
		return httperr.New(fiber.StatusForbidden, msgPreflight)
	}
	if c.Get(a.csrfHeader) != "1" {
		return httperr.New(fiber.StatusForbidden, msgCSRF)
	}
	if !safeMethod(c.Method()) {
		if o := c.Get(fiber.HeaderOrigin); o != "" && !a.originAllowed(o, origins) {
			return httperr.New(fiber.StatusForbidden, msgOrigin)
		}
	}
	return nil
}

// originAllowed reports whether an Origin value is public_url's origin or
// one of origins (case-insensitive; "null" never is).
func (a *Auth) originAllowed(o string, origins []string) bool {
	return strings.EqualFold(o, a.origin) || cors.Allowed(origins, o)
}

// topOriginAllowed is originAllowed with the top-level cors origins (the
// /auth endpoints').
func (a *Auth) topOriginAllowed(o string) bool { return a.originAllowed(o, cors.Origins(a.cfg.CORS)) }

// loadSession applies checkBrowser and returns the request's live session.
func (a *Auth) loadSession(c *fiber.Ctx) (*session.Session, string, error) {
	return a.loadSessionFrom(c, cors.Origins(a.cfg.CORS))
}

// loadSessionFrom applies checkBrowserFrom(origins) and returns the
// request's live session.
func (a *Auth) loadSessionFrom(c *fiber.Ctx, origins []string) (*session.Session, string, error) {
	if isPreflight(c) {
		return nil, "", httperr.New(fiber.StatusForbidden, msgPreflight)
	}
	cookie := a.sessions.CookieValue(c)
	if cookie == "" {
		// No ambient credential, hence nothing to forge: plain 401.
		return nil, "", httperr.New(fiber.StatusUnauthorized, msgAuthRequired)
	}
	if err := a.checkBrowserFrom(c, origins); err != nil {
		return nil, "", err
	}
	s, err := a.sessions.Load(c.UserContext(), cookie)
	switch {
	case errors.Is(err, session.ErrNoSession):
		c.Cookie(a.sessions.ClearCookie())
		return nil, "", httperr.New(fiber.StatusUnauthorized, msgAuthRequired)
	case err != nil:
		a.log.ErrorContext(c.UserContext(), "auth: loading session", "error", err)
		return nil, "", httperr.New(fiber.StatusServiceUnavailable, msgStore)
	}
	return s, cookie, nil
}

// sessionAuth authenticates by the session cookie; origins are the route's
// cors allowed_origins.
func (a *Auth) sessionAuth(c *fiber.Ctx, origins []string) error {
	s, cookie, err := a.loadSessionFrom(c, origins)
	if err != nil {
		return err
	}
	if s, err = a.fresh(c, s, cookie); err != nil {
		return err
	}
	a.stripSessionCookie(c)
	c.Request().Header.Del(fiber.HeaderAuthorization)
	request.From(c).Identity = &request.Identity{
		SessionID:     s.ID,
		Subject:       s.Subject,
		Claims:        s.Claims,
		AccessToken:   s.AccessToken,
		SessionCookie: cookie,
	}
	return nil
}

// stripSessionCookie removes every session cookie pair from every Cookie
// line of the request and keeps the other cookies byte for byte and in order
// (session.StripCookie); fasthttp's DelCookie would rewrite them from its
// lossy parse. It runs before any plugin, as StripCookie requires.
func (a *Auth) stripSessionCookie(c *fiber.Ctx) {
	if a.sessions != nil {
		session.StripCookie(&c.Request().Header, a.sessions.CookieName())
	}
}

// needsRefresh reports whether s's access token expires within the margin
// and can be refreshed.
func (a *Auth) needsRefresh(s *session.Session) bool {
	return s.RefreshToken != "" && !s.AccessExpiresAt.IsZero() && !a.now().Add(a.margin).Before(s.AccessExpiresAt)
}

// fresh returns s with an access token valid beyond refresh_margin,
// refreshing it when needed. Concurrent requests of one session share one
// refresh (single flight keyed by session id), so a rotating refresh token is
// never spent twice by this process. invalid_grant ends the session (401
// "session expired"); an IdP that is down leaves the current token in use while
// it is still valid, else 503, and its next attempt waits (per-session
// exponential backoff, 1s to 30s) so an outage causes no retry storm.
func (a *Auth) fresh(c *fiber.Ctx, s *session.Session, cookie string) (*session.Session, error) {
	if !a.needsRefresh(s) {
		return s, nil
	}
	return a.refreshShared(c, s, cookie, "")
}

// ErrCannotReauthorize is returned by Reauthorize when the request has no
// session whose token could be renewed (bearer and anonymous requests, or a
// session without a refresh token).
var ErrCannotReauthorize = errors.New("auth: request has no refreshable session")

// Reauthorize renews the access token of the request's session after an
// upstream rejected it with 401 although gatehouse believed it valid (issue
// 4 item 2), and replaces the request's identity with the new token. If
// another request already renewed it meanwhile, that token is used without a
// new grant. Concurrent calls of one session share one refresh. The server
// calls it at most once per request and retries only idempotent requests
// without a body. Errors are *fiber.Error (401 session expired, 503) or
// ErrCannotReauthorize.
func (a *Auth) Reauthorize(c *fiber.Ctx) error {
	st := request.From(c)
	id := st.Identity
	if a.rp == nil || id == nil || id.SessionID == "" || id.SessionCookie == "" {
		return ErrCannotReauthorize
	}
	cookie := id.SessionCookie
	s, err := a.sessions.Load(c.UserContext(), cookie)
	switch {
	case errors.Is(err, session.ErrNoSession):
		return httperr.New(fiber.StatusUnauthorized, msgSessionExpired)
	case err != nil:
		return httperr.New(fiber.StatusServiceUnavailable, msgStore)
	case s.RefreshToken == "":
		return ErrCannotReauthorize
	}
	if s.AccessToken == id.AccessToken {
		if s, err = a.refreshShared(c, s, cookie, id.AccessToken); err != nil {
			return err
		}
		if s.AccessToken == id.AccessToken {
			// The refresh failed but the token was still "valid": nothing better to send.
			return httperr.New(fiber.StatusServiceUnavailable, msgIdPUnavailable)
		}
	}
	st.Identity = &request.Identity{SessionID: s.ID, Subject: s.Subject, Claims: s.Claims, AccessToken: s.AccessToken, SessionCookie: cookie}
	return nil
}

// refreshShared runs (or joins) the session's single-flight refresh.
// rejected, when set, is an access token an upstream refused: the refresh
// happens even though the token is not near expiry, unless the stored token
// already differs from it.
func (a *Auth) refreshShared(c *fiber.Ctx, s *session.Session, cookie, rejected string) (*session.Session, error) {
	if !a.retry.allowed(s.ID, a.now()) {
		// A refresh of this session failed moments ago: do not hammer the IdP.
		if a.now().Before(s.AccessExpiresAt) {
			return s, nil
		}
		return nil, httperr.New(fiber.StatusServiceUnavailable, msgIdPUnavailable)
	}
	// Detached from this request: the others waiting must not fail because it
	// left. Taken here, not in the flight's goroutine, which may outlive the
	// request (and c with it).
	detached := context.WithoutCancel(c.UserContext())
	ch := a.flight.DoChan(s.ID, func() (any, error) {
		ctx, cancel := context.WithTimeout(detached, refreshTimeout)
		defer cancel()
		return a.refresh(ctx, cookie, rejected)
	})
	var res singleflightResult
	select {
	case r := <-ch:
		res = singleflightResult{r.Val, r.Err}
	case <-c.UserContext().Done():
		return nil, httperr.New(fiber.StatusServiceUnavailable, msgIdPUnavailable)
	}
	switch {
	case errors.Is(res.err, errSessionEnded), errors.Is(res.err, session.ErrNoSession):
		c.Cookie(a.sessions.ClearCookie())
		return nil, httperr.New(fiber.StatusUnauthorized, msgSessionExpired)
	case res.err != nil:
		if !errors.Is(res.err, errRefreshBusy) {
			a.retry.failed(s.ID, a.now())
		}
		if a.now().Before(s.AccessExpiresAt) {
			return s, nil // still valid: serve, the next request retries
		}
		return nil, httperr.New(fiber.StatusServiceUnavailable, msgIdPUnavailable)
	}
	a.retry.succeeded(s.ID)
	return res.val.(*session.Session), nil
}

type singleflightResult struct {
	val any
	err error
}

// refresh reloads the session (another flight may have refreshed it already),
// takes the session's refresh lock in the shared store (another replica may
// be refreshing it: then its new token is used), runs the refresh_token grant
// and saves the rotated tokens before releasing the lock. A non-empty
// rejected forces the grant unless the stored token is no longer that one.
func (a *Auth) refresh(ctx context.Context, cookie, rejected string) (*session.Session, error) {
	s, err := a.sessions.Load(ctx, cookie)
	if err != nil {
		return nil, err
	}
	if a.renewed(s, rejected) {
		return s, nil // renewed meanwhile
	}
	lock, s, err := a.lockRefresh(ctx, cookie, s.ID, rejected)
	if err != nil {
		return nil, err
	}
	if lock == nil || a.renewed(s, rejected) {
		if lock != nil {
			a.unlock(ctx, lock)
		}
		return s, nil // another replica renewed it
	}
	defer a.unlock(ctx, lock)
	gctx, cancel := context.WithTimeout(ctx, refreshGrantTimeout)
	defer cancel()
	toks, err := a.rp.Refresh(gctx, s.RefreshToken, s.Subject)
	switch {
	case errors.Is(err, oidc.ErrInvalidGrant), errors.Is(err, oidc.ErrInvalidToken):
		a.log.InfoContext(ctx, "auth: refresh refused; ending session", "sub", s.Subject, "error", err)
		if derr := a.sessions.Delete(ctx, s.ID); derr != nil {
			a.log.WarnContext(ctx, "auth: deleting session", "error", derr)
		}
		return nil, errSessionEnded
	case err != nil:
		a.log.WarnContext(ctx, "auth: refresh failed", "sub", s.Subject, "error", err)
		return nil, err
	}
	s.AccessToken, s.RefreshToken, s.AccessExpiresAt = toks.AccessToken, toks.RefreshToken, toks.Expiry
	if toks.IDToken != "" {
		s.IDToken, s.Claims = toks.IDToken, toks.IDClaims
	}
	if err := a.sessions.Save(ctx, s); err != nil {
		return nil, err
	}
	return s, nil
}

// bearerAuth validates "Authorization: Bearer <JWT>" (RFC 6750).
func (a *Auth) bearerAuth(c *fiber.Ctx, audience string) error {
	a.stripSessionCookie(c)
	scheme, tok, ok := strings.Cut(c.Get(fiber.HeaderAuthorization), " ")
	tok = strings.TrimSpace(tok)
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		// RFC 6750 §3.1: no error code when the request carried no credentials.
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="gatehouse"`)
		return httperr.New(fiber.StatusUnauthorized, msgAuthRequired)
	}
	if err := a.rp.Ready(); err != nil {
		return httperr.New(fiber.StatusServiceUnavailable, msgIdPUnavailable)
	}
	claims, err := a.rp.VerifyAccessToken(c.UserContext(), tok, audience)
	if err != nil {
		a.log.InfoContext(c.UserContext(), "auth: bearer token refused", "error", err)
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="gatehouse", error="invalid_token"`)
		return httperr.New(fiber.StatusUnauthorized, msgInvalidToken)
	}
	sub, _ := claims["sub"].(string)
	request.From(c).Identity = &request.Identity{Subject: sub, Claims: claims, AccessToken: tok}
	return nil
}

// sessionExpiresIn is the whole seconds until s ends if unused.
func (a *Auth) sessionExpiresIn(s *session.Session) int64 {
	return max(0, int64(a.sessions.ExpiresAt(s).Sub(a.now())/time.Second))
}
