package server

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/oidc/oidctest"
	"github.com/gatehouse-dev/gatehouse/internal/store/redistest"
	"github.com/gatehouse-dev/gatehouse/plugins"
	"github.com/gatehouse-dev/gatehouse/request"
)

// TestHangingIdPEndsAtTheRouteDeadline: a session whose access token needs
// refreshing, an IdP whose token endpoint hangs; the request ends at the
// route's timeout (500ms) with a clean 503, not after the refresh's own
// timeout (8s and more): the refresh waits on the request's context.
func TestHangingIdPEndsAtTheRouteDeadline(t *testing.T) {
	t.Parallel()
	ln := listen(t)
	public := "http://" + ln.Addr().String()
	op := oidctest.Start(t, oidctest.Options{RedirectURIs: []string{public + "/auth/callback"}})
	api := newRecorder(t)
	cfg := loadConfig(t, "deadline.yaml", map[string]string{
		"PUBLIC": public, "ISSUER": op.Issuer, "SECRET": op.ClientSecret, "API": api.URL})
	serve(t, cfg, ln)
	b := newBrowser(t, public)
	b.waitReady()
	// Tokens live 1s, inside the 30s refresh margin: every request refreshes.
	op.SetAccessTokenTTL(time.Second)
	b.login(op, "/")
	release := op.Hold()
	defer release()

	// The guard: far above the route's 500ms, far below the refresh's 8s.
	b.client.Timeout = 4 * time.Second
	resp := b.do("GET", "/api/orders", "X-CSRF", "1")
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("GET with a hanging IdP = %d %s, want 503", resp.StatusCode, bodyOf(resp))
	}
	if msg := errorOf(t, bodyOf(resp)); msg != "identity provider unavailable" {
		t.Errorf("error %q", msg)
	}
}

func init() {
	// test_context answers with what the request's context carries.
	plugins.Register(plugins.Plugin{
		Name: "test_context", Phase: plugins.PhaseRewrite,
		New: func(plugins.Spec) (plugins.Middleware, error) {
			return func(fiber.Handler) fiber.Handler {
				return func(c *fiber.Ctx) error {
					ctx := c.UserContext()
					deadline, ok := ctx.Deadline()
					return c.JSON(fiber.Map{
						"id":          request.IDFrom(ctx),
						"hasDeadline": ok,
						"withinRoute": ok && time.Until(deadline) <= 750*time.Millisecond,
					})
				}
			}, nil
		},
	})
}

// TestRequestContextCarriesIDAndDeadline: what a plugin sees as
// c.UserContext() carries the request id and the route's deadline
// (timeout: 750ms).
func TestRequestContextCarriesIDAndDeadline(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, "api")
	cfg := loadConfig(t, "context.yaml", map[string]string{"API": up.URL})
	_, base := serve(t, cfg, listen(t))
	req, _ := http.NewRequest("GET", base+"/api/x", nil)
	req.Header.Set("X-Request-Id", "ctx-test-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct {
		ID                       string
		HasDeadline, WithinRoute bool
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if got.ID != "ctx-test-1" || !got.HasDeadline || !got.WithinRoute {
		t.Errorf("the request's context: %+v, want its id and the route's deadline", got)
	}
}

// TestHangingStoreEndsAtTheRouteDeadline: a session store that accepts and
// never answers (a real redis-server, suspended) ends a session request at
// the route's timeout (300ms) with a clean 503, not after the store's own
// timeouts (here a 5s read timeout; the whole call is bounded at 2s): the
// session load takes the request's context.
func TestHangingStoreEndsAtTheRouteDeadline(t *testing.T) {
	t.Parallel()
	redis := redistest.New(t)
	ln := listen(t)
	env, _ := storesEnv(t, ln, redis.URL(0)+"?read_timeout=5s")
	cfg := loadConfig(t, "stores.yaml", env)
	cfg.Routes[0].Timeout = config.Duration(300 * time.Millisecond) // the session route "api"
	_, base := serve(t, cfg, ln)
	b := newBrowser(t, base)
	b.waitReady()
	cookie := mintCookie(t, cfg)
	redis.Freeze()
	defer redis.Thaw()

	// The guard: far above the route's 300ms, below the store's 2s bound.
	b.client.Timeout = 1500 * time.Millisecond
	resp := b.do("GET", "/api/x", "X-CSRF", "1", "Cookie", cookie.String())
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("GET with a hanging store = %d %s, want 503", resp.StatusCode, bodyOf(resp))
	}
	if msg := errorOf(t, bodyOf(resp)); msg != "session store unavailable" {
		t.Errorf("error %q", msg)
	}
}
