package session

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
	redisstore "github.com/gatehouse-dev/gatehouse/internal/store/redis"
	"github.com/gatehouse-dev/gatehouse/internal/store/rediscache"
	"github.com/gatehouse-dev/gatehouse/internal/store/redistest"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

// cachedReplica is a Manager on its own Redis client and session cache (as
// one gateway replica has), and the count of its client's round trips.
type cachedReplica struct {
	m     *Manager
	trips *atomic.Int64
}

// cachedReplicas returns n Managers on srv, on one fake clock, each with
// its own tracking session cache, all tracking.
func cachedReplicas(t *testing.T, srv *redistest.Server, clock *storetest.Clock, n int) []cachedReplica {
	t.Helper()
	out := make([]cachedReplica, n)
	for i := range out {
		st, err := redisstore.New(t.Context(), srv.URL(0), redisstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		trips := redistest.CountTrips(st.Client())
		c, err := rediscache.New(st, rediscache.Options{Prefix: KeyPrefix, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second) // a hang guard
		defer cancel()
		if err := c.WaitTracking(ctx); err != nil {
			t.Fatal(err)
		}
		m, err := NewManager(testConfig(), appURL(), c, WithClock(clock.Now), WithLogger(quiet))
		if err != nil {
			t.Fatal(err)
		}
		out[i] = cachedReplica{m, trips}
	}
	return out
}

// TestCachedRedisReplicas: two replicas on one real redis-server, each
// serving session loads from its tracking cache (no round trip for an
// unchanged session), and what one does is seen by the other's very next
// Load, with no wait in between: a refresh, a logout, a back-channel
// logout; an idle timeout ends a cached session as it ends a stored one.
func TestCachedRedisReplicas(t *testing.T) {
	srv := redistest.New(t)
	clock := storetest.NewClock()
	rs := cachedReplicas(t, srv, clock, 2)
	a, b := rs[0].m, rs[1].m
	tests := []struct {
		name      string
		change    func(ctx context.Context, s *Session) error
		wantToken string // "" for ErrNoSession
	}{
		{"refresh on A", func(ctx context.Context, s *Session) error {
			s.AccessToken = "at-refreshed"
			return a.Save(ctx, s)
		}, "at-refreshed"},
		{"logout on A", func(ctx context.Context, s *Session) error {
			return a.Delete(ctx, s.ID)
		}, ""},
		{"back-channel logout by sid on A", func(ctx context.Context, s *Session) error {
			_, err := a.DeleteBySID(ctx, s.SID)
			return err
		}, ""},
		{"back-channel logout by subject on A", func(ctx context.Context, s *Session) error {
			_, err := a.DeleteBySubject(ctx, s.Subject)
			return err
		}, ""},
		{"idle timeout", func(context.Context, *Session) error {
			clock.Advance(b.IdleTimeout())
			return nil
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			s := testSession("alice-"+tt.name, "sid-"+tt.name)
			if err := a.New(ctx, s); err != nil {
				t.Fatal(err)
			}
			c := a.Cookie(s).Value
			for range 2 { // the second is served from B's cache
				if _, err := b.Load(ctx, c); err != nil {
					t.Fatal(err)
				}
			}
			before := rs[1].trips.Load()
			if _, err := b.Load(ctx, c); err != nil {
				t.Fatal(err)
			}
			if n := rs[1].trips.Load() - before; n != 0 {
				t.Fatalf("Load of an unchanged session made %d round trips to Redis, want 0", n)
			}
			sa, err := a.Load(ctx, c)
			if err != nil {
				t.Fatal(err)
			}
			if err := tt.change(ctx, sa); err != nil {
				t.Fatal(err)
			}
			got, err := b.Load(ctx, c)
			switch {
			case tt.wantToken == "" && !errors.Is(err, ErrNoSession):
				t.Fatalf("B's Load after %s = %+v, %v, want ErrNoSession", tt.name, got, err)
			case tt.wantToken != "" && (err != nil || got.AccessToken != tt.wantToken):
				t.Fatalf("B's Load after %s = %+v, %v, want access token %q", tt.name, got, err, tt.wantToken)
			}
		})
	}
}

// TestCachedRedisRestart: a Redis restart that loses the sessions never
// lets a replica serve a session from its cache afterwards.
func TestCachedRedisRestart(t *testing.T) {
	srv := redistest.New(t)
	rs := cachedReplicas(t, srv, storetest.NewClock(), 1)
	m := rs[0].m
	ctx := t.Context()
	s := testSession("alice", "sid")
	if err := m.New(ctx, s); err != nil {
		t.Fatal(err)
	}
	c := m.Cookie(s).Value
	for range 2 {
		if _, err := m.Load(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	srv.Stop()
	srv.Start()
	for i := range 3 { // the first may fail on a pooled connection the restart closed
		if got, err := m.Load(ctx, c); err == nil {
			t.Fatalf("Load %d after a restart that lost the sessions = %+v, want an error", i, got)
		}
	}
	if _, err := m.Load(ctx, c); !errors.Is(err, ErrNoSession) {
		t.Fatalf("Load after the restart = %v, want ErrNoSession", err)
	}
}

// BenchmarkLoadRedis is BenchmarkLoad on a real redis-server: with the
// store alone (a GET per Load) and through the tracking session cache (a
// peek at its socket per Load, no round trip).
func BenchmarkLoadRedis(b *testing.B) {
	srv := redistest.New(b)
	for _, cached := range []bool{false, true} {
		name := "store"
		if cached {
			name = "cached"
		}
		b.Run(name, func(b *testing.B) {
			ctx := b.Context()
			st, err := redisstore.New(ctx, srv.URL(0), redisstore.Options{})
			if err != nil {
				b.Fatal(err)
			}
			var used store.Store = st
			if cached {
				c, err := rediscache.New(st, rediscache.Options{Prefix: KeyPrefix, Logger: quiet})
				if err != nil {
					b.Fatal(err)
				}
				if err := c.WaitTracking(ctx); err != nil {
					b.Fatal(err)
				}
				used = c
			}
			defer used.Close()
			m, err := NewManager(testConfig(), appURL(), used, WithLogger(quiet))
			if err != nil {
				b.Fatal(err)
			}
			s := testSession("alice", "sid")
			if err := m.New(ctx, s); err != nil {
				b.Fatal(err)
			}
			c := m.Cookie(s).Value
			b.ReportAllocs()
			for b.Loop() {
				if _, err := m.Load(ctx, c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
