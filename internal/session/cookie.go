package session

import (
	"crypto/hmac"
	"encoding/base64"
	"math"
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/gatehouse-dev/gatehouse/internal/config"
)

// The cookie value is id "." mac, both unpadded base64url: the 256-bit id and
// HMAC-SHA256(cookieKey, id). Its length is fixed, which lets decodeCookie
// reject anything else before doing any work.
const (
	idBytes   = 32
	idLen     = 43 // base64.RawURLEncoding.EncodedLen(idBytes)
	macLen    = 43 // base64.RawURLEncoding.EncodedLen(sha256.Size)
	cookieLen = idLen + 1 + macLen
)

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// encodeCookie returns the cookie value naming session id.
func (m *Manager) encodeCookie(id string) string {
	return id + "." + b64(mac(&m.keys.cookie, id))
}

// CookieValueOf returns the cookie value of the session with id, as Load
// takes it: the auth package renews a token from the id the request's
// identity carries, so the cookie itself need not travel with the request.
func (m *Manager) CookieValueOf(id string) string { return m.encodeCookie(id) }

// decodeCookie returns the id a cookie value names, and false for anything
// that is not exactly a value encodeCookie produced under this secret: wrong
// length or shape, non-canonical base64, or a MAC that does not verify. The
// MAC is compared in constant time. The id returned does not alias v.
func (m *Manager) decodeCookie(v string) (string, bool) {
	if len(v) != cookieLen || v[idLen] != '.' {
		return "", false
	}
	id, sig := v[:idLen], v[idLen+1:]
	var idRaw [idBytes]byte
	if n, err := base64.RawURLEncoding.Strict().Decode(idRaw[:], []byte(id)); err != nil || n != idBytes {
		return "", false
	}
	var got [32]byte
	if n, err := base64.RawURLEncoding.Strict().Decode(got[:], []byte(sig)); err != nil || n != len(got) {
		return "", false
	}
	if !hmac.Equal(got[:], mac(&m.keys.cookie, id)) {
		return "", false
	}
	return strings.Clone(id), true
}

// cookieAttrs are the attributes every session cookie carries.
type cookieAttrs struct {
	name, domain, sameSite string
	secure                 bool
}

// newCookieAttrs takes the cookie's name, domain and SameSite from cfg as
// config gives them (defaulted from public_url and checked against its
// scheme there); https makes the cookie Secure.
func newCookieAttrs(cfg config.Session, https bool) cookieAttrs {
	a := cookieAttrs{name: cfg.CookieName, domain: cfg.CookieDomain, secure: https, sameSite: fiber.CookieSameSiteLaxMode}
	if cfg.SameSite == http.SameSiteStrictMode {
		a.sameSite = fiber.CookieSameSiteStrictMode
	}
	return a
}

// CookieName returns the session cookie's name (the proxy strips this cookie
// from what it forwards).
func (m *Manager) CookieName() string { return m.cookie.name }

// Cookie returns the Set-Cookie for s: HttpOnly, SameSite Lax or Strict,
// Path=/, Secure when public_url is https, Domain when cookie_domain is set.
// Its Max-Age is what remains of the absolute timeout, so the browser drops
// the cookie when the session can no longer be valid and never keeps it
// longer; the server enforces both timeouts regardless.
func (m *Manager) Cookie(s *Session) *fiber.Cookie {
	c := m.baseCookie()
	c.Value = m.encodeCookie(s.ID)
	remaining := s.CreatedAt.Add(m.abs).Sub(m.now())
	c.MaxAge = int(math.Ceil(remaining.Seconds()))
	if c.MaxAge <= 0 {
		// Already over: expire it rather than emit a cookie without Max-Age
		// (fiber treats 0 as "no Max-Age", a browser-session cookie).
		c.Value = ""
		c.MaxAge = -1
		c.Expires = fasthttp.CookieExpireDelete
	}
	return c
}

// ClearCookie returns a Set-Cookie that deletes the session cookie: empty
// value, Max-Age=0 (and an Expires in the past for old browsers' sake — fiber
// writes only one of them, Max-Age) with the same name, Path, Domain and
// flags, which a browser needs to match the cookie it holds.
func (m *Manager) ClearCookie() *fiber.Cookie {
	c := m.baseCookie()
	c.MaxAge = -1
	c.Expires = fasthttp.CookieExpireDelete
	return c
}

func (m *Manager) baseCookie() *fiber.Cookie {
	return &fiber.Cookie{
		Name:     m.cookie.name,
		Path:     "/",
		Domain:   m.cookie.domain,
		Secure:   m.cookie.secure,
		HTTPOnly: true,
		SameSite: m.cookie.sameSite,
	}
}

// CookieValue returns the session cookie's value in c's request ("" when
// absent), as a copy that stays valid after the handler returns.
func (m *Manager) CookieValue(c *fiber.Ctx) string {
	return strings.Clone(c.Cookies(m.cookie.name))
}
