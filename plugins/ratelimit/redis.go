package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-dev/gatehouse/internal/store"
	redisstore "github.com/gatehouse-dev/gatehouse/internal/store/redis"
	"github.com/gatehouse-dev/gatehouse/plugins"
)

// DefaultRedisPrefix namespaces the Redis backend's keys (redis_rate adds
// its own "rate:" in front).
const DefaultRedisPrefix = "gatehouse:ratelimit:"

// DefaultRedisTimeout bounds one Redis decision when RedisOptions.Timeout is 0.
const DefaultRedisTimeout = time.Second

// RedisOptions tune a Redis limiter; zero values mean the stated defaults.
type RedisOptions struct {
	// Prefix is prepended to every bucket key. Default DefaultRedisPrefix.
	Prefix string
	// Timeout bounds one decision. Default DefaultRedisTimeout.
	Timeout time.Duration
}

// Redis is a Limiter whose buckets live in Redis, shared by every gateway
// replica on the same Redis: two replicas enforce one limit, not two.
//
// Each decision is one atomic Lua script (GCRA, the generic cell rate
// algorithm of github.com/go-redis/redis_rate, equivalent to a token bucket
// of Burst tokens refilled at Rate per Per) run on the Redis server's clock,
// so replicas' clocks do not matter. A bucket is one small key whose TTL is
// the time until it would be full again: idle buckets cost nothing.
//
// Bucket keys are the SHA-256 of the request's key (a session id is a
// secret, and a header value is chosen by the client: neither is written
// into Redis as such), under the prefix and the route's name (routes do not
// share buckets).
type Redis struct {
	lim     *redis_rate.Limiter
	limit   redis_rate.Limit
	scope   string
	timeout time.Duration
}

// NewRedis returns a Redis limiter enforcing policy through rdb. scope
// separates bucket sets that must not mix (the route name).
func NewRedis(rdb redis.UniversalClient, scope string, policy Policy, opts RedisOptions) *Redis {
	if opts.Prefix == "" {
		opts.Prefix = DefaultRedisPrefix
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultRedisTimeout
	}
	return &Redis{
		lim:     redis_rate.NewLimiter(rdb),
		limit:   redis_rate.Limit{Rate: policy.Rate, Burst: policy.Burst, Period: policy.Per},
		scope:   opts.Prefix + scope + ":",
		timeout: opts.Timeout,
	}
}

// Allow implements Limiter. It fails (and the plugin lets the request
// through, logged) when Redis does not answer within the timeout.
func (r *Redis) Allow(ctx context.Context, key string) (Decision, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	res, err := r.lim.Allow(ctx, r.bucket(key), r.limit)
	if err != nil {
		return Decision{}, fmt.Errorf("rate_limit: redis: %w", err)
	}
	d := Decision{
		Allowed:   res.Allowed > 0,
		Remaining: max(res.Remaining, 0),
		Reset:     max(res.ResetAfter, 0),
	}
	if !d.Allowed {
		d.RetryAfter = max(res.RetryAfter, 0)
	}
	return d, nil
}

// bucket returns the Redis key of key's bucket.
func (r *Redis) bucket(key string) string {
	sum := sha256.Sum256([]byte(key))
	return r.scope + base64.RawURLEncoding.EncodeToString(sum[:])
}

// NewLimiter returns the backend spec.Store names for policy: a Memory
// limiter (bounded by maxKeys) for "memory" or "", a Redis limiter for a
// redis:// or rediss:// URL. The Redis client it opens is closed when
// spec.Ctx ends. It does not connect: a Redis that is down when the route is
// built (at start-up or on a reload) fails its requests' decisions, which
// on_error handles, until Redis answers; the client reconnects by itself.
func NewLimiter(spec plugins.Spec, policy Policy, maxKeys int) (Limiter, error) {
	kind, err := store.KindOf(spec.Store)
	if err != nil {
		return nil, fmt.Errorf("rate_limit: %w", err)
	}
	if kind == store.Memory {
		return NewMemory(spec.Ctx, policy, MemoryOptions{MaxKeys: maxKeys, Logger: spec.Logger}), nil
	}
	rdb, err := redisstore.NewClient(spec.Store, nil)
	if err != nil {
		return nil, fmt.Errorf("rate_limit: %w", err)
	}
	context.AfterFunc(spec.Ctx, func() { _ = rdb.Close() })
	scope := ""
	if spec.Route != nil {
		scope = spec.Route.Name
	}
	return NewRedis(rdb, scope, policy, RedisOptions{}), nil
}
