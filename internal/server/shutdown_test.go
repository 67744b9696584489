package server

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestGracefulShutdown checks that Shutdown lets an in-flight request finish
// and that new connections are refused afterwards.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	entered, release := make(chan struct{}), make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		io.WriteString(w, "finished")
	}))
	t.Cleanup(slow.Close)
	fast := newUpstream(t, "fast")
	cfg := loadConfig(t, "core.yaml", map[string]string{"USERS": slow.URL, "PUBLIC": fast.URL, "FILES": fast.URL})
	ln := listen(t)
	srv, base := serve(t, cfg, ln)

	type result struct {
		status int
		body   string
		err    error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := http.Get(base + "/api/users/slow")
		if err != nil {
			done <- result{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- result{status: resp.StatusCode, body: string(b)}
	}()
	<-entered // the request is at the upstream

	shutdownErr := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		shutdownErr <- srv.Shutdown(ctx)
	}()
	close(release)

	r := <-done
	if r.err != nil || r.status != 200 || r.body != "finished" {
		t.Fatalf("in-flight request during shutdown = %d %q %v, want 200 finished", r.status, r.body, r.err)
	}
	if err := <-shutdownErr; err != nil {
		t.Errorf("Shutdown = %v, want nil", err)
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("a new request after Shutdown was served")
	}
}

// TestShutdownBeforeServe: a signal right at start-up must not leave a
// server running.
func TestShutdownBeforeServe(t *testing.T) {
	t.Parallel()
	fast := newUpstream(t, "fast")
	cfg := loadConfig(t, "core.yaml", map[string]string{"USERS": fast.URL, "PUBLIC": fast.URL, "FILES": fast.URL})
	srv, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(listen(t)) }()
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve after Shutdown = %v, want nil", err)
		}
	case <-time.After(20 * time.Second): // a bound for the test, not a timing assertion
		t.Fatal("Serve after Shutdown kept serving")
	}
}
