package auth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/internal/oidc"
	"github.com/gatehouse-dev/gatehouse/internal/session"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// loginState is what a started login keeps server-side, sealed under the key
// held in the browser's per-login cookie: without that cookie the record can
// be neither read nor used, which binds the login to the browser that began
// it (RFC 9700 §4.7.1), and the store never holds the PKCE verifier in clear.
type loginState struct {
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	ReturnTo string `json:"r"`
}

// loginKeyPrefix prefixes a login state's store key; the suffix is the state.
const loginKeyPrefix = "login:"

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
	name := "gatehouse_login_" + hex.EncodeToString(h[:4])
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

// seal encrypts ls with AES-256-GCM under the 32-byte key, the state as additional data.
func seal(key []byte, state string, ls *loginState) ([]byte, error) {
	plain, err := json.Marshal(ls)
	if err != nil {
		return nil, fmt.Errorf("encoding login state: %w", err)
	}
	gcm, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, gcm.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("reading random bytes: %w", err)
	}
	return gcm.Seal(nonce, nonce, plain, []byte(state)), nil
}

func open(key []byte, state string, sealed []byte) (*loginState, error) {
	gcm, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	if len(sealed) < gcm.NonceSize() {
		return nil, errors.New("sealed login state too short")
	}
	plain, err := gcm.Open(nil, sealed[:gcm.NonceSize()], sealed[gcm.NonceSize():], []byte(state))
	if err != nil {
		return nil, fmt.Errorf("opening login state: %w", err)
	}
	var ls loginState
	if err := json.Unmarshal(plain, &ls); err != nil {
		return nil, fmt.Errorf("decoding login state: %w", err)
	}
	return &ls, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	if len(key) != 32 {
		return nil, errors.New("login key must be 32 bytes")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("creating cipher: %w", err)
	}
	return cipher.NewGCM(block)
}

// login starts the authorization-code flow: GET /auth/login?returnTo=/path.
// A client that starts too many logins gets 429 (limitLogin).
func (a *Auth) login(c *fiber.Ctx) error {
	if err := a.limitLogin(c); err != nil {
		return err
	}
	if err := a.rp.Ready(); err != nil {
		return fiber.NewError(fiber.StatusServiceUnavailable, msgIdPUnavailable)
	}
	state, err := randomToken(32) // 256 bits (>= 128 required)
	if err != nil {
		return err
	}
	nonce, err := randomToken(32)
	if err != nil {
		return err
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return fmt.Errorf("reading random bytes: %w", err)
	}
	ls := &loginState{Nonce: nonce, Verifier: oauth2.GenerateVerifier(), ReturnTo: SafeReturnTo(c.Query("returnTo"))}
	sealed, err := seal(key, state, ls)
	if err != nil {
		return err
	}
	authURL, err := a.rp.AuthCodeURL(state, nonce, ls.Verifier)
	if err != nil {
		return fiber.NewError(fiber.StatusServiceUnavailable, msgIdPUnavailable)
	}
	if err := a.st.Set(c.UserContext(), loginKeyPrefix+state, sealed, loginTTL); err != nil {
		a.log.ErrorContext(c.UserContext(), "auth: saving login state", "error", err)
		return fiber.NewError(fiber.StatusServiceUnavailable, msgStore)
	}
	c.Cookie(a.loginCookie(a.loginCookieName(state), base64.RawURLEncoding.EncodeToString(key), int(loginTTL/time.Second)))
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
	return fiber.NewError(status, msg)
}

// callback finishes the login: GET /auth/callback?code&state[&iss] or ?error&state.
func (a *Auth) callback(c *fiber.Ctx) error {
	ctx := c.UserContext()
	state := c.Query("state")
	var sealed []byte
	if state != "" && len(state) <= 128 {
		var err error
		// Take: the state is single-use whatever happens next, so a replayed
		// callback URL finds nothing.
		sealed, err = a.st.Take(ctx, loginKeyPrefix+state)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			a.log.ErrorContext(ctx, "auth: taking login state", "error", err)
			return fiber.NewError(fiber.StatusServiceUnavailable, msgStore)
		}
		c.Cookie(a.loginCookie(a.loginCookieName(state), "", -1))
	}
	if e := c.Query("error"); e != "" {
		code := "login_failed"
		if idpErrorCode.MatchString(e) {
			code = e
		}
		a.log.InfoContext(ctx, "auth: identity provider returned an error", "error", code)
		return a.callbackError(c, fiber.StatusUnauthorized, code, msgLoginFailed+": "+code)
	}
	if sealed == nil {
		return a.callbackError(c, fiber.StatusBadRequest, "invalid_state", msgInvalidState)
	}
	key, err := base64.RawURLEncoding.DecodeString(c.Cookies(a.loginCookieName(state)))
	if err != nil {
		return a.callbackError(c, fiber.StatusBadRequest, "invalid_state", msgInvalidState)
	}
	ls, err := open(key, state, sealed)
	if err != nil {
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
	toks, err := a.rp.Exchange(ctx, code, ls.Verifier, ls.Nonce)
	if err != nil {
		var re *oauth2.RetrieveError
		if !errors.Is(err, oidc.ErrInvalidToken) && !errors.As(err, &re) {
			a.log.ErrorContext(ctx, "auth: code exchange failed", "error", err)
			return a.callbackError(c, fiber.StatusServiceUnavailable, "idp_unavailable", msgIdPUnavailable)
		}
		a.log.WarnContext(ctx, "auth: login refused", "error", err)
		return a.callbackError(c, fiber.StatusUnauthorized, "login_failed", msgLoginFailed)
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
		return fiber.NewError(fiber.StatusServiceUnavailable, msgStore)
	}
	c.Cookie(a.sessions.Cookie(s))
	c.Set(fiber.HeaderCacheControl, "no-store")
	a.log.InfoContext(ctx, "auth: login", "sub", sub)
	return c.Redirect(ls.ReturnTo, fiber.StatusFound)
}
