package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/httperr"
	"github.com/gatehouse-dev/gatehouse/internal/oidc"
	"github.com/gatehouse-dev/gatehouse/internal/session"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// A started login is kept in the browser, not in the gateway: its state
// (ID-token nonce, PKCE verifier, returnTo, expiry) is sealed with
// AES-256-GCM into the per-login cookie. Starting a login therefore stores
// nothing, so no anonymous request can fill a store and no per-address limit
// is needed (an office or a carrier's NAT may start any number of logins).
// Single use is enforced at the callback by a record written only once the
// IdP has accepted the code (usedKey).
//
// The sealing key is derived from session.secret (labelLoginState): every
// replica with the same secret opens the cookie, a deployment with another
// secret does not. Each login is sealed under a key of its own (the seal
// package's per-value key, named by the state) with the state, public_url's
// origin, the issuer and the client id as additional data, so a cookie opens
// only for the callback URL of its own login at this gateway and this IdP.
// The expiry is inside the sealed value: a cookie kept past its Max-Age is
// refused all the same.

const (
	// labelLoginState is the HKDF label of the login-state key.
	labelLoginState = "gatehouse login state v1"
	// loginSealVersion is the first byte of a sealed login state; another
	// byte is refused before decryption.
	loginSealVersion = 1
	// loginCookiePrefix starts every login cookie's name.
	loginCookiePrefix = "gatehouse_login_"
	// maxState bounds the state parameter the callback looks at; ours are 43 characters.
	maxState = 128
	// maxLoginCookie bounds a login cookie's value (base64url); longer ones
	// are refused before decoding. Ours are at most about 820 characters
	// (returnTo is at most maxReturnTo).
	maxLoginCookie = 1024
	// usedKeyPrefix prefixes the single-use record of a finished login; the
	// suffix is a hash of the state.
	usedKeyPrefix = "login-used:"
)

// loginState is what the callback needs of a started login. Encoded as
// nonce (32 bytes) || verifier (32) || expiry (8, big-endian Unix seconds) ||
// returnTo; the layout is fixed by loginSealVersion.
type loginState struct {
	nonce    [32]byte  // the ID token's nonce, base64url-encoded on the wire
	verifier [32]byte  // PKCE code verifier (RFC 7636 §4.1), base64url-encoded: 43 characters
	expires  time.Time // loginTTL after the start; the callback refuses the state from then on
	returnTo string    // a safeReturnTo path or URL
}

// loginStateFixed is the length of a loginState's fixed fields.
const loginStateFixed = 32 + 32 + 8

// errLoginState is the callback's reason for any login cookie that is
// missing, too long, malformed, sealed elsewhere or for another login.
var errLoginState = errors.New("no valid login cookie for this state")

// errLoginExpired is the reason for a login cookie past its sealed expiry.
var errLoginExpired = errors.New("login state expired")

// newLoginState draws a login's nonce and verifier.
func newLoginState(returnTo string, expires time.Time) *loginState {
	ls := &loginState{returnTo: returnTo, expires: expires}
	// crypto/rand.Read never fails (Go 1.24+: it crashes the program instead).
	_, _ = rand.Read(ls.nonce[:])
	_, _ = rand.Read(ls.verifier[:])
	return ls
}

// nonceParam is the nonce as sent to the IdP and found in the ID token.
func (ls *loginState) nonceParam() string { return base64.RawURLEncoding.EncodeToString(ls.nonce[:]) }

// verifierParam is the PKCE code verifier as sent to the token endpoint.
func (ls *loginState) verifierParam() string {
	return base64.RawURLEncoding.EncodeToString(ls.verifier[:])
}

func (ls *loginState) marshal() []byte {
	b := make([]byte, 0, loginStateFixed+len(ls.returnTo))
	b = append(b, ls.nonce[:]...)
	b = append(b, ls.verifier[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(ls.expires.Unix()))
	return append(b, ls.returnTo...)
}

func unmarshalLoginState(b []byte) (*loginState, error) {
	if len(b) < loginStateFixed {
		return nil, errLoginState
	}
	ls := &loginState{
		expires:  time.Unix(int64(binary.BigEndian.Uint64(b[64:72])), 0),
		returnTo: string(b[loginStateFixed:]),
	}
	copy(ls.nonce[:], b[:32])
	copy(ls.verifier[:], b[32:64])
	return ls, nil
}

// loginAD returns the additional data a login's sealed state is bound to.
func (a *Auth) loginAD(state string) []byte {
	return slices.Concat(a.loginBinding, []byte(state))
}

// sealLogin returns the login cookie's value for state.
func (a *Auth) sealLogin(state string, ls *loginState) string {
	return base64.RawURLEncoding.EncodeToString(a.loginSeal.Seal(nil, state, ls.marshal(), a.loginAD(state)))
}

// openLogin returns the login state sealed in cookie for state, or
// errLoginState / errLoginExpired.
func (a *Auth) openLogin(state, cookie string) (*loginState, error) {
	if cookie == "" || len(cookie) > maxLoginCookie {
		return nil, errLoginState
	}
	sealed, err := base64.RawURLEncoding.DecodeString(cookie)
	if err != nil {
		return nil, errLoginState
	}
	plain, err := a.loginSeal.Open(nil, state, sealed, a.loginAD(state))
	if err != nil {
		return nil, errLoginState
	}
	ls, err := unmarshalLoginState(plain)
	if err != nil {
		return nil, err
	}
	if !a.now().Before(ls.expires) {
		return nil, errLoginExpired
	}
	if a.safeReturnTo(ls.returnTo) != ls.returnTo { // only ever sealed checked; checked again on use (an origin may have left cors since)
		ls.returnTo = "/"
	}
	return ls, nil
}

// usedKey is the store key of the single-use record of state's login.
func usedKey(state string) string {
	h := sha256.Sum256([]byte(state))
	return usedKeyPrefix + base64.RawURLEncoding.EncodeToString(h[:])
}

// randomToken returns n random bytes, base64url-encoded.
func randomToken(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("reading random bytes: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// loginCookieName is per login (several tabs may log in at once, each with its
// own cookie): a prefix plus the first 8 hex digits of SHA-256(state).
func (a *Auth) loginCookieName(state string) string {
	h := sha256.Sum256([]byte(state))
	name := loginCookiePrefix + hex.EncodeToString(h[:4])
	if a.https {
		return "__Secure-" + name
	}
	return name
}

func (a *Auth) loginCookie(name, value string, maxAge int) *fiber.Cookie {
	c := &fiber.Cookie{
		Name:     name,
		Value:    value,
		Path:     PathCallback,
		HTTPOnly: true,
		Secure:   a.https,
		// Lax: the cookie must ride along the IdP's top-level redirect back to us.
		SameSite: fiber.CookieSameSiteLaxMode,
		MaxAge:   maxAge,
	}
	if maxAge < 0 {
		c.Expires = fasthttp.CookieExpireDelete
	}
	return c
}

// login starts the authorization-code flow: GET /auth/login?returnTo=/path.
// It stores nothing: the login state goes to the browser sealed in the
// login cookie.
func (a *Auth) login(c *fiber.Ctx) error {
	if err := a.rp.Ready(); err != nil {
		return httperr.New(fiber.StatusServiceUnavailable, msgIdPUnavailable)
	}
	state, err := randomToken(32) // 256 bits (>= 128 required)
	if err != nil {
		return err
	}
	ls := newLoginState(a.safeReturnTo(c.Query("returnTo")), a.now().Add(loginTTL))
	authURL, err := a.rp.AuthCodeURL(state, ls.nonceParam(), ls.verifierParam())
	if err != nil {
		return httperr.New(fiber.StatusServiceUnavailable, msgIdPUnavailable)
	}
	c.Cookie(a.loginCookie(a.loginCookieName(state), a.sealLogin(state, ls), int(loginTTL/time.Second)))
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Redirect(authURL, fiber.StatusFound)
}

// idpErrorCode keeps an IdP's error code only when it looks like one (RFC 6749
// §4.1.2.1 codes are ASCII words); anything else is reported generically.
var idpErrorCode = regexp.MustCompile(`^[a-z_]{1,64}$`)

// callbackError answers a failed callback: a redirect to oidc.error_redirect
// with ?error=code when configured, else status with a JSON message.
func (a *Auth) callbackError(c *fiber.Ctx, status int, code, msg string) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	if a.errorPage != "" {
		return c.Redirect(a.errorPage+"?error="+url.QueryEscape(code), fiber.StatusFound)
	}
	return httperr.New(status, msg)
}

// callback finishes the login: GET /auth/callback?code&state[&iss] or ?error&state.
// Nothing is stored unless the IdP accepts the code.
func (a *Auth) callback(c *fiber.Ctx) error {
	ctx := c.UserContext()
	state := c.Query("state")
	var ls *loginState
	lsErr := errLoginState
	if state != "" && len(state) <= maxState {
		name := a.loginCookieName(state)
		ls, lsErr = a.openLogin(state, c.Cookies(name))
		// This login ends here whatever happens next: the browser drops its cookie.
		c.Cookie(a.loginCookie(name, "", -1))
	}
	if e := c.Query("error"); e != "" {
		code := "login_failed"
		if idpErrorCode.MatchString(e) {
			code = e
		}
		a.log.InfoContext(ctx, "auth: identity provider returned an error", "error", code)
		return a.callbackError(c, fiber.StatusUnauthorized, code, msgLoginFailed+": "+code)
	}
	if lsErr != nil {
		a.log.InfoContext(ctx, "auth: callback refused", "error", lsErr)
		return a.callbackError(c, fiber.StatusBadRequest, "invalid_state", msgInvalidState)
	}
	meta, err := a.rp.Metadata()
	if err != nil {
		return a.callbackError(c, fiber.StatusServiceUnavailable, "idp_unavailable", msgIdPUnavailable)
	}
	// RFC 9207 §2.4: a present iss must be the issuer; required when advertised.
	iss := c.Query("iss")
	if (iss != "" || meta.AuthorizationResponseIssParameter) && iss != a.rp.Issuer() {
		a.log.WarnContext(ctx, "auth: callback iss mismatch (mix-up?)", "iss", iss)
		return a.callbackError(c, fiber.StatusUnauthorized, "login_failed", msgLoginFailed)
	}
	code := c.Query("code")
	if code == "" {
		return a.callbackError(c, fiber.StatusBadRequest, "invalid_request", "missing authorization code")
	}
	// A replayed callback (URL and login cookie) is refused without asking
	// the IdP again. This only reads; the record is written below.
	used := usedKey(state)
	switch _, err := a.st.Get(ctx, used); {
	case err == nil:
		a.log.WarnContext(ctx, "auth: replayed callback refused")
		return a.callbackError(c, fiber.StatusBadRequest, "invalid_state", msgInvalidState)
	case !errors.Is(err, store.ErrNotFound):
		a.log.ErrorContext(ctx, "auth: reading the login's single-use record", "error", err)
		return httperr.New(fiber.StatusServiceUnavailable, msgStore)
	}
	toks, err := a.rp.Exchange(ctx, code, ls.verifierParam(), ls.nonceParam())
	if err != nil {
		var re *oauth2.RetrieveError
		if !errors.Is(err, oidc.ErrInvalidToken) && !errors.As(err, &re) {
			a.log.ErrorContext(ctx, "auth: code exchange failed", "error", err)
			return a.callbackError(c, fiber.StatusServiceUnavailable, "idp_unavailable", msgIdPUnavailable)
		}
		a.log.WarnContext(ctx, "auth: login refused", "error", err)
		return a.callbackError(c, fiber.StatusUnauthorized, "login_failed", msgLoginFailed)
	}
	// Single use, recorded only now that the IdP accepted the code: a request
	// without one never makes the gateway store anything. SetNX settles two
	// concurrent replays. The record outlives the sealed expiry by the
	// leeway, for replicas whose clocks differ by up to that much.
	fresh, err := a.st.SetNX(ctx, used, []byte{1}, max(ls.expires.Sub(a.now()), 0)+a.rpLeeway())
	if err != nil {
		a.log.ErrorContext(ctx, "auth: recording the login's single use", "error", err)
		return httperr.New(fiber.StatusServiceUnavailable, msgStore)
	}
	if !fresh {
		a.log.WarnContext(ctx, "auth: replayed callback refused")
		return a.callbackError(c, fiber.StatusBadRequest, "invalid_state", msgInvalidState)
	}
	// Session fixation: whatever session the browser had ends; a fresh id is made.
	if old := a.sessions.CookieValue(c); old != "" {
		if s, err := a.sessions.Load(ctx, old); err == nil {
			if err := a.sessions.Delete(ctx, s.ID); err != nil {
				a.log.WarnContext(ctx, "auth: deleting previous session", "error", err)
			}
		}
	}
	sub, _ := toks.IDClaims["sub"].(string)
	sid, _ := toks.IDClaims["sid"].(string)
	s := &session.Session{
		Subject:         sub,
		SID:             sid,
		Claims:          toks.IDClaims,
		IDToken:         toks.IDToken,
		AccessToken:     toks.AccessToken,
		RefreshToken:    toks.RefreshToken,
		AccessExpiresAt: toks.Expiry,
	}
	if err := a.sessions.New(ctx, s); err != nil {
		a.log.ErrorContext(ctx, "auth: creating session", "error", err)
		return httperr.New(fiber.StatusServiceUnavailable, msgStore)
	}
	c.Cookie(a.sessions.Cookie(s))
	c.Set(fiber.HeaderCacheControl, "no-store")
	a.log.InfoContext(ctx, "auth: login", "sub", sub)
	return c.Redirect(ls.returnTo, fiber.StatusFound)
}
