package stack

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// shipped is the repository's routes.yaml: the stack runs the real file.
const shipped = "../../../routes.yaml"

// seen records what the services received from gatehouse.
type seen struct {
	mu      sync.Mutex
	headers map[string][]http.Header // by service
}

func (s *seen) wrap(name string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.headers[name] = append(s.headers[name], r.Header.Clone())
		s.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

func (s *seen) last(name string) http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	hs := s.headers[name]
	if len(hs) == 0 {
		return nil
	}
	return hs[len(hs)-1]
}

// start runs the stack on free ports until the test ends.
func start(t *testing.T, opts Options) *Stack {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s, err := Start(ctx, opts.OnFreePorts())
	if err != nil {
		cancel()
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := s.Wait(); err != nil {
			t.Errorf("Wait after cancel = %v, want nil", err)
		}
	})
	rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
	defer rcancel()
	if err := s.WaitReady(rctx); err != nil {
		t.Fatal(err)
	}
	return s
}

// login drives the real login form over HTTP, as a browser would, and
// returns a client holding the session cookie.
func login(t *testing.T, s *Stack) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	resp, err := c.Get(s.URL + "/auth/login?returnTo=/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	page := resp.Request.URL
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(page.String(), s.Issuer+"/login?") {
		t.Fatalf("GET /auth/login ended at %d %s, want the OP's login page", resp.StatusCode, page)
	}
	u := s.OP.User
	resp, err = c.PostForm(s.Issuer+"/login", url.Values{
		"id": {page.Query().Get("authRequestID")}, "username": {u.Username}, "password": {u.Password},
	})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.String() != s.URL+"/" || !strings.Contains(string(body), "<!doctype html>") {
		t.Fatalf("after the login form: %d at %s, want the SPA at %s/", resp.StatusCode, resp.Request.URL, s.URL)
	}
	return c
}

func getJSON(t *testing.T, c *http.Client, target string, headers ...string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&v)
	return resp.StatusCode, v
}

func TestShippedConfigEndToEnd(t *testing.T) {
	rec := &seen{headers: map[string][]http.Header{}}
	s := start(t, Options{Config: shipped, WrapService: rec.wrap})
	anon := &http.Client{Timeout: 10 * time.Second}

	// Public route, and the SPA from the static route (client-side route too).
	if status, body := getJSON(t, anon, s.URL+"/api/catalog"); status != http.StatusOK || body["products"] == nil {
		t.Errorf("GET /api/catalog = %d %v, want 200 with products", status, body)
	}
	if status, body := getJSON(t, anon, s.URL+"/api/profile", "X-CSRF", "1"); status != http.StatusUnauthorized {
		t.Errorf("GET /api/profile without a session = %d %v, want 401", status, body)
	}

	c := login(t, s)
	sub := s.OP.User.Subject
	for _, tc := range []struct {
		name, path, service string
	}{
		{"profile", "/api/profile", "profile"},
		{"orders", "/api/orders", "orders"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := getJSON(t, c, s.URL+tc.path, "X-CSRF", "1", "X-User-Id", "mallory")
			if status != http.StatusOK || body["sub"] != sub {
				t.Fatalf("GET %s = %d %v, want 200 for %q", tc.path, status, body, sub)
			}
			// The dev OP's access tokens carry the user's name, as Keycloak's do.
			if tc.service == "profile" && body["name"] != s.OP.User.Name {
				t.Errorf("GET %s name = %v, want %q from the access token", tc.path, body["name"], s.OP.User.Name)
			}
			h := rec.last(tc.service)
			if got := h.Get("X-User-Id"); got != sub {
				t.Errorf("%s received X-User-Id %q, want %q (set from the session, not the client)", tc.service, got, sub)
			}
			if a := h.Get("Authorization"); !strings.HasPrefix(a, "Bearer ey") {
				t.Errorf("%s received Authorization %q, want the access token", tc.service, a)
			}
			if ck := h.Get("Cookie"); ck != "" {
				t.Errorf("%s received Cookie %q, want none", tc.service, ck)
			}
			if status, _ := getJSON(t, c, s.URL+tc.path); status != http.StatusForbidden {
				t.Errorf("GET %s without X-CSRF = %d, want 403", tc.path, status)
			}
		})
	}
}

func TestStartFailures(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	taken := Options{Config: shipped}.OnFreePorts()
	taken.IssuerAddr = busy.Addr().String()
	for _, tc := range []struct {
		name string
		opts Options
		want string
	}{
		{"no config", Options{}.OnFreePorts(), "Config"},
		{"missing config", Options{Config: "testdata/nope.yaml"}.OnFreePorts(), "nope.yaml"},
		{"issuer not the OP", Options{Config: "testdata/other-issuer.yaml"}.OnFreePorts(), "OIDC_ISSUER"},
		{"no oidc block", Options{Config: "testdata/no-oidc.yaml"}.OnFreePorts(), "OIDC_ISSUER"},
		{"port taken", taken, busy.Addr().String()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Start(t.Context(), tc.opts)
			if err == nil {
				t.Cleanup(func() { _ = s.Wait() })
				t.Fatalf("Start(%s) = nil error, want one naming %q", tc.name, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Start(%s) = %v, want an error naming %q", tc.name, err, tc.want)
			}
		})
	}
}

func TestStopsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s, err := Start(ctx, Options{Config: shipped}.OnFreePorts())
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	addrs := []string{s.URL, s.Issuer, s.ProfileURL, s.OrdersURL}
	cancel()
	if err := s.Wait(); err != nil {
		t.Fatalf("Wait = %v, want nil after a clean stop", err)
	}
	for _, a := range addrs {
		u, _ := url.Parse(a)
		conn, err := net.Dial("tcp", u.Host)
		if err == nil {
			conn.Close()
			t.Errorf("%s still accepts connections after Wait", a)
		} else if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("dialing %s after Wait: %v, want connection refused", a, err)
		}
	}
}
