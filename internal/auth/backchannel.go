package auth

import (
	"crypto/sha256"
	"encoding/base64"
	"time"

	"github.com/gofiber/fiber/v2"
)

// PathBackChannelLogout is where the IdP posts logout tokens (OpenID Connect
// Back-Channel Logout 1.0); register it as the client's backchannel_logout_uri.
const PathBackChannelLogout = "/auth/backchannel-logout"

// maxJTITTL bounds how long a logout token's jti is remembered (a token
// with a far exp would otherwise pin a store entry for that long).
const maxJTITTL = 24 * time.Hour

// backChannelLogout handles POST /auth/backchannel-logout: it validates the
// logout_token, refuses a replayed jti, and ends every session of the token's
// sid (or, without one, of its sub). Per §2.8 it answers 200 with
// Cache-Control: no-store, or 400 with an error. No cookie or CSRF header is
// involved: the caller is the IdP, authenticated by the token's signature.
func (a *Auth) backChannelLogout(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	ctx := c.UserContext()
	raw := c.FormValue("logout_token")
	if raw == "" {
		return fiber.NewError(fiber.StatusBadRequest, "invalid_request")
	}
	if err := a.rp.Ready(); err != nil {
		return fiber.NewError(fiber.StatusServiceUnavailable, msgIdPUnavailable)
	}
	lt, err := a.rp.VerifyLogoutToken(ctx, raw)
	if err != nil {
		a.log.WarnContext(ctx, "auth: back-channel logout token refused", "error", err)
		return fiber.NewError(fiber.StatusBadRequest, "invalid_request")
	}
	// §2.6 step 10 (optional, done): a jti is accepted once.
	ttl := min(max(lt.Expiry.Sub(a.now())+a.rpLeeway(), time.Minute), maxJTITTL)
	h := sha256.Sum256([]byte(lt.JTI))
	fresh, err := a.st.SetNX(ctx, "bcl:jti:"+base64.RawURLEncoding.EncodeToString(h[:]), []byte{1}, ttl)
	if err != nil {
		a.log.ErrorContext(ctx, "auth: recording logout token jti", "error", err)
		return fiber.NewError(fiber.StatusServiceUnavailable, msgStore)
	}
	if !fresh {
		return fiber.NewError(fiber.StatusBadRequest, "invalid_request")
	}
	var n int
	if lt.SID != "" {
		n, err = a.sessions.DeleteBySID(ctx, lt.SID)
	} else {
		n, err = a.sessions.DeleteBySubject(ctx, lt.Subject)
	}
	if err != nil {
		a.log.ErrorContext(ctx, "auth: back-channel logout", "error", err)
		return fiber.NewError(fiber.StatusServiceUnavailable, msgStore)
	}
	a.log.InfoContext(ctx, "auth: back-channel logout", "sub", lt.Subject, "sessions", n)
	return c.SendStatus(fiber.StatusOK)
}

// rpLeeway is the configured clock-skew leeway.
func (a *Auth) rpLeeway() time.Duration {
	if a.cfg.OIDC != nil && a.cfg.OIDC.Leeway > 0 {
		return a.cfg.OIDC.Leeway.D()
	}
	return 30 * time.Second
}
