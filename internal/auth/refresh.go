package auth

import (
	"context"
	"errors"
	"sync"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/gatehouse-dev/gatehouse/httperr"
	"github.com/gatehouse-dev/gatehouse/internal/oidc"
	"github.com/gatehouse-dev/gatehouse/internal/session"
	"github.com/gatehouse-dev/gatehouse/request"
)

// Token renewal: before a request (fresh, from the gate, when the access
// token expires within refresh_margin) and after an upstream refused the
// token (RetryWithRenewedToken, around the proxy). Both go through one
// single-flight refresh per session (refreshShared), and across replicas
// through the store's refresh lock (refreshlock.go).

// RetryWithRenewedToken wraps next, the step that forwards a request
// upstream (the server composes it around the proxy): when the upstream
// answers 401 to a session's access token although the gateway believed it
// valid (revoked, or the upstream's clock is ahead), the token is renewed
// once and next runs once more with it; the client sees only the second
// answer (issue 4, item 2). Only a request that may be sent twice is
// retried: an idempotent method (RFC 9110 §9.2.2) without a body. Bearer
// and anonymous requests, and a session without a refresh token, keep the
// upstream's 401. A renewal that fails answers 401 "session expired" (the
// IdP ended the session) or 503.
//
// The response fields set before next ran (a rate limit's) are kept for
// the second answer; the first answer's are dropped with its body.
func (a *Auth) RetryWithRenewedToken(next fiber.Handler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		id := request.From(c).Identity
		if id == nil || id.SessionID == "" || !replayable(c) {
			return next(c)
		}
		saved := headerPool.Get().(*fasthttp.ResponseHeader)
		defer headerPool.Put(saved)
		c.Response().Header.CopyTo(saved)
		if err := next(c); err != nil || c.Response().StatusCode() != fiber.StatusUnauthorized {
			return err
		}
		if err := a.reauthorize(c); err != nil {
			if errors.Is(err, errCannotReauthorize) {
				return nil // the upstream's 401 stands
			}
			return err
		}
		c.Response().Reset() // closes the first answer's body stream
		saved.CopyTo(&c.Response().Header)
		return next(c) // with the identity's renewed token
	}
}

// headerPool recycles the response headers RetryWithRenewedToken saves.
var headerPool = sync.Pool{New: func() any { return new(fasthttp.ResponseHeader) }}

// replayable reports a request that may be sent twice: an idempotent method
// (RFC 9110 §9.2.2) and no body at all.
func replayable(c *fiber.Ctx) bool {
	switch c.Method() {
	case fiber.MethodGet, fiber.MethodHead, fiber.MethodOptions, fiber.MethodPut, fiber.MethodDelete:
	default:
		return false
	}
	// fasthttp reports -2 for a request with neither Content-Length nor
	// Transfer-Encoding, which has no body (RFC 9112 §6.3); -1 is chunked.
	cl := c.Request().Header.ContentLength()
	return cl == 0 || cl == -2
}

// errSessionEnded is the refresh outcome for invalid_grant: the session is gone.
var errSessionEnded = errors.New("session ended by the identity provider")

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

// errCannotReauthorize is reauthorize's answer for a request without a
// session whose token could be renewed (bearer and anonymous requests, or a
// session without a refresh token): the upstream's 401 stands.
var errCannotReauthorize = errors.New("auth: request has no refreshable session")

// reauthorize renews the access token of the request's session after an
// upstream rejected it with 401 although gatehouse believed it valid (issue
// 4 item 2), and replaces the request's identity with the new token. If
// another request already renewed it meanwhile, that token is used without a
// new grant. Concurrent calls of one session share one refresh.
// RetryWithRenewedToken calls it at most once per request. Errors are
// *httperr.Error (401 session expired, 503) or errCannotReauthorize.
func (a *Auth) reauthorize(c *fiber.Ctx) error {
	st := request.From(c)
	id := st.Identity
	if a.rp == nil || id == nil || id.SessionID == "" {
		return errCannotReauthorize
	}
	cookie := a.sessions.CookieValueOf(id.SessionID)
	s, err := a.sessions.Load(c.UserContext(), cookie)
	switch {
	case errors.Is(err, session.ErrNoSession):
		return httperr.New(fiber.StatusUnauthorized, msgSessionExpired)
	case err != nil:
		return httperr.New(fiber.StatusServiceUnavailable, msgStore)
	case s.RefreshToken == "":
		return errCannotReauthorize
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
	st.Identity = &request.Identity{SessionID: s.ID, Subject: s.Subject, Claims: s.Claims, AccessToken: s.AccessToken}
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
