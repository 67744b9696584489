// Package redisbackend holds the Redis backends (package backend): a keyed
// limiter and a sealed cache, each on a namespace (a key prefix) of the one
// go-redis client the process opened for session.store. They never close
// the client: its owner (the server) does, once, at shutdown.
//
// Every call is bounded by Options.Timeout. Nothing needs recreating when
// Redis comes back: the client reconnects, and the scripts are re-sent
// (EVALSHA falls back to EVAL) when a restarted Redis has lost them. Every
// command touches one key, so the backends also work on Redis Cluster.
package redisbackend

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-dev/gatehouse/backend"
)

// DefaultTimeout bounds one backend call when Options.Timeout is 0.
const DefaultTimeout = time.Second

// Options tune a Redis backend; zero values mean the stated defaults.
type Options struct {
	// Timeout bounds each call. Default DefaultTimeout.
	Timeout time.Duration
}

func (o Options) timeout() time.Duration {
	if o.Timeout <= 0 {
		return DefaultTimeout
	}
	return o.Timeout
}

// Limiter is a backend.Limiter whose buckets live in Redis, shared by every
// gateway replica on the same Redis: two replicas enforce one limit, not two.
//
// Each decision is one atomic Lua script (GCRA, the generic cell rate
// algorithm of github.com/go-redis/redis_rate, equivalent to a token bucket
// of Burst tokens refilled at Rate per Per) run on the Redis server's clock,
// so replicas' clocks do not matter. A bucket is one small key whose TTL is
// the time until it would be full again: idle buckets cost nothing.
//
// Bucket keys are "rate:" (redis_rate's), the namespace's prefix and the
// SHA-256 of the key: a session id is a secret and a header value is chosen
// by the client, so neither is written into Redis as such.
type Limiter struct {
	lim     *redis_rate.Limiter
	prefix  string
	timeout time.Duration
}

// NewLimiter returns a Limiter on rdb whose keys start with prefix.
func NewLimiter(rdb redis.UniversalClient, prefix string, opts Options) *Limiter {
	return &Limiter{lim: redis_rate.NewLimiter(rdb), prefix: prefix, timeout: opts.timeout()}
}

// Allow implements backend.Limiter. It fails when Redis does not answer
// within the timeout.
func (r *Limiter) Allow(ctx context.Context, key string, limit backend.Limit) (backend.Decision, error) {
	if err := limit.Check(); err != nil {
		return backend.Decision{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	res, err := r.lim.Allow(ctx, r.bucket(key), redis_rate.Limit{Rate: limit.Rate, Burst: limit.Burst, Period: limit.Per})
	if err != nil {
		return backend.Decision{}, fmt.Errorf("redis limiter: %w", err)
	}
	d := backend.Decision{
		Allowed:   res.Allowed > 0,
		Remaining: max(res.Remaining, 0),
		Reset:     max(res.ResetAfter, 0),
	}
	if !d.Allowed {
		d.RetryAfter = max(res.RetryAfter, 0)
	}
	return d, nil
}

// bucket returns the Redis key of key's bucket (redis_rate adds "rate:").
func (r *Limiter) bucket(key string) string {
	sum := sha256.Sum256([]byte(key))
	return r.prefix + base64.RawURLEncoding.EncodeToString(sum[:])
}

// Prefix is the key prefix of plugin's backends on route: every plugin
// instance's keys live under "gatehouse:plugin:" + plugin + ":" + route +
// ":", apart from the stores' ("gatehouse:" + "sess:"…, "gatehouse:auth:"…)
// and from every other instance's. Route names hold no ':', and what each
// backend appends after the prefix holds none either, so no two instances'
// keys can meet.
func Prefix(plugin, route string) string {
	return "gatehouse:plugin:" + plugin + ":" + route + ":"
}
