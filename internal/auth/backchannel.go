package auth

import (
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/httperr"
	"github.com/gofiber/fiber/v2"
)

// PathBackChannelLogout is where the IdP posts logout tokens (OpenID Connect
// Back-Channel Logout 1.0); register it as the client's backchannel_logout_uri.
const PathBackChannelLogout = "/auth/backchannel-logout"

// maxBackChannelBody bounds a back-channel logout request's body. A logout
// token is a signed JWT of a few KiB at most; the endpoint is reachable
// without authentication, so it must not buffer up to server.max_body.
const maxBackChannelBody = 64 << 10

const msgBodyTooLarge = "request body too large"

// maxJTITTL bounds how long a logout token's jti is remembered (a token
// with a far exp would otherwise pin a store entry for that long).
const maxJTITTL = 24 * time.Hour

// backChannelLogout handles POST /auth/backchannel-logout: it validates the
// logout_token, refuses a replayed jti, and ends every session of the token's
// sid (or, without one, of its sub). Per §2.8 it answers 200 with
// Cache-Control: no-store, or 400 with an error; a body over
// maxBackChannelBody gets 413 before more of it is read. No cookie or CSRF header is
// involved: the caller is the IdP, authenticated by the token's signature.
func (a *Auth) backChannelLogout(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	ctx := c.UserContext()
	raw, err := logoutTokenParam(c)
	if err != nil {
		return err
	}
	if err := a.rp.Ready(); err != nil {
		return httperr.New(fiber.StatusServiceUnavailable, msgIdPUnavailable)
	}
	lt, err := a.rp.VerifyLogoutToken(ctx, raw)
	if err != nil {
		a.log.WarnContext(ctx, "auth: back-channel logout token refused", "error", err)
		return httperr.New(fiber.StatusBadRequest, "invalid_request")
	}
	// §2.6 step 10 (optional, done): a jti is accepted once.
	ttl := min(max(lt.Expiry.Sub(a.now())+a.rpLeeway(), time.Minute), maxJTITTL)
	h := sha256.Sum256([]byte(lt.JTI))
	fresh, err := a.st.SetNX(ctx, "bcl:jti:"+base64.RawURLEncoding.EncodeToString(h[:]), []byte{1}, ttl)
	if err != nil {
		a.log.ErrorContext(ctx, "auth: recording logout token jti", "error", err)
		return httperr.New(fiber.StatusServiceUnavailable, msgStore)
	}
	if !fresh {
		return httperr.New(fiber.StatusBadRequest, "invalid_request")
	}
	var (
		n     int
		ended SessionEnd
	)
	if lt.SID != "" {
		n, err = a.sessions.DeleteBySID(ctx, lt.SID)
		ended.SID = lt.SID
	} else {
		n, err = a.sessions.DeleteBySubject(ctx, lt.Subject)
		ended.Subject = lt.Subject
	}
	if err != nil {
		a.log.ErrorContext(ctx, "auth: back-channel logout", "error", err)
		return httperr.New(fiber.StatusServiceUnavailable, msgStore)
	}
	a.notifyEnded(ended)
	a.log.InfoContext(ctx, "auth: back-channel logout", "sub", lt.Subject, "sessions", n)
	return c.SendStatus(fiber.StatusOK)
}

// logoutTokenParam returns the logout_token form parameter of a
// back-channel logout request (application/x-www-form-urlencoded, §2.5),
// reading at most maxBackChannelBody bytes of the body: 413 beyond, 400 when
// the body is no such form or has no token.
func logoutTokenParam(c *fiber.Ctx) (string, error) {
	if !strings.HasPrefix(strings.ToLower(c.Get(fiber.HeaderContentType)), fiber.MIMEApplicationForm) {
		return "", httperr.New(fiber.StatusBadRequest, "invalid_request")
	}
	body, err := limitedBody(c, maxBackChannelBody)
	if err != nil {
		return "", err
	}
	form, err := url.ParseQuery(string(body))
	if err != nil || form.Get("logout_token") == "" {
		return "", httperr.New(fiber.StatusBadRequest, "invalid_request")
	}
	return form.Get("logout_token"), nil
}

// limitedBody returns the request body when it is at most limit bytes, else a
// 413 error, having read no more than limit+1 bytes: a Content-Length over
// the limit is refused from the header alone, a chunked body as soon as it
// passes the limit. The server streams request bodies (StreamRequestBody),
// so what is not read is never buffered (fasthttp discards at most 256 KiB
// of an unread body after the answer and closes the connection beyond). The
// returned bytes may be the request's buffer: valid during the request only.
func limitedBody(c *fiber.Ctx, limit int) ([]byte, error) {
	if c.Request().Header.ContentLength() > limit {
		return nil, httperr.New(fiber.StatusRequestEntityTooLarge, msgBodyTooLarge)
	}
	var body []byte
	if stream := c.Context().RequestBodyStream(); stream != nil {
		var err error
		if body, err = io.ReadAll(io.LimitReader(stream, int64(limit)+1)); err != nil {
			return nil, httperr.New(fiber.StatusBadRequest, "invalid_request")
		}
	} else {
		body = c.Body() // a server that buffers bodies has read it already
	}
	if len(body) > limit {
		return nil, httperr.New(fiber.StatusRequestEntityTooLarge, msgBodyTooLarge)
	}
	return body, nil
}

// rpLeeway is the configured clock-skew leeway.
func (a *Auth) rpLeeway() time.Duration {
	if a.cfg.OIDC != nil && a.cfg.OIDC.Leeway > 0 {
		return a.cfg.OIDC.Leeway.D()
	}
	return 30 * time.Second
}
