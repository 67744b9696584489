package e2e

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/gatehouse-dev/gatehouse/internal/devop"
	"github.com/gatehouse-dev/gatehouse/internal/server"
	"github.com/gatehouse-dev/gatehouse/internal/tlstest"
)

// httpsConfig is gatehouse terminating TLS itself, with the example SPA
// from a static route and the redirect listener in front.
const httpsConfig = `server:
  listen: %[1]q
  public_url: "https://%[1]s"
  redirect_http: %[2]q
  tls: {cert_file: cert.pem, key_file: key.pem}
oidc:
  issuer: %[3]q
  client_id: gatehouse
  client_secret: e2e-https-secret
session:
  secret: e2e-https-test-secret-e2e-https-test-secret
routes:
  - name: spa
    prefix: /
    static: %[4]q
`

func loopback(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// TestBrowserLoginOverHTTPS: Chromium, trusting only the test certificate's
// key, comes in through the plain-http redirect listener, is sent on to
// https, logs in at the OP and out again; the session cookie is
// __Host-, Secure and HttpOnly, and the page got HSTS.
func TestBrowserLoginOverHTTPS(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test: skipped in -short mode")
	}
	exe := chromium(t)

	dir := t.TempDir()
	ca := tlstest.NewCA(t)
	leaf := ca.Issue(t, 1, "127.0.0.1")
	leaf.Write(t, dir)
	gwLn, redirectLn, opLn := loopback(t), loopback(t), loopback(t)
	public, issuer := "https://"+gwLn.Addr().String(), "http://"+opLn.Addr().String()
	spa, err := filepath.Abs("../examples/spa")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "routes.yaml")
	yaml := fmt.Sprintf(httpsConfig, gwLn.Addr().String(), redirectLn.Addr().String(), issuer, spa)
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}

	op, err := devop.New(issuer, devop.Options{ClientSecret: "e2e-https-secret",
		RedirectURIs: []string{public + "/auth/callback"}, PostLogoutRedirectURIs: []string{public + "/"}})
	if err != nil {
		t.Fatal(err)
	}
	opSrv := &http.Server{Handler: op.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = opSrv.Serve(opLn) }()
	t.Cleanup(func() { _ = opSrv.Close() })

	cfg, err := server.Check(path)
	if err != nil {
		t.Fatal(err)
	}
	gw, err := server.New(cfg, server.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 2)
	go func() { served <- gw.Serve(gwLn) }()
	go func() { served <- gw.ServeRedirect(redirectLn) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := errors.Join(gw.Shutdown(ctx), <-served, <-served); err != nil {
			t.Errorf("stopping gatehouse: %v", err)
		}
	})

	// Ready: discovery done, checked by a client that verifies the chain.
	client := &http.Client{Timeout: 5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := client.Get(public + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("gatehouse over https never became ready")
		}
	}

	// Only this certificate's key is trusted: any other certificate error
	// still fails the page.
	browser := newBrowser(t, exe, chromedp.Flag("ignore-certificate-errors-spki-list", leaf.SPKIHash()))
	ctx, cancel := context.WithTimeout(browser, 60*time.Second)
	defer cancel()
	p := page{t: t, ctx: ctx, browser: browser}
	tr := capture(t, ctx, public)
	home := public + "/"

	p.do("loading the SPA through the http redirect",
		chromedp.Navigate("http://"+redirectLn.Addr().String()+"/"),
		chromedp.WaitVisible(chromedp.CSS(`body[data-auth="signed-out"] [data-testid="login-button"]`)),
	)
	if loc := get(p, "reading the location", chromedp.Location()); loc != home {
		t.Errorf("the http address led to %q, want %q", loc, home)
	}
	if !get(p, "reading isSecureContext", chromedp.Evaluate[bool](`window.isSecureContext`)) {
		t.Error("the SPA over https is not a secure context")
	}
	if r, ok := tr.last("GET", "/"); !ok || headerValue(r, "Strict-Transport-Security") != "max-age=31536000" {
		t.Errorf("GET / over https: captured %v, HSTS %q; want max-age=31536000", ok, headerValue(r, "Strict-Transport-Security"))
	}

	p.do("following the login button to the OP",
		chromedp.Click(css("login-button")),
		chromedp.WaitVisible(css("op-username")),
	)
	p.logIn("logging in at the OP", op.User)
	if loc := get(p, "reading the location", chromedp.Location()); loc != home {
		t.Errorf("after login the browser is at %q, want %q", loc, home)
	}
	if name := get(p, "reading the user's name", chromedp.Text(css("user-name"))); name != op.User.Name {
		t.Errorf("signed-in page shows %q, want %q", name, op.User.Name)
	}
	cookies := p.cookies("reading the browser's cookies", home)
	i := slices.IndexFunc(cookies, func(c *network.Cookie) bool { return c.Name == "__Host-gatehouse" })
	if i < 0 || !cookies[i].Secure || !cookies[i].HTTPOnly || cookies[i].Domain != "127.0.0.1" || cookies[i].Path != "/" {
		t.Fatalf("browser cookies = %v, want a Secure, HttpOnly, host-only __Host-gatehouse on /", cookieNames(cookies))
	}
	shot(t, p, "https-logged-in.png")

	p.do("logging out",
		chromedp.Click(css("logout-button")),
		chromedp.WaitVisible(chromedp.CSS(`body[data-auth="signed-out"] [data-testid="login-prompt"]`)),
	)
	if cs := p.cookies("reading cookies after logout", home); slices.ContainsFunc(cs, func(c *network.Cookie) bool { return c.Name == "__Host-gatehouse" }) {
		t.Error("after logout the browser still holds __Host-gatehouse")
	}
}

// headerValue returns the first value of the response header name.
func headerValue(r response, name string) string {
	for _, h := range r.headers {
		if http.CanonicalHeaderKey(h.Name) == http.CanonicalHeaderKey(name) {
			return h.Value
		}
	}
	return ""
}
