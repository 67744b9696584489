package auth

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/oidc/oidctest"
	"github.com/gatehouse-dev/gatehouse/internal/session"
)

// refreshHarness logs in at a real OP whose first access token expires
// within the 30s refresh margin, then makes later tokens long-lived.
func refreshHarness(t *testing.T) (*oidctest.Provider, *harness, *session.Session) {
	t.Helper()
	op := oidctest.Start(t, oidctest.Options{AccessTokenTTL: 20 * time.Second})
	h := newHarness(t, harnessOpts{issuer: op.Issuer, clientSecret: op.ClientSecret, margin: 30 * time.Second})
	op.SetRedirectURIs([]string{h.url + PathCallback}, nil)
	h.waitReady()
	if r := h.loginAtOP(op, "/"); r.StatusCode != http.StatusFound {
		t.Fatalf("login = %d %s", r.StatusCode, readBody(t, r))
	}
	s, err := h.sessions.Load(context.Background(), h.sessionCookie())
	if err != nil {
		t.Fatal(err)
	}
	if !h.auth.needsRefresh(s) {
		t.Fatalf("session token expires %v, want it inside the refresh margin", s.AccessExpiresAt)
	}
	op.SetAccessTokenTTL(time.Hour)
	return op, h, s
}

// TestRefreshSingleFlight: 50 concurrent requests at expiry cause exactly one
// refresh grant; all are forwarded with the new token; the rotated refresh
// token replaces the old one.
func TestRefreshSingleFlight(t *testing.T) {
	t.Parallel()
	op, h, before := refreshHarness(t)
	codes := h.parallelHeld(op, 50, "X-CSRF", "1")
	for i, c := range codes {
		if c != http.StatusOK {
			t.Errorf("request %d = %d, want 200", i, c)
		}
	}
	if got := op.Grants("refresh_token"); got != 1 {
		t.Errorf("refresh_token grants at the OP = %d, want exactly 1", got)
	}
	after, err := h.sessions.Load(context.Background(), h.sessionCookie())
	if err != nil {
		t.Fatal(err)
	}
	if after.AccessToken == before.AccessToken || after.RefreshToken == before.RefreshToken || h.auth.needsRefresh(after) {
		t.Errorf("after refresh: token changed %v, refresh token rotated %v, fresh %v; want all true",
			after.AccessToken != before.AccessToken, after.RefreshToken != before.RefreshToken, !h.auth.needsRefresh(after))
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, hit := range h.hits {
		if hit.Authorization != "Bearer "+after.AccessToken {
			t.Fatalf("a request was forwarded with a stale token")
		}
	}
}

// TestRefreshInvalidGrantEndsSession: a refused refresh ends the session with
// 401 "session expired".
func TestRefreshInvalidGrantEndsSession(t *testing.T) {
	t.Parallel()
	op, h, _ := refreshHarness(t)
	cookie := h.sessionCookie()
	op.DropRefreshTokens()
	r := h.do(http.MethodGet, "/api/x", nil, "X-CSRF", "1")
	if body := readBody(t, r); r.StatusCode != http.StatusUnauthorized || !strings.Contains(body, msgSessionExpired) {
		t.Fatalf("request after invalid_grant = %d %s, want 401 %q", r.StatusCode, body, msgSessionExpired)
	}
	if h.hitCount() != 0 {
		t.Error("request forwarded after invalid_grant")
	}
	if _, err := h.sessions.Load(context.Background(), cookie); err == nil {
		t.Error("session still alive after invalid_grant")
	}
	if h.sessionCookie() != "" {
		t.Error("session cookie not cleared after invalid_grant")
	}
}

// TestRefreshIdPDown: while the token is still valid, requests are served
// with it and refresh attempts back off (no retry storm); once it has
// expired, 503 — and the session survives the outage.
func TestRefreshIdPDown(t *testing.T) {
	t.Parallel()
	op, h, s := refreshHarness(t)
	now := time.Now()
	h.auth.now = func() time.Time { return now }
	op.SetDown(true)
	for i := range 3 {
		r := h.do(http.MethodGet, "/api/x", nil, "X-CSRF", "1")
		if r.StatusCode != http.StatusOK {
			t.Fatalf("request %d with IdP down, token valid = %d %s, want 200", i, r.StatusCode, readBody(t, r))
		}
		if hit, _ := h.lastHit(); hit.Authorization != "Bearer "+s.AccessToken {
			t.Fatalf("request %d not forwarded with the still-valid token", i)
		}
	}
	if got := op.Grants("refresh_token"); got != 1 {
		t.Errorf("refresh attempts during the backoff = %d, want 1", got)
	}
	now = now.Add(minRefreshBackoff)
	h.do(http.MethodGet, "/api/x", nil, "X-CSRF", "1")
	if got := op.Grants("refresh_token"); got != 2 {
		t.Errorf("refresh attempts after the backoff = %d, want 2", got)
	}

	now = s.AccessExpiresAt.Add(time.Hour) // the token has expired
	r := h.do(http.MethodGet, "/api/x", nil, "X-CSRF", "1")
	if body := readBody(t, r); r.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, msgIdPUnavailable) {
		t.Errorf("request with IdP down, token expired = %d %s, want 503", r.StatusCode, body)
	}
	op.SetDown(false)
	now = now.Add(maxRefreshBackoff)
	if r := h.do(http.MethodGet, "/api/x", nil, "X-CSRF", "1"); r.StatusCode != http.StatusOK {
		t.Errorf("request after the IdP came back = %d %s, want 200", r.StatusCode, readBody(t, r))
	}
}

// TestReauthorizeAfterUpstream401: concurrent requests whose token an
// upstream rejected cause one refresh grant; all retry with the new token.
func TestReauthorizeAfterUpstream401(t *testing.T) {
	t.Parallel()
	op, h := startOPHarness(t, oidctest.Options{})
	if r := h.loginAtOP(op, "/"); r.StatusCode != http.StatusFound {
		t.Fatalf("login = %d", r.StatusCode)
	}
	before, err := h.sessions.Load(context.Background(), h.sessionCookie())
	if err != nil {
		t.Fatal(err)
	}
	const n = 10
	for i, c := range h.parallelHeld(op, n, "X-CSRF", "1", "X-Test-Upstream-401", before.AccessToken) {
		if c != http.StatusOK {
			t.Errorf("retried request %d = %d, want 200", i, c)
		}
	}
	if got := op.Grants("refresh_token"); got != 1 {
		t.Errorf("refresh grants after %d upstream 401s = %d, want 1", n, got)
	}
	after, err := h.sessions.Load(context.Background(), h.sessionCookie())
	if err != nil {
		t.Fatal(err)
	}
	if after.AccessToken == before.AccessToken {
		t.Fatal("access token not renewed")
	}
	h.mu.Lock()
	for _, hit := range h.hits {
		if hit.Authorization != "Bearer "+after.AccessToken {
			t.Fatal("a retried request carried the rejected token")
		}
	}
	h.mu.Unlock()

	// The renewed token rejected in turn: a second, sequential renewal works
	// with the rotated refresh token.
	r := h.do(http.MethodGet, "/api/x", nil, "X-CSRF", "1", "X-Test-Upstream-401", after.AccessToken)
	if r.StatusCode != http.StatusOK || op.Grants("refresh_token") != 2 {
		t.Errorf("second renewal = %d with %d grants, want 200 and 2", r.StatusCode, op.Grants("refresh_token"))
	}
}

// parallelHeld sends n concurrent GET /api/x with the OP's token endpoint
// held until the first refresh grant has reached it, and returns the statuses.
func (h *harness) parallelHeld(op *oidctest.Provider, n int, headers ...string) []int {
	h.t.Helper()
	release := op.Hold()
	defer release()
	targets := make([]string, n)
	for i := range targets {
		targets[i] = h.url + "/api/x"
	}
	wait := getAll(h.t, h.client, targets, headers...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // hang guard
	defer cancel()
	if err := op.WaitGrants(ctx, "refresh_token", 1); err != nil {
		h.t.Error(err)
	}
	release()
	return wait()
}

// getAll sends a GET to every target at once with the headers (name, value
// pairs); wait blocks until all have answered and returns their statuses (0
// for a transport error, which is reported).
func getAll(t testing.TB, c *http.Client, targets []string, headers ...string) (wait func() []int) {
	codes := make([]int, len(targets))
	var wg sync.WaitGroup
	for i, target := range targets {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodGet, target, nil)
			for j := 0; j+1 < len(headers); j += 2 {
				req.Header.Set(headers[j], headers[j+1])
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			codes[i] = resp.StatusCode
		})
	}
	return func() []int {
		wg.Wait()
		return codes
	}
}

// TestRefreshShortLivedTokens: with access tokens living 3 seconds and a 2s
// refresh margin, a request is forwarded with the current token until the
// token enters the margin, then with a refreshed one; each refresh rotates
// the refresh token and the next one spends the rotated token. The gateway's
// clock is stepped to the stored expiry (no sleeping).
func TestRefreshShortLivedTokens(t *testing.T) {
	t.Parallel()
	const ttl, margin = 3 * time.Second, 2 * time.Second
	op := oidctest.Start(t, oidctest.Options{AccessTokenTTL: ttl})
	h := newHarness(t, harnessOpts{issuer: op.Issuer, clientSecret: op.ClientSecret, margin: margin})
	op.SetRedirectURIs([]string{h.url + PathCallback}, nil)
	h.waitReady()
	if r := h.loginAtOP(op, "/"); r.StatusCode != http.StatusFound {
		t.Fatalf("login = %d %s", r.StatusCode, readBody(t, r))
	}
	load := func() *session.Session {
		t.Helper()
		s, err := h.sessions.Load(context.Background(), h.sessionCookie())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	var now time.Time
	h.auth.now = func() time.Time { return now }
	s := load()
	if left := s.AccessExpiresAt.Sub(time.Now()); left > ttl+time.Second {
		t.Fatalf("access token lives %v, want about %v (expires_in / exp of the OP)", left, ttl)
	}
	for round := 1; round <= 2; round++ {
		now = s.AccessExpiresAt.Add(-margin - 500*time.Millisecond) // before the margin
		r := h.do(http.MethodGet, "/api/x", nil, "X-CSRF", "1")
		if hit, _ := h.lastHit(); r.StatusCode != http.StatusOK || hit.Authorization != "Bearer "+s.AccessToken {
			t.Fatalf("round %d before the margin = %d, forwarded with the current token %v; want 200, true", round, r.StatusCode, hit.Authorization == "Bearer "+s.AccessToken)
		}
		if got := op.Grants("refresh_token"); got != round-1 {
			t.Fatalf("round %d before the margin: %d refresh grants, want %d", round, got, round-1)
		}

		now = s.AccessExpiresAt.Add(-time.Second) // inside the margin, still valid
		r = h.do(http.MethodGet, "/api/x", nil, "X-CSRF", "1")
		after := load()
		if r.StatusCode != http.StatusOK || op.Grants("refresh_token") != round {
			t.Fatalf("round %d inside the margin = %d with %d grants, want 200 and %d", round, r.StatusCode, op.Grants("refresh_token"), round)
		}
		// (exp has whole seconds: two tokens of one second share it.)
		if after.AccessToken == s.AccessToken || after.RefreshToken == s.RefreshToken || after.AccessExpiresAt.Before(s.AccessExpiresAt) {
			t.Fatalf("round %d: token renewed %v, refresh token rotated %v, expiry not earlier %v; want all true", round,
				after.AccessToken != s.AccessToken, after.RefreshToken != s.RefreshToken, !after.AccessExpiresAt.Before(s.AccessExpiresAt))
		}
		if hit, _ := h.lastHit(); hit.Authorization != "Bearer "+after.AccessToken {
			t.Fatalf("round %d: forwarded %q, want the refreshed token", round, hit.Authorization)
		}
		s = after
	}
}

// TestRetryWithRenewedToken: which upstream 401s RetryWithRenewedToken
// answers with one renewal and one retry (a session's idempotent request
// without a body), and which it lets stand; the client sees only the last
// answer, with the fields set before the upstream was called.
func TestRetryWithRenewedToken(t *testing.T) {
	t.Parallel()
	op, h := startOPHarness(t, oidctest.Options{})
	if r := h.loginAtOP(op, "/"); r.StatusCode != http.StatusFound {
		t.Fatalf("login = %d", r.StatusCode)
	}
	current := func() *session.Session {
		t.Helper()
		s, err := h.sessions.Load(context.Background(), h.sessionCookie())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	bearer := current().AccessToken // the OP's access tokens pass as bearer tokens
	tests := []struct {
		name, method, path string
		body               string
		// reject is the X-Test-Upstream-401 value: "" the current token,
		// "*" every token.
		reject  string
		noCSRF  bool
		headers []string
		prepare func(t *testing.T)
		status  int
		grants  int
	}{
		{name: "GET renewed and retried", method: http.MethodGet, path: "/api/x", status: http.StatusOK, grants: 1},
		{name: "HEAD renewed and retried", method: http.MethodHead, path: "/api/x", status: http.StatusOK, grants: 1},
		{name: "DELETE without a body renewed and retried", method: http.MethodDelete, path: "/api/x", status: http.StatusOK, grants: 1},
		{name: "POST not replayable", method: http.MethodPost, path: "/api/x", status: http.StatusUnauthorized},
		{name: "PUT with a body not replayable", method: http.MethodPut, path: "/api/x", body: "{}", status: http.StatusUnauthorized},
		{name: "the renewed token refused too: one retry only", method: http.MethodGet, path: "/api/x", reject: "*",
			status: http.StatusUnauthorized, grants: 1},
		{name: "bearer token: nothing to renew", method: http.MethodGet, path: "/bearer/x", reject: "*", noCSRF: true,
			headers: []string{"Authorization", "Bearer " + bearer}, status: http.StatusUnauthorized},
		{name: "anonymous: nothing to renew", method: http.MethodGet, path: "/public/x", reject: "*", noCSRF: true,
			status: http.StatusUnauthorized},
		{name: "session without a refresh token", method: http.MethodGet, path: "/api/x", status: http.StatusUnauthorized,
			prepare: func(t *testing.T) {
				s := current()
				s.RefreshToken = ""
				if err := h.sessions.Save(context.Background(), s); err != nil {
					t.Fatal(err)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.prepare != nil {
				tt.prepare(t)
			}
			reject := tt.reject
			if reject == "" {
				reject = current().AccessToken
			}
			headers := append([]string{"X-Test-Upstream-401", reject}, tt.headers...)
			if !tt.noCSRF {
				headers = append(headers, "X-CSRF", "1")
			}
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			grants := op.Grants("refresh_token")
			r := h.do(tt.method, tt.path, body, headers...)
			want := map[int]string{http.StatusOK: "upstream ok", http.StatusUnauthorized: "upstream refused the token"}[tt.status]
			if tt.method == http.MethodHead {
				want = ""
			}
			if got := readBody(t, r); r.StatusCode != tt.status || got != want {
				t.Errorf("answer %d %q, want %d %q", r.StatusCode, got, tt.status, want)
			}
			if got := op.Grants("refresh_token") - grants; got != tt.grants {
				t.Errorf("refresh grants %d, want %d", got, tt.grants)
			}
			if r.Header.Get("X-Test-Before") != "kept" {
				t.Error("the field set before the upstream was called is lost")
			}
			// The first answer's own fields go with it when it is retried.
			if rejected := r.Header.Get("X-Test-Upstream") == "rejected"; rejected != (tt.status == http.StatusUnauthorized) {
				t.Errorf("X-Test-Upstream %q with status %d", r.Header.Get("X-Test-Upstream"), r.StatusCode)
			}
		})
	}
}
