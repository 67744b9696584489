package server

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
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

// A request under way when the routes are swapped finishes on the old ones;
// the old routes are released once it has.
func TestReloadLetsInFlightRequestsFinish(t *testing.T) {
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
	srv.reloadMu.Lock()
	for old := range srv.retiring {
		if n := old.inflight.Load(); n != 1 {
			t.Errorf("the old routes count %d requests in flight, want 1", n)
		}
	}
	srv.reloadMu.Unlock()
	close(block)
	if r := <-done; r.code != 200 || r.body != "A" {
		t.Errorf("in-flight GET /a = %d %q, want 200 A", r.code, r.body)
	}
	deadline := time.Now().Add(10 * time.Second) // a liveness bound, not a timing assertion
	for {
		srv.reloadMu.Lock()
		n := len(srv.retiring)
		srv.reloadMu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the old routes were never released")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
