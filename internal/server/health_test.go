package server

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/proxy"
	"github.com/google/go-cmp/cmp"
)

// Clients as the gateway resolves them: it trusts 127.0.0.1 (the test) as a
// proxy, so X-Forwarded-For picks the client, and metrics_from is 10.0.0.0/8.
const (
	operatorIP = "10.1.2.3"    // inside metrics_from
	publicIP   = "203.0.113.5" // outside it
)

// healthConfig is a gateway with two proxied routes, "orders" and
// "billing" (names that a hex request id cannot spell by chance), and
// server.ready_requires set to requires.
func healthConfig(t *testing.T, orders, billing string, requires ...string) *config.Config {
	t.Helper()
	yaml := fmt.Sprintf(`
server:
  public_url: "http://gw.test"
  trusted_proxies: ["127.0.0.1"]
  metrics_from: ["10.0.0.0/8"]
  ready_requires: [%s]
session:
  secret: "server-test-secret-server-test-secret-000"
routes:
  - name: orders
    prefix: /orders
    upstream: %q
`, strings.Join(requires, ", "), orders)
	if billing != "" {
		yaml += fmt.Sprintf(`  - name: billing
    prefix: /billing
    upstream: %q
`, billing)
	}
	cfg, err := config.Parse("health.yaml", []byte(yaml))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg
}

// deadURL returns the URL of a loopback port nothing listens on.
func deadURL(t *testing.T) string {
	t.Helper()
	ln := listen(t)
	addr := ln.Addr().String()
	_ = ln.Close()
	return "http://" + addr
}

// getAs sends GET path as client ip and returns the status, the body and
// the whole response as it came off the wire.
func getAs(t *testing.T, base, path, ip string) (status int, body, raw string) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	// A fixed request id: a generated one is hex and could spell anything.
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: gw\r\nX-Forwarded-For: %s\r\nX-Request-Id: health-test\r\nConnection: close\r\n\r\n", path, ip)
	all, err := io.ReadAll(conn)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(string(all))), nil)
	if err != nil {
		t.Fatalf("reading the response to %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), string(all)
}

// upSample is the exposition line of gatehouse_upstream_up for one target.
func upSample(route, target string, v int) string {
	return fmt.Sprintf("gatehouse_upstream_up{route=%q,target=%q} %d\n", route, target, v)
}

// waitForMetrics polls /metrics (as an operator) until cond holds on its
// body, and returns it. The prober works in the background; the bound only
// turns a hang into a failure.
func waitForMetrics(t *testing.T, base, what string, cond func(body string) bool) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		status, body, _ := getAs(t, base, "/metrics", operatorIP)
		if status == 200 && cond(body) {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics never showed %s; last (%d):\n%.3000s", what, status, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitProbed waits until the prober has a result for every target named.
func waitProbed(t *testing.T, base string, targets map[string]string) {
	t.Helper()
	waitForMetrics(t, base, "a sample for every target", func(body string) bool {
		for route, target := range targets {
			if !strings.Contains(body, fmt.Sprintf("gatehouse_upstream_up{route=%q,target=%q} ", route, target)) {
				return false
			}
		}
		return true
	})
}

// TestReadyz: a dead upstream is reported (degraded), not gated on, unless
// server.ready_requires names its route; only metrics_from clients see the
// named checks.
func TestReadyz(t *testing.T) {
	t.Parallel()
	deps := map[string]string{"config": "ok", "store": "ok", "auth_store": "ok"}
	with := func(extra map[string]string) map[string]string {
		m := maps.Clone(deps)
		maps.Copy(m, extra)
		return m
	}
	tests := []struct {
		name       string
		requires   []string
		client     string
		wantStatus int
		wantBody   string      // exact, for public clients
		wantReport readyReport // for operators
	}{
		{"dead upstream is reported, not gated", nil, operatorIP, 200, "",
			readyReport{Status: "ready", Checks: deps, Degraded: []string{"billing"}}},
		{"ready_requires names the dead route", []string{"billing"}, operatorIP, 503, "",
			readyReport{Status: "not ready", Checks: with(map[string]string{"upstream:billing": "no upstream target reachable"}), Degraded: []string{"billing"}}},
		{"ready_requires names only the live route", []string{"orders"}, operatorIP, 200, "",
			readyReport{Status: "ready", Checks: with(map[string]string{"upstream:orders": "ok"}), Degraded: []string{"billing"}}},
		{"public client, ready", nil, publicIP, 200, `{"status":"ready"}`, readyReport{}},
		{"public client, not ready", []string{"billing"}, publicIP, 503, `{"status":"not ready"}`, readyReport{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			orders := newUpstream(t, "orders")
			billing := deadURL(t)
			_, base := serve(t, healthConfig(t, orders.URL, billing, tc.requires...), listen(t))
			waitProbed(t, base, map[string]string{"orders": orders.URL, "billing": billing})

			status, body, raw := getAs(t, base, "/readyz", tc.client)
			if status != tc.wantStatus {
				t.Errorf("GET /readyz = %d %s, want %d", status, body, tc.wantStatus)
			}
			if tc.wantBody != "" {
				if body != tc.wantBody {
					t.Errorf("body = %s, want exactly %s", body, tc.wantBody)
				}
				for _, secret := range []string{"orders", "billing", orders.URL, billing, strings.TrimPrefix(billing, "http://127.0.0.1")} {
					if strings.Contains(raw, secret) {
						t.Errorf("the response to a public client contains %q:\n%s", secret, raw)
					}
				}
			} else {
				var got readyReport
				if err := json.Unmarshal([]byte(body), &got); err != nil {
					t.Fatalf("body %s: %v", body, err)
				}
				if diff := cmp.Diff(tc.wantReport, got); diff != "" {
					t.Errorf("/readyz report (-want +got):\n%s", diff)
				}
			}

			// The other route serves; the dead one fails on its own.
			if status, body, _ := getAs(t, base, "/orders/x", publicIP); status != 200 || !strings.Contains(body, `"upstream":"orders"`) {
				t.Errorf("GET /orders/x = %d %s, want 200 from orders", status, body)
			}
			if status, _, _ := getAs(t, base, "/billing/x", publicIP); status != 502 {
				t.Errorf("GET /billing/x = %d, want 502", status)
			}
		})
	}
}

// TestUpstreamUpGauge: gatehouse_upstream_up is 0 for a dead target and 1
// for a live one, follows the dead one when it comes up, and a reload that
// removes a route removes its series.
func TestUpstreamUpGauge(t *testing.T) {
	t.Parallel()
	orders := newUpstream(t, "orders")
	billing := deadURL(t)
	srv, base := serve(t, healthConfig(t, orders.URL, billing), listen(t))

	body := waitForMetrics(t, base, "both targets", func(body string) bool {
		return strings.Contains(body, `route="billing"`) && strings.Contains(body, `route="orders"`)
	})
	for _, want := range []string{upSample("orders", orders.URL, 1), upSample("billing", billing, 0)} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q:\n%.3000s", want, body)
		}
	}

	// The dead target comes up on its address.
	ln, err := net.Listen("tcp", strings.TrimPrefix(billing, "http://"))
	if err != nil {
		t.Skipf("cannot listen on the dead target's port again: %v", err)
	}
	back := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	back.Listener = ln
	back.Start()
	t.Cleanup(back.Close)
	waitForMetrics(t, base, "billing up", func(body string) bool {
		return strings.Contains(body, upSample("billing", billing, 1))
	})
	if status, body, _ := getAs(t, base, "/readyz", operatorIP); status != 200 || !strings.Contains(body, `"degraded":[]`) {
		t.Errorf("GET /readyz with every upstream up = %d %s, want 200 and no degraded route", status, body)
	}

	// A reload without billing: its series goes at once.
	if err := srv.Reload(healthConfig(t, orders.URL, "")); err != nil {
		t.Fatal(err)
	}
	_, body, _ = getAs(t, base, "/metrics", operatorIP)
	if strings.Contains(body, `route="billing"`) || !strings.Contains(body, upSample("orders", orders.URL, 1)) {
		t.Errorf("after a reload that removed billing, /metrics has:\n%s", grepLines(body, "gatehouse_upstream_up"))
	}
}

// grepLines returns the lines of s that contain substr.
func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestTargetHealth: the newest evidence about a target wins, the prober's
// last dial or a request that made the proxy eject it.
func TestTargetHealth(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1_000_000, 0)
	const addr = "10.0.0.1:80"
	tests := []struct {
		name   string
		probe  *probeResult
		target proxy.TargetState
		want   health
	}{
		{"never probed", nil, proxy.TargetState{Addr: addr}, unknown},
		{"never probed, ejected", nil, proxy.TargetState{Addr: addr, Ejected: true, LastFailure: t0}, down},
		{"dial succeeded", &probeResult{ok: true, at: t0}, proxy.TargetState{Addr: addr}, up},
		{"dial failed", &probeResult{ok: false, at: t0}, proxy.TargetState{Addr: addr}, down},
		{"ejected after a good dial", &probeResult{ok: true, at: t0}, proxy.TargetState{Addr: addr, Ejected: true, LastFailure: t0.Add(time.Second)}, down},
		{"good dial after the ejection", &probeResult{ok: true, at: t0.Add(time.Second)}, proxy.TargetState{Addr: addr, Ejected: true, LastFailure: t0}, up},
		{"an old failure, no longer ejected", &probeResult{ok: true, at: t0}, proxy.TargetState{Addr: addr, LastFailure: t0.Add(time.Second)}, up},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := upstreamHealth{addrs: map[string]probeResult{}}
			if tc.probe != nil {
				h.addrs[addr] = *tc.probe
			}
			if got := h.target(tc.target); got != tc.want {
				t.Errorf("target health = %d, want %d", got, tc.want)
			}
		})
	}
}
