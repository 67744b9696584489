package server

import (
	"net/http"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/oidc/oidctest"
	"github.com/gatehouse-dev/gatehouse/internal/store/redistest"
)

// TestReplicasShareRedis runs two gateways on one real redis-server, as two
// replicas behind a load balancer: a session made on one works on the other,
// they enforce one rate limit and share one cache, Redis going away gives a
// clean 503 and coming back heals, and a restarted replica keeps the sessions.
func TestReplicasShareRedis(t *testing.T) {
	t.Parallel()
	// Persistence on, so that a Redis restart keeps the data, as a
	// production Redis does (the test helper defaults to none).
	redis := redistest.New(t, redistest.WithArgs("--appendonly", "yes", "--appendfsync", "always"))
	lnA, lnB := listen(t), listen(t)
	public := "http://" + lnA.Addr().String() // the load balancer's origin
	op := oidctest.Start(t, oidctest.Options{RedirectURIs: []string{public + "/auth/callback"}})
	api := newRecorder(t)
	env := map[string]string{"PUBLIC": public, "ISSUER": op.Issuer, "SECRET": op.ClientSecret,
		"API": api.URL, "STORE": redis.URL(0)}
	_, baseA := serve(t, loadConfig(t, "replicas.yaml", env), lnA)
	srvB, baseB := serve(t, loadConfig(t, "replicas.yaml", env), lnB)

	a := newBrowser(t, baseA)
	a.waitReady()
	cookie := a.login(op, "/")

	// callOn sends the browser's request to one replica.
	callOn := func(base, path string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("X-CSRF", "1")
		req.AddCookie(cookie)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s%s: %v", base, path, err)
		}
		resp.Body.Close()
		return resp
	}

	if resp := callOn(baseB, "/api/x"); resp.StatusCode != 200 {
		t.Fatalf("session from replica A on replica B = %d, want 200", resp.StatusCode)
	}

	// One budget of 3 for the session, whichever replica answers.
	var statuses []int
	for i, base := range []string{baseA, baseB, baseA, baseB} {
		resp := callOn(base, "/limited/x")
		statuses = append(statuses, resp.StatusCode)
		if i == 3 && resp.Header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
	}
	if want := []int{200, 200, 200, 429}; !equalInts(statuses, want) {
		t.Errorf("alternating replicas under a burst of 3 = %v, want %v (one shared limit)", statuses, want)
	}

	// One cache: filled through A, served by B.
	if resp := callOn(baseA, "/cached/x"); resp.Header.Get("X-Cache") != "MISS" {
		t.Errorf("first GET X-Cache = %q, want MISS", resp.Header.Get("X-Cache"))
	}
	if resp := callOn(baseB, "/cached/x"); resp.Header.Get("X-Cache") != "HIT" {
		t.Errorf("GET on the other replica X-Cache = %q, want HIT", resp.Header.Get("X-Cache"))
	}

	// Redis goes away: a clean 503, not a hang, a panic or a 401 that
	// would log the user out; readiness says so. It comes back: all is well.
	redis.Stop()
	if resp := callOn(baseA, "/api/x"); resp.StatusCode != 503 {
		t.Errorf("session route with Redis down = %d, want 503", resp.StatusCode)
	}
	srvB.ready.mu.Lock()
	srvB.ready.checks = nil
	srvB.ready.mu.Unlock()
	if resp := callOn(baseB, "/readyz"); resp.StatusCode != 503 {
		t.Errorf("/readyz with Redis down = %d, want 503", resp.StatusCode)
	}
	redis.Start()
	if resp := callOn(baseB, "/api/x"); resp.StatusCode != 200 {
		t.Errorf("session route after Redis came back = %d, want 200", resp.StatusCode)
	}

	// A new replica process (a restart) serves the existing session.
	_, baseC := serve(t, loadConfig(t, "replicas.yaml", env), listen(t))
	if resp := callOn(baseC, "/api/x"); resp.StatusCode != 200 {
		t.Errorf("session on a restarted replica = %d, want 200", resp.StatusCode)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
