package devop

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestNewRefusesBadIssuers(t *testing.T) {
	for _, tc := range []struct {
		name, issuer string
	}{
		{"empty", ""},
		{"no scheme", "127.0.0.1:9000"},
		{"ftp", "ftp://127.0.0.1:9000"},
		{"path", "http://127.0.0.1:9000/realms/x"},
		{"query", "http://127.0.0.1:9000?a=b"},
		{"fragment", "http://127.0.0.1:9000#x"},
		{"no host", "http://"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.issuer, Options{}); err == nil {
				t.Errorf("New(%q) = nil error, want one", tc.issuer)
			}
		})
	}
}

func TestNewRefusesAUserWithoutCredentials(t *testing.T) {
	if _, err := New("http://127.0.0.1:9000", Options{User: User{Subject: "s", Username: "u"}}); err == nil {
		t.Error("New(user without a password) = nil error, want one")
	}
}

func TestDefaults(t *testing.T) {
	p, err := New("http://127.0.0.1:9000/", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Issuer != "http://127.0.0.1:9000" {
		t.Errorf("Issuer = %q, want the origin without a trailing slash", p.Issuer)
	}
	if p.ClientID != "gatehouse" || p.ClientSecret != "gatehouse-secret" {
		t.Errorf("client = %q/%q, want gatehouse/gatehouse-secret", p.ClientID, p.ClientSecret)
	}
	if p.User != DefaultUser() || p.User.Username != "alice" || p.User.Password != "wonderland" {
		t.Errorf("User = %+v, want alice / wonderland", p.User)
	}
	pub, err := New("http://127.0.0.1:9000", Options{Public: true, ClientSecret: "ignored"})
	if err != nil {
		t.Fatal(err)
	}
	if pub.ClientSecret != "" {
		t.Errorf("public client secret = %q, want none", pub.ClientSecret)
	}
}

// serve starts the OP on a test server whose URL is the issuer.
func serve(t *testing.T, opts Options) (*Provider, *httptest.Server) {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	p, err := New("http://"+srv.Listener.Addr().String(), opts)
	if err != nil {
		srv.Close()
		t.Fatal(err)
	}
	srv.Config.Handler = p.Handler()
	srv.Start()
	t.Cleanup(srv.Close)
	return p, srv
}

func noRedirects() *http.Client {
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func TestDiscoveryNamesTheIssuer(t *testing.T) {
	p, srv := serve(t, Options{})
	resp, err := srv.Client().Get(p.Issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if doc["issuer"] != p.Issuer {
		t.Errorf("discovery issuer = %v, want %q", doc["issuer"], p.Issuer)
	}
	for _, k := range []string{"authorization_endpoint", "token_endpoint", "jwks_uri", "end_session_endpoint", "revocation_endpoint"} {
		if s, _ := doc[k].(string); !strings.HasPrefix(s, p.Issuer+"/") {
			t.Errorf("discovery %s = %v, want a URL under the issuer", k, doc[k])
		}
	}
}

// authorize starts a code flow and returns the auth request id the OP's
// redirect to its login page carries.
func authorize(t *testing.T, p *Provider, c *http.Client, redirect string) string {
	t.Helper()
	q := url.Values{
		"client_id": {p.ClientID}, "redirect_uri": {redirect}, "response_type": {"code"},
		"scope": {"openid profile"}, "state": {"st"}, "nonce": {"n"},
		"code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"},
	}
	resp, err := c.Get(p.Issuer + "/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusFound || loc.Path != "/login" {
		t.Fatalf("GET /authorize = %d to %q, want 302 to /login", resp.StatusCode, resp.Header.Get("Location"))
	}
	return loc.Query().Get("authRequestID")
}

func TestLoginPage(t *testing.T) {
	const redirect = "http://127.0.0.1:8080/auth/callback"
	p, _ := serve(t, Options{RedirectURIs: []string{redirect}})
	c := noRedirects()
	id := authorize(t, p, c, redirect)

	resp, err := c.Get(p.Issuer + "/login?authRequestID=" + url.QueryEscape(id))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `name="id" value="`+id+`"`) {
		t.Fatalf("GET /login = %d, want 200 with the auth request id in the form:\n%s", resp.StatusCode, page)
	}
	// The password form must not be framable, nor run any script.
	for name, want := range map[string]string{
		"X-Frame-Options": "DENY",
		"Cache-Control":   "no-store",
	} {
		if got := resp.Header.Get(name); got != want {
			t.Errorf("login page %s = %q, want %q", name, got, want)
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") ||
		!strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") {
		t.Errorf("login page CSP = %q, want default-src 'none' (no scripts) and frame-ancestors 'none'", csp)
	}

	for _, tc := range []struct {
		name, id, username, password string
		wantStatus                   int
	}{
		{"wrong password", id, "alice", "nope", http.StatusUnauthorized},
		{"wrong user", id, "bob", "wonderland", http.StatusUnauthorized},
		{"unknown request", "ar-unknown", "alice", "wonderland", http.StatusUnauthorized},
		{"markup in the username is escaped", id, `"><script>alert(1)</script>`, "x", http.StatusUnauthorized},
		{"right credentials", id, "alice", "wonderland", http.StatusFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			form := url.Values{"id": {tc.id}, "username": {tc.username}, "password": {tc.password}}
			resp, err := c.PostForm(p.Issuer+"/login", form)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("POST /login = %d, want %d:\n%s", resp.StatusCode, tc.wantStatus, body)
			}
			if strings.Contains(string(body), "<script>") {
				t.Errorf("POST /login echoed markup unescaped:\n%s", body)
			}
			if tc.wantStatus == http.StatusFound {
				// The OP's callback, which then sends the code to the client.
				resp, err := c.Get(resp.Request.URL.ResolveReference(mustParse(t, resp.Header.Get("Location"))).String())
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				loc := mustParse(t, resp.Header.Get("Location"))
				if !strings.HasPrefix(loc.String(), redirect+"?") || loc.Query().Get("code") == "" || loc.Query().Get("state") != "st" {
					t.Errorf("after login: redirect to %q, want %s with code and state", loc, redirect)
				}
			}
		})
	}
}

func mustParse(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatalf("parsing %q: %v", s, err)
	}
	return u
}

func TestLoggedOutPage(t *testing.T) {
	p, srv := serve(t, Options{})
	resp, err := srv.Client().Get(p.Issuer + LoggedOutPath)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "Signed out") || strings.Contains(string(body), "<form") {
		t.Errorf("GET %s = %d, want 200 with a signed-out page and no form:\n%s", LoggedOutPath, resp.StatusCode, body)
	}
}

func TestSetRedirectURIs(t *testing.T) {
	p, _ := serve(t, Options{RedirectURIs: []string{"http://127.0.0.1:1/cb"}})
	q := url.Values{"client_id": {p.ClientID}, "redirect_uri": {"http://127.0.0.1:2/cb"}, "response_type": {"code"}, "scope": {"openid"}}
	get := func() int {
		resp, err := noRedirects().Get(p.Issuer + "/authorize?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := get(); got == http.StatusFound {
		t.Fatalf("authorize with an unregistered redirect_uri = %d, want a refusal", got)
	}
	p.SetRedirectURIs([]string{"http://127.0.0.1:2/cb"}, nil)
	if got := get(); got != http.StatusFound {
		t.Errorf("authorize after SetRedirectURIs = %d, want 302", got)
	}
}
