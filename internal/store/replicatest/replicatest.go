// Package replicatest gives tests the stores of several gateway replicas
// sharing one state, for each store implementation: the same memory store
// (replicas in one process), or one client per replica of one real
// redis-server (see redistest: skipped when redis-server is missing, except
// under CI=true).
package replicatest

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/memory"
	redisstore "github.com/gatehouse-dev/gatehouse/internal/store/redis"
	"github.com/gatehouse-dev/gatehouse/internal/store/rediscache"
	"github.com/gatehouse-dev/gatehouse/internal/store/redistest"
)

// Backend opens n stores sharing one state; they are closed when the test ends.
type Backend struct {
	Name string
	Open func(t *testing.T, n int) []store.Store
}

// Backends returns the memory backend, the Redis one, and Redis with each
// replica's session cache (rediscache, caching every key), in that order.
func Backends() []Backend {
	return []Backend{{"memory", openMemory}, {"redis", openRedis}, {"redis-cached", openRedisCached}}
}

func openMemory(t *testing.T, n int) []store.Store {
	m, err := memory.New(memory.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	out := make([]store.Store, n)
	for i := range out {
		out[i] = m
	}
	return out
}

func openRedis(t *testing.T, n int) []store.Store {
	srv := redistest.New(t)
	out := make([]store.Store, n)
	for i := range out {
		s, err := redisstore.New(t.Context(), srv.URL(0), redisstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		out[i] = s
	}
	return out
}

func openRedisCached(t *testing.T, n int) []store.Store {
	out := openRedis(t, n)
	for i, s := range out {
		c, err := rediscache.New(s.(*redisstore.Store), rediscache.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		if err := c.WaitTracking(t.Context()); err != nil {
			t.Fatal(err)
		}
		out[i] = c
	}
	return out
}
