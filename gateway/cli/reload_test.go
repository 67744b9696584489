package cli

import (
	"io"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/clitest"
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
// stay; a good one swaps the routes in without a restart. The gateway binds
// port 0 and names the port in its start-up line, written once bound.
func TestSIGHUPReloadsRoutes(t *testing.T) {
	routes := clitest.NewRoutes(t, "/a")
	var stdout, stderr logtest.Buffer
	code := make(chan int, 1)
	go func() { code <- Main([]string{"-config", routes.Path}, &stdout, &stderr) }()
	var started clitest.StartLine
	eventually(t, "the start-up line", func() (ok bool) { started, ok = clitest.Started(stdout.String()); return ok })
	base := "http://" + started.Listen
	if s := status(base + "/a"); s != 200 {
		t.Fatalf("GET /a = %d, want 200", s)
	}

	if err := os.WriteFile(routes.Path, []byte("routes: [oops"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the broken config is refused", func() bool { return strings.Contains(stdout.String(), "reload refused") })
	if s := status(base + "/a"); s != 200 {
		t.Errorf("after a refused reload: GET /a = %d, want 200 from the running routes", s)
	}

	routes.Write("/b")
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the reload", func() bool { return strings.Contains(stdout.String(), "config reloaded") })
	for _, tc := range []struct {
		path string
		want int
	}{{"/b", 200}, {"/a", 404}} {
		if s := status(base + tc.path); s != tc.want {
			t.Errorf("after the reload: GET %s = %d, want %d", tc.path, s, tc.want)
		}
	}

	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if c := <-code; c != 0 {
		t.Errorf("exit code after SIGTERM = %d, want 0; stderr: %s", c, stderr.String())
	}
}
