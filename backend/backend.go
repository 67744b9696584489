// Package backend holds the typed state backends a plugin is handed: a keyed
// rate limiter and a cache store. A plugin never opens a store itself: the
// gateway opens the state store named by session.store once per process
// (memory, or one Redis client shared by the sessions and every plugin) and
// hands each plugin instance its backends through plugins.Spec.Backends.
//
// Each plugin instance (one plugin on one route) gets backends of its own
// namespace: keys are the plugin's own, and two routes, or two plugins, never
// read or overwrite each other's values, whatever keys they use. The gateway
// keeps the backends across reloads: a route that is reloaded with the same
// plugin finds its buckets and cached values again (on Redis, so does every
// replica), and a reload never closes a backend a request is still using.
//
// With the memory store, state lives in the process (per replica); with
// Redis it is shared by every replica on that Redis, and a backend call may
// fail (Redis down, a timeout): a plugin decides what such a failure means
// for the request (rate_limit lets it through or refuses it, cache bypasses
// itself).
package backend

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Backends opens the backends of one plugin instance, in its own namespace.
// A plugin calls it from its New (an error fails New); every call with the
// same options returns backends on the same state. Opening connects to
// nothing: a Redis that is down fails the calls, not the opening.
// Implementations are safe for concurrent use.
type Backends interface {
	// Limiter returns the instance's keyed rate limiter.
	Limiter(opts LimiterOptions) (Limiter, error)
	// Cache returns the instance's cache store.
	Cache(opts CacheOptions) (Cache, error)
}

// LimiterOptions tune a Limiter; zero values mean the stated defaults.
type LimiterOptions struct {
	// MaxKeys bounds the buckets the memory store keeps for this instance
	// (the least recently used go first, full buckets before others).
	// Default DefaultMaxKeys. Redis bounds itself: an idle bucket expires.
	MaxKeys int
}

// DefaultMaxKeys is the default LimiterOptions.MaxKeys.
const DefaultMaxKeys = 100_000

// CacheOptions tune a Cache; zero values mean the stated defaults.
type CacheOptions struct {
	// MaxBytes bounds the memory the memory store keeps for this instance
	// (least recently used values go first). Default DefaultMaxBytes.
	// Redis is bounded by its own maxmemory: every value has a TTL, so a
	// volatile-lru policy evicts them first.
	MaxBytes int64
}

// DefaultMaxBytes is the default CacheOptions.MaxBytes.
const DefaultMaxBytes = 64 << 20

// Limit is a token bucket: Burst tokens at most, refilled at Rate tokens per
// Per. Every request takes one token; a request finding none is refused.
type Limit struct {
	Rate  int
	Per   time.Duration
	Burst int
}

// Check reports a Limit no backend can enforce.
func (l Limit) Check() error {
	if l.Rate < 1 || l.Burst < 1 || l.Per <= 0 {
		return fmt.Errorf("backend: invalid limit (rate %d, per %s, burst %d): each must be positive", l.Rate, l.Per, l.Burst)
	}
	return nil
}

// Interval is the time one token takes to come back: Per / Rate.
func (l Limit) Interval() time.Duration { return l.Per / time.Duration(l.Rate) }

// RefillTime is how long an empty bucket takes to fill up again.
func (l Limit) RefillTime() time.Duration {
	return time.Duration(float64(l.Burst) * float64(l.Per) / float64(l.Rate))
}

// Decision is the outcome of one request against a key's bucket.
type Decision struct {
	// Allowed is true when a token was taken.
	Allowed bool
	// Remaining is the number of whole tokens left after this request.
	Remaining int
	// RetryAfter, when refused, is how long until one token is available.
	RetryAfter time.Duration
	// Reset is how long until the bucket is full again.
	Reset time.Duration
}

// Limiter is a keyed rate limiter: one bucket per key, enforced atomically
// (on Redis, by one script on the server's clock, so that replicas share one
// budget whatever their clocks). The Limit is passed with every call, so a
// reload that changes it applies at once to the buckets already there.
// Keys are hashed before they reach a shared store: a session id or a
// client-chosen header may be a key. A key may alias a buffer the caller
// reuses (a string over the request's bytes): the store keeps a copy.
type Limiter interface {
	// Allow takes a token from key's bucket under limit, if one is there.
	Allow(ctx context.Context, key string, limit Limit) (Decision, error)
}

// ErrInvalidTTL is returned by Cache.Set for a ttl that is not positive.
var ErrInvalidTTL = errors.New("backend: ttl must be positive")

// Cache stores opaque byte values under keys, each for a TTL, and each in a
// group (such as the request path a cached response belongs to), so that
// one call can delete every value of a group. A value that does not fit the
// store's bounds is silently not kept: a cache may always miss.
//
// On Redis, values are sealed (AES-256-GCM under a key derived from
// session.secret for the plugin instance): a Redis dump or a reader of the
// Redis traffic learns sizes and expiry times, no value, key or group.
type Cache interface {
	// Get returns the value under key, or ok false when it is absent or
	// expired. The value must not be modified: the memory store shares it
	// between every caller.
	Get(ctx context.Context, key string) (value []byte, ok bool, err error)
	// Set stores a copy of value under key for ttl (ttl > 0, else
	// ErrInvalidTTL) in group, replacing any previous value of key. key and
	// group may alias a buffer the caller reuses: the store keeps copies.
	Set(ctx context.Context, key string, value []byte, ttl time.Duration, group string) error
	// Delete removes key; an absent key is not an error.
	Delete(ctx context.Context, key string) error
	// DeleteGroup removes every value stored in group.
	DeleteGroup(ctx context.Context, group string) error
}
