package cache

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gatehouse-dev/gatehouse/backend"
	"github.com/gatehouse-dev/gatehouse/httperr"
	redisbackend "github.com/gatehouse-dev/gatehouse/internal/backend/redis"
	redisstore "github.com/gatehouse-dev/gatehouse/internal/store/redis"
	"github.com/gatehouse-dev/gatehouse/internal/store/redistest"
	"github.com/gatehouse-dev/gatehouse/plugins"
	"github.com/gatehouse-dev/gatehouse/plugins/plugintest"
)

// testSessionSecret stands for session.secret in these tests.
const testSessionSecret = "0123456789abcdef0123456789abcdef"

// testKey is the key the gateway gives the cache plugin of route "test".
var testKey = plugins.DeriveSecret(testSessionSecret, "cache", "test")

// sampleEntries are entries of every shape the plugin stores.
func sampleEntries() map[string]*Entry {
	now := time.Unix(1_800_000_000, 123456789)
	return map[string]*Entry{
		"full": {
			Status: 200,
			Header: []Field{
				{Name: []byte("Content-Type"), Value: []byte("application/json")},
				{Name: []byte("Set-Cookie-Free"), Value: []byte("")},
				{Name: []byte("X-Many"), Value: []byte("a")},
				{Name: []byte("X-Many"), Value: []byte("b")},
			},
			Body:       []byte(`{"users":[1,2,3]}`),
			Stored:     now,
			Expires:    now.Add(30 * time.Second),
			InitialAge: 7 * time.Second,
			Path:       "/api/users",
			Vary:       []string{"Accept-Language"},
		},
		"vary marker": {Path: "/api/users", Vary: []string{"Accept", "Accept-Encoding"}, Stored: now, Expires: now.Add(time.Minute)},
		"empty body":  {Status: 204, Body: []byte{}, Stored: now, Expires: now.Add(time.Second), Path: "/"},
		"binary body": {Status: 200, Body: []byte{0, 1, 2, 0xff, 0xfe}, Stored: now, Expires: now.Add(time.Hour), Path: "/bin"},
	}
}

// entryDiff describes how got differs from want ("" when equal): times
// compared as instants (time.Time.Equal), nil and empty slices alike.
func entryDiff(want, got *Entry) string {
	if d := cmp.Diff(want, got, cmpopts.EquateEmpty()); d != "" {
		return "(-want +got)\n" + d
	}
	return ""
}

func TestEntryCodecRoundTrip(t *testing.T) {
	t.Parallel()
	for name, e := range sampleEntries() {
		t.Run(name, func(t *testing.T) {
			got, err := decodeEntry(encodeEntry(e))
			if err != nil {
				t.Fatalf("decodeEntry(encodeEntry(e)) = %v", err)
			}
			if diff := entryDiff(e, got); diff != "" {
				t.Errorf("round trip: %s", diff)
			}
		})
	}
}

func TestEntryCodecRejects(t *testing.T) {
	t.Parallel()
	good := encodeEntry(sampleEntries()["full"])
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"other version", append([]byte{2}, good[1:]...)},
		{"truncated", good[:len(good)-1]},
		{"trailing bytes", append(bytes.Clone(good), 0)},
		{"huge header count", []byte{entryVersion, 200, 1, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}},
		{"length past the end", []byte{entryVersion, 200, 1, 0, 0, 0, 10, 'a'}},
		{"status out of range", []byte{entryVersion, 0xe8, 0x07, 0, 0, 0, 0, 0, 0, 0}},
		{"bad varint", []byte{entryVersion, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if e, err := decodeEntry(tc.in); err == nil {
				t.Errorf("decodeEntry(%x) = %+v, nil, want an error", tc.in, e)
			}
		})
	}
}

// FuzzDecodeEntry: no input panics the decoder, and whatever decodes
// survives a re-encoding unchanged.
func FuzzDecodeEntry(f *testing.F) {
	for _, e := range sampleEntries() {
		f.Add(encodeEntry(e))
	}
	f.Add([]byte{})
	f.Add([]byte{entryVersion})
	f.Fuzz(func(t *testing.T, in []byte) {
		e, err := decodeEntry(in)
		if err != nil {
			return
		}
		again, err := decodeEntry(encodeEntry(e))
		if err != nil {
			t.Fatalf("decodeEntry(encodeEntry(decoded)) = %v", err)
		}
		if diff := entryDiff(e, again); diff != "" {
			t.Fatalf("re-encoding changed the entry: %s", diff)
		}
	})
}

// newRedisBackend opens the plugin's Backend of route "test" on the Redis at
// url with its own client (as a replica would), keyed as the gateway keys it
// (testKey).
func newRedisBackend(t *testing.T, url string, block string) (*entries, Config) {
	t.Helper()
	spec, cfg := redisSpec(t, url, block)
	c, err := spec.Backends.Cache(backend.CacheOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return newEntries(c, int64(cfg.MaxEntryBytes), nil), cfg
}

// redisSpec is the spec of the cache plugin of route "test" on the Redis at
// url, with a client of its own, as the server builds it.
func redisSpec(t *testing.T, url, block string) (plugins.Spec, Config) {
	t.Helper()
	rdb, err := redisstore.NewClient(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	spec := plugintest.Spec(t, block)
	spec.Secret = testKey
	spec.Backends = redisbackend.Backends{Client: rdb, Prefix: redisbackend.Prefix(Name, spec.Route.Name), Key: testKey}
	cfg, err := parse(spec)
	if err != nil {
		t.Fatalf("parse(%q) = %v", block, err)
	}
	return spec, cfg
}

// newRedisApp runs a private cache ("ttl: 1m") of route "test" on the Redis
// at url, keyed with testKey, in front of upstream.
func newRedisApp(t *testing.T, url string, upstream fiber.Handler) *fiber.App {
	t.Helper()
	spec, _ := redisSpec(t, url, "ttl: 1m")
	mw, err := New(spec)
	if err != nil {
		t.Fatal(err)
	}
	return plugintest.NewApp(mw, upstream, identities)
}

func freshEntry(path, body string, ttl time.Duration) *Entry {
	now := time.Now()
	return &Entry{Status: 200, Body: []byte(body), Stored: now, Expires: now.Add(ttl), Path: path,
		Header: []Field{{Name: []byte("Content-Type"), Value: []byte("text/plain")}}}
}

// TestRedisTwoInstancesShareEntries: what one replica stores the other
// finds, and an invalidation on either removes it for both.
func TestRedisTwoInstancesShareEntries(t *testing.T) {
	t.Parallel()
	srv := redistest.New(t)
	a, _ := newRedisBackend(t, srv.URL(0), "ttl: 1m")
	b, _ := newRedisBackend(t, srv.URL(0), "ttl: 1m")
	ctx := t.Context()
	users, usersQ, orders := freshEntry("/api/users", "u", time.Minute), freshEntry("/api/users", "u?q", time.Minute), freshEntry("/api/orders", "o", time.Minute)
	for key, e := range map[string]*Entry{"k-users": users, "k-users-q": usersQ, "k-orders": orders} {
		if err := a.Set(ctx, key, e); err != nil {
			t.Fatalf("a.Set(%q) = %v", key, err)
		}
	}
	got, ok, err := b.Get(ctx, "k-users")
	if err != nil || !ok {
		t.Fatalf("b.Get(k-users) = %v, %v, want the entry a stored", ok, err)
	}
	if diff := entryDiff(users, got); diff != "" {
		t.Errorf("b.Get(k-users): %s", diff)
	}
	if err := b.DeletePath(ctx, "/api/users"); err != nil {
		t.Fatalf("b.DeletePath = %v", err)
	}
	for _, tc := range []struct {
		key  string
		want bool
	}{{"k-users", false}, {"k-users-q", false}, {"k-orders", true}} {
		if _, ok, err := a.Get(ctx, tc.key); ok != tc.want || err != nil {
			t.Errorf("a.Get(%q) after DeletePath(/api/users) = %v, %v, want %v, nil", tc.key, ok, err, tc.want)
		}
	}
	if err := a.DeletePath(ctx, "/never/cached"); err != nil {
		t.Errorf("DeletePath(uncached path) = %v, want nil", err)
	}
}

// TestRedisReplicasThroughThePlugin runs two replicas' cache middleware on
// one Redis: a miss on one is a hit on the other; a POST on the other
// invalidates for both.
func TestRedisReplicasThroughThePlugin(t *testing.T) {
	t.Parallel()
	srv := redistest.New(t)
	var upstream atomic.Int64
	replica := func() *fiber.App {
		// Both replicas get testKey: the same session.secret.
		return newRedisApp(t, srv.URL(0), func(c *fiber.Ctx) error {
			return c.SendString(fmt.Sprint("response ", upstream.Add(1)))
		})
	}
	apps := []*fiber.App{replica(), replica()}
	do := func(app int, method, identity string) (string, string) {
		req := httptest.NewRequest(method, "/api/users?page=1", nil)
		req.Header.Set(plugintest.IdentityHeader, identity)
		resp, body := plugintest.Do(t, apps[app], req)
		return resp.Header.Get("X-Cache"), body
	}
	for i, step := range []struct {
		app              int
		method, identity string
		wantX, wantBody  string
	}{
		{0, http.MethodGet, "alice", "MISS", "response 1"},
		{1, http.MethodGet, "alice", "HIT", "response 1"},
		{1, http.MethodGet, "bob", "MISS", "response 2"}, // private: per session
		{0, http.MethodGet, "bob", "HIT", "response 2"},
		{1, http.MethodPost, "alice", "", "response 3"},
		{0, http.MethodGet, "alice", "MISS", "response 4"},
		{0, http.MethodGet, "bob", "MISS", "response 5"},
		{1, http.MethodGet, "alice", "HIT", "response 4"},
	} {
		x, body := do(step.app, step.method, step.identity)
		if x != step.wantX || body != step.wantBody {
			t.Errorf("step %d: %s by %s on replica %d = X-Cache %q, %q; want %q, %q",
				i+1, step.method, step.identity, step.app, x, body, step.wantX, step.wantBody)
		}
	}
}

func TestRedisSizeAndTTL(t *testing.T) {
	t.Parallel()
	srv := redistest.New(t)
	r, cfg := newRedisBackend(t, srv.URL(0), "ttl: 1m\nmax_bytes: 1MB\nmax_entry_bytes: 1KB")
	raw, err := redisstore.NewClient(srv.URL(0), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	ctx := t.Context()
	if r.maxEncoded != int(cfg.MaxEntryBytes)+headerAllowance {
		t.Errorf("maxEncoded = %d, want max_entry_bytes + %d", r.maxEncoded, headerAllowance)
	}
	big := freshEntry("/big", strings.Repeat("x", r.maxEncoded), time.Minute)
	stale := freshEntry("/stale", "old", -time.Second)
	for key, e := range map[string]*Entry{"big": big, "stale": stale} {
		if err := r.Set(ctx, key, e); err != nil {
			t.Fatalf("Set(%s) = %v", key, err)
		}
		if _, ok, _ := r.Get(ctx, key); ok {
			t.Errorf("Set(%s) stored the entry, want it refused", key)
		}
	}
	if err := r.Set(ctx, "ok", freshEntry("/ok", "fine", 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	// Every key is the route's, and no path appears in a key.
	prefix := redisbackend.Prefix(Name, "test")
	keys := raw.Keys(ctx, "*").Val()
	if len(keys) != 2 {
		t.Errorf("keys = %q, want an entry and its path index", keys)
	}
	for _, k := range keys {
		if ttl := raw.PTTL(ctx, k).Val(); ttl <= 0 || ttl > 30*time.Second {
			t.Errorf("PTTL(%s) with 30s left = %s, want in (0, 30s]", k, ttl)
		}
		if strings.Contains(k, "/ok") || !strings.HasPrefix(k, prefix) {
			t.Errorf("key %q: want %s<e|p>:<base64>, without the path", k, prefix)
		}
	}
}

// TestRedisPrivateEntryNotInClear: after a private response is cached
// through the plugin, no Redis value holds its body, its headers or its path.
func TestRedisPrivateEntryNotInClear(t *testing.T) {
	t.Parallel()
	srv := redistest.New(t)
	const body, header = `{"iban":"FR7630006000011234567890189"}`, "alice-private-header-value"
	app := newRedisApp(t, srv.URL(0), func(c *fiber.Ctx) error {
		c.Set("X-Account", header)
		return c.SendString(body)
	})
	for i, want := range []string{"MISS", "HIT"} {
		req := httptest.NewRequest(http.MethodGet, "/api/accounts/mine", nil)
		req.Header.Set(plugintest.IdentityHeader, "alice")
		resp, got := plugintest.Do(t, app, req)
		if x := resp.Header.Get("X-Cache"); x != want || got != body {
			t.Fatalf("GET %d by alice = X-Cache %q, %q; want %q, %q", i+1, x, got, want, body)
		}
	}
	raw, err := redisstore.NewClient(srv.URL(0), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	ctx := t.Context()
	entries := 0
	for _, k := range raw.Keys(ctx, redisbackend.Prefix(Name, "test")+"e:*").Val() {
		entries++
		v, err := raw.Get(ctx, k).Bytes()
		if err != nil {
			t.Fatalf("GET %s = %v", k, err)
		}
		for _, secret := range []string{body, "FR7630006000011234567890189", header, "/api/accounts/mine"} {
			if bytes.Contains(v, []byte(secret)) {
				t.Errorf("Redis value of %s holds %q in clear", k, secret)
			}
		}
	}
	if entries == 0 {
		t.Fatalf("no cache entry in Redis after a MISS then a HIT")
	}
}

// TestDeriveSecret: the plugin key is stable for one (secret, plugin,
// route) and differs when any of them changes, the NUL separator included.
func TestDeriveSecret(t *testing.T) {
	t.Parallel()
	base := plugins.DeriveSecret(testSessionSecret, "cache", "test")
	if len(base) != plugins.SecretLen {
		t.Fatalf("len(DeriveSecret()) = %d, want %d", len(base), plugins.SecretLen)
	}
	if again := plugins.DeriveSecret(testSessionSecret, "cache", "test"); !bytes.Equal(base, again) {
		t.Errorf("DeriveSecret(same inputs) = %x, want %x", again, base)
	}
	seen := map[string]string{string(base): "base"}
	for _, tc := range []struct{ name, secret, plugin, route string }{
		{"secret", testSessionSecret + "!", "cache", "test"},
		{"plugin", testSessionSecret, "rate_limit", "test"},
		{"route", testSessionSecret, "cache", "orders"},
		{"boundary", testSessionSecret, "cachet", "est"},
		{"empty route", testSessionSecret, "cachetest", ""},
	} {
		k := string(plugins.DeriveSecret(tc.secret, tc.plugin, tc.route))
		if prev, dup := seen[k]; dup {
			t.Errorf("DeriveSecret(%s) = DeriveSecret(%s), want distinct keys", tc.name, prev)
		}
		seen[k] = tc.name
	}
}

// TestRedisInvalidationOutlivesTheRequest: an unsafe request whose context
// ends while the upstream handles it (the route's deadline, a client gone)
// still invalidates the path on Redis: the upstream may have changed it.
func TestRedisInvalidationOutlivesTheRequest(t *testing.T) {
	t.Parallel()
	srv := redistest.New(t)
	var upstream atomic.Int64
	app := newRedisApp(t, srv.URL(0), func(c *fiber.Ctx) error {
		n := upstream.Add(1)
		if c.Method() == http.MethodPost {
			ctx, cancel := context.WithCancel(c.UserContext())
			cancel()
			c.SetUserContext(ctx) // as the server's request context at its deadline
			return httperr.New(fiber.StatusGatewayTimeout, "upstream timed out")
		}
		return c.SendString(fmt.Sprint("response ", n))
	})
	for i, step := range []struct {
		method, wantX, wantBody string
	}{
		{http.MethodGet, "MISS", "response 1"},
		{http.MethodPost, "", `{"error":"upstream timed out"}`},
		{http.MethodGet, "MISS", "response 3"},
	} {
		req := httptest.NewRequest(step.method, "/api/users", nil)
		req.Header.Set(plugintest.IdentityHeader, "alice")
		resp, body := plugintest.Do(t, app, req)
		if x := resp.Header.Get("X-Cache"); x != step.wantX || body != step.wantBody {
			t.Errorf("step %d: %s = X-Cache %q, %q; want %q, %q", i+1, step.method, x, body, step.wantX, step.wantBody)
		}
	}
}

// TestRedisDownBypasses: with Redis down the route still answers, from the
// upstream, and a request waits on Redis once (the failed lookup), not again
// to store what it fetched.
func TestRedisDownBypasses(t *testing.T) {
	t.Parallel()
	srv := redistest.New(t)
	spec, _ := redisSpec(t, srv.URL(0), "ttl: 1m")
	trips := redistest.CountTrips(spec.Backends.(redisbackend.Backends).Client)
	mw, err := New(spec)
	if err != nil {
		t.Fatal(err)
	}
	var upstream atomic.Int64
	app := plugintest.NewApp(mw, func(c *fiber.Ctx) error {
		return c.SendString(fmt.Sprint("response ", upstream.Add(1)))
	}, identities)
	srv.Stop()
	for i := 1; i <= 2; i++ {
		before := trips.Load()
		req := httptest.NewRequest(http.MethodGet, "/api/users", nil)
		req.Header.Set(plugintest.IdentityHeader, "alice")
		resp, body := plugintest.Do(t, app, req)
		if x, want := resp.Header.Get("X-Cache"), fmt.Sprint("response ", i); resp.StatusCode != http.StatusOK || x != "MISS" || body != want {
			t.Errorf("GET %d with Redis down = %d, X-Cache %q, %q; want 200, MISS, %q", i, resp.StatusCode, x, body, want)
		}
		if n := trips.Load() - before; n != 1 {
			t.Errorf("GET %d with Redis down made %d Redis calls, want 1 (the lookup)", i, n)
		}
	}
}
