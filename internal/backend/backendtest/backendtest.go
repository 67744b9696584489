// Package backendtest is the contract suite every implementation of the
// plugin backends (package backend) must pass, memory and Redis alike, as
// storetest is for stores: one set of behaviours, tested once.
//
// An implementation's test calls Run with a constructor returning, for each
// subtest, a fresh, empty store as a Factory of namespaces on it:
//
//	func TestContract(t *testing.T) {
//		backendtest.Run(t, func(t *testing.T) backendtest.Factory { ... })
//	}
//
// Where time matters the suite waits at least as long as the backend said
// (RetryAfter) or polls with a deadline for an expiry; it asserts nothing
// about how fast anything happens.
package backendtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/gatehouse-dev/gatehouse/backend"
)

// Factory returns the backends of namespace ns, all namespaces on one store.
type Factory func(ns string) backend.Backends

// open opens namespace ns's limiter and cache, with the default options.
func open(t *testing.T, f Factory, ns string) (backend.Limiter, backend.Cache) {
	t.Helper()
	b := f(ns)
	l, err := b.Limiter(backend.LimiterOptions{})
	if err != nil {
		t.Fatalf("Limiter() = %v", err)
	}
	c, err := b.Cache(backend.CacheOptions{})
	if err != nil {
		t.Fatalf("Cache() = %v", err)
	}
	return l, c
}

const (
	// short is the TTL of values a test waits to see expire.
	short = 30 * time.Millisecond
	// long is the TTL of values that must outlive a test.
	long = time.Hour
	// deadline bounds every wait for an expiry.
	deadline = 10 * time.Second
	// contenders is how many goroutines race for one bucket.
	contenders = 50
)

// slow is a limit under which no token comes back during a test.
var slow = backend.Limit{Rate: 1, Per: time.Hour, Burst: 3}

// Run runs the contract suite.
func Run(t *testing.T, newStore func(t *testing.T) Factory) {
	tests := []struct {
		name string
		fn   func(t *testing.T, f Factory)
	}{
		{"LimiterBurstThenRefuse", testBurstThenRefuse},
		{"LimiterRefill", testRefill},
		{"LimiterKeysApart", testKeysApart},
		{"LimiterLimitPerCall", testLimitPerCall},
		{"LimiterConcurrentTakeExactlyBurst", testConcurrentBurst},
		{"LimiterInvalidLimit", testInvalidLimit},
		{"CacheGetAbsent", testGetAbsent},
		{"CacheSetGet", testSetGet},
		{"CacheSetReplaces", testSetReplaces},
		{"CacheValuesAreCopied", testValuesAreCopied},
		{"KeysAreCopied", testKeysAreCopied},
		{"CacheInvalidTTL", testInvalidTTL},
		{"CacheExpiry", testExpiry},
		{"CacheDelete", testDelete},
		{"CacheDeleteGroup", testDeleteGroup},
		{"CacheConcurrent", testCacheConcurrent},
		{"NamespacesApart", testNamespacesApart},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newStore(t)) })
	}
}

func allow(t *testing.T, l backend.Limiter, key string, limit backend.Limit) backend.Decision {
	t.Helper()
	d, err := l.Allow(t.Context(), key, limit)
	if err != nil {
		t.Fatalf("Allow(%q) = %v", key, err)
	}
	return d
}

func within(d, lo, hi time.Duration) bool { return lo < d && d <= hi }

func testBurstThenRefuse(t *testing.T, f Factory) {
	l, _ := open(t, f, "ns")
	for want := slow.Burst - 1; want >= 0; want-- {
		d := allow(t, l, "k", slow)
		if !d.Allowed || d.Remaining != want || d.RetryAfter != 0 {
			t.Fatalf("Allow = %+v, want allowed with %d remaining", d, want)
		}
		// Reset is the time the tokens taken so far take to come back.
		taken := time.Duration(slow.Burst-want) * time.Hour
		if !within(d.Reset, taken-time.Minute, taken) {
			t.Errorf("Allow with %d remaining: Reset = %s, want about %s", want, d.Reset, taken)
		}
	}
	d := allow(t, l, "k", slow)
	if d.Allowed || d.Remaining != 0 {
		t.Fatalf("Allow past the burst = %+v, want refused with 0 remaining", d)
	}
	if !within(d.RetryAfter, 59*time.Minute, time.Hour) || !within(d.Reset, 2*time.Hour, 3*time.Hour) {
		t.Errorf("refused: RetryAfter %s, Reset %s; want about 1h and 3h", d.RetryAfter, d.Reset)
	}
	if d := allow(t, l, "k", slow); d.Allowed {
		t.Error("a refused request took a token back: the next one is allowed")
	}
}

func testRefill(t *testing.T, f Factory) {
	l, _ := open(t, f, "ns")
	fast := backend.Limit{Rate: 1, Per: 50 * time.Millisecond, Burst: 1}
	allow(t, l, "k", fast)
	d := allow(t, l, "k", fast)
	if d.Allowed {
		t.Fatal("second request within the interval allowed, want refused")
	}
	// Waiting at least RetryAfter (plus the backend's rounding) must free a
	// token, however slow the machine.
	time.Sleep(d.RetryAfter + 2*time.Millisecond)
	if d := allow(t, l, "k", fast); !d.Allowed {
		t.Errorf("after waiting RetryAfter: %+v, want allowed", d)
	}
}

func testKeysApart(t *testing.T, f Factory) {
	l, _ := open(t, f, "ns")
	for range slow.Burst + 1 {
		allow(t, l, "a", slow)
	}
	for _, k := range []string{"b", "a ", "A", "", "\x00a", "i:203.0.113.7"} {
		if d := allow(t, l, k, slow); !d.Allowed || d.Remaining != slow.Burst-1 {
			t.Errorf("Allow(%q) after draining %q = %+v, want a full bucket of its own", k, "a", d)
		}
	}
}

func testLimitPerCall(t *testing.T, f Factory) {
	l, _ := open(t, f, "ns")
	for range slow.Burst {
		allow(t, l, "k", slow)
	}
	bigger := slow
	bigger.Burst = slow.Burst + 2
	if d := allow(t, l, "k", bigger); !d.Allowed || d.Remaining != 1 {
		t.Errorf("Allow under a larger burst on a drained bucket = %+v, want allowed with 1 remaining", d)
	}
}

func testConcurrentBurst(t *testing.T, f Factory) {
	l, _ := open(t, f, "ns")
	limit := backend.Limit{Rate: 1, Per: time.Hour, Burst: 20}
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for range contenders {
		wg.Go(func() {
			d, err := l.Allow(context.Background(), "k", limit)
			if err != nil {
				t.Error(err)
			}
			if d.Allowed {
				allowed.Add(1)
			}
		})
	}
	wg.Wait()
	if got := allowed.Load(); got != int64(limit.Burst) {
		t.Errorf("%d concurrent requests: %d allowed, want exactly the burst, %d", contenders, got, limit.Burst)
	}
}

func testInvalidLimit(t *testing.T, f Factory) {
	l, _ := open(t, f, "ns")
	for _, lim := range []backend.Limit{{}, {Rate: 1, Per: time.Second}, {Rate: 1, Burst: 1}, {Per: time.Second, Burst: 1}} {
		if _, err := l.Allow(t.Context(), "k", lim); err == nil {
			t.Errorf("Allow(%+v) = nil error, want an invalid limit refused", lim)
		}
	}
}

func get(t *testing.T, c backend.Cache, key string) ([]byte, bool) {
	t.Helper()
	v, ok, err := c.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get(%q) = %v", key, err)
	}
	return v, ok
}

func set(t *testing.T, c backend.Cache, key, value, group string, ttl time.Duration) {
	t.Helper()
	if err := c.Set(t.Context(), key, []byte(value), ttl, group); err != nil {
		t.Fatalf("Set(%q) = %v", key, err)
	}
}

func want(t *testing.T, c backend.Cache, key, value string) {
	t.Helper()
	if v, ok := get(t, c, key); !ok || string(v) != value {
		t.Errorf("Get(%q) = %q, %v; want %q", key, v, ok, value)
	}
}

func wantMiss(t *testing.T, c backend.Cache, key string) {
	t.Helper()
	if v, ok := get(t, c, key); ok {
		t.Errorf("Get(%q) = %q, want a miss", key, v)
	}
}

func testGetAbsent(t *testing.T, f Factory) {
	_, c := open(t, f, "ns")
	wantMiss(t, c, "absent")
}

func testSetGet(t *testing.T, f Factory) {
	_, c := open(t, f, "ns")
	values := map[string]string{
		"empty":  "",
		"text":   "hello",
		"binary": "\x00\xff\x80\n\r",
		"large":  string(bytes.Repeat([]byte("0123456789abcdef"), 64<<10)), // 1 MiB
		"\x00":   "a key of one NUL byte",
		"k e y":  "a key with spaces",
	}
	for k, v := range values {
		set(t, c, k, v, "g", long)
	}
	for k, v := range values {
		want(t, c, k, v)
	}
}

func testSetReplaces(t *testing.T, f Factory) {
	_, c := open(t, f, "ns")
	set(t, c, "k", "old", "g", long)
	set(t, c, "k", "new", "g", long)
	want(t, c, "k", "new")
}

func testValuesAreCopied(t *testing.T, f Factory) {
	_, c := open(t, f, "ns")
	v := []byte("value")
	if err := c.Set(t.Context(), "k", v, long, "g"); err != nil {
		t.Fatal(err)
	}
	copy(v, "XXXXX")
	want(t, c, "k", "value")
}

// testKeysAreCopied: a key or group that aliases a buffer the caller reuses
// (a string over a fasthttp request's bytes) is kept as it was at the call.
func testKeysAreCopied(t *testing.T, f Factory) {
	l, c := open(t, f, "ns")
	buf := []byte("key1")
	alias := unsafe.String(&buf[0], len(buf))
	for range slow.Burst {
		allow(t, l, alias, slow)
	}
	if err := c.Set(t.Context(), alias, []byte("v"), long, alias); err != nil {
		t.Fatal(err)
	}
	copy(buf, "key2")
	if d := allow(t, l, "key1", slow); d.Allowed {
		t.Errorf("Allow(key1) after its burst under an aliased key = allowed, want refused")
	}
	want(t, c, "key1", "v")
	wantMiss(t, c, "key2")
	if err := c.DeleteGroup(t.Context(), "key1"); err != nil {
		t.Fatalf("DeleteGroup = %v", err)
	}
	wantMiss(t, c, "key1")
}

func testInvalidTTL(t *testing.T, f Factory) {
	_, c := open(t, f, "ns")
	for _, ttl := range []time.Duration{0, -time.Second} {
		if err := c.Set(t.Context(), "k", []byte("v"), ttl, "g"); !errors.Is(err, backend.ErrInvalidTTL) {
			t.Errorf("Set(ttl %s) = %v, want ErrInvalidTTL", ttl, err)
		}
	}
	wantMiss(t, c, "k")
}

func testExpiry(t *testing.T, f Factory) {
	_, c := open(t, f, "ns")
	set(t, c, "short", "v", "g", short)
	set(t, c, "long", "v", "g", long)
	end := time.Now().Add(deadline)
	for {
		if _, ok := get(t, c, "short"); !ok {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("a value with a %s TTL still there after %s", short, deadline)
		}
		time.Sleep(short / 3)
	}
	want(t, c, "long", "v")
}

func testDelete(t *testing.T, f Factory) {
	_, c := open(t, f, "ns")
	set(t, c, "k", "v", "g", long)
	set(t, c, "other", "v", "g", long)
	for range 2 { // deleting an absent key is not an error
		if err := c.Delete(t.Context(), "k"); err != nil {
			t.Fatalf("Delete = %v", err)
		}
	}
	wantMiss(t, c, "k")
	want(t, c, "other", "v")
}

func testDeleteGroup(t *testing.T, f Factory) {
	_, c := open(t, f, "ns")
	set(t, c, "a", "1", "/users", long)
	set(t, c, "b", "2", "/users", long)
	set(t, c, "c", "3", "/orders", long)
	if err := c.DeleteGroup(t.Context(), "/users"); err != nil {
		t.Fatalf("DeleteGroup = %v", err)
	}
	wantMiss(t, c, "a")
	wantMiss(t, c, "b")
	want(t, c, "c", "3")
	// A value stored in the group afterwards is found by the next DeleteGroup.
	set(t, c, "a", "4", "/users", long)
	want(t, c, "a", "4")
	if err := c.DeleteGroup(t.Context(), "/users"); err != nil {
		t.Fatalf("DeleteGroup = %v", err)
	}
	wantMiss(t, c, "a")
	if err := c.DeleteGroup(t.Context(), "/empty"); err != nil {
		t.Errorf("DeleteGroup(an empty group) = %v", err)
	}
}

func testCacheConcurrent(t *testing.T, f Factory) {
	_, c := open(t, f, "ns")
	var wg sync.WaitGroup
	for i := range contenders {
		wg.Go(func() {
			ctx := context.Background()
			k := fmt.Sprint("k", i%5)
			v := fmt.Sprint("v", i)
			if err := c.Set(ctx, k, []byte(v), long, "g"); err != nil {
				t.Error(err)
			}
			// A concurrent DeleteGroup may have removed it: a miss is fine,
			// a torn or foreign value is not.
			if got, ok, err := c.Get(ctx, k); err != nil || ok && (len(got) < 2 || got[0] != 'v') {
				t.Errorf("Get(%q) = %q, %v, %v; want a value some Set stored, or a miss", k, got, ok, err)
			}
			if i%7 == 0 {
				if err := c.DeleteGroup(ctx, "g"); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
}

// testNamespacesApart: two plugin instances (or two routes) never see each
// other's values or buckets, whatever keys they use.
func testNamespacesApart(t *testing.T, f Factory) {
	l1, c1 := open(t, f, "cache:users")
	l2, c2 := open(t, f, "cache:orders")
	set(t, c1, "k", "users", "g", long)
	wantMiss(t, c2, "k")
	set(t, c2, "k", "orders", "g", long)
	want(t, c1, "k", "users")
	if err := c2.DeleteGroup(t.Context(), "g"); err != nil {
		t.Fatal(err)
	}
	want(t, c1, "k", "users")
	wantMiss(t, c2, "k")

	for range slow.Burst + 1 {
		allow(t, l1, "k", slow)
	}
	if d := allow(t, l2, "k", slow); !d.Allowed || d.Remaining != slow.Burst-1 {
		t.Errorf("Allow in another namespace after draining the key = %+v, want a full bucket", d)
	}
}
