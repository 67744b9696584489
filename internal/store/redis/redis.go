// Package redisstore is the store.Store on Redis (github.com/redis/go-redis/v9):
// the shared state engine when several gateway replicas run behind a load
// balancer. Sessions, single-use ids and locks written by one
// replica are seen by all, and survive a gateway restart.
//
// Every call is bounded: short dial/read/write/pool timeouts (see NewClient)
// and, on top, Options.OpTimeout as a deadline on the whole call, retries
// included. A Redis that is down, unreachable or hung therefore yields an
// error within OpTimeout, never a hang; the gateway answers 503 and /readyz
// (Ping) reports it. Nothing needs recreating when Redis returns: the client
// reconnects on the next call, and the CompareAndSwap script is re-sent
// (EVALSHA falls back to EVAL) when a restarted Redis has lost it.
//
// Atomicity: Take is GETDEL, SetNX is SET NX PX, CompareAndSwap is one Lua
// script (GET, compare, SET PX), so all three are atomic on the server. Every
// command touches a single key, so the store also works on Redis Cluster.
// Requires Redis >= 6.2 (GETDEL).
//
// TTLs are sent in milliseconds, rounded up (Redis has no finer unit). As with
// any network store, a write whose call failed with a timeout may still have
// been applied.
//
// Values are opaque bytes stored as they are: callers encrypt secrets
// (internal/session does) before they reach the store, so a Redis dump or
// MONITOR does not leak tokens.
package redisstore

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// DefaultPrefix namespaces every key when Options.Prefix is empty, so that
// gatehouse can share a Redis database with other applications.
const DefaultPrefix = "gatehouse:"

// DefaultOpTimeout bounds every call when Options.OpTimeout is 0.
const DefaultOpTimeout = 2 * time.Second

// Options configures a Store. The zero value is usable.
type Options struct {
	// Prefix is prepended to every key. Default DefaultPrefix. Stores with
	// different prefixes on one database never see each other's keys.
	Prefix string
	// OpTimeout bounds each call, retries included. Default DefaultOpTimeout;
	// negative is an error.
	OpTimeout time.Duration
	// TLSConfig replaces the TLS configuration of a rediss:// URL (custom
	// root CAs, client certificates). Default: the system roots, ServerName
	// from the URL. Setting it with a redis:// URL is an error.
	TLSConfig *tls.Config
}

// Store is a store.Store on Redis. Create it with New; it is safe for
// concurrent use.
type Store struct {
	rdb       redis.UniversalClient
	shared    bool // rdb is the caller's: Close leaves it open
	prefix    string
	opTimeout time.Duration

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

var _ store.Store = (*Store)(nil)

// compareAndSwap: KEYS[1] key; ARGV[1] old value, ARGV[2] new value, ARGV[3]
// TTL in ms. GET of an absent key is false, which never equals a string, so an
// absent or expired key never matches (even an empty old value).
var compareAndSwap = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
	redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
	return 1
end
return 0
`)

// New connects to the Redis named by rawURL (see NewClient for the URL forms)
// and checks it answers PING within ctx and OpTimeout: any failure, a Redis
// that is down included, fails New. Later outages are reported call by call.
// A gateway starts with Open instead, so that it can start while Redis is
// down.
func New(ctx context.Context, rawURL string, opts Options) (*Store, error) {
	s, err := Open(rawURL, opts)
	if err != nil {
		return nil, err
	}
	if err := s.Ping(ctx); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("redis store: connecting: %w", err)
	}
	return s, nil
}

// Open returns a Store on the Redis named by rawURL (see NewClient for the
// URL forms) without connecting: only a URL or option that cannot work fails
// it. The first call connects, and every call after a failed one tries
// again, so a Store opened while Redis is down starts working once Redis
// answers. Ping it, and see Rejected, to tell a Redis that is not there yet
// from one that refuses the URL's credentials or database.
func Open(rawURL string, opts Options) (*Store, error) {
	if opts.OpTimeout < 0 {
		return nil, fmt.Errorf("redis store: op timeout must be >= 0, got %s", opts.OpTimeout)
	}
	rdb, err := NewClient(rawURL, opts.TLSConfig)
	if err != nil {
		return nil, fmt.Errorf("redis store: %w", err)
	}
	s, err := OnClient(rdb, opts)
	if err != nil {
		return nil, err
	}
	s.shared = false
	return s, nil
}

// OnClient returns a Store on rdb, a client of NewClient's that the caller
// shares with other Redis users (the server opens one per process, for its
// stores and every plugin backend) and closes itself: the Store's Close
// only ends the Store. Options.TLSConfig is ignored (the client has its
// own).
func OnClient(rdb redis.UniversalClient, opts Options) (*Store, error) {
	if opts.OpTimeout < 0 {
		return nil, fmt.Errorf("redis store: op timeout must be >= 0, got %s", opts.OpTimeout)
	}
	if opts.OpTimeout == 0 {
		opts.OpTimeout = DefaultOpTimeout
	}
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	return &Store{rdb: rdb, shared: true, prefix: opts.Prefix, opTimeout: opts.OpTimeout}, nil
}

// Rejected reports whether err, from a Store's call or a NewClient client's
// command, means that Redis was reached and refused us in a way that trying
// again does not cure: credentials it does not accept (WRONGPASS, NOAUTH),
// an ACL user without the commands we need (NOPERM), a database number it
// does not have, a protected-mode server (DENIED), or a TLS certificate that
// does not verify. These are configuration errors, worth failing a start
// over.
//
// Every other failure is taken as Redis not being reachable yet, and false
// is returned: a refused or reset connection, a timeout, a Redis still
// loading its data (LOADING) or at its client limit, and a host name that
// does not resolve. The last is deliberate: in Kubernetes a Service's name
// may not resolve for a moment while it is created, and a start that fails
// on it turns a short wait into a crash loop; a name that never resolves (a
// typo) shows instead as a failing readiness check whose logs name the
// cause.
func Rejected(err error) bool {
	if err == nil {
		return false
	}
	if redis.IsAuthError(err) || redis.IsPermissionError(err) {
		return true
	}
	var verify *tls.CertificateVerificationError
	if errors.As(err, &verify) {
		return true
	}
	var re redis.Error
	if !errors.As(err, &re) {
		return false
	}
	msg := re.Error()
	// Redis 7: "ERR DB index is out of range"; older: "ERR invalid DB index".
	return strings.HasPrefix(msg, "DENIED ") ||
		(strings.HasPrefix(msg, "ERR ") && strings.Contains(msg, "DB index"))
}

// Client returns the underlying go-redis client, so that other Redis users in
// the process (the plugins' backends) can share its connection pool. Closing
// the Store closes it.
func (s *Store) Client() redis.UniversalClient { return s.rdb }

// Prefix returns the prefix of the Store's keys.
func (s *Store) Prefix() string { return s.prefix }

// OpTimeout returns the bound on each call (Options.OpTimeout, defaulted),
// for a layer that talks to Redis on the Store's behalf (rediscache).
func (s *Store) OpTimeout() time.Duration { return s.opTimeout }

// begin checks what every call checks first and bounds the call.
func (s *Store) begin(ctx context.Context) (context.Context, context.CancelFunc, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, fmt.Errorf("redis store: %w", err)
	}
	if s.closed.Load() {
		return nil, nil, store.ErrClosed
	}
	ctx, cancel := context.WithTimeout(ctx, s.opTimeout)
	return ctx, cancel, nil
}

// fail wraps a go-redis error for op; a client closed under a call in flight
// reports store.ErrClosed.
func fail(op string, err error) error {
	if errors.Is(err, redis.ErrClosed) {
		return store.ErrClosed
	}
	return fmt.Errorf("redis store: %s: %w", op, err)
}

// beginTTL is begin for writes: it also checks ttl and rounds it (see ms).
func (s *Store) beginTTL(ctx context.Context, ttl time.Duration) (context.Context, context.CancelFunc, time.Duration, error) {
	ttl, err := ms(ttl)
	if err != nil {
		return nil, nil, 0, err
	}
	ctx, cancel, err := s.begin(ctx)
	return ctx, cancel, ttl, err
}

// ms converts a positive ttl to whole milliseconds, rounding up so that a
// sub-millisecond TTL does not become PX 0 (an error in Redis).
func ms(ttl time.Duration) (time.Duration, error) {
	if ttl <= 0 {
		return 0, fmt.Errorf("redis store: %w, got %s", store.ErrInvalidTTL, ttl)
	}
	return (ttl + time.Millisecond - 1).Truncate(time.Millisecond), nil
}

// Get implements store.Store.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	v, err := s.rdb.Get(ctx, s.prefix+key).Bytes()
	switch {
	case errors.Is(err, redis.Nil):
		return nil, store.ErrNotFound
	case err != nil:
		return nil, fail("get", err)
	}
	return v, nil
}

// Set implements store.Store.
func (s *Store) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	ctx, cancel, ttl, err := s.beginTTL(ctx, ttl)
	if err != nil {
		return err
	}
	defer cancel()
	if err := s.rdb.Set(ctx, s.prefix+key, value, ttl).Err(); err != nil {
		return fail("set", err)
	}
	return nil
}

// SetNX implements store.Store (SET NX PX).
func (s *Store) SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	ctx, cancel, ttl, err := s.beginTTL(ctx, ttl)
	if err != nil {
		return false, err
	}
	defer cancel()
	ok, err := s.rdb.SetNX(ctx, s.prefix+key, value, ttl).Result()
	if err != nil {
		return false, fail("setnx", err)
	}
	return ok, nil
}

// Take implements store.Store (GETDEL).
func (s *Store) Take(ctx context.Context, key string) ([]byte, error) {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	v, err := s.rdb.GetDel(ctx, s.prefix+key).Bytes()
	switch {
	case errors.Is(err, redis.Nil):
		return nil, store.ErrNotFound
	case err != nil:
		return nil, fail("getdel", err)
	}
	return v, nil
}

// CompareAndSwap implements store.Store with one Lua script.
func (s *Store) CompareAndSwap(ctx context.Context, key string, old, value []byte, ttl time.Duration) (bool, error) {
	ctx, cancel, ttl, err := s.beginTTL(ctx, ttl)
	if err != nil {
		return false, err
	}
	defer cancel()
	n, err := compareAndSwap.Run(ctx, s.rdb, []string{s.prefix + key}, old, value, ttl.Milliseconds()).Int()
	if err != nil {
		return false, fail("compare and swap", err)
	}
	return n == 1, nil
}

// Touch implements store.Store (PEXPIRE).
func (s *Store) Touch(ctx context.Context, key string, ttl time.Duration) error {
	ctx, cancel, ttl, err := s.beginTTL(ctx, ttl)
	if err != nil {
		return err
	}
	defer cancel()
	ok, err := s.rdb.PExpire(ctx, s.prefix+key, ttl).Result()
	switch {
	case err != nil:
		return fail("pexpire", err)
	case !ok:
		return store.ErrNotFound
	}
	return nil
}

// Delete implements store.Store.
func (s *Store) Delete(ctx context.Context, key string) error {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	if err := s.rdb.Del(ctx, s.prefix+key).Err(); err != nil {
		return fail("del", err)
	}
	return nil
}

// Ping implements store.Store: it fails while Redis is unreachable, hung or
// refusing our credentials, and after Close.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return fail("ping", err)
	}
	return nil
}

// Close closes the connection pool (the data stays in Redis), unless the
// Store is OnClient's. Later calls fail with store.ErrClosed; closing twice
// is not an error.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		if s.shared {
			return
		}
		if err := s.rdb.Close(); err != nil {
			s.closeErr = fmt.Errorf("redis store: close: %w", err)
		}
	})
	return s.closeErr
}
