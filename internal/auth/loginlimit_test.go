package auth

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestLoginLimiterBucket(t *testing.T) {
	var l loginLimiter
	now := time.Unix(1_700_000_000, 0)
	for i := range loginBurst {
		if ok, _ := l.allow("a", now); !ok {
			t.Fatalf("allow #%d within the burst = false, want true", i+1)
		}
	}
	ok, wait := l.allow("a", now)
	if ok || wait <= 0 || wait > time.Minute {
		t.Fatalf("allow past the burst = %v, %v; want false with a wait of at most a minute", ok, wait)
	}
	for range 100 { // refused attempts spend nothing
		l.allow("a", now)
	}
	if ok, _ := l.allow("b", now); !ok {
		t.Error("another client refused: buckets are not per client")
	}
	if ok, _ := l.allow("a", now.Add(wait)); !ok {
		t.Errorf("allow after the announced wait %v = false, want true", wait)
	}
	if ok, _ := l.allow("a", now.Add(wait)); ok {
		t.Error("a second login after one token refilled = true, want false")
	}
}

func TestLoginLimiterBounded(t *testing.T) {
	var l loginLimiter
	now := time.Unix(1_700_000_000, 0)
	for i := range loginLimiterMax + 500 {
		l.allow("10.0."+strconv.Itoa(i/256)+"."+strconv.Itoa(i%256), now)
	}
	if n := l.len(); n > loginLimiterMax {
		t.Fatalf("tracked addresses after a spray of %d = %d, want at most %d", loginLimiterMax+500, n, loginLimiterMax)
	}
	// Once idle long enough to be full again, entries are swept when room is needed.
	later := now.Add(loginIdle)
	l.allow("fresh", later)
	if n := l.len(); n != 1 {
		t.Errorf("tracked addresses after the idle sweep = %d, want 1", n)
	}
}

// TestLoginFlood: one client gets loginBurst logins, then 429 JSON with
// Retry-After and no login state or cookie; another client is unaffected.
func TestLoginFlood(t *testing.T) {
	_, h := startIssuerHarness(t, harnessOpts{clientSecret: "s"})
	now := time.Now()
	h.auth.now = func() time.Time { return now }
	plain := &http.Client{CheckRedirect: h.client.CheckRedirect}
	login := func(ip string) *http.Response {
		return doWith(t, plain, http.MethodGet, h.url+PathLogin, nil, "X-Test-Client-IP", ip)
	}
	for i := range loginBurst {
		if r := login("198.51.100.1"); r.StatusCode != http.StatusFound {
			t.Fatalf("login #%d = %d %s, want 302", i+1, r.StatusCode, readBody(t, r))
		}
	}
	r := login("198.51.100.1")
	body := readBody(t, r)
	if r.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, `"error":"`+msgTooManyLogins+`"`) {
		t.Fatalf("login past the burst = %d %s, want 429 %q", r.StatusCode, body, msgTooManyLogins)
	}
	if secs, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || secs < 1 || secs > 60 {
		t.Errorf("Retry-After = %q, want 1..60 seconds", r.Header.Get("Retry-After"))
	}
	if names := setCookieNames(r); len(names) != 0 || r.Header.Get("Location") != "" {
		t.Errorf("refused login set cookies %v and Location %q, want none", names, r.Header.Get("Location"))
	}
	if r := login("198.51.100.2"); r.StatusCode != http.StatusFound {
		t.Errorf("login from another client = %d, want 302", r.StatusCode)
	}
	if r := login("2001:db8:7:7::99"); r.StatusCode != http.StatusFound {
		t.Errorf("first login from an IPv6 client = %d, want 302", r.StatusCode)
	}
	// Fresh IPv6 addresses from one /64 share one bucket.
	for i := range loginBurst {
		login("2001:db8:9:9::" + strconv.FormatInt(int64(i+1), 16))
	}
	if r := login("2001:db8:9:9:ffff::1"); r.StatusCode != http.StatusTooManyRequests {
		t.Errorf("login from a new address of a flooding /64 = %d, want 429", r.StatusCode)
	}
	now = now.Add(time.Minute) // ten tokens back
	if r := login("198.51.100.1"); r.StatusCode != http.StatusFound {
		t.Errorf("login a minute later = %d, want 302", r.StatusCode)
	}
}
