package server

import (
	"net/http"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/store/redistest"
)

// TestLogoutWhileStoreDown: a logout while the session store is down answers
// 503 and leaves the browser its cookie (the session lives on in the store;
// clearing the cookie would leave it there, unreachable, until it expires);
// once the store is back the same logout ends the session.
func TestLogoutWhileStoreDown(t *testing.T) {
	t.Parallel()
	redis := redistest.New(t)
	ln := listen(t)
	env, op := storesEnv(t, ln, redis.URL(0))
	cfg := loadConfig(t, "stores.yaml", env)
	_, base := serve(t, cfg, ln)
	b := newBrowser(t, base)
	b.waitReady()
	b.login(op, "/")

	redis.Freeze() // down but keeping its data: the session lives on
	resp := b.do("POST", "/auth/logout", "X-CSRF", "1")
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("logout with the store down = %d %s, want 503", resp.StatusCode, bodyOf(resp))
	}
	if sc := resp.Header.Values("Set-Cookie"); len(sc) != 0 {
		t.Fatalf("logout with the store down cleared cookies: %q", sc)
	}

	redis.Thaw()
	if resp := b.do("POST", "/auth/logout", "X-CSRF", "1"); resp.StatusCode != http.StatusOK {
		t.Fatalf("logout once the store is back = %d %s, want 200", resp.StatusCode, bodyOf(resp))
	}
	if resp := b.do("GET", "/api/x", "X-CSRF", "1"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the session outlived its logout: %d", resp.StatusCode)
	}
}
