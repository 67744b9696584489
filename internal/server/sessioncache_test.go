package server

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/oidc/oidctest"
	"github.com/gatehouse-dev/gatehouse/internal/store/rediscache"
	"github.com/gatehouse-dev/gatehouse/internal/store/redistest"
)

// TestReplicasLogoutSeenAtOnce: two gateways on one real redis-server,
// each loading sessions through its local session cache. The browser logs
// out on A; the old cookie's very next request on B, sent as soon as A has
// answered, is 401, although B had the session cached.
func TestReplicasLogoutSeenAtOnce(t *testing.T) {
	t.Parallel()
	redis := redistest.New(t)
	lnA, lnB := listen(t), listen(t)
	public := "http://" + lnA.Addr().String()
	op := oidctest.Start(t, oidctest.Options{RedirectURIs: []string{public + "/auth/callback"}})
	api := newRecorder(t)
	env := map[string]string{"PUBLIC": public, "ISSUER": op.Issuer, "SECRET": op.ClientSecret,
		"API": api.URL, "STORE": redis.URL(0)}
	_, baseA := serve(t, loadConfig(t, "replicas.yaml", env), lnA)
	srvB, baseB := serve(t, loadConfig(t, "replicas.yaml", env), lnB)
	cache, ok := srvB.state.sessions.(*rediscache.Store)
	if !ok {
		t.Fatalf("replica B's session store is %T, want the Redis session cache", srvB.state.sessions)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second) // a hang guard
	defer cancel()
	if err := cache.WaitTracking(ctx); err != nil {
		t.Fatal(err)
	}

	a := newBrowser(t, baseA)
	a.waitReady()
	cookie := a.login(op, "/")
	onB := func() int {
		t.Helper()
		req, _ := http.NewRequest("GET", baseB+"/api/x", nil)
		req.Header.Set("X-CSRF", "1")
		req.AddCookie(cookie)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for range 2 { // loaded, then served from B's cache
		if code := onB(); code != http.StatusOK {
			t.Fatalf("session on replica B = %d, want 200", code)
		}
	}
	if cache.Len() == 0 {
		t.Fatal("replica B cached no session")
	}
	if resp := a.do("POST", "/auth/logout", "X-CSRF", "1"); resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /auth/logout on A = %d %s", resp.StatusCode, bodyOf(resp))
	}
	if code := onB(); code != http.StatusUnauthorized {
		t.Fatalf("the logged-out cookie on replica B = %d, want 401 at once", code)
	}
}
