package memory

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gatehouse-dev/gatehouse/backend"
	"github.com/gatehouse-dev/gatehouse/internal/backend/backendtest"
)

func TestContract(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backendtest.Factory {
		return NewStore(t.Context(), nil, nil).For
	})
}

// clock is a manual clock.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }
func allow(l *Limiter, key string, lim backend.Limit) backend.Decision {
	d, _ := l.Allow(context.Background(), key, lim)
	return d
}

func TestLimiterBoundedUnderManyKeys(t *testing.T) {
	n := 1_000_000
	if testing.Short() {
		n = 100_000
	}
	clk := newClock()
	l := NewLimiter(backend.LimiterOptions{MaxKeys: 10_000}, clk.Now)
	lim := backend.Limit{Rate: 1, Per: time.Minute, Burst: 5}
	for i := range n {
		if d := allow(l, "i:"+strconv.Itoa(i), lim); !d.Allowed {
			t.Fatalf("Allow(new key %d) = refused, want allowed", i)
		}
	}
	if got := l.Len(); got > 10_000 {
		t.Errorf("after %d distinct keys Len() = %d, want <= 10000", n, got)
	}
}

func TestLimiterSweep(t *testing.T) {
	clk := newClock()
	lim := backend.Limit{Rate: 1, Per: time.Second, Burst: 2}
	l := NewLimiter(backend.LimiterOptions{}, clk.Now)
	for _, k := range []string{"a", "b", "c", "hot", "hot"} {
		allow(l, k, lim)
	}
	l.Sweep()
	if got := l.Len(); got != 4 {
		t.Fatalf("Sweep() before any refill: Len() = %d, want 4 (no bucket is full)", got)
	}
	if d := allow(l, "hot", lim); d.Allowed {
		t.Fatal("Allow(hot) after Sweep = allowed, want refused: a sweep must not reset a drained bucket")
	}
	clk.Advance(time.Second) // a, b, c are full again; hot has 1 of 2
	l.Sweep()
	if got := l.Len(); got != 1 {
		t.Errorf("Sweep() after 1s: Len() = %d, want 1 (only the drained bucket stays)", got)
	}
	clk.Advance(lim.RefillTime())
	l.Sweep()
	if got := l.Len(); got != 0 {
		t.Errorf("Sweep() after the refill time: Len() = %d, want 0", got)
	}
}

func TestLimiterEvictionPrefersFullBuckets(t *testing.T) {
	clk := newClock()
	lim := backend.Limit{Rate: 1, Per: time.Hour, Burst: 2}
	l := NewLimiter(backend.LimiterOptions{MaxKeys: 8}, clk.Now)
	// Drain 7 buckets, leave one full by touching it once and refilling: an
	// eviction must pick that one, so no drained bucket is forgotten.
	for i := range 7 {
		k := fmt.Sprint("drained", i)
		allow(l, k, lim)
		allow(l, k, lim)
	}
	allow(l, "refilled", lim)
	clk.Advance(time.Hour)
	allow(l, "newcomer", lim)
	for i := range 7 {
		if d := allow(l, fmt.Sprint("drained", i), lim); d.Allowed && d.Remaining > 0 {
			t.Errorf("drained%d was evicted (its bucket came back with %d tokens), want the full bucket evicted", i, d.Remaining+1)
		}
	}
}

// TestGCRA: the decisions of a token bucket of 20 refilled at 10/s, as the
// Redis script makes them.
func TestGCRA(t *testing.T) {
	const sec = int64(time.Second)
	lim := backend.Limit{Rate: 10, Per: time.Second, Burst: 20}
	interval := float64(lim.Per) / float64(lim.Rate)
	tests := []struct {
		name    string
		tat     int64 // bucket's TAT, relative to now
		want    backend.Decision
		wantTAT int64
	}{
		{"full", 0, backend.Decision{Allowed: true, Remaining: 19, Reset: 100 * time.Millisecond}, sec / 10},
		{"1.5 tokens", 1850 * sec / 1000, backend.Decision{Allowed: true, Remaining: 0, Reset: 1950 * time.Millisecond}, 1950 * sec / 1000},
		{"0.25 tokens", 1975 * sec / 1000, backend.Decision{RetryAfter: 75 * time.Millisecond, Reset: 1975 * time.Millisecond}, 1975 * sec / 1000},
		{"empty", 2 * sec, backend.Decision{RetryAfter: 100 * time.Millisecond, Reset: 2 * time.Second}, 2 * sec},
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, tat := gcra(now, now+tt.tat, interval, lim.Burst)
			if got.Allowed != tt.want.Allowed || got.Remaining != tt.want.Remaining ||
				got.RetryAfter != tt.want.RetryAfter || got.Reset != tt.want.Reset ||
				tat-now != tt.wantTAT {
				t.Errorf("gcra = %+v, TAT +%d; want %+v, TAT +%d", got, tat-now, tt.want, tt.wantTAT)
			}
		})
	}
}

func TestCacheLRU(t *testing.T) {
	clk := newClock()
	const per = int64(itemOverhead + 2*1 + 2*1 + 10)
	c := NewCache(backend.CacheOptions{MaxBytes: 3 * per}, clk.Now)
	ctx := context.Background()
	for _, k := range []string{"a", "b", "c"} {
		c.Set(ctx, k, []byte("0123456789"), time.Hour, "g")
	}
	c.Get(ctx, "a") // b is now the least recently used
	c.Set(ctx, "d", []byte("0123456789"), time.Hour, "g")
	for k, want := range map[string]bool{"a": true, "b": false, "c": true, "d": true} {
		if _, ok, _ := c.Get(ctx, k); ok != want {
			t.Errorf("Get(%q) hit = %v, want %v", k, ok, want)
		}
	}
	if n, size := c.Len(); n != 3 || size != 3*per {
		t.Errorf("Len() = %d, %d; want 3, %d", n, size, 3*per)
	}
	c.Set(ctx, "huge", make([]byte, 4*per), time.Hour, "g")
	if _, ok, _ := c.Get(ctx, "huge"); ok {
		t.Error("a value larger than the whole bound was stored")
	}
	clk.Advance(time.Hour)
	c.Sweep()
	if n, size := c.Len(); n != 0 || size != 0 {
		t.Errorf("Sweep() after every value expired: Len() = %d, %d; want 0, 0", n, size)
	}
}

func TestStoreKeepsAndRetires(t *testing.T) {
	s := NewStore(t.Context(), nil, nil)
	opts := backend.LimiterOptions{MaxKeys: 10}
	a, b := s.Limiter("rate_limit:a", opts), s.Limiter("rate_limit:b", opts)
	ca := s.Cache("cache:a", backend.CacheOptions{})
	s.Retire() // the first routing is in: all three were asked for
	// A reload keeps route a (same options), drops route b, changes a's cache.
	if got := s.Limiter("rate_limit:a", opts); got != a {
		t.Error("the same namespace and options gave another limiter: a reload would reset its buckets")
	}
	if got := s.Cache("cache:a", backend.CacheOptions{MaxBytes: 1 << 20}); got == ca {
		t.Error("other options gave the same cache")
	}
	s.Retire()
	s.mu.Lock()
	_, keptA := s.limiters[limiterKey{"rate_limit:a", opts}]
	_, keptB := s.limiters[limiterKey{"rate_limit:b", opts}]
	_, keptCA := s.caches[cacheKey{"cache:a", backend.CacheOptions{}}]
	s.mu.Unlock()
	if !keptA || keptB || keptCA {
		t.Errorf("after the reload: kept a %v, b %v, old cache %v; want true, false, false", keptA, keptB, keptCA)
	}
	if d := allow(b, "k", backend.Limit{Rate: 1, Per: time.Hour, Burst: 1}); !d.Allowed {
		t.Error("a retired limiter stopped working for the requests still holding it")
	}
}

// TestJanitorStopsWithContext: the janitor's goroutine is over once the
// store's context ends. In a synctest bubble, Wait returns when every
// goroutine of the bubble is blocked for good, so a janitor that ignores ctx
// (still waiting on its ticker) is seen at once, without a timeout.
func TestJanitorStopsWithContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		s := NewStore(ctx, nil, nil)
		l := s.Limiter("ns", backend.LimiterOptions{})
		allow(l, "k", backend.Limit{Rate: 1, Per: time.Second, Burst: 1})
		time.Sleep(3 * SweepEvery) // a few sweeps (fake time)
		if n := l.Len(); n != 0 {
			t.Errorf("after sweeps, the full bucket is still held (Len %d)", n)
		}
		cancel()
		synctest.Wait()
		select {
		case <-s.Done():
		default:
			t.Fatal("janitor still running after its context ended")
		}
	})
}

// BenchmarkLimiterAllowParallel measures contention on the sharded map with
// many sessions.
func BenchmarkLimiterAllowParallel(b *testing.B) {
	l := NewLimiter(backend.LimiterOptions{}, nil)
	lim := backend.Limit{Rate: 1_000_000_000, Per: time.Second, Burst: 1_000_000_000}
	keys := make([]string, 4096)
	for i := range keys {
		keys[i] = "s:" + strconv.Itoa(i)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			l.Allow(context.Background(), keys[i%len(keys)], lim)
			i++
		}
	})
}
