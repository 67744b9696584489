// Package memory holds the in-process backends (package backend): a keyed
// GCRA limiter and a byte-bounded LRU cache, one of each per plugin
// instance, and Store, the process's registry of them with the one janitor
// that sweeps them all. State lives in this process: each replica counts and
// caches on its own.
package memory

import (
	"context"
	"hash/maphash"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/backend"
)

// evictSample is how many buckets are looked at to pick one to evict when a
// shard is full (approximate LRU, as Redis does it).
const evictSample = 8

// Limiter is an in-process backend.Limiter: GCRA (the generic cell rate
// algorithm, the token bucket's equivalent that keeps one number per key:
// the theoretical arrival time, TAT, of the request that would empty the
// bucket), with the arithmetic of the Redis backend's script so that both
// decide alike. Buckets live in a sharded map; a bucket whose TAT has
// passed is full, equivalent to a new one, so Sweep deletes those without
// changing any outcome. When a shard still reaches its share of MaxKeys, the
// least recently used of a few sampled buckets is evicted (a full one if the
// sample has one), which keeps memory bounded however many keys arrive.
type Limiter struct {
	seed     maphash.Seed
	shards   []shard
	perShard int
	now      func() time.Time
}

type shard struct {
	mu sync.Mutex
	m  map[string]*bucket // updated in place: see Allow
}

type bucket struct {
	tat  int64 // theoretical arrival time, Unix ns
	last int64 // last request, Unix ns, for eviction
}

// NewLimiter returns a Limiter holding at most opts.MaxKeys buckets. now is
// the clock (nil for time.Now).
func NewLimiter(opts backend.LimiterOptions, now func() time.Time) *Limiter {
	if opts.MaxKeys <= 0 {
		opts.MaxKeys = backend.DefaultMaxKeys
	}
	if now == nil {
		now = time.Now
	}
	n := 64 // shards: fewer when the bound is small, so each holds >= 64 keys
	for n > 1 && opts.MaxKeys/n < 64 {
		n /= 2
	}
	l := &Limiter{
		seed:     maphash.MakeSeed(),
		shards:   make([]shard, n),
		perShard: max(opts.MaxKeys/n, 1),
		now:      now,
	}
	for i := range l.shards {
		l.shards[i].m = make(map[string]*bucket)
	}
	return l
}

// Allow implements backend.Limiter; it fails only on an invalid limit.
func (l *Limiter) Allow(_ context.Context, key string, limit backend.Limit) (backend.Decision, error) {
	if err := limit.Check(); err != nil {
		return backend.Decision{}, err
	}
	now := l.now().UnixNano()
	interval := float64(limit.Per) / float64(limit.Rate)
	sh := &l.shards[maphash.String(l.seed, key)%uint64(len(l.shards))]
	sh.mu.Lock()
	b, ok := sh.m[key]
	if !ok {
		if len(sh.m) >= l.perShard {
			sh.evictOne(now)
		}
		b = &bucket{tat: now}
	}
	d, tat := gcra(now, max(b.tat, now), interval, limit.Burst)
	if d.Allowed {
		b.tat = tat
	}
	b.last = now
	if !ok && d.Allowed {
		// Only a new key is assigned, and as a copy: key may alias a
		// request buffer, and assigning to an existing string key of a map
		// would also replace the stored key with the one given.
		sh.m[strings.Clone(key)] = b
	}
	sh.mu.Unlock()
	return d, nil
}

// gcra decides one request at now on a bucket whose TAT is tat (>= now),
// and returns the bucket's TAT after it. It is the Redis backend's script
// (github.com/go-redis/redis_rate) in Go, computed relative to now: a Unix
// time in float64 nanoseconds would be off by hundreds of nanoseconds.
func gcra(now, tat int64, interval float64, burst int) (backend.Decision, int64) {
	wait := float64(tat - now) // until the bucket is full again
	newWait := wait + interval
	// diff is how far now is past the time this request would be allowed.
	diff := interval*float64(burst) - newWait
	if diff < 0 {
		return backend.Decision{
			RetryAfter: time.Duration(math.Ceil(-diff)),
			Reset:      time.Duration(wait),
		}, tat
	}
	// The epsilon keeps float error from turning 2 tokens into 1.999….
	return backend.Decision{
		Allowed:   true,
		Remaining: int(math.Floor(diff/interval + 1e-9)),
		Reset:     time.Duration(math.Round(newWait)),
	}, now + int64(math.Round(newWait))
}

// evictOne deletes one bucket of a full shard: a full bucket if the sample
// has one (no behaviour change), else the least recently used sampled one.
func (sh *shard) evictOne(now int64) {
	var (
		victim string
		oldest int64
		seen   int
	)
	for k, b := range sh.m { // map iteration starts at a random place
		if b.tat <= now {
			victim = k
			break
		}
		if seen == 0 || b.last < oldest {
			victim, oldest = k, b.last
		}
		if seen++; seen == evictSample {
			break
		}
	}
	delete(sh.m, victim)
}

// Sweep deletes every bucket that has filled up again: recreating it later
// gives exactly the same outcomes.
func (l *Limiter) Sweep() {
	now := l.now().UnixNano()
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		for k, b := range sh.m {
			if b.tat <= now {
				delete(sh.m, k)
			}
		}
		sh.mu.Unlock()
	}
}

// Len returns the number of buckets held.
func (l *Limiter) Len() int {
	n := 0
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}
