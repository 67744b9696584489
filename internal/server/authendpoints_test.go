package server

import (
	"net/http"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/oidc/oidctest"
)

// TestAuthEndpointMethods runs every /auth endpoint with every method
// through the main dispatch (testdata/cors.yaml, a real OP): its own method
// is handled (the endpoint's own answer without a session or login state),
// HEAD wherever GET is; any other method gets 405 with Allow; a CORS
// preflight from the SPA's origin to the two fetch endpoints is answered
// before the method guard, as on routes; a path under /auth that is no
// endpoint is 404, whatever routes exist.
func TestAuthEndpointMethods(t *testing.T) {
	t.Parallel()
	ln := listen(t)
	public := "http://" + ln.Addr().String()
	op := oidctest.Start(t, oidctest.Options{RedirectURIs: []string{public + "/auth/callback"}})
	api, hits := reflectingUpstream(t)
	cfg := loadConfig(t, "cors.yaml", map[string]string{
		"PUBLIC": public, "ISSUER": op.Issuer, "SECRET": op.ClientSecret, "API": api.URL})
	// A route for every other path: /auth's answers are the endpoints' all the same.
	catchAll := cfg.Routes[1] // a session route
	catchAll.Name, catchAll.Prefix = "catch-all", "/"
	cfg.Routes = append(cfg.Routes, catchAll)
	serve(t, cfg, ln)
	b := newBrowser(t, public)
	b.waitReady()

	// Each endpoint's answer to its own method, with no session and no
	// login under way.
	endpoints := []struct {
		path  string
		allow string
		own   map[string]int
	}{
		{"/auth/login", "GET, HEAD", map[string]int{"GET": 302, "HEAD": 302}},
		{"/auth/callback", "GET, HEAD", map[string]int{"GET": 400, "HEAD": 400}},
		{"/auth/me", "GET, HEAD", map[string]int{"GET": 401, "HEAD": 401}},
		{"/auth/logout", "POST", map[string]int{"POST": 401}},
		{"/auth/logout/continue", "GET, HEAD", map[string]int{"GET": 302, "HEAD": 302}},
		{"/auth/backchannel-logout", "POST", map[string]int{"POST": 400}},
	}
	methods := []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
	for _, ep := range endpoints {
		for _, m := range methods {
			t.Run(m+" "+ep.path, func(t *testing.T) {
				headers := []string{"X-CSRF", "1"}
				if m == "POST" {
					headers = append(headers, "Content-Type", "application/x-www-form-urlencoded")
				}
				resp := b.do(m, ep.path, headers...)
				want, own := ep.own[m]
				if !own {
					want = http.StatusMethodNotAllowed
				}
				if resp.StatusCode != want {
					t.Errorf("status %d, want %d", resp.StatusCode, want)
				}
				allow := resp.Header.Get("Allow")
				if own && allow != "" || !own && allow != ep.allow {
					t.Errorf("Allow %q, want %q", allow, map[bool]string{true: "", false: ep.allow}[own])
				}
			})
		}
	}

	preflight := func(method string) []string {
		return []string{"Origin", appOrigin, "Access-Control-Request-Method", method, "Access-Control-Request-Headers", "x-csrf"}
	}
	for _, tc := range []struct {
		name, method, path string
		headers            []string
		status             int
		allowOrigin        string
	}{
		{"preflight to /auth/me", "OPTIONS", "/auth/me", preflight("GET"), 204, appOrigin},
		{"preflight to /auth/logout", "OPTIONS", "/auth/logout", preflight("POST"), 204, appOrigin},
		{"preflight to /auth/login: no cors there", "OPTIONS", "/auth/login", preflight("GET"), 405, ""},
		{"/auth itself", "GET", "/auth", nil, 404, ""},
		{"/auth/", "GET", "/auth/", nil, 404, ""},
		{"unknown endpoint", "GET", "/auth/nowhere", nil, 404, ""},
		{"unknown endpoint, POST", "POST", "/auth/nowhere", nil, 404, ""},
		{"below an endpoint", "GET", "/auth/me/extra", nil, 404, ""},
		{"an endpoint with a trailing slash", "GET", "/auth/me/", nil, 404, ""},
		{"an endpoint in another case", "GET", "/auth/ME", nil, 404, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := b.do(tc.method, tc.path, tc.headers...)
			if resp.StatusCode != tc.status || resp.Header.Get("Access-Control-Allow-Origin") != tc.allowOrigin {
				t.Errorf("%s %s = %d Access-Control-Allow-Origin %q, want %d %q", tc.method, tc.path,
					resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"), tc.status, tc.allowOrigin)
			}
		})
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("%d requests under /auth reached an upstream", n)
	}
}
