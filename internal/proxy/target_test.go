package proxy

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable clock for ejection tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestEjectionAndFailover(t *testing.T) {
	t.Parallel()
	up := newRecorder(t, "alive")
	dead := "http://" + deadAddr(t)
	var mu sync.Mutex
	failures := 0
	gw := newGateway(t, route1("r", "/", dead, up.srv.URL), Options{
		EjectFor: 10 * time.Second,
		OnUpstreamError: func(target string, status int) {
			mu.Lock()
			failures++
			mu.Unlock()
		},
	})
	clock := &fakeClock{t: time.Unix(1_000_000, 0)}
	gw.proxy.now = clock.now
	failuresNow := func() int {
		mu.Lock()
		defer mu.Unlock()
		return failures
	}

	// Every request succeeds: a refused connection fails over to the next
	// target, and the dead one is tried only once while ejected.
	for i := range 6 {
		if resp, body := get(t, gw.url+"/"); resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: GET / = %d %s, want 200", i, resp.StatusCode, body)
		}
	}
	if got := failuresNow(); got != 1 {
		t.Errorf("after 6 requests the dead target was tried %d times, want 1 (ejected after the first)", got)
	}
	deadT := gw.proxy.targets[0]
	if got := time.Duration(deadT.ejectedUntil.Load() - clock.now().UnixNano()); got != 10*time.Second {
		t.Errorf("first ejection lasts %v, want 10s", got)
	}

	// After the ejection it is tried again, fails again, and is ejected twice as long.
	clock.advance(11 * time.Second)
	for range 2 {
		get(t, gw.url+"/")
	}
	if got := failuresNow(); got != 2 {
		t.Errorf("after the ejection ended the dead target was tried %d times in all, want 2", got)
	}
	if got := time.Duration(deadT.ejectedUntil.Load() - clock.now().UnixNano()); got != 20*time.Second {
		t.Errorf("second ejection lasts %v, want 20s (doubled)", got)
	}
	if n := len(up.requests()); n != 8 {
		t.Errorf("alive target got %d requests, want 8", n)
	}
}

func TestEjectDoublesUpToMax(t *testing.T) {
	t.Parallel()
	var tg target
	now := time.Unix(0, 0)
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}
	for i, w := range want {
		tg.eject(now, time.Second, 5*time.Second)
		if got := time.Duration(tg.ejectedUntil.Load() - now.UnixNano()); got != w {
			t.Errorf("eject #%d lasts %v, want %v", i+1, got, w)
		}
	}
	tg.succeeded()
	tg.eject(now, time.Second, 5*time.Second)
	if got := time.Duration(tg.ejectedUntil.Load() - now.UnixNano()); got != time.Second {
		t.Errorf("eject after a success lasts %v, want 1s (streak reset)", got)
	}
}

func TestPickAllEjectedTriesLeastRecentlyFailed(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Unix(1_000_000, 0)}
	p := &Proxy{now: clock.now}
	for range 3 {
		p.targets = append(p.targets, &target{})
	}
	base := clock.now()
	// Target 1 failed longest ago; all are still ejected.
	for i, ago := range []time.Duration{2 * time.Second, 5 * time.Second, time.Second} {
		p.targets[i].eject(base.Add(-ago), time.Minute, time.Hour)
	}
	for i := range 3 {
		if got := p.pick(); got != p.targets[1] {
			t.Errorf("pick #%d with all ejected = target %d, want target 1", i, indexOf(p.targets, got))
		}
	}
	// Once target 2's ejection ends it is preferred.
	p.targets[2].succeeded()
	if got := p.pick(); got != p.targets[2] {
		t.Errorf("pick() = target %d, want target 2 (the only one not ejected)", indexOf(p.targets, got))
	}
}

func indexOf(ts []*target, t *target) int {
	for i := range ts {
		if ts[i] == t {
			return i
		}
	}
	return -1
}

func TestAllTargetsDeadIs502(t *testing.T) {
	t.Parallel()
	gw := newGateway(t, route1("r", "/", "http://"+deadAddr(t), "http://"+deadAddr(t)), Options{})
	for range 3 {
		resp, body := get(t, gw.url+"/")
		if resp.StatusCode != http.StatusBadGateway || errorBody(t, body) != "upstream unavailable" {
			t.Errorf("GET / = %d %s, want 502 upstream unavailable", resp.StatusCode, body)
		}
	}
}

// TestDroppedRequestEjects: a target that accepts connections and drops
// them unanswered (a crashing process) is ejected after an idempotent
// request — which fasthttp retried once — but not after a single POST,
// which is what an idle keep-alive connection closed by the upstream looks
// like too.
func TestDroppedRequestEjects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		method string
		linger bool // Close sends RST instead of FIN
		eject  bool
	}{
		{"GET closed", http.MethodGet, false, true},
		{"GET reset", http.MethodGet, true, true},
		{"POST closed", http.MethodPost, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := serveTCP(t, func(c net.Conn) {
				if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
					return
				}
				if tt.linger {
					_ = c.(*net.TCPConn).SetLinger(0)
				}
			})
			gw := newGateway(t, route1("r", "/", "http://"+addr), Options{})
			req, _ := http.NewRequest(tt.method, gw.url+"/", strings.NewReader("x"))
			resp, body := do(t, req)
			if resp.StatusCode != http.StatusBadGateway || errorBody(t, body) != "upstream unavailable" {
				t.Errorf("%s / = %d %s, want 502 upstream unavailable", tt.method, resp.StatusCode, body)
			}
			if got := gw.proxy.targets[0].ejectedUntil.Load() != 0; got != tt.eject {
				t.Errorf("%s / dropped: target ejected = %v, want %v", tt.method, got, tt.eject)
			}
		})
	}
}

func TestHTTPSUpstream(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "secure "+r.URL.Path)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	srv.StartTLS()
	t.Cleanup(srv.Close)
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())

	t.Run("trusted CA", func(t *testing.T) {
		gw := newGateway(t, route1("r", "/", srv.URL), Options{TLSConfig: &tls.Config{RootCAs: roots}})
		resp, body := get(t, gw.url+"/x")
		if resp.StatusCode != http.StatusOK || string(body) != "secure /x" {
			t.Errorf("GET /x = %d %q, want 200 %q", resp.StatusCode, body, "secure /x")
		}
	})
	t.Run("unknown CA is refused", func(t *testing.T) {
		gw := newGateway(t, route1("r", "/", srv.URL), Options{})
		resp, body := get(t, gw.url+"/x")
		if resp.StatusCode != http.StatusBadGateway {
			t.Errorf("GET /x with an untrusted certificate = %d %s, want 502", resp.StatusCode, body)
		}
	})
}
