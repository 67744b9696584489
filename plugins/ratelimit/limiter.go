package ratelimit

import (
	"context"
	"hash/maphash"
	"log/slog"
	"math"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/gatehouse-dev/gatehouse/internal/safego"
)

// Policy is the token bucket a Limiter enforces for every key: Burst tokens
// at most, refilled at Rate tokens per Per.
type Policy struct {
	Rate  int
	Per   time.Duration
	Burst int
}

// perSecond is the refill rate in tokens per second.
func (p Policy) perSecond() float64 { return float64(p.Rate) / p.Per.Seconds() }

// RefillTime is how long an empty bucket takes to fill up again.
func (p Policy) RefillTime() time.Duration {
	return time.Duration(float64(p.Burst) / p.perSecond() * float64(time.Second))
}

// Decision is the outcome of one request against a key's bucket.
type Decision struct {
	// Allowed is true when a token was taken.
	Allowed bool
	// Remaining is the number of whole tokens left after this request.
	Remaining int
	// RetryAfter, when denied, is how long until one token is available.
	RetryAfter time.Duration
	// Reset is how long until the bucket is full again.
	Reset time.Duration
}

// Limiter is the rate-limit backend: one token bucket per key, all with the
// same Policy. Memory is the default; a distributed backend (Redis) plugs in
// here without changing the plugin. Allow takes a token for key when one is
// available. Implementations must be safe for concurrent use.
type Limiter interface {
	Allow(ctx context.Context, key string) (Decision, error)
}

// MemoryOptions tune a Memory limiter; zero values mean the stated defaults.
type MemoryOptions struct {
	// MaxKeys bounds the number of buckets kept. Default 100000.
	MaxKeys int
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger receives a panic of the janitor (which then restarts). Default slog.Default().
	Logger *slog.Logger
}

// DefaultMaxKeys is the default bound on a Memory limiter's buckets.
const DefaultMaxKeys = 100_000

// evictSample is how many buckets are looked at to pick one to evict when a
// shard is full (approximate LRU, as Redis does it).
const evictSample = 8

// Memory is an in-process Limiter built on golang.org/x/time/rate. Buckets
// live in a sharded map. A bucket that has filled up again is equivalent to a
// new one, so the janitor deletes those without changing any outcome; when a
// shard still reaches its share of MaxKeys, the least recently used of a few
// sampled buckets is evicted (preferring full ones), which keeps memory
// bounded however many distinct keys arrive.
type Memory struct {
	policy   Policy
	limit    rate.Limit
	seed     maphash.Seed
	shards   []shard
	perShard int
	now      func() time.Time
	done     <-chan struct{} // closed when the janitor has stopped
}

type shard struct {
	mu sync.Mutex
	m  map[string]*bucket
}

type bucket struct {
	lim  *rate.Limiter
	last time.Time // last request, for eviction
}

// NewMemory returns a Memory limiter for policy whose janitor runs until ctx
// ends, sweeping full buckets every refill time (between 1s and 1m).
func NewMemory(ctx context.Context, policy Policy, opts MemoryOptions) *Memory {
	if opts.MaxKeys <= 0 {
		opts.MaxKeys = DefaultMaxKeys
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	n := 64 // shards: fewer when the bound is small, so each holds >= 64 keys
	for n > 1 && opts.MaxKeys/n < 64 {
		n /= 2
	}
	m := &Memory{
		policy:   policy,
		limit:    rate.Limit(policy.perSecond()),
		seed:     maphash.MakeSeed(),
		shards:   make([]shard, n),
		perShard: max(opts.MaxKeys/n, 1),
		now:      opts.Now,
	}
	for i := range m.shards {
		m.shards[i].m = make(map[string]*bucket)
	}
	every := min(max(policy.RefillTime(), time.Second), time.Minute)
	m.done = safego.Loop(ctx, opts.Logger, "rate_limit janitor", func(ctx context.Context) { m.janitor(ctx, every) })
	return m
}

func (m *Memory) janitor(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			m.Sweep()
		}
	}
}

// Allow implements Limiter; it never fails.
func (m *Memory) Allow(_ context.Context, key string) (Decision, error) {
	now := m.now()
	sh := &m.shards[maphash.String(m.seed, key)%uint64(len(m.shards))]
	sh.mu.Lock()
	b := sh.m[key]
	if b == nil {
		if len(sh.m) >= m.perShard {
			sh.evictOne(now, float64(m.policy.Burst))
		}
		b = &bucket{lim: rate.NewLimiter(m.limit, m.policy.Burst)}
		sh.m[strings.Clone(key)] = b // key may alias a request buffer
	}
	b.last = now
	ok := b.lim.AllowN(now, 1)
	tokens := b.lim.TokensAt(now)
	sh.mu.Unlock()
	return m.decision(ok, tokens), nil
}

// decision describes a bucket holding tokens after a request.
func (m *Memory) decision(ok bool, tokens float64) Decision {
	per := m.policy.perSecond()
	d := Decision{
		Allowed:   ok,
		Remaining: max(int(math.Floor(tokens)), 0),
		Reset:     seconds((float64(m.policy.Burst) - tokens) / per),
	}
	if !ok {
		d.RetryAfter = seconds((1 - tokens) / per)
	}
	return d
}

func seconds(s float64) time.Duration {
	if s <= 0 {
		return 0
	}
	return time.Duration(s * float64(time.Second))
}

// evictOne deletes one bucket of a full shard: a full bucket if the sample
// has one (no behaviour change), else the least recently used sampled one.
func (sh *shard) evictOne(now time.Time, burst float64) {
	var (
		victim string
		oldest time.Time
		seen   int
	)
	for k, b := range sh.m { // map iteration starts at a random place
		if b.lim.TokensAt(now) >= burst {
			victim = k
			break
		}
		if seen == 0 || b.last.Before(oldest) {
			victim, oldest = k, b.last
		}
		if seen++; seen == evictSample {
			break
		}
	}
	delete(sh.m, victim)
}

// Sweep deletes every bucket that has filled up again (idle for at least the
// refill time): recreating it later gives exactly the same outcomes.
func (m *Memory) Sweep() {
	now := m.now()
	burst := float64(m.policy.Burst)
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.Lock()
		for k, b := range sh.m {
			if b.lim.TokensAt(now) >= burst {
				delete(sh.m, k)
			}
		}
		sh.mu.Unlock()
	}
}

// Len returns the number of buckets held.
func (m *Memory) Len() int {
	n := 0
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}
