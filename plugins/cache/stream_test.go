package cache

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-dev/gatehouse/plugins/plugintest"
	"github.com/gatehouse-dev/gatehouse/request"
)

// upstreamBody is a streamed upstream body that records whether it was
// closed before it had been read to the end (which would cut the response).
type upstreamBody struct {
	mu          sync.Mutex
	r           io.Reader
	eof         bool
	closes      int
	closedEarly bool
}

func (b *upstreamBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.r.Read(p)
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

func (b *upstreamBody) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closes++
	if !b.eof {
		b.closedEarly = true
	}
	return nil
}

func TestStreamedBodies(t *testing.T) {
	t.Parallel()
	small := strings.Repeat("s", 100)
	big := strings.Repeat("b", 5000)
	tests := []struct {
		name      string
		body      string
		length    int  // SetBodyStream's bodySize
		wrap      bool // the proxy wrapped it in request.BodyStream
		wantCache bool
	}{
		{name: "small chunked resumable", body: small, length: -1, wrap: true, wantCache: true},
		{name: "big chunked resumable", body: big, length: -1, wrap: true},
		{name: "exactly the limit", body: strings.Repeat("e", 1024), length: -1, wrap: true, wantCache: true},
		{name: "one over the limit", body: strings.Repeat("o", 1025), length: -1, wrap: true},
		{name: "small known length", body: small, length: len(small), wantCache: true},
		{name: "big known length", body: big, length: len(big)},
		{name: "small chunked opaque stream", body: small, length: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, "ttl: 30s\nmax_entry_bytes: 1KB")
			var bodies []*upstreamBody
			h.reply = func(c *fiber.Ctx, n int64) error {
				ub := &upstreamBody{r: strings.NewReader(tt.body)}
				bodies = append(bodies, ub)
				var r io.Reader = ub
				if tt.wrap {
					r = request.NewBodyStream(ub)
				}
				c.Response().SetBodyStream(r, tt.length)
				return nil
			}
			for i := range 2 {
				req := withIdentity(http.MethodGet, "/file", "alice")
				resp, body := plugintest.Do(t, h.app, req)
				if body != tt.body {
					t.Fatalf("request %d: body of %d bytes (%q...), want the upstream's %d bytes", i+1, len(body), body[:min(len(body), 10)], len(tt.body))
				}
				if i == 1 {
					want := "MISS"
					if tt.wantCache {
						want = "HIT"
					}
					if got := resp.Header.Get("X-Cache"); got != want {
						t.Errorf("second request: X-Cache = %q, want %q", got, want)
					}
				}
			}
			for i, ub := range bodies {
				if ub.closes != 1 || ub.closedEarly {
					t.Errorf("upstream body %d: closed %d times, early %v; want once, after the end", i+1, ub.closes, ub.closedEarly)
				}
			}
		})
	}
}

func withIdentity(method, target, identity string) *http.Request {
	req, _ := http.NewRequest(method, "http://gw"+target, nil)
	req.Header.Set(plugintest.IdentityHeader, identity)
	return req
}

func TestHitReplaysHeaders(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "ttl: 30s")
	h.reply = func(c *fiber.Ctx, n int64) error {
		c.Set("Content-Type", "application/json")
		c.Response().Header.Add("X-Multi", "a")
		c.Response().Header.Add("X-Multi", "b")
		c.Set("Connection", "keep-alive")
		c.Set("X-Cache", "upstream-lie")
		return c.Status(203).Send([]byte(`{"n":1}`))
	}
	plugintest.Do(t, h.app, withIdentity(http.MethodGet, "/a", "alice"))
	resp, body := plugintest.Do(t, h.app, withIdentity(http.MethodGet, "/a", "alice"))
	if resp.StatusCode != 203 || body != `{"n":1}` {
		t.Errorf("hit = %d %q, want 203 {\"n\":1}", resp.StatusCode, body)
	}
	if got := resp.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("hit Content-Type = %q, want application/json", got)
	}
	if got := resp.Header.Values("X-Multi"); len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Errorf("hit X-Multi = %q, want [a b]", got)
	}
	if got := resp.Header.Values("X-Cache"); len(got) != 1 || got[0] != "HIT" {
		t.Errorf("hit X-Cache = %q, want [HIT]", got)
	}
}

// TestHitKeepsItsRequestID: the gateway sets X-Request-Id on the response
// before the chain; a hit must not replay the id of the request that filled
// the entry.
func TestHitKeepsItsRequestID(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "ttl: 30s")
	app := plugintest.NewApp(func(next fiber.Handler) fiber.Handler {
		inner := h.mw.middleware(next)
		return func(c *fiber.Ctx) error {
			c.Set("X-Request-Id", c.Get("X-Test-Rid"))
			return inner(c)
		}
	}, func(c *fiber.Ctx) error { return c.SendString("ok") }, identities)
	for _, rid := range []string{"first", "second"} {
		req := withIdentity(http.MethodGet, "/a", "alice")
		req.Header.Set("X-Test-Rid", rid)
		resp, _ := plugintest.Do(t, app, req)
		if got := resp.Header.Values("X-Request-Id"); len(got) != 1 || got[0] != rid {
			t.Errorf("X-Cache %s: X-Request-Id = %q, want [%s]", resp.Header.Get("X-Cache"), got, rid)
		}
	}
}
