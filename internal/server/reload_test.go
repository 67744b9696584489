package server

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	redisstore "github.com/gatehouse-dev/gatehouse/internal/store/redis"
	"github.com/gatehouse-dev/gatehouse/internal/store/redistest"
)

// reloadUpstreams are two upstreams answering "A" and "B"; A's handler
// waits on block when it is not nil.
func reloadUpstreams(t *testing.T, block <-chan struct{}, started chan<- struct{}) (a, b string) {
	t.Helper()
	ua := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if block != nil {
			started <- struct{}{}
			<-block
		}
		_, _ = io.WriteString(w, "A")
	}))
	ub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "B") }))
	t.Cleanup(ua.Close)
	t.Cleanup(ub.Close)
	return ua.URL, ub.URL
}

// getBody returns the status and body of GET url.
func getBody(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestReloadSwapsRoutes(t *testing.T) {
	t.Parallel()
	upA, upB := reloadUpstreams(t, nil, nil)
	env := map[string]string{"UP_A": upA, "UP_B": upB}
	srv, base := serve(t, loadConfig(t, "reload-a.yaml", env), listen(t))
	if code, body := getBody(t, base+"/a"); code != 200 || body != "A" {
		t.Fatalf("before reload: GET /a = %d %q, want 200 A", code, body)
	}
	if err := srv.Reload(loadConfig(t, "reload-b.yaml", env)); err != nil {
		t.Fatalf("Reload = %v", err)
	}
	if code, _ := getBody(t, base+"/a"); code != 404 {
		t.Errorf("after reload: GET /a = %d, want 404 (the route is gone)", code)
	}
	if code, body := getBody(t, base+"/b"); code != 200 || body != "B" {
		t.Errorf("after reload: GET /b = %d %q, want 200 B", code, body)
	}
}

// A reload that cannot be applied whole changes nothing.
func TestReloadRefused(t *testing.T) {
	t.Parallel()
	upA, upB := reloadUpstreams(t, nil, nil)
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"plugin problem", map[string]string{"RATE": "0"}, "reload-b.yaml:13:20: route \"b\": plugin rate_limit: rate must be >= 1"},
		{"restart-only setting", map[string]string{"SECRET": "another-secret-another-secret-another-0123"}, "session changed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, base := serve(t, loadConfig(t, "reload-a.yaml", map[string]string{"UP_A": upA}), listen(t))
			env := map[string]string{"UP_A": upA, "UP_B": upB}
			for k, v := range tc.env {
				env[k] = v
			}
			err := srv.Reload(loadConfig(t, "reload-b.yaml", env))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Reload = %v, want an error with %q", err, tc.want)
			}
			if code, body := getBody(t, base+"/a"); code != 200 || body != "A" {
				t.Errorf("after a refused reload: GET /a = %d %q, want the old route (200 A)", code, body)
			}
			if code, _ := getBody(t, base+"/b"); code != 404 {
				t.Errorf("after a refused reload: GET /b = %d, want 404", code)
			}
		})
	}
}

// A request under way when the routes are swapped finishes on the old ones,
// although they were released at the swap (their proxy's idle connections
// dropped, their plugins' context ended).
func TestReloadLetsInFlightRequestsFinish(t *testing.T) {
	t.Parallel()
	block, started := make(chan struct{}), make(chan struct{}, 1)
	upA, upB := reloadUpstreams(t, block, started)
	env := map[string]string{"UP_A": upA, "UP_B": upB}
	srv, base := serve(t, loadConfig(t, "reload-a.yaml", env), listen(t))
	type result struct {
		code int
		body string
	}
	done := make(chan result, 1)
	go func() {
		resp, err := http.Get(base + "/a")
		if err != nil {
			done <- result{body: err.Error()}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		done <- result{resp.StatusCode, string(b)}
	}()
	<-started // the request is at the upstream
	if err := srv.Reload(loadConfig(t, "reload-b.yaml", env)); err != nil {
		t.Fatalf("Reload = %v", err)
	}
	close(block)
	if r := <-done; r.code != 200 || r.body != "A" {
		t.Errorf("in-flight GET /a = %d %q, want 200 A", r.code, r.body)
	}
}

// backendsServer serves testdata/backends.yaml (ten routes, each with
// rate_limit and cache) on store, in front of a plain upstream.
func backendsServer(t *testing.T, store string) (*Server, string, func() *config.Config) {
	t.Helper()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(up.Close)
	load := func() *config.Config {
		return loadConfig(t, "backends.yaml", map[string]string{"UP": up.URL, "STORE": store})
	}
	srv, base := serve(t, load(), listen(t))
	return srv, base, load
}

// get returns the status and X-Cache of GET base+path.
func getCached(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Get("X-Cache")
}

// TestReloadKeepsPluginState: a reload swaps routes, not state: a route's
// rate-limit bucket and cached responses are there after it, in memory as
// on Redis.
func TestReloadKeepsPluginState(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, store string }{
		{"memory", "memory"},
		{"redis", redistest.New(t).URL(0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, base, load := backendsServer(t, tc.store)
			for i, want := range []string{"MISS", "HIT"} {
				if code, x := getCached(t, base+"/r0"); code != http.StatusOK || x != want {
					t.Fatalf("GET %d before the reload = %d %s, want 200 %s", i+1, code, x, want)
				}
			}
			if err := srv.Reload(load()); err != nil {
				t.Fatal(err)
			}
			// The burst of 2 was spent before the reload.
			if code, _ := getCached(t, base+"/r0"); code != http.StatusTooManyRequests {
				t.Errorf("GET after the reload = %d, want 429: the bucket was reset", code)
			}
			// Another route's state is its own.
			if code, x := getCached(t, base+"/r1"); code != http.StatusOK || x != "MISS" {
				t.Errorf("GET /r1 = %d %s, want 200 MISS", code, x)
			}
		})
	}
}

// TestOneRedisPool: the sessions, the auth state and every route's
// rate_limit and cache share one Redis client: sequential requests through
// ten routes, before and after a reload, hold a connection or two, not two
// per route and store (as one client per plugin instance and per store did).
func TestOneRedisPool(t *testing.T) {
	t.Parallel()
	redisSrv := redistest.New(t)
	srv, base, load := backendsServer(t, redisSrv.URL(0))
	admin, err := redisstore.NewClient(redisSrv.URL(0), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	clients := func() int {
		t.Helper()
		list, err := admin.ClientList(t.Context()).Result()
		if err != nil {
			t.Fatal(err)
		}
		return strings.Count(list, "\n") - 1 // less the admin's own
	}
	requests := func() {
		for i := range 10 {
			for range 2 {
				if code, _ := getCached(t, fmt.Sprint(base, "/r", i)); code != http.StatusOK {
					t.Fatalf("GET /r%d = %d", i, code)
				}
			}
		}
	}
	requests()
	if n := clients(); n < 1 || n > 2 {
		t.Errorf("after requests through 10 routes: %d connections from the gateway, want 1 or 2", n)
	}
	if err := srv.Reload(load()); err != nil {
		t.Fatal(err)
	}
	_, _ = getCached(t, base+"/r0")
	if n := clients(); n < 1 || n > 2 {
		t.Errorf("after a reload: %d connections from the gateway, want 1 or 2", n)
	}
}
