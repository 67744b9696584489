package server

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/oidc/oidctest"
)

// TestFullStackIdPRecipe runs the settings the IdP recipes (docs/idp/) rely
// on through the whole gateway and the development OP: oidc.authorize_params
// reach the OP on the browser's authorization request beside the flow's own
// parameters, untouched by them; and an issuer that ends in "/" (Auth0,
// authentik) is kept exactly as written, through discovery, the login's ID
// token, a bearer route's access token, a refresh and the logout.
func TestFullStackIdPRecipe(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name          string
		trailingSlash bool
	}{
		{"issuer without trailing slash", false},
		{"issuer with trailing slash", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln := listen(t)
			public := "http://" + ln.Addr().String()
			op := oidctest.Start(t, oidctest.Options{
				RedirectURIs:           []string{public + "/auth/callback"},
				PostLogoutRedirectURIs: []string{public + "/"},
				TrailingSlashIssuer:    tc.trailingSlash,
			})
			if got := strings.HasSuffix(op.Issuer, "/"); got != tc.trailingSlash {
				t.Fatalf("OP issuer %q: trailing slash %v, want %v", op.Issuer, got, tc.trailingSlash)
			}
			api := newRecorder(t)
			cfg := loadConfig(t, "idp.yaml", map[string]string{
				"PUBLIC": public, "ISSUER": op.Issuer, "SECRET": op.ClientSecret, "API": api.URL})
			serve(t, cfg, ln)
			b := newBrowser(t, public)
			b.waitReady()

			// The login completes, and the OP saw exactly one of each parameter.
			b.login(op, "/orders")
			reqs := op.AuthorizeRequests()
			if len(reqs) != 1 {
				t.Fatalf("the OP got %d authorization requests, want 1", len(reqs))
			}
			q := reqs[0]
			for name, want := range map[string]string{
				"audience": "https://api.example.com", "prompt": "consent", "access_type": "offline",
				"resource": "https://api.example.com/orders", "response_type": "code", "client_id": "gatehouse",
				"redirect_uri": public + "/auth/callback", "code_challenge_method": "S256",
			} {
				if got := q[name]; len(got) != 1 || got[0] != want {
					t.Errorf("authorization request %s = %q, want [%q]", name, got, want)
				}
			}
			for _, name := range []string{"state", "nonce", "code_challenge", "scope"} {
				if got := q[name]; len(got) != 1 || got[0] == "" {
					t.Errorf("authorization request %s = %q, want one value", name, got)
				}
			}

			// The session's access token goes upstream; the same token, as
			// an API client's bearer token, passes the iss check.
			if resp := b.do("GET", "/api/orders", "X-CSRF", "1"); resp.StatusCode != 200 {
				t.Fatalf("GET /api/orders = %d %s, want 200", resp.StatusCode, bodyOf(resp))
			}
			h, _ := api.last()
			token := strings.TrimPrefix(h.Get("Authorization"), "Bearer ")
			if resp := b.do("GET", "/partner/x", "Authorization", "Bearer "+token); resp.StatusCode != 200 {
				t.Errorf("bearer GET /partner/x with the OP's access token = %d %s, want 200", resp.StatusCode, bodyOf(resp))
			}

			// A refresh (an upstream 401 forces one): the new ID token's iss is checked too.
			api.mu.Lock()
			api.rejectOn = token
			api.mu.Unlock()
			if resp := b.do("GET", "/api/orders", "X-CSRF", "1"); resp.StatusCode != 200 || op.Grants("refresh_token") != 1 {
				t.Errorf("GET after an upstream 401 = %d %s with %d refresh grants, want 200 after 1",
					resp.StatusCode, bodyOf(resp), op.Grants("refresh_token"))
			}

			// Logout goes on to the OP's end-session endpoint.
			resp := b.do("POST", "/auth/logout", "X-CSRF", "1")
			var out struct {
				LogoutURL string `json:"logoutUrl"`
			}
			if err := json.Unmarshal([]byte(bodyOf(resp)), &out); err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("POST /auth/logout = %d (%v)", resp.StatusCode, err)
			}
			resp = b.do("GET", out.LogoutURL)
			if u, err := url.Parse(resp.Header.Get("Location")); err != nil || resp.StatusCode != http.StatusFound ||
				!strings.HasPrefix(u.String(), op.Server.URL+"/") || u.Query().Get("id_token_hint") == "" {
				t.Errorf("GET %s = %d to %q, want 302 to the OP's end-session endpoint", out.LogoutURL, resp.StatusCode, resp.Header.Get("Location"))
			}
		})
	}
}
