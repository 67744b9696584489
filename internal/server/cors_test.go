package server

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/oidc/oidctest"
)

// The origins of testdata/cors.yaml.
const (
	appOrigin     = "http://app.example.test"     // top-level cors
	partnerOrigin = "http://partner.example.test" // the partner route's own cors
	evilOrigin    = "http://evil.example.test"
)

// reflectingUpstream answers every request 200 and, like a careless service,
// grants CORS to whatever Origin it is sent: gatehouse's policy must not be
// widened by it. hits counts the requests that reached it.
func reflectingUpstream(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if o := r.Header.Get("Origin"); o != "" {
			w.Header().Set("Access-Control-Allow-Origin", o)
			w.Header().Set("Access-Control-Allow-Credentials", "true")
			w.Header().Set("Access-Control-Allow-Methods", "*")
		}
		w.Header().Set("Vary", "Accept-Encoding")
		io.WriteString(w, `{"ok":true}`)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

// corsWant is what a response's CORS fields must be.
type corsWant struct {
	status  int
	allowed string // Access-Control-Allow-Origin ("" = must be absent)
	forward bool   // the upstream saw the request
	headers string // Access-Control-Allow-Headers of a granted preflight
	methods string // Access-Control-Allow-Methods of a granted preflight
	maxAge  string // Access-Control-Max-Age of a granted preflight
}

// checkCORS checks resp against w: Vary names Origin on every response of
// a CORS route; credentials, exposed fields and (for preflights) methods,
// headers and max-age only with an allowed origin, never an upstream's.
func checkCORS(t *testing.T, name string, resp *http.Response, w corsWant, forwarded bool, corsRoute bool) {
	t.Helper()
	h := resp.Header
	if resp.StatusCode != w.status {
		t.Errorf("%s: status %d (%s), want %d", name, resp.StatusCode, bodyOf(resp), w.status)
	}
	if forwarded != w.forward {
		t.Errorf("%s: forwarded = %v, want %v", name, forwarded, w.forward)
	}
	if !corsRoute {
		return // whatever the upstream says: a preflight never reaches it, nor a cross-site write
	}
	if got := h.Values("Access-Control-Allow-Origin"); w.allowed == "" && len(got) > 0 || w.allowed != "" && (len(got) != 1 || got[0] != w.allowed) {
		t.Errorf("%s: Access-Control-Allow-Origin = %q, want %q", name, got, w.allowed)
	}
	if !strings.Contains(strings.Join(h.Values("Vary"), ","), "Origin") {
		t.Errorf("%s: Vary = %q, want it to name Origin", name, h.Values("Vary"))
	}
	if w.allowed == "" {
		for k := range h {
			if strings.HasPrefix(k, "Access-Control-") {
				t.Errorf("%s: %s = %q on a response to an origin that is not allowed", name, k, h.Values(k))
			}
		}
		return
	}
	if got := h.Get("Access-Control-Allow-Credentials"); got != "true" {
		t.Errorf("%s: Access-Control-Allow-Credentials = %q, want true", name, got)
	}
	if got := h.Get("Access-Control-Expose-Headers"); got != "X-Request-Id, Retry-After, RateLimit, RateLimit-Policy, X-Cache, Age" {
		t.Errorf("%s: Access-Control-Expose-Headers = %q", name, got)
	}
	if got := h.Get("Access-Control-Allow-Methods"); got != w.methods {
		t.Errorf("%s: Access-Control-Allow-Methods = %q, want %q", name, got, w.methods)
	}
	if got := h.Get("Access-Control-Allow-Headers"); got != w.headers {
		t.Errorf("%s: Access-Control-Allow-Headers = %q, want %q", name, got, w.headers)
	}
	if got := h.Get("Access-Control-Max-Age"); got != w.maxAge {
		t.Errorf("%s: Access-Control-Max-Age = %q, want %q", name, got, w.maxAge)
	}
}

// TestCORSSplitOrigin runs a split-origin deployment (testdata/cors.yaml)
// through the real server, a real OP and a real upstream that reflects any
// Origin: preflights, credentialed calls, errors, the Origin check on
// unsafe methods, /auth/me and /auth/logout, and returnTo to the SPA.
func TestCORSSplitOrigin(t *testing.T) {
	t.Parallel()
	ln := listen(t)
	public := "http://" + ln.Addr().String()
	op := oidctest.Start(t, oidctest.Options{
		RedirectURIs:           []string{public + "/auth/callback"},
		PostLogoutRedirectURIs: []string{appOrigin + "/"},
	})
	api, hits := reflectingUpstream(t)
	cfg := loadConfig(t, "cors.yaml", map[string]string{
		"PUBLIC": public, "ISSUER": op.Issuer, "SECRET": op.ClientSecret, "API": api.URL})
	serve(t, cfg, ln)
	b := newBrowser(t, public)
	b.waitReady()

	const (
		sessionHeaders = "X-CSRF, Content-Type"
		bearerHeaders  = "X-CSRF, Content-Type, Authorization"
	)
	preflight := func(origin, method string) []string {
		return []string{"Origin", origin, "Access-Control-Request-Method", method, "Access-Control-Request-Headers", "x-csrf,content-type"}
	}
	type step struct {
		name         string
		method, path string
		headers      []string
		want         corsWant
		corsRoute    bool
	}
	run := func(steps []step) {
		t.Helper()
		for _, s := range steps {
			before := hits.Load()
			resp := b.do(s.method, s.path, s.headers...)
			checkCORS(t, s.name, resp, s.want, hits.Load() != before, s.corsRoute)
		}
	}

	run([]step{
		{"preflight from the SPA", "OPTIONS", "/api/orders/7", preflight(appOrigin, "POST"),
			corsWant{status: 204, allowed: appOrigin, headers: sessionHeaders, methods: "GET, POST, HEAD", maxAge: "90"}, true},
		{"preflight from another site", "OPTIONS", "/api/orders/7", preflight(evilOrigin, "POST"),
			corsWant{status: 403}, true},
		{"preflight from a sandboxed frame", "OPTIONS", "/api/orders/7", preflight("null", "GET"),
			corsWant{status: 403}, true},
		{"preflight from a look-alike", "OPTIONS", "/api/orders/7", preflight(appOrigin+".evil.test", "GET"),
			corsWant{status: 403}, true},
		{"preflight from the SPA over https", "OPTIONS", "/api/orders/7", preflight("https://app.example.test", "GET"),
			corsWant{status: 403}, true},
		{"preflight to a route with cors off", "OPTIONS", "/api/private", preflight(appOrigin, "GET"),
			corsWant{status: 403}, false},
		{"preflight to the partner route from its origin", "OPTIONS", "/partner/x", preflight(partnerOrigin, "DELETE"),
			corsWant{status: 204, allowed: partnerOrigin, headers: bearerHeaders, methods: "GET, HEAD, POST, PUT, PATCH, DELETE", maxAge: "600"}, true},
		{"preflight to the partner route from the SPA (route's cors replaces the top-level)", "OPTIONS", "/partner/x",
			preflight(appOrigin, "GET"), corsWant{status: 403}, true},
		{"preflight to /auth/me", "OPTIONS", "/auth/me", preflight(appOrigin, "GET"),
			corsWant{status: 204, allowed: appOrigin, headers: sessionHeaders, methods: "GET, HEAD, POST", maxAge: "90"}, true},
		{"preflight to /auth/logout from another site", "OPTIONS", "/auth/logout", preflight(evilOrigin, "POST"),
			corsWant{status: 403}, true},
		{"/auth/me without a session, from the SPA: a readable 401", "GET", "/auth/me",
			[]string{"Origin", appOrigin, "X-CSRF", "1"}, corsWant{status: 401, allowed: appOrigin}, true},
		{"/auth/me without a session, from another site", "GET", "/auth/me",
			[]string{"Origin", evilOrigin, "X-CSRF", "1"}, corsWant{status: 401}, true},
		{"an API without a session, from the SPA: a readable 401", "GET", "/api/orders",
			[]string{"Origin", appOrigin, "X-CSRF", "1"}, corsWant{status: 401, allowed: appOrigin}, true},
		{"a public route, from another site: the upstream's grant is dropped", "GET", "/api/limited",
			[]string{"Origin", evilOrigin}, corsWant{status: 200, forward: true}, true},
		{"a rate-limited answer, from the SPA: readable, Retry-After exposed", "GET", "/api/limited",
			[]string{"Origin", appOrigin}, corsWant{status: 429, allowed: appOrigin}, true},
		{"the login is a navigation: no CORS", "GET", "/auth/login", []string{"Origin", appOrigin},
			corsWant{status: 302}, false},
		// A form logout (no CSRF header) proves its origin by Origin alone:
		// the SPA's passes (then 401: no session), another site's does not.
		{"form logout from the SPA", "POST", "/auth/logout",
			[]string{"Origin", appOrigin, "Content-Type", "application/x-www-form-urlencoded"},
			corsWant{status: 401, allowed: appOrigin}, true},
		{"form logout from another site", "POST", "/auth/logout",
			[]string{"Origin", evilOrigin, "Content-Type", "application/x-www-form-urlencoded"},
			corsWant{status: 403}, true},
	})

	// Logged in, with the SPA's returnTo on its own origin.
	returnTo := appOrigin + "/orders?tab=open"
	resp := b.do("GET", "/auth/login?returnTo="+url.QueryEscape(returnTo))
	callback, err := op.Login(t.Context(), b.client, resp.Header.Get("Location"))
	if err != nil {
		t.Fatalf("OP login: %v", err)
	}
	if resp = b.do("GET", callback); resp.StatusCode != 302 || resp.Header.Get("Location") != returnTo {
		t.Fatalf("callback = %d to %q, want 302 to the SPA's %q", resp.StatusCode, resp.Header.Get("Location"), returnTo)
	}
	run([]step{
		{"/auth/me from the SPA", "GET", "/auth/me", []string{"Origin", appOrigin, "X-CSRF", "1"},
			corsWant{status: 200, allowed: appOrigin}, true},
		{"an API call from the SPA", "GET", "/api/orders", []string{"Origin", appOrigin, "X-CSRF", "1"},
			corsWant{status: 200, allowed: appOrigin, forward: true}, true},
		{"a write from the SPA", "POST", "/api/orders", []string{"Origin", appOrigin, "X-CSRF", "1"},
			corsWant{status: 200, allowed: appOrigin, forward: true}, true},
		{"a read with another site's Origin: forwarded, the upstream's grant dropped", "GET", "/api/orders",
			[]string{"Origin", evilOrigin, "X-CSRF", "1"}, corsWant{status: 200, forward: true}, true},
		{"a write from another site", "POST", "/api/orders", []string{"Origin", evilOrigin, "X-CSRF", "1"},
			corsWant{status: 403}, true},
		{"a write from a sandboxed frame", "POST", "/api/orders", []string{"Origin", "null", "X-CSRF", "1"},
			corsWant{status: 403}, true},
		{"a write from the partner origin to a session route", "POST", "/api/orders",
			[]string{"Origin", partnerOrigin, "X-CSRF", "1"}, corsWant{status: 403}, true},
		{"a write from the SPA to a route with cors off", "POST", "/api/private",
			[]string{"Origin", appOrigin, "X-CSRF", "1"}, corsWant{status: 403}, false},
		{"a write from gatehouse's own origin to a route with cors off", "POST", "/api/private",
			[]string{"Origin", public, "X-CSRF", "1"}, corsWant{status: 200, forward: true}, false},
		{"logout from another site", "POST", "/auth/logout", []string{"Origin", evilOrigin, "X-CSRF", "1"},
			corsWant{status: 403}, true},
	})
	resp = b.do("POST", "/auth/logout", "Origin", appOrigin, "X-CSRF", "1")
	checkCORS(t, "logout from the SPA", resp, corsWant{status: 200, allowed: appOrigin}, false, true)
	if body := bodyOf(resp); !strings.Contains(body, `"logoutUrl":"`+public+"/auth/logout/continue?h=") {
		t.Errorf("logout from the SPA answered %s, want an absolute logoutUrl on %s", body, public)
	}
}

// TestCORSReload: a route's cors block reloads with the routes; the
// top-level block, which the /auth endpoints' policy is built from at
// start-up, is refused on reload (restart), and the running policy stays.
func TestCORSReload(t *testing.T) {
	t.Parallel()
	ln := listen(t)
	public := "http://" + ln.Addr().String()
	op := oidctest.Start(t, oidctest.Options{RedirectURIs: []string{public + "/auth/callback"}})
	api, _ := reflectingUpstream(t)
	env := map[string]string{"PUBLIC": public, "ISSUER": op.Issuer, "SECRET": op.ClientSecret, "API": api.URL}
	srv, _ := serve(t, loadConfig(t, "cors.yaml", env), ln)
	b := newBrowser(t, public)
	b.waitReady()
	granted := func(path, origin string) bool {
		resp := b.do("OPTIONS", path, "Origin", origin, "Access-Control-Request-Method", "GET")
		return resp.StatusCode == 204 && resp.Header.Get("Access-Control-Allow-Origin") == origin
	}

	next := loadConfig(t, "cors.yaml", env)
	next.Routes[1].CORS.AllowedOrigins = []string{partnerOrigin} // the private route opens to the partner
	if err := srv.Reload(next); err != nil {
		t.Fatalf("Reload with a route's cors changed: %v", err)
	}
	if !granted("/api/private", partnerOrigin) {
		t.Error("after the reload the private route does not grant the partner's preflight")
	}

	next = loadConfig(t, "cors.yaml", env)
	next.CORS.AllowedOrigins = append(next.CORS.AllowedOrigins, evilOrigin)
	if err := srv.Reload(next); err == nil || !strings.Contains(err.Error(), "cors") {
		t.Errorf("Reload with the top-level cors changed = %v, want it refused naming cors", err)
	}
	if granted("/auth/me", evilOrigin) || granted("/api/orders", evilOrigin) || !granted("/auth/me", appOrigin) {
		t.Error("a refused reload changed the running cors policy")
	}
}
