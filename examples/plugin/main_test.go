package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/gateway/cli"
)

// TestValidate runs the real command line with the example plugin linked in:
// the example config passes, and the plugin's own errors come out positioned
// beside the built-in plugins'.
func TestValidate(t *testing.T) {
	tests := []struct {
		name     string
		file     string
		wantCode int
		wantOut  []string
	}{
		{name: "example config", file: "routes.yaml", wantCode: 0, wantOut: []string{"routes.yaml: ok"}},
		{name: "bad config", file: "testdata/bad.yaml", wantCode: 1, wantOut: []string{
			`testdata/bad.yaml:13:7: route "catalog": plugin deny_user_agent: contains needs at least one substring`,
			`testdata/bad.yaml:15:25: route "catalog": plugin headers: request set: header Authorization cannot be changed`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := cli.Main([]string{"validate", "-config", tt.file}, &stdout, &stderr)
			out := stdout.String() + stderr.String()
			if code != tt.wantCode {
				t.Errorf("validate %s: exit %d, want %d; output:\n%s", tt.file, code, tt.wantCode, out)
			}
			for _, want := range tt.wantOut {
				if !strings.Contains(out, want) {
					t.Errorf("validate %s: output\n%s\nwant a line containing %q", tt.file, out, want)
				}
			}
		})
	}
}

// TestServe runs this build of the gateway on a real upstream: the plugin
// is linked in and runs on the route, before the built-in plugins.
// block_for keeps the caught client out, whatever its next User-Agent.
func TestServe(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "from upstream")
	}))
	defer upstream.Close()
	cfg := filepath.Join(t.TempDir(), "routes.yaml")
	yaml := fmt.Sprintf(`server: {listen: "127.0.0.1:0", public_url: "http://gatehouse.test"}
session: {secret: test-only-secret-0123456789-0123456789-0123456789}
routes:
  - name: catalog
    prefix: /api/catalog
    upstream: %q
    auth: none
    plugins:
      deny_user_agent: {contains: [sqlmap], block_for: 1m}
      rate_limit: {rate: 100, key: ip}
`, upstream.URL)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr syncBuffer
	code := make(chan int, 1)
	go func() { code <- cli.Main([]string{"-config", cfg}, &stdout, &stderr) }()
	base := "http://" + listening(t, &stdout, &stderr, code)

	for _, tc := range []struct {
		ua, want string
	}{
		{"Mozilla/5.0", "200 from upstream"},
		{"sqlmap/1.7", `403 {"error":"forbidden"}`},
		{"Mozilla/5.0", `403 {"error":"forbidden"}`}, // the same client, blocked
	} {
		req, _ := http.NewRequest(http.MethodGet, base+"/api/catalog/items", nil)
		req.Header.Set("User-Agent", tc.ua)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if got := fmt.Sprintf("%d %s", resp.StatusCode, body); got != tc.want {
			t.Errorf("GET with User-Agent %q = %s, want %s", tc.ua, got, tc.want)
		}
		if resp.Header.Get("RateLimit-Policy") == "" && resp.StatusCode == 200 {
			t.Errorf("GET with User-Agent %q: no RateLimit-Policy, want the built-in rate_limit to run too", tc.ua)
		}
	}

	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if c := <-code; c != 0 {
		t.Errorf("exit code after SIGTERM = %d, want 0; stderr: %s", c, stderr.String())
	}
}

// listening waits for the gateway's start-up line in its JSON log and
// returns the address it names (the port bound for 127.0.0.1:0). The bound
// is for liveness only.
func listening(t *testing.T, log, stderr *syncBuffer, code <-chan int) string {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		select {
		case c := <-code:
			t.Fatalf("the gateway exited with %d before listening; log:\n%s%s", c, log.String(), stderr.String())
		default:
		}
		for l := range strings.Lines(log.String()) {
			var line struct{ Msg, Listen string }
			if json.Unmarshal([]byte(l), &line) == nil && line.Msg == "gatehouse listening" {
				return line.Listen
			}
		}
	}
	t.Fatalf("no start-up line; log:\n%s", log.String())
	return ""
}

// syncBuffer is a bytes.Buffer the gateway writes while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
