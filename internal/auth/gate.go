package auth

import (
	"errors"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-dev/gatehouse/httperr"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/cors"
	"github.com/gatehouse-dev/gatehouse/internal/session"
	"github.com/gatehouse-dev/gatehouse/request"
)

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
		SessionID:   s.ID,
		Subject:     s.Subject,
		Claims:      s.Claims,
		AccessToken: s.AccessToken,
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
