// Package rediscache serves the reads of one key prefix of a Redis store
// (the session records) from a local cache that Redis keeps exact: Redis's
// server-assisted client-side caching (CLIENT TRACKING, RESP3) in
// broadcasting mode, on a connection of the cache's own.
//
// # How a read is answered
//
// The cache holds the values of keys under Options.Prefix that this process
// read from Redis. Its tracking connection asked Redis for
// CLIENT TRACKING ON BCAST PREFIX <the prefix>: Redis then pushes an
// "invalidate" message naming every key under the prefix that any client
// writes (SET, the compare-and-swap script, DEL, GETDEL, PEXPIRE) or that
// expires, and a null one on FLUSHDB/FLUSHALL. Before answering from the
// cache, a read looks at the tracking socket without waiting (MSG_PEEK with
// MSG_DONTWAIT, one system call): if anything is there, it reads and applies
// it first (an invalidation deletes the entry, so the read goes to Redis). A
// goroutine also applies invalidations as they arrive, so that they do not
// pile up while nothing is read.
//
// # Why a logout on replica A is seen by replica B at once
//
// Redis queues the BCAST invalidations of a command while it runs, and writes
// them out (beforeSleep: trackingBroadcastInvalidationMessages, then the
// pending replies) before the reply to the client that wrote, A; a client
// added to Redis's pending-write list later is written first. So by the
// time A has its reply — long before the browser has A's answer and sends
// its next request to B — the invalidation has been written to B's tracking
// socket. B's next read of that key looks at the socket first, finds it, and
// goes to Redis.
//
// The residual window: the invalidation must have reached B's kernel by the
// time B's request is handled. On one host (loopback) the write delivers it
// before Redis's next system call. Across a network, a packet to B that is
// delayed or lost and retransmitted (a 200 ms minimum TCP retransmission
// timeout) longer than A's reply, A's answer to the browser and the
// browser's request to B take together could let one request on B use the
// old record. Redis with io-threads writes replies from several threads, so
// the order of those writes is not kept; the window is then the time
// between two writes of one event-loop pass. FLUSHDB and FLUSHALL are
// different: their (null) invalidation is written to each tracking
// connection directly, after the flushing client's reply in the same pass
// (measured on Redis 7.0), so a read within microseconds of a flush may
// still be served from the cache.
//
// # When the tracking connection is not there
//
// Until it is connected and tracking, and from the moment it fails (closed by
// a restarting Redis, an error, a PING unanswered for a heartbeat), nothing
// is served from the cache and the cache is emptied: every read goes to
// Redis, as without a cache, while the connection is redialled. A restarted
// Redis closes the old connection; the close is seen by the next read (the
// peek finds it), so no record from before the restart is served after it. A
// host that vanishes without closing (power loss) is caught by the heartbeat:
// for up to two heartbeats a record removed since from a replacement Redis
// could still be served.
//
// Writes go to Redis as they do without the cache (and drop the local entry).
// Entries remember the key's TTL (a PTTL read with the GET, one round trip), so
// the cache never returns a value the store would have expired.
//
// Only a single Redis reached over plain TCP is supported (redis://, no
// Sentinel, no Cluster, no TLS: the peek needs the socket's plaintext); New
// returns ErrUnsupported for the others, which then run uncached.
package rediscache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-dev/gatehouse/internal/safego"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	redisstore "github.com/gatehouse-dev/gatehouse/internal/store/redis"
)

// DefaultMaxEntries bounds the cache when Options.MaxEntries is 0: the
// sessions in use at one time on a busy replica, like internal/session's
// decoded-session cache (two generations of 2048). An entry holds a sealed
// session record (about 1.3 KB with a 900-character access token and a
// 700-character ID token, see the session package's memory figure) and its
// key: 1,472 bytes of heap each with a 1,300-byte value
// (BenchmarkMemoryPerEntry), so 4096 entries take about 6 MB.
const DefaultMaxEntries = 4096

// Heartbeat is how long the tracking connection may stay silent before a
// PING is sent; a PING unanswered for another Heartbeat ends the connection.
const Heartbeat = 2 * time.Second

// Redial bounds: the first retry after a failure waits redialMin, each
// further one twice as long, up to redialMax.
const (
	redialMin = 50 * time.Millisecond
	redialMax = 2 * time.Second
)

// ErrUnsupported is returned by New for a store the cache cannot track.
var ErrUnsupported = errors.New("rediscache: needs a single Redis over plain TCP on linux or darwin")

// errAgain is readNow's answer when the socket holds nothing.
var errAgain = errors.New("rediscache: nothing to read")

// Options configures a Store.
type Options struct {
	// Prefix selects the keys (as the store names them, without the Redis
	// store's own prefix) whose reads are cached: "sess:" for session records.
	// Empty caches every key.
	Prefix string
	// MaxEntries bounds the number of cached values. Default
	// DefaultMaxEntries.
	MaxEntries int
	// Logger receives a line when the tracking connection fails or comes
	// back. Default redisstore.Logger().
	Logger *slog.Logger
}

// Store is a store.Store on a redisstore.Store whose reads of Options.Prefix
// are served from the local cache while Redis keeps it exact. It also
// implements store.Matcher, without copying a cached value. Safe for
// concurrent use.
type Store struct {
	*redisstore.Store

	rdb         *redis.Client
	addr        string
	network     string
	user, pass  string
	dialTimeout time.Duration
	prefix      string // store keys cached
	redisPrefix string // the Redis store's own prefix
	max         int
	log         *slog.Logger

	// tc is the tracking connection while it is up and tracking, else nil.
	tc atomic.Pointer[trackConn]
	// mu is held by whoever consumes tc's bytes (drain), with draining
	// set: a read that finds the socket empty but draining set waits for
	// that drain, whose invalidations may not be applied yet.
	mu       sync.Mutex
	draining atomic.Bool
	buf      []byte // bytes read from tc and not yet parsed; under mu
	// up is closed when a tracking connection is published (then replaced);
	// under mu.
	up chan struct{}

	emu     sync.RWMutex
	entries map[string]*entry
	token   uint64 // last reservation's; under emu

	closed atomic.Bool
	stop   context.CancelFunc
	done   <-chan struct{}
	// installHook, for tests only, runs in install once a connection is
	// the tracking one (a panic there is how they reach track's recovery).
	installHook atomic.Pointer[func()]
}

// entry is a cached value, or a reservation while its GET is in flight
// (val == nil): an invalidation or a flush deletes it, and the GET's answer
// is then not kept.
type entry struct {
	val     []byte
	token   uint64
	expires time.Time // zero: no TTL
}

var (
	_ store.Store   = (*Store)(nil)
	_ store.Matcher = (*Store)(nil)
)

// New returns a Store caching st's reads of opts.Prefix. st must be on a
// client of redisstore.NewClient for a single redis:// server; anything else
// returns ErrUnsupported (use st as it is). New does not connect: the
// tracking connection is dialled in the background, and reads go to Redis
// until it tracks. Close ends the tracking connection and closes st.
func New(st *redisstore.Store, opts Options) (*Store, error) {
	c, ok := st.Client().(*redis.Client)
	if !ok || !supported {
		return nil, ErrUnsupported
	}
	o := c.Options()
	if o.TLSConfig != nil || o.CredentialsProvider != nil || o.CredentialsProviderContext != nil ||
		o.StreamingCredentialsProvider != nil {
		return nil, ErrUnsupported
	}
	if opts.MaxEntries < 0 {
		return nil, fmt.Errorf("rediscache: max entries must be >= 0, got %d", opts.MaxEntries)
	}
	if opts.MaxEntries == 0 {
		opts.MaxEntries = DefaultMaxEntries
	}
	if opts.Logger == nil {
		opts.Logger = redisstore.Logger()
	}
	s := &Store{
		Store: st, rdb: c, addr: o.Addr, network: o.Network, user: o.Username, pass: o.Password,
		dialTimeout: o.DialTimeout, prefix: opts.Prefix, redisPrefix: st.Prefix(),
		max: opts.MaxEntries, log: opts.Logger,
		entries: make(map[string]*entry), up: make(chan struct{}),
	}
	if s.pass != "" && s.user == "" {
		s.user = "default"
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	// A panic in the tracking goroutine drops its connection (track) and
	// is logged; the loop then starts again instead of ending the process.
	s.done = safego.Loop(ctx, s.log, "redis session cache tracking", s.run)
	return s, nil
}

// Tracking reports whether the tracking connection is up, i.e. whether
// reads may be served from the cache.
func (s *Store) Tracking() bool { return s.tc.Load() != nil }

// WaitTracking returns once the tracking connection is up (at once if it
// is), or with ctx's error.
func (s *Store) WaitTracking(ctx context.Context) error {
	for {
		s.mu.Lock()
		up := s.up
		s.mu.Unlock()
		if s.Tracking() {
			return nil
		}
		select {
		case <-up:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Len returns the number of cached values and reservations.
func (s *Store) Len() int {
	s.emu.RLock()
	defer s.emu.RUnlock()
	return len(s.entries)
}

// begin checks what every call checks first.
func (s *Store) begin(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("redis store: %w", err)
	}
	if s.closed.Load() {
		return store.ErrClosed
	}
	return nil
}

// Get implements store.Store.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	if !strings.HasPrefix(key, s.prefix) {
		return s.Store.Get(ctx, key)
	}
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	if v, ok := s.cached(key); ok {
		return bytes.Clone(v), nil
	}
	return s.fill(ctx, key)
}

// Matches implements store.Matcher: it compares value with the cached value
// in place.
func (s *Store) Matches(ctx context.Context, key string, value []byte) (bool, error) {
	if err := s.begin(ctx); err != nil {
		return false, err
	}
	var v []byte
	if strings.HasPrefix(key, s.prefix) {
		if c, ok := s.cached(key); ok {
			return bytes.Equal(c, value), nil
		}
		var err error
		if v, err = s.fill(ctx, key); err != nil && !errors.Is(err, store.ErrNotFound) {
			return false, err
		}
	} else {
		var err error
		if v, err = s.Store.Get(ctx, key); err != nil && !errors.Is(err, store.ErrNotFound) {
			return false, err
		}
	}
	return v != nil && bytes.Equal(v, value), nil
}

// cached returns the cached value of key, if the cache may answer now: the
// tracking connection is up and every invalidation that reached this host
// on it has been applied. The value must not be changed or kept.
func (s *Store) cached(key string) ([]byte, bool) {
	if !s.fresh() {
		return nil, false
	}
	s.emu.RLock()
	e := s.entries[key]
	var v []byte
	var exp time.Time
	if e != nil {
		v, exp = e.val, e.expires
	}
	s.emu.RUnlock()
	if v == nil || (!exp.IsZero() && !time.Now().Before(exp)) {
		return nil, false
	}
	return v, true
}

// fresh reports whether the cache may answer: see cached. The socket is
// looked at before draining is: bytes gone from the socket were taken by a
// drain that set draining first and clears it only once they are applied.
func (s *Store) fresh() bool {
	tc := s.tc.Load()
	if tc == nil {
		return false
	}
	if tc.pending() || s.draining.Load() {
		s.drainLocked(tc)
		return s.tc.Load() == tc
	}
	return true
}

// fill reads key from Redis, with its TTL, and caches the value unless an
// invalidation or a flush came in meanwhile. The value returned is the
// caller's.
func (s *Store) fill(ctx context.Context, key string) ([]byte, error) {
	var token uint64
	if s.fresh() {
		token = s.reserve(key)
	}
	start := time.Now()
	v, pttl, err := s.fetch(ctx, key)
	if err != nil {
		if token != 0 {
			s.forget(key, token)
		}
		return nil, err
	}
	if token != 0 {
		s.fulfil(key, token, bytes.Clone(v), start, pttl)
	}
	return v, nil
}

// fetch is GET and PTTL of key in one round trip.
func (s *Store) fetch(ctx context.Context, key string) ([]byte, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, s.OpTimeout())
	defer cancel()
	var get *redis.StringCmd
	var pttl *redis.DurationCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		get = p.Get(ctx, s.redisPrefix+key)
		pttl = p.PTTL(ctx, s.redisPrefix+key)
		return nil
	})
	v, gerr := get.Bytes()
	switch {
	case errors.Is(gerr, redis.Nil):
		return nil, 0, store.ErrNotFound
	case errors.Is(err, redis.ErrClosed):
		return nil, 0, store.ErrClosed
	case err != nil:
		return nil, 0, fmt.Errorf("redis store: get: %w", err)
	}
	return v, pttl.Val(), nil
}

// reserve puts a reservation for key in the cache (making room if needed)
// and returns its token.
func (s *Store) reserve(key string) uint64 {
	s.emu.Lock()
	defer s.emu.Unlock()
	if _, ok := s.entries[key]; !ok && len(s.entries) >= s.max {
		for k := range s.entries { // an arbitrary victim: map order
			delete(s.entries, k)
			break
		}
	}
	s.token++
	s.entries[key] = &entry{token: s.token}
	return s.token
}

// fulfil turns key's reservation token into the value v, read at start with
// the TTL pttl (negative: none), if the reservation is still there.
func (s *Store) fulfil(key string, token uint64, v []byte, start time.Time, pttl time.Duration) {
	s.emu.Lock()
	defer s.emu.Unlock()
	e := s.entries[key]
	if e == nil || e.token != token {
		return
	}
	e.val = v
	if pttl > 0 {
		e.expires = start.Add(pttl)
	}
}

// forget removes key's entry: the one of token, or any when token is 0.
func (s *Store) forget(key string, token uint64) {
	s.emu.Lock()
	if e := s.entries[key]; e != nil && (token == 0 || e.token == token) {
		delete(s.entries, key)
	}
	s.emu.Unlock()
}

// flush empties the cache, reservations included.
func (s *Store) flush() {
	s.emu.Lock()
	clear(s.entries)
	s.emu.Unlock()
}

// written drops key's entry after this process wrote it. Redis's
// invalidation would do it too; this does not wait for it.
func (s *Store) written(key string) {
	if strings.HasPrefix(key, s.prefix) {
		s.forget(key, 0)
	}
}

// Set implements store.Store.
func (s *Store) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	defer s.written(key)
	return s.Store.Set(ctx, key, value, ttl)
}

// SetNX implements store.Store.
func (s *Store) SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	defer s.written(key)
	return s.Store.SetNX(ctx, key, value, ttl)
}

// Take implements store.Store.
func (s *Store) Take(ctx context.Context, key string) ([]byte, error) {
	defer s.written(key)
	return s.Store.Take(ctx, key)
}

// CompareAndSwap implements store.Store.
func (s *Store) CompareAndSwap(ctx context.Context, key string, old, value []byte, ttl time.Duration) (bool, error) {
	defer s.written(key)
	return s.Store.CompareAndSwap(ctx, key, old, value, ttl)
}

// Touch implements store.Store.
func (s *Store) Touch(ctx context.Context, key string, ttl time.Duration) error {
	defer s.written(key)
	return s.Store.Touch(ctx, key, ttl)
}

// Delete implements store.Store.
func (s *Store) Delete(ctx context.Context, key string) error {
	defer s.written(key)
	return s.Store.Delete(ctx, key)
}

// Close ends the tracking connection, empties the cache and closes the
// underlying store. A second Close is a no-op.
func (s *Store) Close() error {
	if s.closed.CompareAndSwap(false, true) {
		s.stop()
		s.mu.Lock()
		if tc := s.tc.Load(); tc != nil {
			s.drop(tc, nil)
		}
		s.mu.Unlock()
		<-s.done
		s.flush()
	}
	return s.Store.Close()
}
