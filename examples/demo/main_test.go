package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// notifyingBuffer is a concurrency-safe buffer that signals when its
// contents first contain a marker.
type notifyingBuffer struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	marker string
	seen   chan struct{}
	once   sync.Once
}

func (b *notifyingBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.buf.Write(p)
	if b.marker != "" && strings.Contains(b.buf.String(), b.marker) {
		b.once.Do(func() { close(b.seen) })
	}
	return n, err
}

func (b *notifyingBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"-nope"}, "flag provided but not defined"},
		{"argument", []string{"extra"}, `unexpected argument "extra"`},
		{"log level", []string{"-log-level", "loud"}, `-log-level "loud"`},
		{"log format", []string{"-log-format", "xml"}, `-log-format "xml"`},
		{"no config here", []string{"-config", "testdata/missing.yaml"}, "run from the repository root"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(t.Context(), tc.args, &stdout, &stderr); code != 2 {
				t.Errorf("run(%q) = %d, want 2", tc.args, code)
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("run(%q) stderr = %q, want it to mention %q", tc.args, stderr.String(), tc.want)
			}
		})
	}
}

var openLine = regexp.MustCompile(`Open\s+(http://127\.0\.0\.1:\d+)\n`)

// demo is a demo run started by startDemo.
type demo struct {
	stdout, stderr *notifyingBuffer
	done           chan int           // run's exit code
	stop           context.CancelFunc // Ctrl-C
	url            string             // the URL of the banner's Open line
}

// startDemo runs the demo on config with every address on 127.0.0.1:0 and
// waits for its banner; it is stopped at the end of the test at the latest.
func startDemo(t *testing.T, config string) *demo {
	t.Helper()
	d := &demo{
		stdout: &notifyingBuffer{marker: "Press Ctrl-C to stop.", seen: make(chan struct{})},
		stderr: &notifyingBuffer{},
		done:   make(chan int, 1),
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	d.stop = cancel
	go func() {
		d.done <- run(ctx, []string{"-config", config, "-listen", "127.0.0.1:0", "-issuer-addr", "127.0.0.1:0",
			"-profile-addr", "127.0.0.1:0", "-orders-addr", "127.0.0.1:0"}, d.stdout, d.stderr)
	}()
	select {
	case <-d.stdout.seen:
	case code := <-d.done:
		t.Fatalf("run returned %d before printing the banner; stderr:\n%s", code, d.stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("no banner after 60s; stdout:\n%s\nstderr:\n%s", d.stdout.String(), d.stderr.String())
	}
	m := openLine.FindStringSubmatch(d.stdout.String())
	if m == nil {
		t.Fatalf("banner = %q, want an Open line with the URL", d.stdout.String())
	}
	d.url = m[1]
	return d
}

func TestRunPrintsTheURLAndCredentialsAndStopsCleanly(t *testing.T) {
	d := startDemo(t, "../../routes.yaml")
	stdout, stderr, done, cancel := d.stdout, d.stderr, d.done, d.stop
	out := stdout.String()
	if !strings.Contains(out, "alice / wonderland") {
		t.Errorf("banner = %q, want the test user's credentials", out)
	}
	// The URL it prints is the gateway, ready: the SPA and readiness answer.
	resp, err := http.Get(d.url + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET %s/readyz = %d, want 200 once the banner is out", d.url, resp.StatusCode)
	}

	cancel() // Ctrl-C
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("run after Ctrl-C = %d, want 0; stderr:\n%s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not return within 30s of Ctrl-C")
	}
	if !strings.Contains(stdout.String(), "demo: stopped") {
		t.Errorf("stdout = %q, want it to end with demo: stopped", stdout.String())
	}
}

// demoConfig is a small demo config: the catalog route, and the status route
// when withStatus.
func demoConfig(withStatus bool) string {
	cfg := `server: {listen: "${GATEHOUSE_LISTEN}", public_url: "${GATEHOUSE_PUBLIC_URL}"}
oidc: {issuer: "${OIDC_ISSUER}", client_id: gatehouse, client_secret: demo-test-secret, post_logout_redirect: /}
session: {secret: demo-reload-test-secret-demo-reload-test-0123}
routes:
  - {name: catalog, prefix: /api/catalog, upstream: "${CATALOG_URL}", auth: none}
`
	if withStatus {
		cfg += `  - {name: status, prefix: /api/status, upstream: "${STATUS_URL}", strip_prefix: true, auth: none}
`
	}
	return cfg
}

// SIGHUP to the demo's own PID (the one its banner names) re-reads the config:
// a broken file is refused and the running routes stay; a good one adds its
// route without a restart.
func TestSIGHUPReloadsTheConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "routes.yaml")
	write := func(cfg string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(demoConfig(false))
	d := startDemo(t, path)
	stdout, stderr, done, cancel := d.stdout, d.stderr, d.done, d.stop
	if want := fmt.Sprintf("kill -HUP %d re-reads %s", os.Getpid(), path); !strings.Contains(stdout.String(), want) {
		t.Errorf("banner = %q, want %q", stdout.String(), want)
	}
	get := func(path string) int {
		resp, err := http.Get(d.url + path)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// poll waits for cond; the bound is for liveness, not timing.
	poll := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("never: %s; stdout:\n%s\nstderr:\n%s", what, stdout.String(), stderr.String())
			}
		}
	}
	if s := get("/api/status"); s != http.StatusNotFound {
		t.Fatalf("GET /api/status before the reload = %d, want 404", s)
	}

	write("routes: [oops")
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	poll("the broken config is refused", func() bool { return strings.Contains(stderr.String(), "reload refused") })
	if s := get("/api/catalog"); s != http.StatusOK {
		t.Errorf("after a refused reload: GET /api/catalog = %d, want 200 from the running routes", s)
	}

	write(demoConfig(true))
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	poll("the status route serves", func() bool { return get("/api/status") == http.StatusOK })
	if !strings.Contains(stdout.String(), path+" reloaded") {
		t.Errorf("stdout = %q, want a reloaded line", stdout.String())
	}

	cancel()
	if code := <-done; code != 0 {
		t.Errorf("run after Ctrl-C = %d, want 0; stderr:\n%s", code, stderr.String())
	}
}
