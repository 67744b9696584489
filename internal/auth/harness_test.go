package auth

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-dev/gatehouse/httperr"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/session"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/memory"
	"github.com/gatehouse-dev/gatehouse/request"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// seen is what the fake upstream received.
type seen struct {
	Path, Authorization, Cookie string
	Identity                    *request.Identity
}

// harness is a gateway-shaped fiber app (the Endpoints, and routes of Gate
// and RetryWithRenewedToken around a recording "upstream") on a loopback
// port, with a browser-like client.
type harness struct {
	t        testing.TB
	auth     *Auth
	sessions *session.Manager
	store    store.Store
	mem      *memory.Store // the store when the harness made it (not shared)
	url      string
	client   *http.Client // cookie jar, no automatic redirects

	mu   sync.Mutex
	hits []seen
}

type harnessOpts struct {
	issuer       string
	clientSecret string
	clientAuth   string
	errorPage    string
	margin       time.Duration
	listener     net.Listener
	// store, when set, is shared with other harnesses (replicas); default a
	// fresh memory store.
	store store.Store
	// authStore, when set, is the Auth's store (login records, single-use
	// ids); default the session store.
	authStore store.Store
}

func newHarness(t testing.TB, o harnessOpts) *harness {
	t.Helper()
	ln := o.listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	pub := &url.URL{Scheme: "http", Host: ln.Addr().String()}
	if o.margin == 0 {
		o.margin = 30 * time.Second // oidc.refresh_margin's default
	}
	cfg := &config.Config{
		Server: config.Server{PublicURL: pub},
		OIDC: &config.OIDC{
			Issuer: o.issuer, ClientID: "gatehouse", ClientSecret: o.clientSecret, ClientAuth: o.clientAuth,
			Scopes:            []string{"openid", "profile", "email", "offline_access"},
			AllowedAlgorithms: []string{"RS256", "ES256", "PS256", "EdDSA"},
			RefreshMargin:     config.Duration(o.margin), ErrorRedirect: o.errorPage,
			PostLogoutRedirect: &url.URL{Scheme: pub.Scheme, Host: pub.Host, Path: "/"}, Leeway: config.Duration(30 * time.Second),
		},
		// The values config.Load gives an http public_url (the session
		// package applies no defaults of its own).
		Session: config.Session{
			Secret: strings.Repeat("s", 32), CSRFHeader: "X-CSRF", CookieName: "gatehouse", SameSite: http.SameSiteLaxMode,
			IdleTimeout: config.Duration(30 * time.Minute), AbsoluteTimeout: config.Duration(12 * time.Hour),
		},
		Routes: []config.Route{
			{Name: "api", Prefix: "/api", Auth: config.AuthSession},
			{Name: "public", Prefix: "/public", Auth: config.AuthNone},
			{Name: "bearer", Prefix: "/bearer", Auth: config.AuthBearer},
			{Name: "orders-api", Prefix: "/orders-api", Auth: config.AuthBearer, Audience: "orders-api"},
			{Name: "any", Prefix: "/any", Auth: config.AuthAny},
			{
				Name: "scoped", Prefix: "/scoped", Auth: config.AuthBearer,
				RequiredScopes: []string{"orders:read", "orders:write"},
				RequiredClaims: map[string]string{"tenant": "acme", "roles": "admin"},
			},
			{
				Name: "any-scoped", Prefix: "/any-scoped", Auth: config.AuthAny,
				RequiredScopes: []string{"orders:read"}, RequiredClaims: map[string]string{"tenant": "acme"},
			},
			{Name: "admin", Prefix: "/admin", Auth: config.AuthSession, RequiredClaims: map[string]string{"roles": "admin"}},
		},
	}
	st := o.store
	var mem *memory.Store
	if st == nil {
		m, err := memory.New(memory.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = m.Close() })
		st, mem = m, m
	}
	sm, err := session.NewManager(cfg.Session, pub, st, session.WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ast := st
	if o.authStore != nil {
		ast = o.authStore
	}
	a, err := New(ctx, cfg, sm, ast, quietLogger(), nil)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, auth: a, sessions: sm, store: st, mem: mem, url: pub.String()}
	app := fiber.New(fiber.Config{
		DisableStartupMessage: true, ErrorHandler: httperr.Handler(nil, nil),
		// As the server: bodies are streamed, max_body's default.
		StreamRequestBody: true, BodyLimit: 10 << 20,
	})
	app.Use(func(c *fiber.Ctx) error {
		// Stands in for the server's trusted-proxy resolution.
		if ip, err := netip.ParseAddr(c.Get("X-Test-Client-IP")); err == nil {
			request.From(c).Client = ip
		}
		// A field set before the upstream is called, as rate_limit's are.
		c.Set("X-Test-Before", "kept")
		return c.Next()
	})
	for path, methods := range a.Endpoints() {
		for method, handler := range methods {
			app.Add(method, path, handler)
		}
	}
	for i := range cfg.Routes {
		r := &cfg.Routes[i]
		// As the server composes a proxied route.
		app.All(r.Prefix+"/*", a.Gate(r)(a.RetryWithRenewedToken(h.upstream)))
	}
	go func() { _ = app.Listener(ln) }()
	t.Cleanup(func() { _ = app.Shutdown() })

	jar, _ := cookiejar.New(nil)
	h.client = &http.Client{Jar: jar, Timeout: 20 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	return h
}

// upstream records what would be forwarded: the server's final step sets
// Authorization from the identity, exactly as here.
func (h *harness) upstream(c *fiber.Ctx) error {
	// X-Test-Upstream-401: <token> makes the "upstream" reject that access
	// token (or, with "*", every one) as a real upstream would: 401 with a
	// body and fields of its own, nothing recorded.
	if rejected := c.Get("X-Test-Upstream-401"); rejected != "" {
		if id := request.From(c).Identity; rejected == "*" || id != nil && id.AccessToken == rejected {
			c.Set("X-Test-Upstream", "rejected")
			return c.Status(fiber.StatusUnauthorized).SendString("upstream refused the token")
		}
	}
	// The Cookie lines as the proxy would forward them: after the gate they
	// are plain fields (session.StripCookie), which Peek does not see.
	var cookies []string
	for k, v := range c.Request().Header.All() {
		if string(k) == fiber.HeaderCookie {
			cookies = append(cookies, string(v))
		}
	}
	s := seen{Path: c.Path(), Cookie: strings.Join(cookies, "; "), Identity: request.From(c).Identity}
	if id := s.Identity; id != nil && id.AccessToken != "" {
		c.Request().Header.Set("Authorization", "Bearer "+id.AccessToken)
	}
	s.Authorization = string(c.Request().Header.Peek("Authorization"))
	h.mu.Lock()
	h.hits = append(h.hits, s)
	h.mu.Unlock()
	return c.SendString("upstream ok")
}

func (h *harness) lastHit() (seen, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.hits) == 0 {
		return seen{}, 0
	}
	return h.hits[len(h.hits)-1], len(h.hits)
}

func (h *harness) hitCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.hits)
}

// do sends a request; headers alternate name, value.
func (h *harness) do(method, path string, body io.Reader, headers ...string) *http.Response {
	h.t.Helper()
	return doWith(h.t, h.client, method, h.url+path, body, headers...)
}

func doWith(t testing.TB, c *http.Client, method, target string, body io.Reader, headers ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func readBody(t testing.TB, r *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// sessionCookie returns the session cookie the jar holds ("" if none).
func (h *harness) sessionCookie() string {
	u, _ := url.Parse(h.url)
	for _, c := range h.client.Jar.Cookies(u) {
		if c.Name == h.sessions.CookieName() {
			return c.Value
		}
	}
	return ""
}

// storeLen returns the number of keys in the harness's own store (sessions
// and auth state alike).
func (h *harness) storeLen() int {
	h.t.Helper()
	if h.mem == nil {
		h.t.Fatal("storeLen: the harness shares a store it did not make")
	}
	return h.mem.Len()
}

// waitReady blocks until discovery is done.
func (h *harness) waitReady() {
	h.t.Helper()
	select {
	case <-h.auth.rp.Done():
	case <-time.After(30 * time.Second): // hang guard
		h.t.Fatalf("discovery not done: %v", h.auth.rp.Ready())
	}
}

// setCookieNames lists the cookies a response sets with a non-empty value.
func setCookieNames(r *http.Response) []string {
	var out []string
	for _, c := range r.Cookies() {
		if c.Value != "" && c.MaxAge >= 0 {
			out = append(out, c.Name)
		}
	}
	return out
}

func mustListen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func newJar() http.CookieJar {
	jar, _ := cookiejar.New(nil)
	return jar
}
