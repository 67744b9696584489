package ratelimit

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	redisstore "github.com/gatehouse-dev/gatehouse/internal/store/redis"
	"github.com/gatehouse-dev/gatehouse/internal/store/redistest"
	"github.com/gatehouse-dev/gatehouse/plugins"
	"github.com/gatehouse-dev/gatehouse/plugins/plugintest"
)

// replica is one gateway instance's rate_limit route on a shared Redis.
type replica struct {
	app  *fiber.App
	hits *atomic.Int64
}

// newReplica builds the plugin the way New will with spec.Store set: each
// replica has its own Redis client, as separate processes would.
func newReplica(t *testing.T, url, block string, hits *atomic.Int64) replica {
	t.Helper()
	spec := plugintest.Spec(t, block)
	spec.Store = url
	cfg, err := parse(spec)
	if err != nil {
		t.Fatalf("parse(%q) = %v", block, err)
	}
	lim, err := NewLimiter(spec, Policy{Rate: cfg.Rate, Per: cfg.Per.D(), Burst: cfg.Burst}, cfg.MaxKeys)
	if err != nil {
		t.Fatalf("NewLimiter(%q) = %v", redisstore.Redact(url), err)
	}
	if _, ok := lim.(*Redis); !ok {
		t.Fatalf("NewLimiter(%q) = %T, want *Redis", redisstore.Redact(url), lim)
	}
	app := plugintest.NewApp(newMiddleware(spec, cfg, lim), func(c *fiber.Ctx) error {
		hits.Add(1)
		return c.SendString("ok")
	}, map[string]*plugins.Identity{
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

func TestRedisRoutesAndKeysApart(t *testing.T) {
	srv := redistest.New(t)
	rdb, err := redisstore.NewClient(srv.URL(0), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	pol := Policy{Rate: 1, Per: time.Hour, Burst: 1}
	users, orders := NewRedis(rdb, "users", pol, RedisOptions{}), NewRedis(rdb, "orders", pol, RedisOptions{})
	ctx := t.Context()
	for _, tc := range []struct {
		name string
		lim  *Redis
		key  string
		want bool
	}{
		{"first on users", users, "s:secret-session-id", true},
		{"second on users", users, "s:secret-session-id", false},
		{"same key, other route", orders, "s:secret-session-id", true},
		{"other key, same route", users, "s:another", true},
	} {
		d, err := tc.lim.Allow(ctx, tc.key)
		if err != nil || d.Allowed != tc.want {
			t.Errorf("%s: Allow(%q) = %+v, %v, want allowed=%v", tc.name, tc.key, d, err, tc.want)
		}
		if !tc.want && (d.RetryAfter <= 0 || d.Remaining != 0) {
			t.Errorf("%s: denied decision %+v, want RetryAfter > 0 and Remaining 0", tc.name, d)
		}
	}
	// Bucket keys are hashes: a Redis dump shows no session id.
	keys, err := rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 3 {
		t.Errorf("KEYS * = %q, want 3 buckets", keys)
	}
	for _, k := range keys {
		if strings.Contains(k, "secret") || !strings.HasPrefix(k, "rate:"+DefaultRedisPrefix) {
			t.Errorf("bucket key %q: want rate:%s<route>:<hash>, without the session id", k, DefaultRedisPrefix)
		}
	}
}

// TestRedisDownFailsThenRecovers: with Redis stopped Allow returns an error
// (the plugin then fails open, see TestBackendErrorFailsOpen); once Redis is
// back the same limiter works without being rebuilt.
func TestRedisDownFailsThenRecovers(t *testing.T) {
	srv := redistest.New(t)
	rdb, err := redisstore.NewClient(srv.URL(0), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	lim := NewRedis(rdb, "r", Policy{Rate: 1, Per: time.Hour, Burst: 5}, RedisOptions{Timeout: 500 * time.Millisecond})
	srv.Stop()
	if d, err := lim.Allow(t.Context(), "k"); err == nil {
		t.Fatalf("Allow(Redis down) = %+v, nil, want an error", d)
	}
	srv.Start()
	end := time.Now().Add(15 * time.Second)
	for {
		d, err := lim.Allow(t.Context(), "k")
		if err == nil {
			if !d.Allowed {
				t.Errorf("Allow after restart = %+v, want allowed", d)
			}
			return
		}
		if time.Now().After(end) {
			t.Fatalf("Allow still failing 15s after Redis restarted: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestNewLimiter(t *testing.T) {
	for _, tc := range []struct {
		name    string
		store   string
		want    string // the backend type
		wantErr string
	}{
		{"default", "", "*ratelimit.Memory", ""},
		{"memory", "memory", "*ratelimit.Memory", ""},
		{"redis", "redis://127.0.0.1:6379/0", "*ratelimit.Redis", ""},
		{"rediss", "rediss://:pw@127.0.0.1:6380/0", "*ratelimit.Redis", ""},
		{"bad redis URL", "redis://:hunter2@127.0.0.1:6379/x", "", "invalid database number"},
		{"unknown store", "etcd://:hunter2@h", "", "unsupported store"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := plugintest.Spec(t, "rate: 1")
			spec.Store = tc.store
			lim, err := NewLimiter(spec, Policy{Rate: 1, Per: time.Second, Burst: 1}, 10)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || strings.Contains(err.Error(), "hunter2") {
					t.Fatalf("NewLimiter(%q) = %v, want an error containing %q without the password", tc.store, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewLimiter(%q) = %v", tc.store, err)
			}
			if got := fmt.Sprintf("%T", lim); got != tc.want {
				t.Errorf("NewLimiter(%q) = %s, want %s", tc.store, got, tc.want)
			}
		})
	}
}

func BenchmarkRedisAllow(b *testing.B) {
	srv := redistest.New(b)
	rdb, err := redisstore.NewClient(srv.URL(0), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer rdb.Close()
	lim := NewRedis(rdb, "bench", Policy{Rate: 1_000_000_000, Per: time.Second, Burst: 1_000_000_000}, RedisOptions{})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := lim.Allow(ctx, "s:QmFzZTY0U2Vzc2lvbklkZW50aWZpZXIwMTIzNDU2Nzg"); err != nil {
			b.Fatal(err)
		}
	}
}
