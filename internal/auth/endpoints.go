package auth

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/httperr"
	"github.com/gatehouse-dev/gatehouse/internal/session"
	"github.com/gofiber/fiber/v2"
)

// hiddenClaims are left out of /auth/me's profile: protocol and token
// plumbing, not facts about the user (and sid is the IdP's session handle).
var hiddenClaims = map[string]bool{
	"iss": true, "sub": true, "aud": true, "azp": true, "exp": true, "iat": true, "nbf": true,
	"auth_time": true, "nonce": true, "at_hash": true, "c_hash": true, "s_hash": true,
	"sid": true, "jti": true, "acr": true, "amr": true, "client_id": true,
}

// meResponse is /auth/me's body. It never contains a token.
type meResponse struct {
	UserID           string         `json:"userId"`
	Profile          map[string]any `json:"profile"`
	SessionExpiresIn int64          `json:"sessionExpiresIn"`
}

// me answers GET /auth/me with the user's id and profile.
func (a *Auth) me(c *fiber.Ctx) error {
	s, _, err := a.loadSession(c)
	if err != nil {
		return err
	}
	profile := make(map[string]any, len(s.Claims))
	for k, v := range s.Claims {
		if !hiddenClaims[k] {
			profile[k] = v
		}
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(meResponse{UserID: s.Subject, Profile: profile, SessionExpiresIn: a.sessionExpiresIn(s)})
}

// logoutResponse is /auth/logout's JSON body.
type logoutResponse struct {
	LogoutURL string `json:"logoutUrl"`
}

// revokeTimeout bounds the best-effort revocation at logout.
const revokeTimeout = 5 * time.Second

// logout answers POST /auth/logout. Two callers are served:
//
//   - fetch (the SPA): the CSRF header is required; the answer is JSON
//     {"logoutUrl": ...} that the SPA navigates to.
//   - a top-level HTML form post (Content-Type
//     application/x-www-form-urlencoded, no CSRF header — a form cannot add
//     one): it must prove its origin instead, by Origin equal to public_url's
//     origin or a top-level cors allowed origin, or Sec-Fetch-Site: same-origin; the answer is a 302 to the URL.
//
// Either way the session is deleted server-side, its refresh token revoked at
// the IdP when it advertises a revocation_endpoint (failure logged, not
// fatal), and the cookie cleared. The URL is the IdP's end_session_endpoint
// with id_token_hint and post_logout_redirect_uri, or post_logout_redirect
// itself when the IdP has none.
func (a *Auth) logout(c *fiber.Ctx) error {
	form := c.Get(a.csrfHeader) == "" &&
		strings.HasPrefix(strings.ToLower(c.Get(fiber.HeaderContentType)), fiber.MIMEApplicationForm)
	var cookie string
	if form {
		origin := c.Get(fiber.HeaderOrigin)
		sameOrigin := (origin != "" && a.topOriginAllowed(origin)) ||
			(origin == "" && c.Get("Sec-Fetch-Site") == "same-origin")
		if !sameOrigin {
			return httperr.New(fiber.StatusForbidden, msgOrigin)
		}
		cookie = a.sessions.CookieValue(c)
	} else {
		if err := a.checkBrowser(c); err != nil {
			return err
		}
		cookie = a.sessions.CookieValue(c)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	if cookie == "" {
		c.Cookie(a.sessions.ClearCookie())
		return httperr.New(fiber.StatusUnauthorized, msgAuthRequired)
	}
	ctx := c.UserContext()
	s, err := a.sessions.Load(ctx, cookie)
	switch {
	case errors.Is(err, session.ErrNoSession):
		c.Cookie(a.sessions.ClearCookie())
		return httperr.New(fiber.StatusUnauthorized, msgAuthRequired)
	case err != nil:
		// The store failed: the session may well live on, so the browser
		// keeps its cookie and the user can log out again once it answers.
		a.log.ErrorContext(ctx, "auth: loading session at logout", "error", err)
		return httperr.New(fiber.StatusServiceUnavailable, msgStore)
	}
	if err := a.sessions.Delete(ctx, s.ID); err != nil {
		a.log.ErrorContext(ctx, "auth: deleting session at logout", "error", err)
		return httperr.New(fiber.StatusServiceUnavailable, msgStore)
	}
	c.Cookie(a.sessions.ClearCookie())
	a.notifyEnded(SessionEnd{ID: s.ID})
	if s.RefreshToken != "" && a.rp.CanRevoke() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), revokeTimeout)
		if err := a.rp.Revoke(rctx, s.RefreshToken); err != nil {
			a.log.WarnContext(ctx, "auth: revoking refresh token at logout", "error", err)
		}
		cancel()
	}
	target := a.rp.EndSessionURL(s.IDToken, a.postLogout)
	if target == "" {
		target = a.postLogout
	}
	a.log.InfoContext(ctx, "auth: logout", "sub", s.Subject)
	if form {
		// A navigation: the Location header is not readable by scripts.
		return c.Redirect(target, fiber.StatusFound)
	}
	if target == a.postLogout {
		return c.JSON(logoutResponse{LogoutURL: target})
	}
	// The end-session URL carries the ID token (id_token_hint): a fetch
	// response would hand it to the page's scripts. Park the URL server-side
	// under a single-use handle and give the SPA a gateway URL to navigate to.
	handle, err := randomToken(32)
	if err != nil {
		return err
	}
	if err := a.st.Set(ctx, logoutKeyPrefix+handle, []byte(target), logoutHandleTTL); err != nil {
		a.log.ErrorContext(ctx, "auth: storing the logout handle", "error", err)
		return c.JSON(logoutResponse{LogoutURL: a.postLogout}) // logged out here; the IdP session stays
	}
	return c.JSON(logoutResponse{LogoutURL: a.origin + PathLogoutContinue + "?h=" + handle})
}

// logoutKeyPrefix and logoutHandleTTL: parked end-session URLs live briefly;
// the SPA navigates to them right after the logout call.
const (
	logoutKeyPrefix = "logout:"
	logoutHandleTTL = 2 * time.Minute
)

// logoutContinue answers GET /auth/logout/continue?h=HANDLE, the URL the SPA
// navigates to after POST /auth/logout: a 302 to the IdP's end-session URL
// parked under the single-use handle, or to post_logout_redirect when the
// handle is unknown, used or expired (the local session is gone either way).
func (a *Auth) logoutContinue(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	h := c.Query("h")
	if len(h) == 0 || len(h) > 128 {
		return c.Redirect(a.postLogout, fiber.StatusFound)
	}
	target, err := a.st.Take(c.UserContext(), logoutKeyPrefix+h)
	if err != nil {
		return c.Redirect(a.postLogout, fiber.StatusFound)
	}
	return c.Redirect(string(target), fiber.StatusFound)
}
