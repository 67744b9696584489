package cache

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-dev/gatehouse/internal/seal"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	redisstore "github.com/gatehouse-dev/gatehouse/internal/store/redis"
	"github.com/gatehouse-dev/gatehouse/plugins"
)

// Redis backend defaults.
const (
	// DefaultRedisPrefix namespaces the Redis backend's keys.
	DefaultRedisPrefix = "gatehouse:cache:"
	// DefaultRedisTimeout bounds one backend call.
	DefaultRedisTimeout = time.Second
	// DefaultRedisMaxEntryBytes bounds one encoded entry when
	// RedisOptions.MaxEntryBytes is 0.
	DefaultRedisMaxEntryBytes = 1 << 20
)

// RedisOptions tune a Redis backend; zero values mean the stated defaults.
type RedisOptions struct {
	// Prefix is prepended to every key. Default DefaultRedisPrefix.
	Prefix string
	// Timeout bounds each call. Default DefaultRedisTimeout.
	Timeout time.Duration
	// MaxEntryBytes bounds one encoded entry (body, headers and metadata):
	// a larger entry is not stored. Default DefaultRedisMaxEntryBytes.
	MaxEntryBytes int
}

// Redis is a Backend shared by every gateway replica on one Redis: a
// response cached by one replica is a hit on all, and an unsafe request on
// any replica invalidates the path everywhere.
//
// Each entry is one Redis string (a compact binary encoding) whose TTL is
// the entry's remaining freshness, so Redis drops stale entries by itself.
// Each path has an index, a sorted set of its entries' keys scored by their
// expiry, pruned of expired members on every write: DeletePath deletes what
// it lists. Entries are size-bounded one by one (MaxEntryBytes); the total is
// bounded by Redis's maxmemory, which with a volatile-lru or allkeys-lru
// policy evicts cache entries (they all have TTLs) before anything else
// fills up.
//
// Keys are the plugin's SHA-256 keys (no session id or header value appears
// in Redis) and the SHA-256 of the path, under the prefix and the route's
// name. Every command touches one key, so it works on Redis Cluster.
//
// Every entry is sealed with AES-256-GCM (internal/seal): a Redis dump or a
// reader of the Redis traffic learns no response body, header or path, only
// sizes and expiry times; a value written by someone without the key, or
// copied under another key, does not open and is a miss. Replicas share
// entries because they derive the same key from session.secret.
//
// Across replicas, a response fetched while another replica invalidates its
// path can be stored just after the invalidation and served until its TTL:
// the per-process guard of the memory backend does not span replicas.
type Redis struct {
	rdb      redis.UniversalClient
	scope    string
	timeout  time.Duration
	maxEntry int
	now      func() time.Time
	sealer   *seal.Sealer
}

// indexAdd: KEYS[1] the path's index; ARGV[1] the entry's key, ARGV[2] its
// TTL in ms. Drops expired members, adds the entry scored by its expiry (on
// the Redis clock) and keeps the index alive as long as its longest entry.
var indexAdd = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
if redis.call('PTTL', KEYS[1]) < ttl then
	redis.call('PEXPIRE', KEYS[1], ttl)
end
return 1
`)

// NewRedis returns a Redis backend on rdb. scope separates caches that must
// not mix (the route name); key, 32 bytes (plugins.Spec.Secret), seals the
// entries. It fails only on a key of another length.
func NewRedis(rdb redis.UniversalClient, scope string, key []byte, opts RedisOptions) (*Redis, error) {
	if len(key) != plugins.SecretLen {
		return nil, fmt.Errorf("cache: redis backend needs a %d-byte key, got %d bytes", plugins.SecretLen, len(key))
	}
	sealer, err := seal.New(key, sealVersion)
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	if opts.Prefix == "" {
		opts.Prefix = DefaultRedisPrefix
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultRedisTimeout
	}
	if opts.MaxEntryBytes <= 0 {
		opts.MaxEntryBytes = DefaultRedisMaxEntryBytes
	}
	return &Redis{
		rdb:      rdb,
		scope:    opts.Prefix + scope + ":",
		timeout:  opts.Timeout,
		maxEntry: opts.MaxEntryBytes,
		now:      time.Now,
		sealer:   sealer,
	}, nil
}

// sealVersion is the first byte of a sealed value. It differs from
// entryVersion so that a replica of an older release, which stored entries
// in clear, reads a sealed value as a format it does not know.
const sealVersion = 0x80 | entryVersion

// seal encrypts an encoded entry for the Redis key ek (internal/seal, under
// a key of the entry's own: HMAC(instance key, ek), so the number of random
// nonces drawn under any one key stays tiny), with ek as additional data, so
// the value opens under ek only.
func (r *Redis) seal(ek string, plain []byte) []byte {
	return r.sealer.Seal(nil, ek, plain, []byte(ek))
}

// errUnsealed is returned by open for a value that does not decrypt: written
// under another key, moved from another Redis key, tampered with, or in an
// older format.
var errUnsealed = errors.New("cache: entry does not decrypt")

// open decrypts a value read from the Redis key ek in place (the value's
// storage is reused for the plaintext).
func (r *Redis) open(ek string, value []byte) ([]byte, error) {
	plain, err := r.sealer.OpenInPlace(ek, value, []byte(ek))
	if err != nil {
		return nil, errUnsealed
	}
	return plain, nil
}

func (r *Redis) entryKey(key string) string {
	return r.scope + "e:" + base64.RawURLEncoding.EncodeToString([]byte(key))
}

func (r *Redis) indexKey(path string) string {
	sum := sha256.Sum256([]byte(path))
	return r.scope + "p:" + base64.RawURLEncoding.EncodeToString(sum[:])
}

// Get implements Backend. A value that does not decrypt (another key,
// moved, tampered with, an older format) is a miss, and is deleted so the
// next response can take its place; a value that decrypts but does not
// decode (a bug) is deleted too and reported.
func (r *Redis) Get(ctx context.Context, key string) (*Entry, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	ek := r.entryKey(key)
	b, err := r.rdb.Get(ctx, ek).Bytes()
	switch {
	case errors.Is(err, redis.Nil):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("cache: redis get: %w", err)
	}
	plain, err := r.open(ek, b)
	if errors.Is(err, errUnsealed) {
		// Best effort: if the DEL fails, the value still expires with its
		// TTL and stays a miss until then.
		_ = r.rdb.Del(ctx, ek).Err()
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	e, err := decodeEntry(plain)
	if err != nil {
		_ = r.rdb.Del(ctx, ek).Err()
		return nil, false, fmt.Errorf("cache: redis entry: %w", err)
	}
	if !r.now().Before(e.Expires) {
		return nil, false, nil
	}
	return e, true, nil
}

// Set implements Backend. An entry already stale, or larger than
// MaxEntryBytes once encoded (before sealing), is not stored.
func (r *Redis) Set(ctx context.Context, key string, e *Entry) error {
	ttl := e.Expires.Sub(r.now())
	if ttl < time.Millisecond {
		return nil
	}
	plain := encodeEntry(e)
	if len(plain) > r.maxEntry {
		return nil
	}
	ek := r.entryKey(key)
	b := r.seal(ek, plain)
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	// Index first: an entry must never be stored where DeletePath cannot
	// find it.
	if err := indexAdd.Run(ctx, r.rdb, []string{r.indexKey(e.Path)}, ek, ttl.Milliseconds()).Err(); err != nil {
		return fmt.Errorf("cache: redis index: %w", err)
	}
	if err := r.rdb.Set(ctx, ek, b, ttl.Truncate(time.Millisecond)).Err(); err != nil {
		return fmt.Errorf("cache: redis set: %w", err)
	}
	return nil
}

// DeletePath implements Backend. It removes from the index only the members
// it deleted, so an entry stored meanwhile stays findable.
func (r *Redis) DeletePath(ctx context.Context, path string) error {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	idx := r.indexKey(path)
	keys, err := r.rdb.ZRange(ctx, idx, 0, -1).Result()
	if err != nil {
		return fmt.Errorf("cache: redis index: %w", err)
	}
	if len(keys) == 0 {
		return nil
	}
	// One DEL per key: on a cluster the entries live in different slots.
	_, err = r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range keys {
			p.Del(ctx, k)
		}
		members := make([]any, len(keys))
		for i, k := range keys {
			members[i] = k
		}
		p.ZRem(ctx, idx, members...)
		return nil
	})
	if err != nil {
		return fmt.Errorf("cache: redis invalidate: %w", err)
	}
	return nil
}

// NewBackend returns the backend spec.Store names for a route's cache: a
// Memory backend bounded by cfg.MaxBytes for "memory" or "", a Redis backend
// (entries bounded by cfg.MaxEntryBytes plus room for headers) for a
// redis:// or rediss:// URL, its entries sealed under spec.Secret. The Redis
// client it opens is closed when spec.Ctx ends. It does not connect: while
// Redis is down, at start-up, on a reload or later, lookups fail and the
// plugin passes requests to the upstream uncached; the client reconnects by
// itself once Redis answers.
func NewBackend(spec plugins.Spec, cfg Config) (Backend, error) {
	kind, err := store.KindOf(spec.Store)
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	if kind == store.Memory {
		return NewMemory(int64(cfg.MaxBytes), nil), nil
	}
	scope := ""
	if spec.Route != nil {
		scope = spec.Route.Name
	}
	rdb, err := redisstore.NewClient(spec.Store, nil)
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	r, err := NewRedis(rdb, scope, spec.Secret, RedisOptions{MaxEntryBytes: int(cfg.MaxEntryBytes) + headerAllowance})
	if err != nil {
		_ = rdb.Close()
		return nil, err
	}
	context.AfterFunc(spec.Ctx, func() { _ = rdb.Close() })
	return r, nil
}

// headerAllowance is the room NewBackend leaves beside a MaxEntryBytes body
// for the headers and metadata of its entry.
const headerAllowance = 64 << 10

// entryVersion is the first byte of an encoded entry; a change of format
// gets a new version, and entries of another version are misses.
const entryVersion = 1

// encodeEntry serialises e: version, status, times (Unix ns), path, Vary
// names, header fields and body, lengths as uvarints.
func encodeEntry(e *Entry) []byte {
	n := 64 + len(e.Path) + len(e.Body)
	for _, f := range e.Header {
		n += len(f.Name) + len(f.Value) + 8
	}
	for _, v := range e.Vary {
		n += len(v) + 4
	}
	b := make([]byte, 0, n)
	b = append(b, entryVersion)
	b = binary.AppendUvarint(b, uint64(e.Status))
	b = binary.AppendVarint(b, e.Stored.UnixNano())
	b = binary.AppendVarint(b, e.Expires.UnixNano())
	b = binary.AppendVarint(b, int64(e.InitialAge))
	b = appendPart(b, e.Path)
	b = binary.AppendUvarint(b, uint64(len(e.Vary)))
	for _, v := range e.Vary {
		b = appendPart(b, v)
	}
	b = binary.AppendUvarint(b, uint64(len(e.Header)))
	for _, f := range e.Header {
		b = appendPart(b, f.Name)
		b = appendPart(b, f.Value)
	}
	return appendPart(b, e.Body)
}

// errCorrupt reports an encoded entry that does not decode.
var errCorrupt = errors.New("corrupt entry")

// decoder reads an encoded entry, remembering the first error.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

// bytes returns the next length-prefixed part, sharing the input.
func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.err = errCorrupt
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}

// count reads a number of items each taking at least min bytes, refusing
// counts the rest of the input cannot hold (no allocation from a bad count).
func (d *decoder) count(min int) int {
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b)/min) {
		d.err = errCorrupt
	}
	if d.err != nil {
		return 0
	}
	return int(n)
}

// decodeEntry parses what encodeEntry wrote. The entry's byte slices share b.
func decodeEntry(b []byte) (*Entry, error) {
	if len(b) == 0 || b[0] != entryVersion {
		return nil, errCorrupt
	}
	d := &decoder{b: b[1:]}
	e := &Entry{}
	status := d.uvarint()
	if status > 999 {
		d.err = errCorrupt
	}
	e.Status = int(status)
	e.Stored = time.Unix(0, d.varint())
	e.Expires = time.Unix(0, d.varint())
	e.InitialAge = time.Duration(d.varint())
	e.Path = string(d.bytes())
	if n := d.count(1); n > 0 {
		e.Vary = make([]string, n)
		for i := range e.Vary {
			e.Vary[i] = string(d.bytes())
		}
	}
	if n := d.count(2); n > 0 {
		e.Header = make([]Field, n)
		for i := range e.Header {
			e.Header[i] = Field{Name: d.bytes(), Value: d.bytes()}
		}
	}
	e.Body = d.bytes()
	if d.err == nil && len(d.b) != 0 {
		d.err = errCorrupt
	}
	if d.err != nil {
		return nil, d.err
	}
	return e, nil
}
