package memory

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/backend"
	"github.com/gatehouse-dev/gatehouse/internal/safego"
)

// SweepEvery is how often a Store's janitor sweeps its backends.
const SweepEvery = 10 * time.Second

// Store is the process's memory state store: the registry of every plugin
// instance's memory backends, by namespace, and the one janitor that sweeps
// them. It outlives reloads: a namespace asked for again with the same
// options gets the same backend, its state intact; Retire forgets the ones
// no longer asked for.
type Store struct {
	now      func() time.Time
	mu       sync.Mutex
	limiters map[limiterKey]*entry[*Limiter]
	caches   map[cacheKey]*entry[*Cache]
	done     <-chan struct{}
}

type limiterKey struct {
	ns   string
	opts backend.LimiterOptions
}

type cacheKey struct {
	ns   string
	opts backend.CacheOptions
}

// entry is a backend and whether it was handed out since the last Retire.
type entry[T any] struct {
	b    T
	used bool
}

// NewStore returns a Store whose janitor sweeps every SweepEvery until ctx
// ends (the process's context, not a routing's). now is the clock (nil for
// time.Now); log receives a panic of the janitor, which then restarts.
func NewStore(ctx context.Context, now func() time.Time, log *slog.Logger) *Store {
	s := &Store{now: now, limiters: map[limiterKey]*entry[*Limiter]{}, caches: map[cacheKey]*entry[*Cache]{}}
	s.done = safego.Every(ctx, log, "memory backends janitor", SweepEvery, s.Sweep)
	return s
}

// Done is closed once the janitor has stopped.
func (s *Store) Done() <-chan struct{} { return s.done }

// Limiter returns namespace ns's limiter with opts, creating it if needed.
func (s *Store) Limiter(ns string, opts backend.LimiterOptions) *Limiter {
	s.mu.Lock()
	defer s.mu.Unlock()
	return handOut(s.limiters, limiterKey{ns, opts}, func() *Limiter { return NewLimiter(opts, s.now) })
}

// Cache returns namespace ns's cache with opts, creating it if needed.
func (s *Store) Cache(ns string, opts backend.CacheOptions) *Cache {
	s.mu.Lock()
	defer s.mu.Unlock()
	return handOut(s.caches, cacheKey{ns, opts}, func() *Cache { return NewCache(opts, s.now) })
}

// handOut returns m's backend under k, opened now if absent, and marks it
// used; s.mu is held.
func handOut[K comparable, T any](m map[K]*entry[T], k K, open func() T) T {
	e := m[k]
	if e == nil {
		e = &entry[T]{b: open()}
		m[k] = e
	}
	e.used = true
	return e.b
}

// Retire forgets every backend not handed out since the previous Retire
// (or since NewStore): the server calls it once a routing is swapped in,
// all of whose plugins have just asked for theirs. A request still running
// on a retired backend keeps using it; it is garbage once none is.
func (s *Store) Retire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	retire(s.limiters)
	retire(s.caches)
}

func retire[K comparable, T any](m map[K]*entry[T]) {
	for k, e := range m {
		if !e.used {
			delete(m, k)
		}
		e.used = false
	}
}

// Sweep drops the full buckets and expired values of every backend.
func (s *Store) Sweep() {
	s.mu.Lock()
	lims := make([]*Limiter, 0, len(s.limiters))
	for _, e := range s.limiters {
		lims = append(lims, e.b)
	}
	caches := make([]*Cache, 0, len(s.caches))
	for _, e := range s.caches {
		caches = append(caches, e.b)
	}
	s.mu.Unlock()
	for _, l := range lims {
		l.Sweep()
	}
	for _, c := range caches {
		c.Sweep()
	}
}

// For returns the backend.Backends of namespace ns on s.
func (s *Store) For(ns string) backend.Backends { return namespace{s, ns} }

// namespace is one plugin instance's view of a Store.
type namespace struct {
	s  *Store
	ns string
}

func (n namespace) Limiter(opts backend.LimiterOptions) (backend.Limiter, error) {
	return n.s.Limiter(n.ns, opts), nil
}

func (n namespace) Cache(opts backend.CacheOptions) (backend.Cache, error) {
	return n.s.Cache(n.ns, opts), nil
}
