package server

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-dev/gatehouse/plugins"
)

func init() {
	// test_panic panics on any request that carries X-Panic; a plugin
	// (built-in or third-party) with a bug on one request's input.
	plugins.Register(plugins.Plugin{
		Name: "test_panic", Phase: plugins.PhaseRewrite,
		New: func(plugins.Spec) (plugins.Middleware, error) {
			return func(next fiber.Handler) fiber.Handler {
				return func(c *fiber.Ctx) error {
					if c.Get("X-Panic") != "" {
						var m map[string]int
						m["boom"]++ // a nil map write: a real runtime panic
					}
					return next(c)
				}
			}, nil
		},
	})
}

// TestPanicFailsOneRequest: a plugin that panics on one request answers that
// request 500 {"error":"internal error"} and closes its connection; the
// process lives on, a request on another connection (opened before and
// after) is served, the panic is logged once with the request id, route and
// stack, and gatehouse_panics_total counts it.
func TestPanicFailsOneRequest(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, "api")
	cfg := loadConfig(t, "panic.yaml", map[string]string{"API": up.URL})
	logs, addr := serveLogged(t, cfg)

	// A keep-alive connection opened before the panic.
	other := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}}
	if resp, err := other.Get("http://" + addr + "/api/a"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("before: %v %v", resp, err)
	} else {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	_, _ = io.WriteString(conn, "GET /api/x HTTP/1.1\r\nHost: gw\r\nX-Panic: 1\r\nX-Request-Id: req-panic-1\r\n\r\n")
	raw, _ := io.ReadAll(conn) // the connection is closed after the answer: ReadAll returns
	head, body, _ := strings.Cut(string(raw), "\r\n\r\n")
	if !strings.HasPrefix(head, "HTTP/1.1 500 ") || !strings.Contains(strings.ToLower(head), "connection: close") {
		t.Fatalf("panicking request: head %q", head)
	}
	var e map[string]string
	if err := json.Unmarshal([]byte(body), &e); err != nil || e["error"] != "internal error" || len(e) != 1 {
		t.Fatalf("panicking request: body %q", body)
	}

	for _, c := range []*http.Client{other, {}} {
		resp, err := c.Get("http://" + addr + "/api/b")
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("after the panic: %v %v", resp, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}

	var panicLines int
	for line := range strings.SplitSeq(logs.String(), "\n") {
		if !strings.Contains(line, "panic while serving a request") {
			continue
		}
		panicLines++
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		if rec["level"] != "ERROR" || rec["request_id"] != "req-panic-1" || rec["route"] != "fragile" ||
			!strings.Contains(rec["stack"].(string), "recover_test.go") || !strings.Contains(rec["panic"].(string), "nil map") {
			t.Errorf("panic log line: %s", line)
		}
	}
	if panicLines != 1 {
		t.Errorf("%d panic log lines, want 1:\n%s", panicLines, logs.String())
	}
	if strings.Contains(logs.String(), "unhandled error") {
		t.Errorf("the panic was logged twice:\n%s", logs.String())
	}
	metrics := scrape(t, "http://"+addr)
	if !strings.Contains(metrics, "\ngatehouse_panics_total 1\n") {
		t.Errorf("gatehouse_panics_total is not 1")
	}
	if !strings.Contains(metrics, `gatehouse_requests_total{code="500",method="GET",route="fragile"} 1`) {
		t.Errorf("the panicking request is not counted as a 500")
	}
}

// scrape returns base's /metrics text (the test connects from loopback).
func scrape(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics = %d: %s", resp.StatusCode, b)
	}
	return string(b)
}
