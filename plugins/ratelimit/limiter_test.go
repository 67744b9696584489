package ratelimit

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gatehouse-dev/gatehouse/plugins/plugintest"
)

func TestMemoryBoundedUnderManyKeys(t *testing.T) {
	n := 1_000_000
	if testing.Short() {
		n = 100_000
	}
	clk := plugintest.NewClock()
	m := NewMemory(t.Context(), Policy{Rate: 1, Per: time.Minute, Burst: 5}, MemoryOptions{MaxKeys: 10_000, Now: clk.Now})
	ctx := context.Background()
	for i := range n {
		if d, _ := m.Allow(ctx, "i:"+strconv.Itoa(i)); !d.Allowed {
			t.Fatalf("Allow(new key %d) = denied, want allowed", i)
		}
	}
	if got := m.Len(); got > 10_000 {
		t.Errorf("after %d distinct keys Len() = %d, want <= 10000", n, got)
	}
}

func TestSweep(t *testing.T) {
	clk := plugintest.NewClock()
	pol := Policy{Rate: 1, Per: time.Second, Burst: 2}
	m := NewMemory(t.Context(), pol, MemoryOptions{Now: clk.Now})
	ctx := context.Background()
	for _, k := range []string{"a", "b", "c"} {
		m.Allow(ctx, k)
	}
	m.Allow(ctx, "hot")
	m.Allow(ctx, "hot")
	m.Sweep()
	if got := m.Len(); got != 4 {
		t.Fatalf("Sweep() before any refill: Len() = %d, want 4 (no bucket is full)", got)
	}
	if d, _ := m.Allow(ctx, "hot"); d.Allowed {
		t.Fatalf("Allow(hot) after Sweep = allowed, want denied: a sweep must not reset a drained bucket")
	}
	clk.Advance(time.Second) // a, b, c are full again; hot has 1 of 2
	m.Sweep()
	if got := m.Len(); got != 1 {
		t.Errorf("Sweep() after 1s: Len() = %d, want 1 (only the drained bucket stays)", got)
	}
	clk.Advance(pol.RefillTime())
	m.Sweep()
	if got := m.Len(); got != 0 {
		t.Errorf("Sweep() after the refill time: Len() = %d, want 0", got)
	}
}

func TestEvictionPrefersFullBuckets(t *testing.T) {
	clk := plugintest.NewClock()
	m := NewMemory(t.Context(), Policy{Rate: 1, Per: time.Hour, Burst: 2}, MemoryOptions{MaxKeys: 8, Now: clk.Now})
	ctx := context.Background()
	// Drain 7 buckets, leave one full by touching it once and refilling: an
	// eviction must pick that one, so no drained bucket is forgotten.
	for i := range 7 {
		k := fmt.Sprint("drained", i)
		m.Allow(ctx, k)
		m.Allow(ctx, k)
	}
	m.Allow(ctx, "refilled")
	clk.Advance(time.Hour)
	m.Allow(ctx, "newcomer")
	for i := range 7 {
		if d, _ := m.Allow(ctx, fmt.Sprint("drained", i)); d.Allowed && d.Remaining > 0 {
			t.Errorf("drained%d was evicted (its bucket came back with %d tokens), want the full bucket evicted", i, d.Remaining+1)
		}
	}
}

// TestJanitorStopsWithContext: the janitor's goroutine is over once the
// limiter's context ends. In a synctest bubble, Wait returns when every
// goroutine of the bubble is blocked for good, so a janitor that ignores ctx
// (still waiting on its ticker) is seen at once, without a timeout.
func TestJanitorStopsWithContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		m := NewMemory(ctx, Policy{Rate: 1, Per: time.Second, Burst: 1}, MemoryOptions{})
		time.Sleep(3 * time.Second) // a few sweeps (fake time)
		cancel()
		synctest.Wait()
		select {
		case <-m.done:
		default:
			t.Fatal("janitor still running after its context ended")
		}
	})
}

func TestDecision(t *testing.T) {
	m := &Memory{policy: Policy{Rate: 10, Per: time.Second, Burst: 20}}
	tests := []struct {
		name   string
		ok     bool
		tokens float64
		want   Decision
	}{
		{name: "full", ok: true, tokens: 19, want: Decision{Allowed: true, Remaining: 19, Reset: 100 * time.Millisecond}},
		{name: "fraction", ok: true, tokens: 0.5, want: Decision{Allowed: true, Remaining: 0, Reset: 1950 * time.Millisecond}},
		{name: "denied", ok: false, tokens: 0.25, want: Decision{Remaining: 0, RetryAfter: 75 * time.Millisecond, Reset: 1975 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := m.decision(tt.ok, tt.tokens)
			if got.Allowed != tt.want.Allowed || got.Remaining != tt.want.Remaining ||
				(got.RetryAfter-tt.want.RetryAfter).Abs() > time.Microsecond || (got.Reset-tt.want.Reset).Abs() > time.Microsecond {
				t.Errorf("decision(%v, %v) = %+v, want %+v", tt.ok, tt.tokens, got, tt.want)
			}
		})
	}
}

func TestConcurrentRequestsTakeExactlyBurst(t *testing.T) {
	clk := plugintest.NewClock() // frozen: no refill during the test
	m := NewMemory(t.Context(), Policy{Rate: 1, Per: time.Hour, Burst: 50}, MemoryOptions{Now: clk.Now})
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if d, _ := m.Allow(context.Background(), "s:one"); d.Allowed {
					allowed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if got := allowed.Load(); got != 50 {
		t.Errorf("800 concurrent requests on one key: %d allowed, want exactly the burst, 50", got)
	}
}
