package cli

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/logtest"
)

// eventually polls cond until it holds; the bound is for liveness, not timing.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
	}
}

// status returns the status of GET url, 0 when nothing answers.
func status(url string) int {
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// SIGHUP re-reads the config: a broken file is refused and the running routes
// stay; a good one swaps the routes in without a restart.
func TestSIGHUPReloadsRoutes(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer up.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	path := filepath.Join(t.TempDir(), "routes.yaml")
	writeRoutes := func(prefix string) {
		t.Helper()
		cfg := fmt.Sprintf("server: {listen: %q}\nsession: {secret: cli-reload-test-secret-cli-reload-test-0123}\n"+
			"routes:\n  - {name: r, prefix: %s, upstream: %q, auth: none}\n", addr, prefix, up.URL)
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeRoutes("/a")
	var stdout, stderr logtest.Buffer
	code := make(chan int, 1)
	go func() { code <- Main([]string{"-config", path}, &stdout, &stderr) }()
	base := "http://" + addr
	eventually(t, "the gateway answers", func() bool { return status(base+"/a") == 200 })

	if err := os.WriteFile(path, []byte("routes: [oops"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the broken config is refused", func() bool { return strings.Contains(stdout.String(), "reload refused") })
	if s := status(base + "/a"); s != 200 {
		t.Errorf("after a refused reload: GET /a = %d, want 200 from the running routes", s)
	}

	writeRoutes("/b")
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the new routes serve", func() bool { return status(base+"/b") == 200 })
	if s := status(base + "/a"); s != 404 {
		t.Errorf("after the reload: GET /a = %d, want 404", s)
	}
	if !strings.Contains(stdout.String(), "config reloaded") {
		t.Errorf("log = %s, want a config reloaded line", stdout.String())
	}

	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if c := <-code; c != 0 {
		t.Errorf("exit code after SIGTERM = %d, want 0; stderr: %s", c, stderr.String())
	}
}
