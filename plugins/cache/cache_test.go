package cache

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-dev/gatehouse/backend"
	"github.com/gatehouse-dev/gatehouse/internal/backend/memory"
	"github.com/gatehouse-dev/gatehouse/plugins"
	"github.com/gatehouse-dev/gatehouse/plugins/plugintest"
	"github.com/gatehouse-dev/gatehouse/request"
)

var identities = map[string]*request.Identity{
	"alice":   {SessionID: "sess-alice", Subject: "alice"},
	"bob":     {SessionID: "sess-bob", Subject: "bob"},
	"bearer":  {Subject: "svc", AccessToken: "token-with-scope-read"},
	"bearer2": {Subject: "svc", AccessToken: "token-with-scope-admin"},
}

// harness is a route with a cache on a fake clock in front of an upstream
// that counts its calls and answers with reply (the body names the call).
type harness struct {
	app   *fiber.App
	clk   *plugintest.Clock
	mem   *memory.Cache
	mw    *cacheMiddleware
	hits  atomic.Int64
	reply func(c *fiber.Ctx, n int64) error
}

func newHarness(t *testing.T, block string) *harness {
	t.Helper()
	spec := plugintest.Spec(t, block)
	cfg, err := parse(spec)
	if err != nil {
		t.Fatalf("parse(%q) = %v", block, err)
	}
	h := &harness{clk: plugintest.NewClock()}
	h.reply = func(c *fiber.Ctx, n int64) error { return c.SendString(fmt.Sprint("response ", n)) }
	h.mem = memory.NewCache(backend.CacheOptions{MaxBytes: int64(cfg.MaxBytes)}, h.clk.Now)
	h.mw = newCache(spec, cfg, newEntries(h.mem, int64(cfg.MaxEntryBytes), h.clk.Now), h.clk.Now)
	h.app = plugintest.NewApp(h.mw.middleware, func(c *fiber.Ctx) error {
		return h.reply(c, h.hits.Add(1))
	}, identities)
	return h
}

type result struct {
	status int
	body   string
	xcache string
	age    string
	hits   int64 // upstream calls so far
}

func (h *harness) do(t *testing.T, method, target, identity string, hdr ...string) result {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	req.Header.Set(plugintest.IdentityHeader, identity)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, body := plugintest.Do(t, h.app, req)
	return result{resp.StatusCode, body, resp.Header.Get("X-Cache"), resp.Header.Get("Age"), h.hits.Load()}
}

func TestNewRejects(t *testing.T) {
	t.Parallel()
	plugintest.CheckLoadErrors(t, New, []plugintest.LoadError{
		{Name: "ttl missing", Block: "public: true", Want: "ttl must be >= 1s, got 0s", Pos: "routes.yaml:1:1:"},
		{Name: "ttl too small", Block: "ttl: 10ms", Want: "ttl must be >= 1s", Pos: "routes.yaml:1:1:"},
		{Name: "max_bytes", Block: "ttl: 1s\nmax_bytes: 0", Want: "max_bytes must be > 0", Pos: "routes.yaml:2:1:"},
		{Name: "entry over whole", Block: "ttl: 1s\nmax_bytes: 1MB\nmax_entry_bytes: 2MB", Want: "max_entry_bytes must be between", Pos: "routes.yaml:3:1:"},
		{Name: "bad size", Block: "ttl: 1s\nmax_bytes: lots", Want: "size", Pos: "routes.yaml:2:"},
		{Name: "unknown key", Block: "ttl: 1s\nshared: true", Want: "shared", Pos: "routes.yaml:2:1:"},
		{Name: "every problem", Block: "ttl: 10ms\nmax_bytes: 1MB\nmax_entry_bytes: 2MB\nmax_byte: 1",
			Want: "ttl must be >= 1s", Pos: "routes.yaml:1:1:", Also: []string{
				"routes.yaml:3:1: " + `route "test": plugin: max_entry_bytes must be between 1B and max_bytes (1MB), got 2MB`,
				`routes.yaml:4:1: route "test": plugin: unknown key "max_byte" (did you mean "max_bytes"?)`,
			}},
		{Name: "a bad max_bytes is not also a bad bound", Block: "ttl: 1s\nmax_bytes: lots\nmax_entry_bytes: 2MB",
			Want: "size", Pos: "routes.yaml:2:", Also: nil},
	})
}

// TestPublicRefusesIdentityDependentInner: a public cache refuses to load
// in front of a plugin that says its responses depend on the caller
// (plugins.Facts, as the headers plugin says of {claim.*} response headers);
// a private cache keeps one cache per session and does not care.
func TestPublicRefusesIdentityDependentInner(t *testing.T) {
	t.Parallel()
	dependent := []plugins.Inner{
		{Name: "rewriter", Facts: plugins.Facts{What: "nothing of note"}},
		{Name: "headers", Facts: plugins.Facts{IdentityDependent: true, What: "{claim.*} response headers"}},
	}
	for _, tt := range []struct {
		name, block string
		inner       []plugins.Inner
		want        string // "" = loads
	}{
		{"public before an identity-dependent plugin", "ttl: 1s\npublic: true", dependent,
			`routes.yaml:2:1: route "test": plugin: public: true would serve one user's {claim.*} response headers (plugin headers) to every user`},
		{"public before plugins telling nothing of the kind", "ttl: 1s\npublic: true", dependent[:1], ""},
		{"public alone", "ttl: 1s\npublic: true", nil, ""},
		{"private before an identity-dependent plugin", "ttl: 1s", dependent, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			spec := plugintest.Spec(t, tt.block)
			spec.Check = true
			spec.Inner = tt.inner
			_, err := New(spec)
			if (tt.want == "") != (err == nil) || (err != nil && !strings.HasPrefix(err.Error(), tt.want)) {
				t.Errorf("New = %v, want %q", err, tt.want)
			}
		})
	}
}

// step is one request of a scenario and what must come back.
type step struct {
	method, target, identity string
	hdr                      []string
	advance                  time.Duration // clock moves before the request
	wantBody, wantXCache     string        // "" = not checked
	wantHits                 int64         // upstream calls after the request
	wantAge                  string
}

func runSteps(t *testing.T, h *harness, steps []step) {
	t.Helper()
	for i, s := range steps {
		h.clk.Advance(s.advance)
		if s.method == "" {
			s.method = http.MethodGet
		}
		got := h.do(t, s.method, s.target, s.identity, s.hdr...)
		label := fmt.Sprintf("step %d: %s %s as %q %q", i+1, s.method, s.target, s.identity, s.hdr)
		if s.wantBody != "" && got.body != s.wantBody {
			t.Errorf("%s: body = %q, want %q", label, got.body, s.wantBody)
		}
		if s.wantXCache != "" && got.xcache != s.wantXCache {
			t.Errorf("%s: X-Cache = %q, want %q", label, got.xcache, s.wantXCache)
		}
		if s.wantAge != "" && got.age != s.wantAge {
			t.Errorf("%s: Age = %q, want %q", label, got.age, s.wantAge)
		}
		if got.hits != s.wantHits {
			t.Errorf("%s: upstream calls = %d, want %d", label, got.hits, s.wantHits)
		}
	}
}

// headerReply answers with fixed header fields (name, value pairs).
func headerReply(status int, fields ...string) func(c *fiber.Ctx, n int64) error {
	return func(c *fiber.Ctx, n int64) error {
		for i := 0; i+1 < len(fields); i += 2 {
			c.Response().Header.Add(fields[i], fields[i+1])
		}
		return c.Status(status).SendString(fmt.Sprint("response ", n))
	}
}

func TestCacheRules(t *testing.T) {
	t.Parallel()
	const get, head, post = http.MethodGet, http.MethodHead, http.MethodPost
	tests := []struct {
		name  string
		block string
		reply func(c *fiber.Ctx, n int64) error
		steps []step
	}{
		{name: "hit after miss, per session", block: "ttl: 30s", steps: []step{
			{target: "/a", identity: "alice", wantBody: "response 1", wantXCache: "MISS", wantHits: 1},
			{target: "/a", identity: "alice", advance: 3 * time.Second, wantBody: "response 1", wantXCache: "HIT", wantAge: "3", wantHits: 1},
			// Bob never gets Alice's response.
			{target: "/a", identity: "bob", wantBody: "response 2", wantXCache: "MISS", wantHits: 2},
			{target: "/a", identity: "bob", wantBody: "response 2", wantXCache: "HIT", wantHits: 2},
		}},
		{name: "bearer keyed by token", block: "ttl: 30s", steps: []step{
			{target: "/a", identity: "bearer", wantHits: 1},
			{target: "/a", identity: "bearer", wantXCache: "HIT", wantHits: 1},
			// Same subject, another token (maybe other scopes): its own entry.
			{target: "/a", identity: "bearer2", wantXCache: "MISS", wantHits: 2},
			{target: "/a", identity: "alice", wantXCache: "MISS", wantHits: 3},
		}},
		{name: "private cache skips anonymous requests", block: "ttl: 30s", steps: []step{
			{target: "/a", wantXCache: "MISS", wantHits: 1},
			{target: "/a", wantXCache: "MISS", wantHits: 2},
		}},
		{name: "full raw query in the key", block: "ttl: 30s", steps: []step{
			{target: "/a?x=1&y=2", identity: "alice", wantHits: 1},
			{target: "/a?x=2&y=2", identity: "alice", wantXCache: "MISS", wantHits: 2},
			{target: "/a?y=2&x=1", identity: "alice", wantXCache: "MISS", wantHits: 3},
			{target: "/a", identity: "alice", wantXCache: "MISS", wantHits: 4},
			{target: "/a?x=1&y=2", identity: "alice", wantXCache: "HIT", wantBody: "response 1", wantHits: 4},
		}},
		{name: "head shares get's entry", block: "ttl: 30s", steps: []step{
			{method: head, target: "/a", identity: "alice", wantXCache: "MISS", wantHits: 1},
			{target: "/a", identity: "alice", wantXCache: "MISS", wantHits: 2}, // a HEAD stores nothing
			{method: head, target: "/a", identity: "alice", wantXCache: "HIT", wantBody: "", wantHits: 2},
		}},
		{name: "ttl expiry", block: "ttl: 10s", steps: []step{
			{target: "/a", identity: "alice", wantHits: 1},
			{target: "/a", identity: "alice", advance: 9 * time.Second, wantXCache: "HIT", wantHits: 1},
			{target: "/a", identity: "alice", advance: time.Second, wantXCache: "MISS", wantHits: 2},
		}},
		{name: "max-age shortens ttl", block: "ttl: 30s", reply: headerReply(200, "Cache-Control", "max-age=5"), steps: []step{
			{target: "/a", identity: "alice", wantHits: 1},
			{target: "/a", identity: "alice", advance: 4 * time.Second, wantXCache: "HIT", wantHits: 1},
			{target: "/a", identity: "alice", advance: time.Second, wantXCache: "MISS", wantHits: 2},
		}},
		{name: "max-age never lengthens ttl", block: "ttl: 5s", reply: headerReply(200, "Cache-Control", "max-age=3600"), steps: []step{
			{target: "/a", identity: "alice", wantHits: 1},
			{target: "/a", identity: "alice", advance: 5 * time.Second, wantXCache: "MISS", wantHits: 2},
		}},
		{name: "max-age=0 not stored", block: "ttl: 5s", reply: headerReply(200, "Cache-Control", "max-age=0"), steps: []step{
			{target: "/a", identity: "alice", wantHits: 1},
			{target: "/a", identity: "alice", wantXCache: "MISS", wantHits: 2},
		}},
		{name: "upstream age counts", block: "ttl: 30s", reply: headerReply(200, "Cache-Control", "max-age=15", "Age", "10"), steps: []step{
			{target: "/a", identity: "alice", wantHits: 1},
			{target: "/a", identity: "alice", advance: 4 * time.Second, wantXCache: "HIT", wantAge: "14", wantHits: 1},
			{target: "/a", identity: "alice", advance: time.Second, wantXCache: "MISS", wantHits: 2},
		}},
		{name: "s-maxage rules a public cache", block: "ttl: 30s\npublic: true", reply: headerReply(200, "Cache-Control", "max-age=1, s-maxage=20"), steps: []step{
			{target: "/a", wantHits: 1},
			{target: "/a", advance: 10 * time.Second, wantXCache: "HIT", wantHits: 1},
		}},
		{name: "s-maxage ignored by a private cache", block: "ttl: 30s", reply: headerReply(200, "Cache-Control", "max-age=1, s-maxage=20"), steps: []step{
			{target: "/a", identity: "alice", wantHits: 1},
			{target: "/a", identity: "alice", advance: 2 * time.Second, wantXCache: "MISS", wantHits: 2},
		}},
		{name: "expires shortens ttl", block: "ttl: 30s", reply: headerReply(200, "Date", "Thu, 01 Jan 2026 00:00:00 GMT", "Expires", "Thu, 01 Jan 2026 00:00:05 GMT"), steps: []step{
			{target: "/a", identity: "alice", wantHits: 1},
			{target: "/a", identity: "alice", advance: 4 * time.Second, wantXCache: "HIT", wantHits: 1},
			{target: "/a", identity: "alice", advance: time.Second, wantXCache: "MISS", wantHits: 2},
		}},
		{name: "invalid expires not stored", block: "ttl: 30s", reply: headerReply(200, "Expires", "0"), steps: []step{
			{target: "/a", identity: "alice", wantHits: 1},
			{target: "/a", identity: "alice", wantXCache: "MISS", wantHits: 2},
		}},
		{name: "no-store not stored", block: "ttl: 30s", reply: headerReply(200, "Cache-Control", "no-store"), steps: []step{
			{target: "/a", identity: "alice", wantHits: 1},
			{target: "/a", identity: "alice", wantXCache: "MISS", wantHits: 2},
		}},
		{name: "response no-cache not stored", block: "ttl: 30s", reply: headerReply(200, "Cache-Control", `no-cache="Set-Cookie"`), steps: []step{
			{target: "/a", identity: "alice", wantHits: 1},
			{target: "/a", identity: "alice", wantXCache: "MISS", wantHits: 2},
		}},
		{name: "private stored per session", block: "ttl: 30s", reply: headerReply(200, "Cache-Control", "private"), steps: []step{
			{target: "/a", identity: "alice", wantHits: 1},
			{target: "/a", identity: "alice", wantXCache: "HIT", wantHits: 1},
		}},
		{name: "private never stored publicly", block: "ttl: 30s\npublic: true", reply: headerReply(200, "Cache-Control", "private, max-age=60"), steps: []step{
			{target: "/a", wantHits: 1},
			{target: "/a", wantXCache: "MISS", wantHits: 2},
		}},
		{name: "set-cookie never stored", block: "ttl: 30s", reply: headerReply(200, "Set-Cookie", "sid=1; HttpOnly"), steps: []step{
			{target: "/a", identity: "alice", wantHits: 1},
			{target: "/a", identity: "alice", wantXCache: "MISS", wantHits: 2},
		}},
		{name: "server error not stored", block: "ttl: 30s", reply: headerReply(500), steps: []step{
			{target: "/a", identity: "alice", wantHits: 1},
			{target: "/a", identity: "alice", wantXCache: "MISS", wantHits: 2},
		}},
		{name: "redirect 302 not stored", block: "ttl: 30s", reply: headerReply(302, "Location", "/b"), steps: []step{
			{target: "/a", identity: "alice", wantHits: 1},
			{target: "/a", identity: "alice", wantXCache: "MISS", wantHits: 2},
		}},
		{name: "404 stored", block: "ttl: 30s", reply: headerReply(404), steps: []step{
			{target: "/a", identity: "alice", wantHits: 1},
			{target: "/a", identity: "alice", wantXCache: "HIT", wantHits: 1},
		}},
		{name: "vary star not stored", block: "ttl: 30s", reply: headerReply(200, "Vary", "*"), steps: []step{
			{target: "/a", identity: "alice", wantHits: 1},
			{target: "/a", identity: "alice", wantXCache: "MISS", wantHits: 2},
		}},
		{name: "vary splits entries", block: "ttl: 30s", reply: headerReply(200, "Vary", "accept-language, Accept"), steps: []step{
			{target: "/a", identity: "alice", hdr: []string{"Accept-Language", "en"}, wantBody: "response 1", wantHits: 1},
			{target: "/a", identity: "alice", hdr: []string{"Accept-Language", "fr"}, wantBody: "response 2", wantXCache: "MISS", wantHits: 2},
			{target: "/a", identity: "alice", hdr: []string{"Accept-Language", "en"}, wantBody: "response 1", wantXCache: "HIT", wantHits: 2},
			{target: "/a", identity: "alice", hdr: []string{"Accept-Language", "en", "Accept", "text/html"}, wantXCache: "MISS", wantHits: 3},
			{target: "/a", identity: "alice", hdr: []string{"Accept-Language", "fr"}, wantBody: "response 2", wantXCache: "HIT", wantHits: 3},
		}},
		{name: "public cache shared", block: "ttl: 30s\npublic: true", steps: []step{
			{target: "/a", wantHits: 1},
			{target: "/a", wantXCache: "HIT", wantBody: "response 1", wantHits: 1},
		}},
		{name: "public cache skips authorized responses", block: "ttl: 30s\npublic: true", steps: []step{
			{target: "/a", identity: "alice", wantHits: 1},
			{target: "/a", identity: "bob", wantXCache: "MISS", wantHits: 2},
			{target: "/b", hdr: []string{"Authorization", "Bearer x"}, wantHits: 3},
			{target: "/b", wantXCache: "MISS", wantHits: 4},
		}},
		{name: "public cache stores authorized responses marked public", block: "ttl: 30s\npublic: true", reply: headerReply(200, "Cache-Control", "public"), steps: []step{
			{target: "/a", identity: "alice", wantHits: 1},
			{target: "/a", identity: "bob", wantXCache: "HIT", wantHits: 1},
		}},
		{name: "request no-cache refetches and replaces", block: "ttl: 30s", steps: []step{
			{target: "/a", identity: "alice", wantBody: "response 1", wantHits: 1},
			{target: "/a", identity: "alice", hdr: []string{"Cache-Control", "no-cache"}, wantBody: "response 2", wantXCache: "MISS", wantHits: 2},
			{target: "/a", identity: "alice", wantBody: "response 2", wantXCache: "HIT", wantHits: 2},
			{target: "/a", identity: "alice", hdr: []string{"Pragma", "no-cache"}, wantBody: "response 3", wantXCache: "MISS", wantHits: 3},
			{target: "/a", identity: "alice", hdr: []string{"Cache-Control", "max-age=0"}, wantBody: "response 4", wantXCache: "MISS", wantHits: 4},
			{target: "/a", identity: "alice", wantBody: "response 4", wantXCache: "HIT", wantHits: 4},
		}},
		{name: "request max-age bounds the age served", block: "ttl: 30s", steps: []step{
			{target: "/a", identity: "alice", wantHits: 1},
			{target: "/a", identity: "alice", advance: 10 * time.Second, hdr: []string{"Cache-Control", "max-age=20"}, wantXCache: "HIT", wantHits: 1},
			{target: "/a", identity: "alice", hdr: []string{"Cache-Control", "max-age=5"}, wantXCache: "MISS", wantHits: 2},
		}},
		{name: "request no-store bypasses", block: "ttl: 30s", steps: []step{
			{target: "/a", identity: "alice", hdr: []string{"Cache-Control", "no-store"}, wantHits: 1},
			{target: "/a", identity: "alice", wantXCache: "MISS", wantHits: 2},
		}},
		{name: "range requests bypass", block: "ttl: 30s", steps: []step{
			{target: "/a", identity: "alice", hdr: []string{"Range", "bytes=0-1"}, wantHits: 1},
			{target: "/a", identity: "alice", wantXCache: "MISS", wantHits: 2},
		}},
		{name: "unsafe method invalidates the path for everyone", block: "ttl: 30s", steps: []step{
			{target: "/a", identity: "alice", wantHits: 1},
			{target: "/a?page=2", identity: "alice", wantHits: 2},
			{target: "/a", identity: "bob", wantHits: 3},
			{target: "/b", identity: "alice", wantHits: 4},
			{method: post, target: "/a", identity: "bob", wantHits: 5},
			{target: "/a", identity: "alice", wantXCache: "MISS", wantHits: 6},
			{target: "/a?page=2", identity: "alice", wantXCache: "MISS", wantHits: 7},
			{target: "/a", identity: "bob", wantXCache: "MISS", wantHits: 8},
			{target: "/b", identity: "alice", wantXCache: "HIT", wantHits: 8},
		}},
		{name: "unsafe method invalidates even when it fails", block: "ttl: 30s", reply: func(c *fiber.Ctx, n int64) error {
			if c.Method() == http.MethodDelete {
				return fiber.NewError(fiber.StatusGatewayTimeout, "upstream timed out")
			}
			return c.SendString(fmt.Sprint("response ", n))
		}, steps: []step{
			{target: "/a", identity: "alice", wantHits: 1},
			{method: http.MethodDelete, target: "/a", identity: "alice", wantHits: 2},
			{target: "/a", identity: "alice", wantXCache: "MISS", wantHits: 3},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.block)
			if tt.reply != nil {
				h.reply = tt.reply
			}
			runSteps(t, h, tt.steps)
		})
	}
}

// A cache store that cannot be opened fails New, positioned; under Check
// none is asked for.
func TestNewBackendRefused(t *testing.T) {
	t.Parallel()
	plugintest.CheckRefusedBackend(t, New, "ttl: 1s")
}
