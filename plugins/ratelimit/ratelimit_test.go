package ratelimit

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/gatehouse-dev/gatehouse/backend"
	"github.com/gatehouse-dev/gatehouse/internal/backend/memory"
	"github.com/gatehouse-dev/gatehouse/plugins/plugintest"
	"github.com/gatehouse-dev/gatehouse/request"
)

func TestNewRejects(t *testing.T) {
	t.Parallel()
	plugintest.CheckLoadErrors(t, New, []plugintest.LoadError{
		{Name: "rate missing", Block: "per: 1s", Want: "rate must be >= 1, got 0", Pos: "routes.yaml:1:1:"},
		{Name: "rate zero", Block: "rate: 0", Want: "rate must be >= 1, got 0", Pos: "routes.yaml:1:1:"},
		{Name: "negative burst", Block: "rate: 1\nburst: -2", Want: "burst must be >= 1, got -2", Pos: "routes.yaml:2:1:"},
		{Name: "tiny per", Block: "rate: 1\nper: 1us", Want: "per must be >= 1ms", Pos: "routes.yaml:2:1:"},
		{Name: "bad duration", Block: "rate: 1\nper: soon", Want: "duration", Pos: "routes.yaml:2:"},
		{Name: "bad on_error", Block: "rate: 1\non_error: maybe", Want: `on_error must be allow or deny, got "maybe"`, Pos: "routes.yaml:2:1:"},
		{Name: "bad key", Block: "rate: 1\nkey: cookie", Want: `key must be session, ip, header:NAME or claim:NAME, got "cookie"`, Pos: "routes.yaml:2:1:"},
		{Name: "bad header key", Block: "rate: 1\nkey: \"header:X Y\"", Want: "want header:NAME", Pos: "routes.yaml:2:1:"},
		{Name: "empty claim key", Block: "rate: 1\nkey: \"claim:\"", Want: "want claim:NAME", Pos: "routes.yaml:2:1:"},
		{Name: "max keys", Block: "rate: 1\nmax_keys: -1", Want: "max_keys must be >= 1", Pos: "routes.yaml:2:1:"},
		{Name: "unknown field", Block: "rate: 1\nburts: 2", Want: "burts", Pos: "routes.yaml:2:1:"},
		{Name: "every problem", Block: "rate: 0\nper: soon\nburts: 2\non_error: maybe\nkey: cookie\nmax_keys: -1",
			Want: "rate must be >= 1, got 0", Pos: "routes.yaml:1:1:", Also: []string{
				`routes.yaml:2:6: route "test": plugin: per: want a duration like "30s", got "soon"`,
				`routes.yaml:3:1: route "test": plugin: unknown key "burts" (did you mean "burst"?)`,
				"routes.yaml:4:1: " + `route "test": plugin: on_error must be allow or deny`,
				"routes.yaml:5:1: " + `route "test": plugin: key must be session`,
				"routes.yaml:6:1: " + `route "test": plugin: max_keys must be >= 1`,
			}},
		{Name: "a rate that does not decode is not also too small", Block: "rate: lots\nburst: -1",
			Want: `want an integer, got "lots"`, Pos: "routes.yaml:1:7:", Also: []string{"routes.yaml:2:1: " + `route "test": plugin: burst must be >= 1, got -1`}},
	})
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := parse(plugintest.Spec(t, "rate: 7"))
	if err != nil {
		t.Fatalf("parse(rate: 7) = %v", err)
	}
	if cfg.Burst != 7 || cfg.Per.D() != time.Second || cfg.Key != "session" || cfg.MaxKeys != backend.DefaultMaxKeys {
		t.Errorf("parse(rate: 7) = %+v, want burst 7, per 1s, key session, max_keys %d", cfg, backend.DefaultMaxKeys)
	}
}

// harness is a route with a rate_limit on a fake clock before a counting upstream.
type harness struct {
	app   *fiber.App
	clk   *plugintest.Clock
	mem   *memory.Limiter
	hits  atomic.Int64
	ident map[string]*request.Identity
}

func newHarness(t *testing.T, block string) *harness {
	t.Helper()
	spec := plugintest.Spec(t, block)
	cfg, err := parse(spec)
	if err != nil {
		t.Fatalf("parse(%q) = %v", block, err)
	}
	h := &harness{clk: plugintest.NewClock(), ident: map[string]*request.Identity{
		"alice":  {SessionID: "sess-alice", Subject: "alice", Claims: map[string]any{"tenant": "t1"}},
		"bob":    {SessionID: "sess-bob", Subject: "bob", Claims: map[string]any{"tenant": "t1"}},
		"bearer": {Subject: "svc", Claims: map[string]any{"tenant": float64(2)}},
	}}
	h.mem = memory.NewLimiter(backend.LimiterOptions{MaxKeys: cfg.MaxKeys}, h.clk.Now)
	mw := newMiddleware(spec, cfg, h.mem)
	h.app = plugintest.NewApp(mw, func(c *fiber.Ctx) error {
		h.hits.Add(1)
		c.Set("RateLimit", "upstream-value")
		return c.SendString("ok")
	}, h.ident)
	return h
}

func (h *harness) get(t *testing.T, identity string, hdr ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/api", nil)
	req.Header.Set(plugintest.IdentityHeader, identity)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, _ := plugintest.Do(t, h.app, req)
	return resp
}

func TestBurstThenRefill(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "{rate: 1, per: 2s, burst: 3}")
	for i := range 3 {
		resp := h.get(t, "alice")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: status = %d, want 200", i+1, resp.StatusCode)
		}
		if got, want := resp.Header.Get("RateLimit"), `"default";r=`+strconv.Itoa(2-i)+";t="+strconv.Itoa(2*(i+1)); got != want {
			t.Errorf("request %d: RateLimit = %q, want %q", i+1, got, want)
		}
		if got, want := resp.Header.Get("RateLimit-Policy"), `"default";q=3;w=6`; got != want {
			t.Errorf("request %d: RateLimit-Policy = %q, want %q", i+1, got, want)
		}
	}
	resp, body := plugintest.Do(t, h.app, withIdentity(httptest.NewRequest(http.MethodGet, "/api", nil), "alice"))
	if resp.StatusCode != http.StatusTooManyRequests || body != `{"error":"rate limit exceeded"}` {
		t.Fatalf("4th request = %d %s, want 429 {\"error\":\"rate limit exceeded\"}", resp.StatusCode, body)
	}
	if got := resp.Header.Get("Retry-After"); got != "2" {
		t.Errorf("Retry-After = %q, want 2", got)
	}
	if got := resp.Header.Get("RateLimit"); got != `"default";r=0;t=6` {
		t.Errorf("429 RateLimit = %q, want \"default\";r=0;t=6", got)
	}
	if got := h.hits.Load(); got != 3 {
		t.Errorf("upstream hits = %d, want 3 (the 429 must not reach it)", got)
	}
	h.clk.Advance(1500 * time.Millisecond)
	if resp := h.get(t, "alice"); resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "1" {
		t.Errorf("after 1.5s: %d Retry-After %q, want 429 with Retry-After 1 (0.5s rounded up)", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	h.clk.Advance(500 * time.Millisecond)
	if resp := h.get(t, "alice"); resp.StatusCode != http.StatusOK {
		t.Errorf("after 2s: status = %d, want 200 (one token refilled)", resp.StatusCode)
	}
}

func withIdentity(r *http.Request, id string) *http.Request {
	r.Header.Set(plugintest.IdentityHeader, id)
	return r
}

// TestKeys checks which requests share a bucket: with burst 1, the second
// request is refused exactly when it shares the first one's key.
func TestKeys(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		key          string
		first, other []string // identity, then header name/value pairs
		shared       bool
	}{
		{name: "sessions are isolated", key: "session", first: []string{"alice"}, other: []string{"bob"}},
		{name: "same session shares", key: "session", first: []string{"alice"}, other: []string{"alice"}, shared: true},
		{name: "bearer keyed by subject", key: "session", first: []string{"bearer"}, other: []string{"bearer"}, shared: true},
		{name: "bearer apart from anonymous", key: "session", first: []string{"bearer"}, other: []string{""}},
		{name: "anonymous by ip", key: "session", first: []string{""}, other: []string{""}, shared: true},
		{name: "session apart from anonymous", key: "session", first: []string{""}, other: []string{"alice"}},
		{name: "ip ignores session", key: "ip", first: []string{"alice"}, other: []string{"bob"}, shared: true},
		{name: "header values isolated", key: "header:X-Api-Key", first: []string{"", "X-Api-Key", "k1"}, other: []string{"", "X-Api-Key", "k2"}},
		{name: "header value shared", key: "header:X-Api-Key", first: []string{"alice", "X-Api-Key", "k1"}, other: []string{"bob", "X-Api-Key", "k1"}, shared: true},
		// Without the kind prefixes, a header equal to the client IP would
		// share (and could drain) the IP fallback bucket.
		{name: "header cannot name the ip bucket", key: "header:X-Api-Key", first: []string{""}, other: []string{"", "X-Api-Key", "0.0.0.0"}},
		{name: "claim shared across sessions", key: "claim:tenant", first: []string{"alice"}, other: []string{"bob"}, shared: true},
		{name: "numeric claim", key: "claim:tenant", first: []string{"bearer"}, other: []string{"alice"}},
		{name: "missing claim falls back to ip", key: "claim:tenant", first: []string{""}, other: []string{""}, shared: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, "{rate: 1, per: 1m, burst: 1, key: \""+tt.key+"\"}")
			if resp := h.get(t, tt.first[0], tt.first[1:]...); resp.StatusCode != http.StatusOK {
				t.Fatalf("first request: status = %d, want 200", resp.StatusCode)
			}
			want := http.StatusOK
			if tt.shared {
				want = http.StatusTooManyRequests
			}
			if resp := h.get(t, tt.other[0], tt.other[1:]...); resp.StatusCode != want {
				t.Errorf("second request: status = %d, want %d", resp.StatusCode, want)
			}
		})
	}
}

// failing is a backend that is down.
type failing struct{}

func (failing) Allow(context.Context, string, backend.Limit) (backend.Decision, error) {
	return backend.Decision{}, errors.New("connection refused")
}

// A backend failure lets the request through by default (on_error: allow)
// and refuses it with 503 under on_error: deny; either way the upstream is
// never asked twice and the failure is logged.
func TestBackendError(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		block    string
		status   int
		hits     int
		logEntry string
	}{
		{"rate: 1", http.StatusOK, 1, "request let through"},
		{"rate: 1\non_error: allow", http.StatusOK, 1, "request let through"},
		{"rate: 1\non_error: deny", http.StatusServiceUnavailable, 0, "request refused"},
	} {
		t.Run(tc.block, func(t *testing.T) {
			spec := plugintest.Spec(t, tc.block)
			var logs strings.Builder
			spec.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			cfg, err := parse(spec)
			if err != nil {
				t.Fatalf("parse = %v", err)
			}
			var hits int
			app := plugintest.NewApp(newMiddleware(spec, cfg, failing{}), func(c *fiber.Ctx) error { hits++; return nil }, nil)
			resp, body := plugintest.Do(t, app, httptest.NewRequest(http.MethodGet, "/", nil))
			if resp.StatusCode != tc.status || hits != tc.hits {
				t.Errorf("backend down: status %d, upstream hits %d, want %d and %d", resp.StatusCode, hits, tc.status, tc.hits)
			}
			if tc.status == http.StatusServiceUnavailable && !strings.Contains(body, "rate limiter unavailable") {
				t.Errorf("body = %q, want the JSON error", body)
			}
			if !strings.Contains(logs.String(), tc.logEntry) || !strings.Contains(logs.String(), "connection refused") {
				t.Errorf("log = %q, want %q with the cause", logs.String(), tc.logEntry)
			}
		})
	}
}

// A limiter that cannot be opened fails New, positioned; under Check no
// limiter is asked for.
func TestNewBackendRefused(t *testing.T) {
	t.Parallel()
	plugintest.CheckRefusedBackend(t, New, "rate: 1")
}

// The names set with SetCanonical must be fasthttp's stored form, or an
// upstream's field of the same name would survive beside the gateway's.
func TestCanonicalHeaderNames(t *testing.T) {
	t.Parallel()
	for _, name := range [][]byte{hdrPolicy, hdrRateLimit, hdrRetryAfter} {
		var h fasthttp.ResponseHeader
		h.SetBytesKV(bytes.ToUpper(name), []byte("v"))
		if got := h.PeekBytes(name); string(got) != "v" {
			t.Errorf("%q is not the form fasthttp stores", name)
		}
		h.SetCanonical(name, []byte("w"))
		if got := h.PeekAll(string(name)); len(got) != 1 {
			t.Errorf("SetCanonical(%q) left %d lines, want 1", name, len(got))
		}
	}
}
