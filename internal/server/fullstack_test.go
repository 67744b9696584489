package server

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/oidc/oidctest"
)

// recorder is an upstream that records each request's headers and can be
// told to reject a given bearer token once with 401.
type recorder struct {
	*httptest.Server
	mu       sync.Mutex
	seen     []http.Header
	rejectOn string
}

func newRecorder(t *testing.T) *recorder {
	r := &recorder{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.seen = append(r.seen, req.Header.Clone())
		reject := r.rejectOn != "" && req.Header.Get("Authorization") == "Bearer "+r.rejectOn
		if reject {
			r.rejectOn = ""
		}
		r.mu.Unlock()
		w.Header().Set("Server", "secret-upstream/1.0")
		if reject {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":"token revoked"}`)
			return
		}
		io.WriteString(w, `{"ok":true}`)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *recorder) last() (http.Header, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.seen) == 0 {
		return nil, 0
	}
	return r.seen[len(r.seen)-1], len(r.seen)
}

// browser is a cookie-keeping client that does not follow redirects, so the
// test sees every hop.
type browser struct {
	t      *testing.T
	client *http.Client
	base   string
	seen   []string // every response body and Set-Cookie the page could read
}

func (b *browser) do(method, path string, headers ...string) *http.Response {
	b.t.Helper()
	target := path
	if strings.HasPrefix(path, "/") {
		target = b.base + path
	}
	req, err := http.NewRequest(method, target, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1]) // repeated names become repeated lines
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(strings.NewReader(string(body)))
	if strings.HasPrefix(target, b.base) {
		b.seen = append(b.seen, string(body))
		b.seen = append(b.seen, resp.Header.Values("Set-Cookie")...)
	}
	return resp
}

func bodyOf(resp *http.Response) string {
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestFullStackSessionFlow(t *testing.T) {
	t.Parallel()
	ln := listen(t)
	public := "http://" + ln.Addr().String()
	op := oidctest.Start(t, oidctest.Options{
		RedirectURIs:           []string{public + "/auth/callback"},
		PostLogoutRedirectURIs: []string{public + "/"},
	})
	api := newRecorder(t)
	cfg := loadConfig(t, "fullstack.yaml", map[string]string{
		"PUBLIC": public, "ISSUER": op.Issuer, "SECRET": op.ClientSecret, "API": api.URL})
	serve(t, cfg, ln)
	b := newBrowser(t, public)
	b.waitReady()

	// The /auth endpoints' methods and 404s: TestAuthEndpointMethods.

	// Without a session: 401 JSON, never a redirect, nothing forwarded.
	if resp := b.do("GET", "/api/orders", "X-CSRF", "1"); resp.StatusCode != 401 {
		t.Fatalf("GET /api/orders without a session = %d, want 401", resp.StatusCode)
	}

	// Login: gateway → OP → login form → callback → session cookie.
	sessionCookie := b.login(op, "/orders/7")
	if !sessionCookie.HttpOnly || sessionCookie.SameSite != http.SameSiteLaxMode || sessionCookie.Path != "/" {
		t.Fatalf("session cookie = %+v, want HttpOnly, SameSite=Lax, Path=/", sessionCookie)
	}

	// CSRF: a cookie-authenticated call without the custom header is refused.
	before := len(api.seen)
	if resp := b.do("GET", "/api/orders"); resp.StatusCode != 403 {
		t.Errorf("GET /api/orders without X-CSRF = %d, want 403", resp.StatusCode)
	}
	// A cross-site preflight is never granted.
	resp := b.do("OPTIONS", "/api/orders", "Origin", "https://evil.example", "Access-Control-Request-Method", "DELETE",
		"Access-Control-Request-Headers", "x-csrf")
	if resp.StatusCode < 400 || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("cross-site preflight = %d with ACAO %q, want a refusal without CORS permission",
			resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
	}
	// An unsafe request from a foreign origin is refused even with the header.
	if resp := b.do("POST", "/api/orders", "X-CSRF", "1", "Origin", "https://evil.example"); resp.StatusCode != 403 {
		t.Errorf("cross-origin POST = %d, want 403", resp.StatusCode)
	}
	if _, n := api.last(); n != before {
		t.Fatalf("refused requests reached the upstream (%d → %d)", before, n)
	}

	// The forwarded request: the gateway's token, the gateway's identity
	// header, no session cookie, no spoofed values.
	resp = b.do("GET", "/api/orders", "X-CSRF", "1", "Authorization", "Bearer forged", "Authorization", "Bearer forged2",
		"X-User-Id", "mallory", "X-User-Id", "mallory2", "X-Debug", "1", "Cookie", "theme=dark")
	if resp.StatusCode != 200 {
		t.Fatalf("GET /api/orders = %d %s, want 200", resp.StatusCode, bodyOf(resp))
	}
	if resp.Header.Get("Server") != "" {
		t.Errorf("response Server header %q not removed by the headers plugin", resp.Header.Get("Server"))
	}
	h, _ := api.last()
	if len(h.Values("Authorization")) != 1 || len(h.Values("X-User-Id")) != 1 {
		t.Fatalf("upstream got Authorization %q and X-User-Id %q, want exactly the gateway's one of each",
			h.Values("Authorization"), h.Values("X-User-Id"))
	}
	token := strings.TrimPrefix(h.Get("Authorization"), "Bearer ")
	if token == "" || token == "forged" || strings.Count(token, ".") != 2 {
		t.Fatalf("upstream Authorization = %q, want the session's JWT access token", h.Get("Authorization"))
	}
	if got := h.Get("X-User-Id"); got != op.User.Subject {
		t.Errorf("upstream X-User-Id = %q, want %q (the claim, never the client's value)", got, op.User.Subject)
	}
	if h.Get("X-Debug") != "" {
		t.Error("X-Debug reached the upstream")
	}
	if c := h.Get("Cookie"); strings.Contains(c, "gatehouse=") || !strings.Contains(c, "theme=dark") {
		t.Errorf("upstream Cookie = %q, want theme=dark without the session cookie", c)
	}

	// An upstream that rejects the token: one refresh, one retry, the client
	// never notices.
	api.mu.Lock()
	api.rejectOn = token
	api.mu.Unlock()
	grants := op.Grants("refresh_token")
	resp = b.do("GET", "/api/orders", "X-CSRF", "1")
	if resp.StatusCode != 200 {
		t.Fatalf("GET after upstream 401 = %d %s, want 200 after one refresh and retry", resp.StatusCode, bodyOf(resp))
	}
	if got := op.Grants("refresh_token") - grants; got != 1 {
		t.Errorf("refresh grants after upstream 401 = %d, want 1", got)
	}
	h, _ = api.last()
	newToken := strings.TrimPrefix(h.Get("Authorization"), "Bearer ")
	if newToken == token {
		t.Error("retry was sent with the rejected token")
	}

	// /auth/me: the user, never a token.
	resp = b.do("GET", "/auth/me", "X-CSRF", "1")
	var me struct {
		UserID           string         `json:"userId"`
		Profile          map[string]any `json:"profile"`
		SessionExpiresIn int            `json:"sessionExpiresIn"`
	}
	if err := json.Unmarshal([]byte(bodyOf(resp)), &me); err != nil || me.UserID != op.User.Subject || me.SessionExpiresIn <= 0 {
		t.Fatalf("GET /auth/me = %d %+v (%v)", resp.StatusCode, me, err)
	}

	// Logout: session gone server-side, the old cookie is worthless.
	resp = b.do("POST", "/auth/logout", "X-CSRF", "1")
	if resp.StatusCode != 200 {
		t.Fatalf("POST /auth/logout = %d %s", resp.StatusCode, bodyOf(resp))
	}
	var out struct {
		LogoutURL string `json:"logoutUrl"`
	}
	_ = json.Unmarshal([]byte(bodyOf(resp)), &out)
	// The SPA navigates to a gateway URL, which sends the browser on to the
	// OP's end-session endpoint (the ID token hint never reaches a script).
	resp = b.do("GET", out.LogoutURL)
	if u, err := url.Parse(resp.Header.Get("Location")); err != nil || resp.StatusCode != 302 ||
		!strings.HasPrefix(u.String(), op.Issuer) || u.Query().Get("post_logout_redirect_uri") != public+"/" {
		t.Errorf("GET %s = %d to %q, want 302 to the OP's end-session URL with post_logout_redirect_uri",
			out.LogoutURL, resp.StatusCode, resp.Header.Get("Location"))
	}
	replay := &http.Client{Timeout: 10 * time.Second}
	req, _ := http.NewRequest("GET", public+"/api/orders", nil)
	req.Header.Set("X-CSRF", "1")
	req.AddCookie(sessionCookie)
	if resp, err := replay.Do(req); err != nil || resp.StatusCode != 401 {
		t.Errorf("replaying the logged-out cookie = %v %v, want 401", resp.StatusCode, err)
	}

	// Nothing the browser could read ever held a token: the first access
	// token, the refreshed one, or any JWT at all outside the logout URL
	// (whose id_token_hint the OP asks for by design).
	jwtShape := regexp.MustCompile(`eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+`)
	for _, s := range b.seen {
		if strings.Contains(s, token) || strings.Contains(s, newToken) || jwtShape.MatchString(s) {
			t.Fatalf("a token reached the browser in %.200q", s)
		}
	}
}
