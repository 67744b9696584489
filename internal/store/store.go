// Package store holds the small key-value interface through which all shared
// state (sessions, single-use ids, locks) is persisted, with an
// in-memory implementation (the default) and one on Redis. storetest/ is the
// contract suite every implementation must pass.
package store

import (
	"context"
	"errors"
	"strings"
	"time"
)

// ErrNotFound is returned when a key is absent or expired.
var ErrNotFound = errors.New("store: not found")

// ErrInvalidTTL is returned by writes whose ttl is not positive.
var ErrInvalidTTL = errors.New("store: ttl must be positive")

// ErrClosed is returned by calls made after Close.
var ErrClosed = errors.New("store: closed")

// Store is a key-value store with per-key TTLs. Values are opaque bytes;
// callers encrypt secrets before they reach a Store. Every call takes a ctx and
// must return promptly when it is done (an already cancelled ctx fails the call
// with an error wrapping ctx.Err()). Values passed in and returned are owned by
// the caller: an implementation copies what it keeps. Every write takes a ttl
// that must be positive (ErrInvalidTTL otherwise). Implementations are safe
// for concurrent use; storetest.Run is the contract they must pass.
type Store interface {
	// Get returns the value under key, or ErrNotFound.
	Get(ctx context.Context, key string) ([]byte, error)
	// Set stores value under key for ttl (ttl > 0), replacing any old value.
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// SetNX stores value only if key is absent; it reports whether it stored.
	SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error)
	// Take atomically returns and deletes the value under key (single-use
	// values such as logout handles), or ErrNotFound.
	Take(ctx context.Context, key string) ([]byte, error)
	// CompareAndSwap replaces the value under key with value, and its TTL with
	// ttl, only if the current value equals old byte for byte; it reports
	// whether it swapped. An absent or expired key never matches. Sessions use
	// it so that a background write (the idle-timeout touch) can never
	// overwrite a concurrent token refresh or resurrect a deleted session, and
	// so that index records are updated without lost writes.
	CompareAndSwap(ctx context.Context, key string, old, value []byte, ttl time.Duration) (bool, error)
	// Touch resets key's TTL; ErrNotFound when absent.
	Touch(ctx context.Context, key string, ttl time.Duration) error
	// Delete removes key; deleting an absent key is not an error.
	Delete(ctx context.Context, key string) error
	// Ping reports whether the store is usable (for /readyz).
	Ping(ctx context.Context) error
	// Close releases the store's resources and background work. Later calls
	// fail (ErrClosed or the backend's own error); a second Close is a no-op.
	Close() error
}

// Matcher is implemented by stores that can tell whether a key still holds
// a value the caller has, without copying the value out: the memory store,
// for which that copy is the largest cost of a session load. A network store
// gains nothing from it (the round trip is the cost) and need not implement
// it.
type Matcher interface {
	// Matches reports whether key holds exactly value (byte for byte, and
	// not expired). An absent key is false with a nil error.
	Matches(ctx context.Context, key string, value []byte) (bool, error)
}

// Kind is the backend a state-store setting selects: session.store, which
// the plugins receive as plugins.Spec.Store.
type Kind int

const (
	// Memory keeps state in this process: "memory", or "" for the default.
	Memory Kind = iota + 1
	// Redis keeps state in the Redis of a redis:// or rediss:// URL
	// (internal/store/redis), shared by every replica.
	Redis
)

// KindOf returns the backend setting selects. Any other setting is an error
// that does not repeat it: a URL may hold a password.
func KindOf(setting string) (Kind, error) {
	switch {
	case setting == "" || setting == "memory":
		return Memory, nil
	case strings.HasPrefix(setting, "redis://"), strings.HasPrefix(setting, "rediss://"):
		return Redis, nil
	}
	return 0, errors.New("unsupported store (want memory, redis:// or rediss://)")
}
