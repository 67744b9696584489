package cache

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-dev/gatehouse/plugins/plugintest"
)

// blockingUpstream makes GETs wait for release, announcing each arrival.
func blockingUpstream(h *harness, entered chan<- struct{}, release <-chan struct{}, fields ...string) {
	h.reply = func(c *fiber.Ctx, n int64) error {
		if c.Method() == http.MethodGet {
			entered <- struct{}{}
			<-release
		}
		for i := 0; i+1 < len(fields); i += 2 {
			c.Set(fields[i], fields[i+1])
		}
		return c.SendString(fmt.Sprint("response ", n))
	}
}

// concurrentGets sends n GETs for /a as alice and returns the responses in
// arrival order; the leader must be blocked in the upstream before the
// followers are sent, and all followers waiting before it is released.
func concurrentGets(t *testing.T, h *harness, n int, entered <-chan struct{}, release chan<- struct{}) []result {
	t.Helper()
	joined := make(chan struct{})
	h.mw.flights.joined = joined
	results := make([]result, n)
	var wg sync.WaitGroup
	get := func(i int) {
		req := httptest.NewRequest(http.MethodGet, "/a", nil)
		req.Header.Set(plugintest.IdentityHeader, "alice")
		resp, err := h.app.Test(req, -1)
		if err != nil {
			t.Errorf("request %d: %v", i, err)
			return
		}
		defer resp.Body.Close()
		var body [64]byte
		m, _ := resp.Body.Read(body[:])
		results[i] = result{status: resp.StatusCode, body: string(body[:m]), xcache: resp.Header.Get("X-Cache")}
	}
	wg.Go(func() { get(0) })
	<-entered
	for i := 1; i < n; i++ {
		wg.Go(func() { get(i) })
	}
	for i := 1; i < n; i++ {
		<-joined
	}
	close(release)
	wg.Wait()
	return results
}

func TestSingleFlight(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "ttl: 30s")
	entered, release := make(chan struct{}), make(chan struct{})
	blockingUpstream(h, entered, release)
	results := concurrentGets(t, h, 8, entered, release)
	if got := h.hits.Load(); got != 1 {
		t.Errorf("8 concurrent misses: upstream calls = %d, want 1", got)
	}
	for i, r := range results {
		if r.body != "response 1" {
			t.Errorf("request %d: body = %q, want the leader's %q", i, r.body, "response 1")
		}
	}
}

func TestSingleFlightNotStorable(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "ttl: 30s")
	entered, release := make(chan struct{}, 8), make(chan struct{})
	blockingUpstream(h, entered, release, "Cache-Control", "no-store")
	concurrentGets(t, h, 4, entered, release)
	if got := h.hits.Load(); got != 4 {
		t.Errorf("4 concurrent misses on a no-store response: upstream calls = %d, want 4 (the followers go upstream themselves)", got)
	}
}

// TestInvalidationDuringFetch: a response read before an unsafe request to
// its path completed must not be stored after it.
func TestInvalidationDuringFetch(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "ttl: 30s")
	entered, release := make(chan struct{}), make(chan struct{})
	blockingUpstream(h, entered, release)
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.do(t, http.MethodGet, "/a", "alice")
	}()
	<-entered
	h.do(t, http.MethodPut, "/a", "bob")
	close(release)
	<-done
	h.reply = func(c *fiber.Ctx, n int64) error { return c.SendString(fmt.Sprint("response ", n)) }
	if got := h.do(t, http.MethodGet, "/a", "alice"); got.xcache != "MISS" || got.hits != 3 {
		t.Errorf("GET after a PUT that overlapped the fetch: X-Cache %q, upstream calls %d, want MISS and 3", got.xcache, got.hits)
	}
}
