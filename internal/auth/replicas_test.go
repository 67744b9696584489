package auth

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/oidc/oidctest"
	"github.com/gatehouse-dev/gatehouse/internal/session"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/replicatest"
)

// replicas starts n gateways (harnesses) on the stores, against one real OP
// whose first access token expires inside the refresh margin, logs in
// through the first, and returns the session as stored after login (later
// tokens are long-lived).
func replicas(t *testing.T, sts []store.Store) (*oidctest.Provider, []*harness, *session.Session) {
	t.Helper()
	op := oidctest.Start(t, oidctest.Options{AccessTokenTTL: 20 * time.Second})
	hs := make([]*harness, len(sts))
	for i, st := range sts {
		hs[i] = newHarness(t, harnessOpts{issuer: op.Issuer, clientSecret: op.ClientSecret, margin: 30 * time.Second, store: st})
	}
	op.SetRedirectURIs([]string{hs[0].url + PathCallback}, nil)
	for _, h := range hs {
		h.waitReady()
	}
	if r := hs[0].loginAtOP(op, "/"); r.StatusCode != http.StatusFound {
		t.Fatalf("login = %d %s", r.StatusCode, readBody(t, r))
	}
	s, err := hs[1].sessions.Load(t.Context(), hs[0].sessionCookie())
	if err != nil {
		t.Fatalf("second replica loading the session: %v", err)
	}
	if !hs[1].auth.needsRefresh(s) {
		t.Fatalf("session token expires %v, want it inside the refresh margin", s.AccessExpiresAt)
	}
	op.SetAccessTokenTTL(time.Hour)
	return op, hs, s
}

// sessionGet sends GET /api/x to replica h with the session cookie of the
// browser that logged in through replica login.
func sessionGet(t *testing.T, h, login *harness) *http.Response {
	t.Helper()
	return doWith(t, http.DefaultClient, http.MethodGet, h.url+"/api/x", nil,
		"Cookie", login.sessions.CookieName()+"="+login.sessionCookie(), "X-CSRF", "1")
}

// signal returns a hook closing the returned channel on its first call.
func signal() (func(), <-chan struct{}) {
	ch := make(chan struct{})
	var once sync.Once
	return func() { once.Do(func() { close(ch) }) }, ch
}

// waitFor fails the test if ch is not closed soon (a hang guard, not a timing assertion).
func waitFor(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// TestRefreshAcrossReplicas: two gateways on one store, 25 concurrent
// requests each at expiry, cause exactly one refresh grant at the OP; the
// replica that did not refresh waited on the store lock and forwarded the
// other's new token.
func TestRefreshAcrossReplicas(t *testing.T) {
	t.Parallel()
	for _, b := range replicatest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			op, hs, before := replicas(t, b.Open(t, 2))
			busy, busyCh := signal()
			for _, h := range hs {
				h.auth.onLockBusy = busy
			}
			cookie := hs[0].sessions.CookieName() + "=" + hs[0].sessionCookie()

			release := op.Hold()
			defer release()
			const perReplica = 25
			targets := make([]string, 2*perReplica)
			for i := range targets {
				targets[i] = hs[i%2].url + "/api/x"
			}
			wait := getAll(t, http.DefaultClient, targets, "Cookie", cookie, "X-CSRF", "1")
			// One replica's grant is at the OP (held) and the other replica
			// has found the session's lock taken: only then let the grant
			// finish. (Without the lock a second grant arrives instead.)
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second) // hang guard
			defer cancel()
			if err := op.WaitGrants(ctx, "refresh_token", 1); err != nil {
				t.Fatal(err)
			}
			second := make(chan struct{})
			go func() {
				if op.WaitGrants(ctx, "refresh_token", 2) == nil {
					close(second)
				}
			}()
			select {
			case <-busyCh:
			case <-second:
			case <-ctx.Done():
				t.Fatal("timed out waiting for a replica to find the refresh lock taken")
			}
			release()
			for i, c := range wait() {
				if c != http.StatusOK {
					t.Errorf("request %d (replica %d) = %d, want 200", i, i%2, c)
				}
			}
			if got := op.Grants("refresh_token"); got != 1 {
				t.Errorf("refresh_token grants at the OP from 2 replicas × %d requests = %d, want exactly 1", perReplica, got)
			}
			after, err := hs[1].sessions.Load(t.Context(), hs[0].sessionCookie())
			if err != nil {
				t.Fatal(err)
			}
			if after.AccessToken == before.AccessToken || after.RefreshToken == before.RefreshToken {
				t.Fatal("the session's tokens were not renewed and rotated")
			}
			for r, h := range hs {
				h.mu.Lock()
				for _, hit := range h.hits {
					if hit.Authorization != "Bearer "+after.AccessToken {
						t.Errorf("replica %d forwarded a request with a stale token", r)
						break
					}
				}
				h.mu.Unlock()
			}
		})
	}
}

// TestRefreshWaiterUsesOtherReplicasToken: while another replica holds the
// session's refresh lock, a request waits, re-reads the session, and uses
// the token that replica saved — without a grant of its own and before the
// lock is released.
func TestRefreshWaiterUsesOtherReplicasToken(t *testing.T) {
	t.Parallel()
	for _, b := range replicatest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			op, hs, s := replicas(t, b.Open(t, 2))
			// "Replica 0" takes the lock as its refresh would.
			lock, err := store.TryLock(t.Context(), hs[0].store, refreshLockKey(s.ID), refreshLockTTL)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = lock.Unlock(context.Background()) }()
			busy, busyCh := signal()
			hs[1].auth.onLockBusy = busy

			done := make(chan int, 1)
			wait := getAll(t, http.DefaultClient, []string{hs[1].url + "/api/x"},
				"Cookie", hs[0].sessions.CookieName()+"="+hs[0].sessionCookie(), "X-CSRF", "1")
			go func() { done <- wait()[0] }()
			waitFor(t, busyCh, "the request to find the refresh lock taken")

			// "Replica 0" saves the renewed token, still holding the lock.
			s.AccessToken, s.AccessExpiresAt = "renewed-by-replica-0", time.Now().Add(time.Hour)
			if err := hs[0].sessions.Save(t.Context(), s); err != nil {
				t.Fatal(err)
			}
			if code := <-done; code != http.StatusOK {
				t.Fatalf("waiting request = %d, want 200", code)
			}
			if hit, _ := hs[1].lastHit(); hit.Authorization != "Bearer renewed-by-replica-0" {
				t.Errorf("waiting request forwarded %q, want the other replica's token", hit.Authorization)
			}
			if got := op.Grants("refresh_token"); got != 0 {
				t.Errorf("refresh grants = %d, want 0 (the other replica refreshed)", got)
			}
			if held, err := lock.Held(t.Context()); err != nil || !held {
				t.Errorf("the other replica's lock: held %v, %v; want still held (a waiter never breaks it)", held, err)
			}
		})
	}
}

func TestRefreshLockKeyHidesSessionID(t *testing.T) {
	t.Parallel()
	const id = "c2Vzc2lvbi1pZC0xMjM0NTY3ODkwMTIzNDU2Nzg5MDEy"
	k := refreshLockKey(id)
	if k == refreshLockKey(id+"x") || len(k) < len("lock:refresh:")+40 {
		t.Errorf("refreshLockKey(%q) = %q, want a distinct digest per session", id, k)
	}
	for _, part := range []string{id, id[:16], id[len(id)-16:]} {
		if strings.Contains(k, part) {
			t.Errorf("refreshLockKey(%q) = %q, want it not to contain the session id", id, k)
		}
	}
}

// TestRefreshLockOfCrashedReplica: a replica took the session's refresh
// lock and died; once the lock's TTL has passed, the next request takes it
// and refreshes (one grant), instead of waiting forever.
func TestRefreshLockOfCrashedReplica(t *testing.T) {
	t.Parallel()
	op, hs, s := replicas(t, replicatest.Backends()[0].Open(t, 2))
	if _, err := store.TryLock(t.Context(), hs[0].store, refreshLockKey(s.ID), 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	r := sessionGet(t, hs[1], hs[0])
	if r.StatusCode != http.StatusOK || op.Grants("refresh_token") != 1 {
		t.Fatalf("request after the dead replica's lock expired = %d with %d grants, want 200 and 1", r.StatusCode, op.Grants("refresh_token"))
	}
	after, err := hs[1].sessions.Load(t.Context(), hs[0].sessionCookie())
	if err != nil {
		t.Fatal(err)
	}
	if hit, _ := hs[1].lastHit(); after.AccessToken == s.AccessToken || hit.Authorization != "Bearer "+after.AccessToken {
		t.Errorf("forwarded %q, want the refreshed token", hit.Authorization)
	}
}

// TestRefreshLockWaitBounded: while another replica holds the lock beyond
// the wait bound, a request is served with the still-valid token (no grant,
// no retry backoff: the IdP did not fail), and once the token has expired
// it gets 503 JSON, never a hang.
func TestRefreshLockWaitBounded(t *testing.T) {
	t.Parallel()
	op, hs, s := replicas(t, replicatest.Backends()[0].Open(t, 2))
	lock, err := store.TryLock(t.Context(), hs[0].store, refreshLockKey(s.ID), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = lock.Unlock(context.Background()) }()
	a := hs[1].auth
	a.lockWait = 50 * time.Millisecond

	r := sessionGet(t, hs[1], hs[0])
	if hit, _ := hs[1].lastHit(); r.StatusCode != http.StatusOK || hit.Authorization != "Bearer "+s.AccessToken {
		t.Fatalf("token still valid, lock busy = %d forwarding %q; want 200 with the current token", r.StatusCode, hit.Authorization)
	}
	if !a.retry.allowed(s.ID, a.now()) {
		t.Error("a busy lock started the IdP retry backoff")
	}

	now := s.AccessExpiresAt.Add(time.Second)
	a.now = func() time.Time { return now }
	r = sessionGet(t, hs[1], hs[0])
	if body := readBody(t, r); r.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, `"error"`) {
		t.Errorf("token expired, lock busy = %d %s, want 503 JSON", r.StatusCode, body)
	}
	if got := op.Grants("refresh_token"); got != 0 {
		t.Errorf("refresh grants while another replica held the lock = %d, want 0", got)
	}
	if held, err := lock.Held(t.Context()); err != nil || !held {
		t.Errorf("the other replica's lock: held %v, %v; want still held", held, err)
	}
}
