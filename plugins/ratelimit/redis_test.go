package ratelimit

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-dev/gatehouse/backend"
	redisbackend "github.com/gatehouse-dev/gatehouse/internal/backend/redis"
	redisstore "github.com/gatehouse-dev/gatehouse/internal/store/redis"
	"github.com/gatehouse-dev/gatehouse/internal/store/redistest"
	"github.com/gatehouse-dev/gatehouse/plugins/plugintest"
	"github.com/gatehouse-dev/gatehouse/request"
)

// replica is one gateway instance's rate_limit route on a shared Redis.
type replica struct {
	app  *fiber.App
	hits *atomic.Int64
}

// newReplica builds the plugin the way the server does on a Redis store:
// each replica has its own Redis client, as separate processes would.
func newReplica(t *testing.T, url, block string, hits *atomic.Int64) replica {
	t.Helper()
	rdb, err := redisstore.NewClient(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	spec := plugintest.Spec(t, block)
	spec.Backends = redisbackend.Backends{Client: rdb, Prefix: redisbackend.Prefix(Name, spec.Route.Name)}
	cfg, err := parse(spec)
	if err != nil {
		t.Fatalf("parse(%q) = %v", block, err)
	}
	lim, err := spec.Backends.Limiter(backend.LimiterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	app := plugintest.NewApp(newMiddleware(spec, cfg, lim), func(c *fiber.Ctx) error {
		hits.Add(1)
		return c.SendString("ok")
	}, map[string]*request.Identity{
		"alice": {SessionID: "sess-alice", Subject: "alice"},
		"bob":   {SessionID: "sess-bob", Subject: "bob"},
	})
	return replica{app: app, hits: hits}
}

func (r replica) get(t *testing.T, identity string) *http.Response {
	t.Helper()
	resp, _ := plugintest.Do(t, r.app, withIdentity(httptest.NewRequest(http.MethodGet, "/api", nil), identity))
	return resp
}

// TestRedisTwoReplicasShareOneBudget: 2 replicas x 10 concurrent requests of
// one session against a burst of 10 let exactly 10 through, not 20.
func TestRedisTwoReplicasShareOneBudget(t *testing.T) {
	t.Parallel()
	srv := redistest.New(t)
	var hits atomic.Int64
	replicas := []replica{
		newReplica(t, srv.URL(0), "{rate: 1, per: 1h, burst: 10}", &hits),
		newReplica(t, srv.URL(0), "{rate: 1, per: 1h, burst: 10}", &hits),
	}
	var (
		wg      sync.WaitGroup
		limited atomic.Int64
		start   = make(chan struct{})
	)
	for i := range 20 {
		wg.Go(func() {
			<-start
			switch resp := replicas[i%2].get(t, "alice"); resp.StatusCode {
			case http.StatusTooManyRequests:
				limited.Add(1)
			case http.StatusOK:
			default:
				t.Errorf("status = %d, want 200 or 429", resp.StatusCode)
			}
		})
	}
	close(start)
	wg.Wait()
	if hits.Load() != 10 || limited.Load() != 10 {
		t.Errorf("2 replicas x 10 requests, burst 10: %d reached the upstream, %d got 429; want 10 and 10", hits.Load(), limited.Load())
	}
	// Another session has its own budget on both replicas.
	for _, r := range replicas {
		if resp := r.get(t, "bob"); resp.StatusCode != http.StatusOK {
			t.Errorf("bob: status = %d, want 200", resp.StatusCode)
		}
	}
}

// TestRedisHeadersMatchMemory: the same requests get the same status and
// RateLimit fields from both backends (t and Retry-After may differ by the
// one second that real time can add to the rounding).
func TestRedisHeadersMatchMemory(t *testing.T) {
	t.Parallel()
	srv := redistest.New(t)
	const block = "{rate: 1, per: 1h, burst: 3}"
	mem := newHarness(t, block)
	var hits atomic.Int64
	red := newReplica(t, srv.URL(0), block, &hits)
	for i := range 5 {
		want, got := mem.get(t, "alice"), red.get(t, "alice")
		if got.StatusCode != want.StatusCode {
			t.Fatalf("request %d: status = %d, want %d (memory)", i+1, got.StatusCode, want.StatusCode)
		}
		if g, w := got.Header.Get("RateLimit-Policy"), want.Header.Get("RateLimit-Policy"); g != w {
			t.Errorf("request %d: RateLimit-Policy = %q, want %q", i+1, g, w)
		}
		gr, gt := fields(t, got.Header.Get("RateLimit"))
		wr, wt := fields(t, want.Header.Get("RateLimit"))
		if gr != wr || gt < wt-1 || gt > wt {
			t.Errorf("request %d: RateLimit = %q, want %q", i+1, got.Header.Get("RateLimit"), want.Header.Get("RateLimit"))
		}
		if want.StatusCode == http.StatusTooManyRequests {
			g, _ := strconv.Atoi(got.Header.Get("Retry-After"))
			w, _ := strconv.Atoi(want.Header.Get("Retry-After"))
			if g < w-1 || g > w || g < 1 {
				t.Errorf("request %d: Retry-After = %q, want %q", i+1, got.Header.Get("Retry-After"), want.Header.Get("Retry-After"))
			}
		}
	}
}

// fields parses `"default";r=R;t=T`.
func fields(t *testing.T, v string) (r, tt int) {
	t.Helper()
	parts := strings.Split(v, ";")
	if len(parts) != 3 || parts[0] != policyName || !strings.HasPrefix(parts[1], "r=") || !strings.HasPrefix(parts[2], "t=") {
		t.Fatalf("RateLimit = %q, want \"default\";r=N;t=N", v)
	}
	r, _ = strconv.Atoi(parts[1][2:])
	tt, _ = strconv.Atoi(parts[2][2:])
	return r, tt
}
