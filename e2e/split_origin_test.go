package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/gatehouse-dev/gatehouse/examples/demo/stack"
)

// spaHost serves the example SPA from its own origin, as a CDN or a static
// host would in a split-origin deployment: config.js names gatehouse's
// public_url (apiBase), the page's CSP lets it connect there, and paths
// without an extension get index.html (client-side routes).
func spaHost(dir, apiBase string) http.Handler {
	files := http.FileServer(http.Dir(dir))
	csp := "default-src 'self'; connect-src 'self' " + apiBase + "; img-src 'self' data:; object-src 'none'; base-uri 'self'; frame-ancestors 'none'"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", csp)
		switch {
		case r.URL.Path == "/config.js":
			w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
			fmt.Fprintf(w, "export const apiBase = %s;\n", strconv.Quote(apiBase))
		case filepath.Ext(r.URL.Path) == "":
			http.ServeFile(w, r, filepath.Join(dir, "index.html"))
		default:
			files.ServeHTTP(w, r)
		}
	})
}

// TestBrowserSplitOrigin runs issue 16's split-origin deployment in
// headless Chromium: the example SPA on http://app.gatehouse.localhost:P1
// (its config.js pointing at gatehouse), gatehouse on
// http://api.gatehouse.localhost:P2 with cors.allowed_origins naming the
// SPA's origin (e2e/testdata/split-origin.yaml). The SPA logs in (returnTo
// back to its own origin), reads /auth/me, calls a session API and the
// public catalog, and logs out, each call a credentialed cross-origin
// fetch. The same page served from an origin gatehouse does not allow
// (http://127.0.0.1:P1) gets nothing: its preflight is refused.
func TestBrowserSplitOrigin(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test: skipped in -short mode")
	}
	exe := chromium(t)

	appLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	appPort := strconv.Itoa(appLn.Addr().(*net.TCPAddr).Port)
	appOrigin := "http://app.gatehouse.localhost:" + appPort
	otherOrigin := "http://127.0.0.1:" + appPort // the same files, an origin gatehouse does not allow

	t.Cleanup(func() { appLn.Close() }) // if the stack does not start
	s, rec := startStack(t, stack.Options{
		Config: "testdata/split-origin.yaml",
		LookupEnv: func(k string) (string, bool) {
			if k == "APP_ORIGIN" {
				return appOrigin, true
			}
			return "", false
		},
	})
	app := &http.Server{Handler: spaHost("../examples/spa", s.URL), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := app.Serve(appLn); !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serving the SPA: %v", err)
		}
	}()
	t.Cleanup(func() { _ = app.Close() }) // before the stack stops
	if !strings.HasPrefix(s.URL, "http://api.gatehouse.localhost:") {
		t.Fatalf("gatehouse's public_url is %q, want it on api.gatehouse.localhost", s.URL)
	}

	browser := newBrowser(t, exe)
	ctx, cancel := context.WithTimeout(browser, 60*time.Second)
	defer cancel()
	p := page{t: t, ctx: ctx, browser: browser}
	tr := capture(t, ctx, s.URL) // gatehouse's answers, as the browser got them
	user := s.OP.User
	cookieName := s.Config.Session.CookieName
	home := appOrigin + "/"
	allowedBy := func(method, path string, status int) {
		t.Helper()
		r, ok := tr.last(method, path)
		if !ok || r.status != int64(status) || headerOf(r, "Access-Control-Allow-Origin") != appOrigin ||
			headerOf(r, "Access-Control-Allow-Credentials") != "true" {
			t.Errorf("%s %s = %d (captured %v), Access-Control-Allow-Origin %q, -Credentials %q; want %d for %s with credentials",
				method, path, r.status, ok, headerOf(r, "Access-Control-Allow-Origin"),
				headerOf(r, "Access-Control-Allow-Credentials"), status, appOrigin)
		}
	}

	// 1. Signed out, on the SPA's own origin: /auth/me's 401 is readable.
	p.do("loading the SPA from its own origin",
		chromedp.Navigate(home),
		chromedp.WaitVisible(chromedp.CSS(`body[data-auth="signed-out"] [data-testid="login-button"]`)),
	)
	allowedBy("GET", "/auth/me", http.StatusUnauthorized)

	// 2. Login: a navigation to gatehouse, the OP's page, and back to the SPA.
	p.do("following the login button to the OP",
		chromedp.Click(css("login-button")),
		chromedp.WaitVisible(css("op-username")),
	)
	p.logIn("logging in at the OP", user)
	if loc := get(p, "reading the location", chromedp.Location()); loc != home {
		t.Errorf("after login the browser is at %q, want the SPA's %q", loc, home)
	}
	if sub := get(p, "reading the user id", chromedp.Text(css("profile-sub"))); sub != user.Subject {
		t.Errorf("signed-in page shows user id %q, want %q", sub, user.Subject)
	}
	allowedBy("GET", "/auth/me", http.StatusOK)

	// 3. The session cookie is gatehouse's host-only, HttpOnly cookie; the
	// SPA's origin neither holds nor reads it.
	cookies := p.cookies("reading gatehouse's cookies", s.URL+"/")
	i := slices.IndexFunc(cookies, func(c *network.Cookie) bool { return c.Name == cookieName })
	if i < 0 || !cookies[i].HTTPOnly || cookies[i].Domain != "api.gatehouse.localhost" || cookies[i].SameSite != network.CookieSameSiteLax {
		t.Fatalf("gatehouse's cookies = %v, want a host-only, HttpOnly, SameSite=Lax %q", cookieNames(cookies), cookieName)
	}
	if cs := p.cookies("reading the SPA's cookies", home); slices.ContainsFunc(cs, func(c *network.Cookie) bool { return c.Name == cookieName }) {
		t.Errorf("the SPA's origin holds %q", cookieName)
	}
	if js := get(p, "reading document.cookie", chromedp.Evaluate[string](`document.cookie`)); strings.Contains(js, cookieName) {
		t.Errorf("document.cookie = %q exposes the session cookie", js)
	}

	// 4. A session API and the public catalog, cross-origin with credentials.
	p.do("calling the profile and catalog APIs",
		chromedp.Click(css("load-profile")),
		chromedp.WaitVisible(css("profile-api-result")),
		chromedp.Click(css("load-catalog")),
		chromedp.WaitVisible(css("catalog-item")),
	)
	if got := get(p, "reading the profile API's answer", chromedp.Text(css("api-profile-sub"))); got != user.Subject {
		t.Errorf("profile API shows sub %q, want %q", got, user.Subject)
	}
	allowedBy("GET", "/api/profile", http.StatusOK)
	if len(rec.all()) == 0 {
		t.Error("the services received no bearer token: the API was not called through gatehouse")
	}
	shot(t, p, "split-origin-logged-in.png")

	// 5. Logout: POST /auth/logout from the SPA, the OP's end-session, back
	// to the SPA signed out; gatehouse's cookie is gone.
	p.do("logging out",
		chromedp.Click(css("logout-button")),
		chromedp.WaitVisible(chromedp.CSS(`body[data-auth="signed-out"] [data-testid="login-prompt"]`)),
	)
	if loc := get(p, "reading the location", chromedp.Location()); loc != home {
		t.Errorf("after logout the browser is at %q, want the SPA's %q", loc, home)
	}
	allowedBy("POST", "/auth/logout", http.StatusOK)
	if cs := p.cookies("reading cookies after logout", s.URL+"/"); slices.ContainsFunc(cs, func(c *network.Cookie) bool { return c.Name == cookieName }) {
		t.Errorf("after logout the browser still holds %q", cookieName)
	}

	// 6. The same SPA from an origin gatehouse does not allow: the
	// preflight of its /auth/me is refused, the fetch fails, nothing is read.
	p.do("loading the SPA from another origin",
		chromedp.Navigate(otherOrigin+"/"),
		chromedp.WaitVisible(chromedp.CSS(`body[data-auth="error"]`)),
	)
	if msg := get(p, "reading the error", chromedp.Text(css("error"))); !strings.Contains(msg, "not reachable") {
		t.Errorf("the SPA on %s shows %q, want the fetch to have failed", otherOrigin, msg)
	}
}
