// Package plugintest holds test helpers for plugin packages: a Spec built
// from a YAML block and a Fiber app that runs a middleware in front of a
// counting upstream, the way the server runs a route's chain.
package plugintest

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
	"go.yaml.in/yaml/v3"

	"github.com/gatehouse-dev/gatehouse/backend"
	"github.com/gatehouse-dev/gatehouse/conf"
	"github.com/gatehouse-dev/gatehouse/httperr"
	"github.com/gatehouse-dev/gatehouse/internal/backend/memory"
	"github.com/gatehouse-dev/gatehouse/plugins"
	"github.com/gatehouse-dev/gatehouse/request"
)

// File is the file name used in the positions of Spec's errors.
const File = "routes.yaml"

// Spec builds a plugin spec for the YAML block (an empty block means no
// config), attached to a route named "test", on memory backends of its own
// (a store whose janitor ends with the test). Its Ctx ends with the test.
func Spec(tb testing.TB, block string) plugins.Spec {
	tb.Helper()
	var pc conf.PluginConfig
	pc.File = File
	pc.Pos = conf.Position{Line: 1, Col: 1}
	pc.Where = `route "test": plugin`
	if block != "" {
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(block), &doc); err != nil {
			tb.Fatalf("yaml.Unmarshal(%q) = %v", block, err)
		}
		pc.Node = doc.Content[0]
	}
	return plugins.Spec{
		Ctx:      tb.Context(),
		Route:    &plugins.Route{Name: "test", Prefix: "/"},
		Config:   pc,
		Backends: memory.NewStore(tb.Context(), nil, nil).For("test:test"),
		Logger:   slog.New(slog.DiscardHandler),
	}
}

// ErrRefused is the error of every Refusing backend.
var ErrRefused = errors.New("plugintest: backend refused")

// Refusing is a backend.Backends that opens nothing: every call fails with
// ErrRefused. A plugin must fail New with it (under Check, not ask at all).
type Refusing struct{}

// Limiter implements backend.Backends.
func (Refusing) Limiter(backend.LimiterOptions) (backend.Limiter, error) { return nil, ErrRefused }

// Cache implements backend.Backends.
func (Refusing) Cache(backend.CacheOptions) (backend.Cache, error) { return nil, ErrRefused }

// CheckRefusedBackend checks what newPlugin (a plugin's New) does with
// block when its backend cannot be opened: New fails with the backend's
// error, positioned at the block; under Spec.Check it asks for no backend
// and succeeds.
func CheckRefusedBackend(t *testing.T, newPlugin func(plugins.Spec) (plugins.Middleware, error), block string) {
	t.Helper()
	spec := Spec(t, block)
	spec.Backends = Refusing{}
	if _, err := newPlugin(spec); err == nil || !strings.Contains(err.Error(), ErrRefused.Error()) || !strings.HasPrefix(err.Error(), "routes.yaml:1:1:") {
		t.Errorf("New(refusing backends) = %v, want a positioned error", err)
	}
	spec.Check = true
	if _, err := newPlugin(spec); err != nil {
		t.Errorf("New(Check, refusing backends) = %v, want nil: a check opens nothing", err)
	}
}

// IdentityHeader selects the request's identity from the app's identities.
const IdentityHeader = "X-Test-Identity"

// RequestID is the request id every request of NewApp carries.
const RequestID = "test-request-id"

// NewApp returns a Fiber app that, for every path, records the identity
// named by the request's X-Test-Identity header (as the auth gate would),
// sets the request id, then runs mw in front of upstream. Errors are
// answered by the server's error handler (httperr.Handler), JSON only.
func NewApp(mw plugins.Middleware, upstream fiber.Handler, ids map[string]*request.Identity) *fiber.App {
	app := fiber.New(fiber.Config{
		DisableStartupMessage: true,
		// The server's answer (without its HTML pages): only an
		// httperr.Error's text reaches the client.
		ErrorHandler: httperr.Handler(nil, nil),
	})
	chain := mw(upstream)
	app.Use(func(c *fiber.Ctx) error {
		st := request.From(c) // the peer as client, as without trusted proxies
		st.ID = RequestID
		if id, ok := ids[c.Get(IdentityHeader)]; ok {
			st.Identity = id
		}
		return chain(c)
	})
	return app
}

// Do sends req through app and returns the response with its whole body.
func Do(tb testing.TB, app *fiber.App, req *http.Request) (*http.Response, string) {
	tb.Helper()
	resp, err := app.Test(req, -1)
	if err != nil {
		tb.Fatalf("app.Test(%s %s) = %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("reading the body of %s %s: %v", req.Method, req.URL, err)
	}
	return resp, string(body)
}

// LoadError is a config block New must refuse: the error must start with
// Pos ("routes.yaml:2:9:") and contain Want, and then Also's lines, each
// ("routes.yaml:3:1: ...message") a whole problem of the block: a block
// with several problems must have every one reported.
type LoadError struct {
	Name, Block, Want, Pos string
	Also                   []string
}

// CheckLoadErrors runs newFn on each case's block as a subtest.
func CheckLoadErrors(t *testing.T, newFn func(plugins.Spec) (plugins.Middleware, error), cases []LoadError) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.Name, func(t *testing.T) {
			_, err := newFn(Spec(t, tt.Block))
			if err == nil {
				t.Fatalf("New(%q) = nil error, want %q", tt.Block, tt.Want)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.Want) || !strings.HasPrefix(msg, tt.Pos) {
				t.Errorf("New(%q) = %q, want %q containing %q", tt.Block, msg, tt.Pos, tt.Want)
			}
			lines := strings.Split(msg, "\n")
			for _, also := range tt.Also {
				if n := countContaining(lines, also); n != 1 {
					t.Errorf("New(%q) = %q: %d lines with %q, want 1", tt.Block, msg, n, also)
				}
			}
			if len(tt.Also) > 0 && len(lines) != 1+len(tt.Also) {
				t.Errorf("New(%q) = %q: %d problems, want %d", tt.Block, msg, len(lines), 1+len(tt.Also))
			}
		})
	}
}

// countContaining counts the lines that hold s.
func countContaining(lines []string, s string) int {
	n := 0
	for _, l := range lines {
		if strings.Contains(l, s) {
			n++
		}
	}
	return n
}

// benchClient is the client address Bench's requests come from.
var benchClient = netip.MustParseAddr("203.0.113.7")

// Bench runs h once per iteration on a reused request context, the way the
// server runs a route's chain: prepare (may be nil) sets the request up,
// then the identity and request id are recorded and h called.
func Bench(b *testing.B, h fiber.Handler, id *request.Identity, prepare func(*fasthttp.RequestCtx)) {
	b.Helper()
	app := fiber.New()
	fctx := &fasthttp.RequestCtx{}
	fctx.Request.SetRequestURI("/api/users/1?fields=name,email")
	b.ReportAllocs()
	for b.Loop() {
		fctx.Response.Reset()
		if prepare != nil {
			prepare(fctx)
		}
		c := app.AcquireCtx(fctx)
		st := request.Begin(c, "0123456789abcdef", benchClient)
		st.Identity = id
		if err := h(c); err != nil {
			b.Fatal(err)
		}
		app.ReleaseCtx(c)
	}
}

// Clock is a settable clock for deterministic tests.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock standing at 2026-01-01T00:00:00Z.
func NewClock() *Clock { return &Clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }
