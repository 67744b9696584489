package auth

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse-dev/gatehouse/internal/oidc/oidctest"
)

// startLogin GETs /auth/login and returns the authorize URL.
func (h *harness) startLogin(returnTo string) *url.URL {
	h.t.Helper()
	resp := h.do(http.MethodGet, "/auth/login?returnTo="+url.QueryEscape(returnTo), nil)
	if resp.StatusCode != http.StatusFound {
		h.t.Fatalf("GET /auth/login = %d %s, want 302", resp.StatusCode, readBody(h.t, resp))
	}
	u, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		h.t.Fatal(err)
	}
	return u
}

// loginAtOP runs a whole login against the real OP and returns the callback response.
func (h *harness) loginAtOP(op *oidctest.Provider, returnTo string) *http.Response {
	h.t.Helper()
	authorize := h.startLogin(returnTo)
	cb, err := op.Login(context.Background(), h.client, authorize.String())
	if err != nil {
		h.t.Fatalf("OP login: %v", err)
	}
	return doWith(h.t, h.client, http.MethodGet, cb, nil)
}

func startOPHarness(t *testing.T, o oidctest.Options) (*oidctest.Provider, *harness) {
	t.Helper()
	op := oidctest.Start(t, o)
	h := newHarness(t, harnessOpts{issuer: op.Issuer, clientSecret: op.ClientSecret})
	op.SetRedirectURIs([]string{h.url + PathCallback}, []string{h.url + "/"})
	h.waitReady()
	return op, h
}

// TestFlowAgainstRealOP drives login → me → API → logout → replay against
// the zitadel OP, as a browser would.
func TestFlowAgainstRealOP(t *testing.T) {
	t.Parallel()
	op, h := startOPHarness(t, oidctest.Options{})

	authorize := h.startLogin("/app/page?x=1")
	q := authorize.Query()
	for k, want := range map[string]string{"response_type": "code", "code_challenge_method": "S256", "client_id": "gatehouse", "redirect_uri": h.url + PathCallback} {
		if q.Get(k) != want {
			t.Errorf("authorize %s = %q, want %q", k, q.Get(k), want)
		}
	}
	if len(q.Get("state")) < 22 || len(q.Get("nonce")) < 22 || q.Get("code_challenge") == "" {
		t.Errorf("authorize URL %s lacks a 128-bit state/nonce or a challenge", authorize)
	}
	if !strings.Contains(q.Get("scope"), "offline_access") {
		t.Errorf("authorize scope = %q, want offline_access", q.Get("scope"))
	}
	cbURL, err := op.Login(context.Background(), h.client, authorize.String())
	if err != nil {
		t.Fatalf("OP login: %v", err)
	}
	cb := doWith(t, h.client, http.MethodGet, cbURL, nil)
	if cb.StatusCode != http.StatusFound || cb.Header.Get("Location") != "/app/page?x=1" {
		t.Fatalf("callback = %d Location %q (%s), want 302 to /app/page?x=1", cb.StatusCode, cb.Header.Get("Location"), readBody(t, cb))
	}
	sc := h.sessionCookie()
	if sc == "" {
		t.Fatal("no session cookie after the callback")
	}
	for _, c := range cb.Cookies() {
		if c.Name == h.sessions.CookieName() && (!c.HttpOnly || c.Path != "/" || c.SameSite != http.SameSiteLaxMode) {
			t.Errorf("session cookie = %+v, want HttpOnly, Path=/, SameSite=Lax", c)
		}
	}
	if op.Grants("authorization_code") != 1 {
		t.Errorf("authorization_code grants = %d, want 1", op.Grants("authorization_code"))
	}

	// Replaying the callback URL: the state was single-use.
	if r := doWith(t, h.client, http.MethodGet, cbURL, nil); r.StatusCode != http.StatusBadRequest {
		t.Errorf("replayed callback = %d, want 400", r.StatusCode)
	}
	if sc2 := h.sessionCookie(); sc2 != sc {
		t.Errorf("replayed callback changed the session cookie")
	}

	// /auth/me
	me := h.do(http.MethodGet, PathMe, nil, "X-CSRF", "1")
	body := readBody(t, me)
	if me.StatusCode != http.StatusOK {
		t.Fatalf("GET /auth/me = %d %s, want 200", me.StatusCode, body)
	}
	var m meResponse
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatal(err)
	}
	if m.UserID != op.User.Subject || m.Profile["email"] != op.User.Email || m.SessionExpiresIn <= 0 {
		t.Errorf("GET /auth/me = %s, want userId %s, email, positive sessionExpiresIn", body, op.User.Subject)
	}
	for _, hidden := range []string{"nonce", "at_hash", "aud", "iss", "exp", "sid"} {
		if _, ok := m.Profile[hidden]; ok {
			t.Errorf("GET /auth/me profile has %q, want it hidden", hidden)
		}
	}
	s, err := h.sessions.Load(context.Background(), sc)
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{s.AccessToken, s.RefreshToken, s.IDToken} {
		if tok != "" && strings.Contains(body, tok) {
			t.Error("GET /auth/me leaks a token")
		}
	}
	if s.RefreshToken == "" {
		t.Error("session has no refresh token (offline_access)")
	}

	// A session route: the upstream gets the access token, not the client's
	// Authorization nor the session cookie; other cookies pass.
	h.client.Jar.SetCookies(mustURL(t, h.url), []*http.Cookie{{Name: "theme", Value: "dark"}})
	api := h.do(http.MethodGet, "/api/orders", nil, "X-CSRF", "1", "Authorization", "Bearer forged")
	if api.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/orders = %d %s, want 200", api.StatusCode, readBody(t, api))
	}
	hit, _ := h.lastHit()
	if hit.Authorization != "Bearer "+s.AccessToken {
		t.Errorf("upstream Authorization = %q, want the session's access token", hit.Authorization)
	}
	if strings.Contains(hit.Cookie, h.sessions.CookieName()+"=") || !strings.Contains(hit.Cookie, "theme=dark") {
		t.Errorf("upstream Cookie = %q, want theme=dark without the session cookie", hit.Cookie)
	}
	at, _, err := jwt.NewParser().ParseUnverified(s.AccessToken, jwt.MapClaims{})
	if err != nil {
		t.Fatalf("access token from the OP is not a JWT: %v", err)
	}
	if sub, _ := at.Claims.GetSubject(); sub != op.User.Subject {
		t.Errorf("access token sub = %q, want %q", sub, op.User.Subject)
	}

	// Bearer route with the same access token (JWT from the OP, aud client_id).
	br := doWith(t, &http.Client{}, http.MethodGet, h.url+"/bearer/x", nil, "Authorization", "Bearer "+s.AccessToken)
	if br.StatusCode != http.StatusOK {
		t.Errorf("GET /bearer/x with the OP's access token = %d %s, want 200", br.StatusCode, readBody(t, br))
	}

	// Logout.
	lo := h.do(http.MethodPost, PathLogout, nil, "X-CSRF", "1")
	lbody := readBody(t, lo)
	if lo.StatusCode != http.StatusOK {
		t.Fatalf("POST /auth/logout = %d %s, want 200", lo.StatusCode, lbody)
	}
	var lr logoutResponse
	if err := json.Unmarshal([]byte(lbody), &lr); err != nil {
		t.Fatal(err)
	}
	// The page only gets a gateway URL: the ID token never reaches a script.
	if !strings.HasPrefix(lr.LogoutURL, h.url+PathLogoutContinue+"?h=") || strings.Contains(lbody, s.IDToken) {
		t.Fatalf("logoutUrl = %s, want %s?h=... and no ID token in the body", lr.LogoutURL, PathLogoutContinue)
	}
	if op.Revocations() != 1 {
		t.Errorf("revocations at the OP = %d, want 1", op.Revocations())
	}
	if h.sessionCookie() != "" {
		t.Error("session cookie still in the jar after logout")
	}
	// Navigating there: 302 to the OP's end-session URL with id_token_hint
	// and post_logout_redirect_uri.
	cont := doWith(t, h.client, http.MethodGet, lr.LogoutURL, nil)
	endSession := cont.Header.Get("Location")
	lu := mustURL(t, endSession)
	if cont.StatusCode != http.StatusFound || !strings.HasPrefix(endSession, op.Issuer) ||
		lu.Query().Get("id_token_hint") != s.IDToken || lu.Query().Get("post_logout_redirect_uri") != h.url+"/" {
		t.Errorf("GET logoutUrl = %d to %s, want 302 to the OP's end-session URL with id_token_hint and post_logout_redirect_uri",
			cont.StatusCode, endSession)
	}
	// The handle is single-use: a second visit just lands on the post-logout page.
	if again := doWith(t, h.client, http.MethodGet, lr.LogoutURL, nil); again.Header.Get("Location") != h.url+"/" {
		t.Errorf("second use of the logout handle = %d to %q, want 302 to %s/", again.StatusCode, again.Header.Get("Location"), h.url)
	}
	// The OP accepts the end-session URL (id_token_hint valid, redirect registered).
	es := doWith(t, h.client, http.MethodGet, endSession, nil)
	if es.StatusCode != http.StatusFound || es.Header.Get("Location") != h.url+"/" {
		t.Errorf("OP end-session = %d Location %q, want 302 to %s/", es.StatusCode, es.Header.Get("Location"), h.url)
	}

	// Replaying the old cookie.
	h.client.Jar.SetCookies(mustURL(t, h.url), []*http.Cookie{{Name: h.sessions.CookieName(), Value: sc}})
	if r := h.do(http.MethodGet, PathMe, nil, "X-CSRF", "1"); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /auth/me with the logged-out cookie = %d, want 401", r.StatusCode)
	}
	n := h.hitCount()
	if r := h.do(http.MethodGet, "/api/orders", nil, "X-CSRF", "1"); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /api/orders with the logged-out cookie = %d, want 401", r.StatusCode)
	}
	if h.hitCount() != n {
		t.Error("request with a dead session was forwarded")
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestConcurrentTabLogins: two logins started before either completes both succeed.
func TestConcurrentTabLogins(t *testing.T) {
	t.Parallel()
	op, h := startOPHarness(t, oidctest.Options{})
	a1 := h.startLogin("/one")
	a2 := h.startLogin("/two")
	cb2, err := op.Login(context.Background(), h.client, a2.String())
	if err != nil {
		t.Fatal(err)
	}
	cb1, err := op.Login(context.Background(), h.client, a1.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ cb, want string }{{cb2, "/two"}, {cb1, "/one"}} {
		r := doWith(t, h.client, http.MethodGet, tc.cb, nil)
		if r.StatusCode != http.StatusFound || r.Header.Get("Location") != tc.want {
			t.Errorf("callback = %d Location %q, want 302 %s", r.StatusCode, r.Header.Get("Location"), tc.want)
		}
	}
}

// TestCallbackNeedsTheLoginBrowser: a callback URL carried to another browser
// (login CSRF / injected code) is refused: the login cookie is missing there.
func TestCallbackNeedsTheLoginBrowser(t *testing.T) {
	t.Parallel()
	op, h := startOPHarness(t, oidctest.Options{})
	a := h.startLogin("/")
	cb, err := op.Login(context.Background(), h.client, a.String())
	if err != nil {
		t.Fatal(err)
	}
	other := &http.Client{CheckRedirect: h.client.CheckRedirect}
	r := doWith(t, other, http.MethodGet, cb, nil)
	if r.StatusCode != http.StatusBadRequest {
		t.Errorf("callback in another browser = %d, want 400", r.StatusCode)
	}
	if names := setCookieNames(r); len(names) != 0 {
		t.Errorf("callback in another browser set cookies %v, want none", names)
	}
}

// TestSessionFixation: a session id the browser brought is never kept; the
// previous session ends at login.
func TestSessionFixation(t *testing.T) {
	t.Parallel()
	op, h := startOPHarness(t, oidctest.Options{})
	if r := h.loginAtOP(op, "/"); r.StatusCode != http.StatusFound {
		t.Fatalf("first login = %d", r.StatusCode)
	}
	first := h.sessionCookie()
	if r := h.loginAtOP(op, "/"); r.StatusCode != http.StatusFound {
		t.Fatalf("second login = %d", r.StatusCode)
	}
	second := h.sessionCookie()
	if first == second || second == "" {
		t.Fatal("second login kept the first session cookie")
	}
	if _, err := h.sessions.Load(context.Background(), first); err == nil {
		t.Error("previous session still alive after a new login")
	}
}

// TestClientSecretPost logs in and out with client_secret_post at an OP
// that accepts only that method.
func TestClientSecretPost(t *testing.T) {
	t.Parallel()
	op := oidctest.Start(t, oidctest.Options{PostAuth: true})
	h := newHarness(t, harnessOpts{issuer: op.Issuer, clientSecret: op.ClientSecret, clientAuth: "client_secret_post"})
	op.SetRedirectURIs([]string{h.url + PathCallback}, nil)
	h.waitReady()
	if r := h.loginAtOP(op, "/"); r.StatusCode != http.StatusFound {
		t.Fatalf("client_secret_post login = %d %s, want 302", r.StatusCode, readBody(t, r))
	}
	if r := h.do(http.MethodPost, PathLogout, nil, "X-CSRF", "1"); r.StatusCode != http.StatusOK {
		t.Errorf("logout = %d", r.StatusCode)
	}
}

// TestPublicClient logs in as a public client (PKCE, no secret).
func TestPublicClient(t *testing.T) {
	t.Parallel()
	op, h := startOPHarness(t, oidctest.Options{Public: true})
	if r := h.loginAtOP(op, "/"); r.StatusCode != http.StatusFound {
		t.Fatalf("public-client login = %d %s, want 302", r.StatusCode, readBody(t, r))
	}
	if h.sessionCookie() == "" {
		t.Error("no session after public-client login")
	}
}

func TestLoginWhileIdPDown(t *testing.T) {
	t.Parallel()
	ln := mustListen(t)
	h := newHarness(t, harnessOpts{issuer: "http://" + ln.Addr().String(), listener: nil})
	ln.Close() // nothing listens at the issuer now
	r := h.do(http.MethodGet, PathLogin, nil)
	if body := readBody(t, r); r.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, msgIdPUnavailable) {
		t.Errorf("GET /auth/login with the IdP down = %d %s, want 503 %q", r.StatusCode, body, msgIdPUnavailable)
	}
	if err := h.auth.Ready(context.Background()); err == nil {
		t.Error("Ready() = nil with the IdP down")
	}
}
