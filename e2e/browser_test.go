// Package e2e drives the example SPA in headless Chromium through gatehouse
// and the development OP's real login page: the whole stack of
// `go run ./examples/demo` (examples/demo/stack), on free loopback ports.
//
// Chromium comes from Debian (`apt-get install -y chromium`); the test is
// skipped when it is missing, except under CI=true, where it fails.
// GATEHOUSE_CHROMIUM names another binary.
package e2e

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/gatehouse-dev/gatehouse/examples/demo/stack"
	"github.com/gatehouse-dev/gatehouse/examples/services/svc"
	"github.com/gatehouse-dev/gatehouse/internal/devop"
)

var screenshots = flag.String("screenshots", "", "also write the test's screenshots (PNG) into this directory")

// jwtShaped matches a compact JWS/JWT: a base64url JSON header ("eyJ" is
// `{"`), then two more base64url segments.
var jwtShaped = regexp.MustCompile(`eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*`)

// chromium finds the browser or skips (fails under CI=true).
func chromium(t *testing.T) string {
	t.Helper()
	candidates := []string{os.Getenv("GATEHOUSE_CHROMIUM"), "chromium", "/usr/bin/chromium", "chromium-browser"}
	for _, c := range candidates {
		if c == "" {
			continue
		}
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium not found (CI=true): .ci/run must `apt-get install -y chromium`")
	}
	t.Skip("chromium not found: `apt-get install -y chromium` (or set GATEHOUSE_CHROMIUM) to run the browser test")
	return ""
}

// tokens records the bearer tokens gatehouse forwarded to the services.
type tokens struct {
	mu   sync.Mutex
	seen []string
}

func (k *tokens) wrap(_ string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && tok != "" {
			k.mu.Lock()
			if !slices.Contains(k.seen, tok) {
				k.seen = append(k.seen, tok)
			}
			k.mu.Unlock()
		}
		h.ServeHTTP(w, r)
	})
}

func (k *tokens) all() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.seen)
}

// response is one HTTP response the browser received from gatehouse.
type response struct {
	url, method string
	status      int64
	kind        network.ResourceType
	headers     []*fetch.HeaderEntry
	body        string
	bodyErr     error // reading the body
	releaseErr  error // handing the response on to the page
}

// traffic captures every response from the gateway's origin, with its body,
// as the page receives it: every one of them is readable by the page (same
// origin). Responses are held at the Fetch domain's response stage until
// their body is read, so a navigation cannot evict a body before the test
// sees it (the SPA navigates away right after reading /auth/logout's answer).
type traffic struct {
	origin string

	mu      sync.Mutex
	order   []*response
	pending sync.WaitGroup
}

func capture(t *testing.T, ctx context.Context, origin string) *traffic {
	t.Helper()
	tr := &traffic{origin: origin}
	err := chromedp.Listen(ctx, func(ev any) {
		paused, ok := ev.(*fetch.EventRequestPaused)
		if !ok {
			return
		}
		r := &response{url: paused.Request.URL, method: paused.Request.Method, status: paused.ResponseStatusCode,
			kind: paused.ResourceType, headers: paused.ResponseHeaders}
		tr.mu.Lock()
		tr.order = append(tr.order, r)
		tr.mu.Unlock()
		// A listener must not run a command: read and release on the side.
		tr.pending.Add(1)
		go func() {
			defer tr.pending.Done()
			if r.status/100 != 3 { // a redirect has no body to read
				res, err := chromedp.Call(ctx, fetch.GetResponseBody, fetch.GetResponseBodyParams{RequestID: paused.RequestID})
				tr.mu.Lock()
				r.body, r.bodyErr = string(res.Body), err
				tr.mu.Unlock()
			}
			_, err := chromedp.Call(ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: paused.RequestID})
			tr.mu.Lock()
			r.releaseErr = err
			tr.mu.Unlock()
		}()
	})
	if err != nil {
		t.Fatalf("listening to the browser's events: %v", err)
	}
	_, err = chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{
		{URLPattern: origin + "/*", RequestStage: fetch.RequestStageResponse},
	}})
	if err != nil {
		t.Fatalf("intercepting responses from %s: %v", origin, err)
	}
	return tr
}

// responses waits for pending bodies and returns what was captured so far.
func (tr *traffic) responses() []response {
	tr.pending.Wait()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	out := make([]response, len(tr.order))
	for i, r := range tr.order {
		out[i] = *r
	}
	return out
}

// last returns the last captured response for method and path.
func (tr *traffic) last(method, path string) (response, bool) {
	rs := tr.responses()
	for i := len(rs) - 1; i >= 0; i-- {
		if rs[i].method == method && rs[i].url == tr.origin+path {
			return rs[i], true
		}
	}
	return response{}, false
}

// newBrowser starts exe headless with a fresh profile; extra adds flags
// for one test (the https test trusts its own certificate with one).
func newBrowser(t *testing.T, exe string, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(t.TempDir()), // a fresh profile: no cookies, no storage
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.WindowSize(1280, 900),
		// Without these Chromium phones home (updates, sync, field trials,
		// safe browsing): on a closed network that is a flood of failures.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-client-side-phishing-detection", true),
		chromedp.Flag("safebrowsing-disable-auto-update", true),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("disable-features", "Translate,OptimizationHints,MediaRouter,DialMediaRouteProvider"),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("password-store", "basic"),
	}
	opts = append(opts, extra...)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
	})
	// Start the browser now, so that a broken install fails here.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", exe, err)
	}
	return ctx
}

// page runs the browser steps of one test and fails it with the step's name
// and the page's location on the first error.
type page struct {
	t       *testing.T
	ctx     context.Context
	browser context.Context // without the test's deadline, to report the location
}

func (p page) fail(step string, err error) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.browser, 5*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ''`))
	p.t.Fatalf("%s: %v\npage at %s shows:\n%.2000s", step, err, loc, text)
}

func (p page) do(step string, steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, steps...); err != nil {
		p.fail(step, err)
	}
}

// logIn fills in the OP's login page, already shown, as user and submits
// it; the step ends when the SPA shows the signed-in profile.
func (p page) logIn(step string, user devop.User) {
	p.t.Helper()
	p.do(step,
		chromedp.SendKeys(css("op-username"), user.Username),
		chromedp.SendKeys(css("op-password"), user.Password),
		chromedp.Click(css("op-submit")),
		chromedp.WaitVisible(chromedp.CSS(`body[data-auth="signed-in"] [data-testid="profile-card"]`)),
	)
}

func get[T any](p page, step string, a chromedp.Action[T]) T {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, a)
	if err != nil {
		p.fail(step, err)
	}
	return v
}

func (p page) cookies(step, url string) []*network.Cookie {
	p.t.Helper()
	res, err := chromedp.Call(p.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{url}})
	if err != nil {
		p.fail(step, err)
	}
	return res.Cookies
}

// startStack runs the demo stack (examples/demo/stack) for opts on free
// ports until the test ends, and returns once it is ready, with the
// recorder of the tokens its services received.
func startStack(t *testing.T, opts stack.Options) (*stack.Stack, *tokens) {
	t.Helper()
	rec := &tokens{}
	opts.WrapService = rec.wrap
	ctx, stop := context.WithCancel(context.Background())
	s, err := stack.Start(ctx, opts.OnFreePorts())
	if err != nil {
		stop()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stop()
		if err := s.Wait(); err != nil {
			t.Errorf("stopping the stack: %v", err)
		}
	})
	readyCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := s.WaitReady(readyCtx); err != nil {
		t.Fatal(err)
	}
	return s, rec
}

func css(testid string) chromedp.CSS { return chromedp.CSS(`[data-testid="` + testid + `"]`) }

func TestBrowserLoginAPIsLogout(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test: skipped in -short mode")
	}
	exe := chromium(t)

	s, rec := startStack(t, stack.Options{Config: "../routes.yaml"})

	browser := newBrowser(t, exe)
	ctx, cancel := context.WithTimeout(browser, 60*time.Second)
	defer cancel()
	p := page{t: t, ctx: ctx, browser: browser}
	tr := capture(t, ctx, s.URL)
	user := s.OP.User
	cookieName := s.Config.Session.CookieName
	home := s.URL + "/"

	// 1. Signed out: the SPA offers to log in.
	p.do("loading the SPA",
		chromedp.Navigate(home),
		chromedp.WaitVisible(chromedp.CSS(`body[data-auth="signed-out"] [data-testid="login-button"]`)),
	)
	if r, ok := tr.last("GET", "/auth/me"); !ok || r.status != http.StatusUnauthorized {
		t.Errorf("GET /auth/me before login = %d (captured %v), want 401", r.status, ok)
	}
	// The APIs that need a session cannot be called; the public catalog can.
	if got := get(p, "reading the buttons", chromedp.Evaluate[string](buttonStates)); got != signedOutButtons {
		t.Errorf("signed out, the buttons are %q, want %q", got, signedOutButtons)
	}

	// 2. The OP's real login page, filled in like a person would.
	p.do("following the login button to the OP",
		chromedp.Click(css("login-button")),
		chromedp.WaitVisible(css("op-username")),
	)
	if loc := get(p, "reading the login page's URL", chromedp.Location()); !strings.HasPrefix(loc, s.Issuer+"/login?") {
		t.Fatalf("login button led to %q, want the OP's login page under %s", loc, s.Issuer)
	}
	shot(t, p, "op-login.png")
	p.logIn("logging in at the OP", user)
	if loc := get(p, "reading the location", chromedp.Location()); loc != home {
		t.Errorf("after login the browser is at %q, want %q", loc, home)
	}
	name := get(p, "reading the user's name", chromedp.Text(css("user-name")))
	sub := get(p, "reading the user id", chromedp.Text(css("profile-sub")))
	if name != user.Name || sub != user.Subject {
		t.Errorf("signed-in page shows %q (%q), want %q (%q)", name, sub, user.Name, user.Subject)
	}

	// 3. The session cookie exists, HttpOnly, and JavaScript cannot see it.
	jsCookies := get(p, "reading document.cookie", chromedp.Evaluate[string](`document.cookie`))
	cookies := p.cookies("reading the browser's cookies", home)
	i := slices.IndexFunc(cookies, func(c *network.Cookie) bool { return c.Name == cookieName })
	if i < 0 || !cookies[i].HTTPOnly || cookies[i].Value == "" {
		t.Fatalf("browser cookies = %v, want an HttpOnly %q session cookie", cookieNames(cookies), cookieName)
	}
	if strings.Contains(jsCookies, cookieName+"=") || strings.Contains(jsCookies, cookies[i].Value) {
		t.Errorf("document.cookie = %q exposes the session cookie %q", jsCookies, cookieName)
	}
	storageIn := get(p, "reading web storage",
		chromedp.Evaluate[string](`JSON.stringify({local: {...localStorage}, session: {...sessionStorage}})`))

	// 4. Both APIs through the SPA's buttons: the user's own data.
	p.do("calling the profile and catalog APIs",
		chromedp.Click(css("load-profile")),
		chromedp.WaitVisible(css("profile-api-result")),
		chromedp.Click(css("load-catalog")),
		chromedp.WaitVisible(css("catalog-item")),
	)
	if got := get(p, "reading the profile API's answer", chromedp.Text(css("api-profile-sub"))); got != user.Subject {
		t.Errorf("profile API shows sub %q, want %q", got, user.Subject)
	}
	// The cache plugin at work on the public catalog: the first load went to
	// the service (MISS), the next one is answered by the gateway (HIT).
	if got := get(p, "reading the cache line", chromedp.Text(css("catalog-cache"))); got != "Gateway cache: MISS" {
		t.Errorf("after the first catalog load the page says %q, want %q", got, "Gateway cache: MISS")
	}
	p.do("loading the catalog again", chromedp.Click(css("load-catalog")))
	get(p, "waiting for the cache HIT line", chromedp.Poll[bool](
		`document.getElementById('catalog-cache').textContent.startsWith('Gateway cache: HIT')`))
	if r, ok := tr.last("GET", "/api/catalog"); !ok || headerOf(r, "X-Cache") != "HIT" || headerOf(r, "Age") == "" {
		t.Errorf("the second GET /api/catalog has X-Cache %q, Age %q, want HIT with an Age", headerOf(r, "X-Cache"), headerOf(r, "Age"))
	}
	shot(t, p, "logged-in.png")
	// The same page on a phone.
	p.do("emulating a phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
	shot(t, p, "logged-in-phone.png")
	p.do("back to the desktop", chromedp.EmulateViewport(1280, 900))

	p.do("opening the orders tab (the orders load by themselves)",
		chromedp.Click(css("nav-orders")),
		chromedp.WaitVisible(css("view-orders")),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="orders-table"] [data-testid="order-row"]`)),
	)
	first := get(p, "reading the first order", chromedp.Text(chromedp.CSS(`[data-testid="order-row"] td`)))
	rows := get(p, "counting orders", chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="order-row"]').length`))
	want := svc.OrdersFor(user.Subject)
	if len(want) == 0 || rows != len(want) || first != want[0].ID {
		t.Errorf("orders table: %d rows, first %q; want the user's own %d orders", rows, first, len(want))
	}
	shot(t, p, "orders.png")

	// 5. Log out (through the OP's end-session endpoint), then the API is refused.
	p.do("logging out",
		chromedp.Click(css("nav-home")),
		chromedp.Click(css("logout-button")),
		chromedp.WaitVisible(chromedp.CSS(`body[data-auth="signed-out"] [data-testid="login-prompt"]`)),
	)
	if loc := get(p, "reading the location", chromedp.Location()); loc != home {
		t.Errorf("after logout the browser is at %q, want %q", loc, home)
	}
	if cs := p.cookies("reading cookies after logout", home); slices.ContainsFunc(cs, func(c *network.Cookie) bool { return c.Name == cookieName }) {
		t.Errorf("after logout the browser still holds %q", cookieName)
	}
	// 6. The page says so, and the APIs that need a session cannot be called.
	if got := get(p, "reading the signed-out title", chromedp.Text(css("login-prompt-title"))); got != "You are signed out" {
		t.Errorf("after logout the page says %q, want %q", got, "You are signed out")
	}
	if got := get(p, "reading the buttons", chromedp.Evaluate[string](buttonStates)); got != signedOutButtons {
		t.Errorf("after logout the buttons are %q, want %q", got, signedOutButtons)
	}
	shot(t, p, "signed-out.png")
	// The old session is gone at the gateway too: the API refuses the page.
	status := get(p, "calling the profile API after logout", chromedp.Evaluate[int](
		`fetch('/api/profile', {headers: {'X-CSRF': '1', Accept: 'application/json'}}).then((r) => r.status)`,
		chromedp.EvalAwaitPromise))
	if r, ok := tr.last("GET", "/api/profile"); status != http.StatusUnauthorized || !ok || r.status != http.StatusUnauthorized {
		t.Errorf("GET /api/profile after logout = %d %s, want 401", status, r.body)
	}

	// 6b. A browser navigation that ends in an error gets gatehouse's HTML
	// page (an API call gets JSON, as above), with a link onwards.
	for _, tt := range []struct {
		path   string
		status int64
		want   errorPage
		shot   string
	}{
		{"/no-such-page.txt", 404, errorPage{Lang: "en", Title: "404 Page not found", H1: "Page not found",
			Sentence: "There is nothing at this address.", Link: "Go to the start page", Href: "/"}, "error-404.png"},
		{"/api/profile", 401, errorPage{Lang: "en", Title: "401 Please log in", H1: "Please log in",
			Sentence: "You need to log in to see this page.", Link: "Log in", Href: "/auth/login?returnTo=%2Fapi%2Fprofile"}, "error-401.png"},
	} {
		p.do("navigating to "+tt.path, chromedp.Navigate(s.URL+tt.path), chromedp.WaitVisible(chromedp.CSS("h1")))
		if r, ok := tr.last("GET", tt.path); !ok || r.status != tt.status || headerOf(r, "Content-Type") != "text/html; charset=utf-8" {
			t.Errorf("navigation to %s = %d %q, want %d text/html", tt.path, r.status, headerOf(r, "Content-Type"), tt.status)
		}
		if got := get(p, "reading the error page", chromedp.Evaluate[errorPage](readErrorPage)); got != tt.want {
			t.Errorf("the error page of %s shows %+v, want %+v", tt.path, got, tt.want)
		}
		shot(t, p, tt.shot)
	}
	// The 401 page's link starts a login that comes back to the page.
	p.do("following the error page's Log in link", chromedp.Click(chromedp.CSS("a")), chromedp.WaitVisible(css("op-username")))

	// 7. No token anywhere the page could reach, all along: cookies it can read, web
	// storage, and the bodies and readable headers of every response from
	// its own origin (documents, scripts, every fetch).
	access := rec.all()
	if len(access) == 0 {
		t.Fatal("the services received no bearer token: the APIs were not called through gatehouse")
	}
	storage := get(p, "reading web storage after logout",
		chromedp.Evaluate[string](`JSON.stringify({local: {...localStorage}, session: {...sessionStorage}})`))
	type exposure struct{ where, text string }
	exposures := []exposure{
		{"document.cookie", jsCookies}, {"web storage while logged in", storageIn}, {"web storage after logout", storage},
	}
	for _, r := range tr.responses() {
		where := fmt.Sprintf("%s %s (%d, %s)", r.method, r.url, r.status, r.kind)
		if r.bodyErr != nil || r.releaseErr != nil {
			t.Errorf("intercepting %s: reading the body: %v; releasing it: %v", where, r.bodyErr, r.releaseErr)
		}
		exposures = append(exposures, exposure{where + " body", r.body})
		// Scripts read the headers of their own fetches only: not those of a
		// navigation, nor of a redirect (which fetch follows unseen; the
		// logout redirect's Location carries the ID token as id_token_hint),
		// nor Set-Cookie (a forbidden response header name).
		if (r.kind != network.ResourceTypeFetch && r.kind != network.ResourceTypeXHR) || r.status/100 == 3 {
			continue
		}
		for _, h := range r.headers {
			if !strings.EqualFold(h.Name, "Set-Cookie") {
				exposures = append(exposures, exposure{where + " header " + h.Name, h.Value})
			}
		}
	}
	for _, e := range exposures {
		for _, tok := range access {
			if strings.Contains(e.text, tok) {
				t.Errorf("%s contains the access token", e.where)
			}
		}
		if m := jwtShaped.FindString(e.text); m != "" {
			t.Errorf("%s contains a JWT-shaped string %.40q...", e.where, m)
		}
	}
	// The check saw the answers that matter, with their bodies.
	for _, req := range []struct{ method, path string }{
		{"GET", "/auth/me"}, {"GET", "/api/profile"}, {"GET", "/api/orders"}, {"POST", "/auth/logout"},
	} {
		if !slices.ContainsFunc(tr.responses(), func(r response) bool {
			return r.method == req.method && r.url == s.URL+req.path && r.status == http.StatusOK && r.body != ""
		}) {
			t.Errorf("no 200 answer with a body captured for %s %s", req.method, req.path)
		}
	}
}

// buttonStates lists the API buttons as "id:enabled|disabled".
const buttonStates = `['load-profile', 'load-orders', 'load-catalog']
	.map((id) => id + ':' + (document.getElementById(id).disabled ? 'disabled' : 'enabled')).join(' ')`

// signedOutButtons: only the public catalog can be called while signed out.
const signedOutButtons = "load-profile:disabled load-orders:disabled load-catalog:enabled"

// errorPage is what gatehouse's HTML error page shows.
type errorPage struct {
	Lang     string `json:"lang"`
	Title    string `json:"title"`
	H1       string `json:"h1"`
	Sentence string `json:"sentence"`
	Link     string `json:"link"`
	Href     string `json:"href"`
}

const readErrorPage = `(() => {
	const a = document.querySelector('a');
	return {lang: document.documentElement.lang, title: document.title,
		h1: document.querySelector('h1').textContent, sentence: document.querySelector('h1 + p').textContent,
		link: a.textContent, href: a.getAttribute('href')};
})()`

// headerOf returns r's header name (any case), or "".
func headerOf(r response, name string) string {
	for _, h := range r.headers {
		if strings.EqualFold(h.Name, name) {
			return h.Value
		}
	}
	return ""
}

func cookieNames(cs []*network.Cookie) []string {
	var out []string
	for _, c := range cs {
		out = append(out, fmt.Sprintf("%s(httpOnly=%v)", c.Name, c.HTTPOnly))
	}
	return out
}

// shot saves a full-page PNG screenshot into the test's temp dir (and into
// -screenshots or $SCREENSHOT_DIR, when given).
func shot(t *testing.T, p page, name string) {
	t.Helper()
	png := get(p, "taking "+name, chromedp.FullScreenshot(100))
	dirs := []string{t.TempDir()}
	for _, d := range []string{*screenshots, os.Getenv("SCREENSHOT_DIR")} {
		if d != "" {
			dirs = append(dirs, d)
		}
	}
	for _, dir := range dirs {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", path)
	}
}
