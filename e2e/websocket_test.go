package e2e

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse-dev/gatehouse/examples/demo/stack"
)

// TestBrowserLiveServerTime: the example SPA's live "Server time" widget,
// a WebSocket through gatehouse's websocket: true route /api/live to the
// orders service, which sends its clock every second. The handshake carries
// only the session cookie (and the page's Origin); the service gets the
// access token from gatehouse. A logout closes the socket with 1008, which
// the page sees.
func TestBrowserLiveServerTime(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test: skipped in -short mode")
	}
	exe := chromium(t)

	s, rec := startStack(t, stack.Options{Config: "../routes.yaml"})

	browser := newBrowser(t, exe)
	ctx, cancel := context.WithTimeout(browser, 60*time.Second)
	defer cancel()
	p := page{t: t, ctx: ctx, browser: browser}
	home := s.URL + "/"

	p.do("following the login button to the OP",
		chromedp.Navigate(home),
		chromedp.WaitVisible(chromedp.CSS(`body[data-auth="signed-out"] [data-testid="login-button"]`)),
		chromedp.Click(css("login-button")),
		chromedp.WaitVisible(css("op-username")),
	)
	p.logIn("logging in", s.OP.User)

	// The widget shows a time, then another one: the feed is live.
	first := get(p, "waiting for the server time", chromedp.Poll[string](
		`(() => { const t = document.getElementById('server-time').textContent; return /\d:\d\d/.test(t) && t; })()`,
		chromedp.WithPollingTimeout(20*time.Second)))
	second := get(p, "waiting for the server time to change", chromedp.Poll[string](
		`(() => { const t = document.getElementById('server-time').textContent; return /\d:\d\d/.test(t) && t !== `+jsString(first)+` && t; })()`,
		chromedp.WithPollingTimeout(20*time.Second)))
	t.Logf("server time %q, then %q", first, second)
	shot(t, p, "live-server-time.png")
	if len(rec.all()) == 0 || !slices.ContainsFunc(rec.all(), func(tok string) bool { return jwtShaped.MatchString(tok) }) {
		t.Error("the services saw no access token")
	}

	// A second socket opened by the page's script, and a logout by fetch
	// (the page stays): gatehouse closes both with 1008.
	p.do("opening a second socket",
		chromedp.Evaluate[chromedp.Void](`window.closeCode = 0;
			window.probe = new WebSocket(location.origin.replace(/^http/, 'ws') + '/api/live/time');
			window.probe.onclose = (e) => { window.closeCode = e.code; };`),
	)
	get(p, "waiting for the second socket to open", chromedp.Poll[bool](`window.probe.readyState === 1`))
	status := get(p, "logging out by fetch", chromedp.Evaluate[int](
		`fetch('/auth/logout', {method: 'POST', headers: {'X-CSRF': '1'}}).then((r) => r.status)`,
		chromedp.EvalAwaitPromise))
	if status != 200 {
		t.Fatalf("POST /auth/logout = %d", status)
	}
	code := get(p, "waiting for the socket to close", chromedp.Poll[int](
		`window.closeCode || false`, chromedp.WithPollingTimeout(20*time.Second)))
	if code != 1008 {
		t.Errorf("after logout the socket closed with %d, want 1008", code)
	}
	get(p, "waiting for the widget to say so", chromedp.Poll[bool](
		`document.getElementById('server-time').textContent === 'session ended'`,
		chromedp.WithPollingTimeout(20*time.Second)))
}

// jsString quotes s as a JavaScript string literal (s holds no quote or
// backslash: a formatted time).
func jsString(s string) string { return "'" + s + "'" }
