package redisbackend

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-dev/gatehouse/backend"
	"github.com/gatehouse-dev/gatehouse/internal/seal"
)

// SealVersion is the first byte of every sealed cache value: the byte the
// cache plugin's own Redis backend used (0x80 | its entry format 1), with the
// same per-value key derivation. Values now live under Prefix's namespace,
// so that release's entries are not read (they expire with their TTLs).
const SealVersion = 0x81

// Cache is a backend.Cache shared by every gateway replica on one Redis: a
// value stored by one replica is a hit on all, and DeleteGroup on any
// replica deletes the group everywhere.
//
// Each value is one Redis string under prefix + "e:" + base64url(key) whose
// TTL is the value's, so Redis drops expired values by itself. Keys are
// written as given (base64): a plugin hashes keys that hold a secret, as the
// cache plugin does. Each group has an index, a sorted set under prefix +
// "p:" + base64url(SHA-256(group)) of its values' Redis keys scored by
// their expiry, pruned of expired members on every write: DeleteGroup
// deletes what it lists.
//
// Every value is sealed (internal/seal, AES-256-GCM) under the instance's
// key, per value, with its Redis key as the value's id and additional data:
// a Redis dump or a reader of the Redis traffic learns no value or group,
// only sizes and expiry times, and a value written by someone without the
// key, or copied under another key, does not open and is a miss (and is
// deleted). Replicas share values because they derive the same key from
// session.secret.
type Cache struct {
	rdb     redis.UniversalClient
	prefix  string
	timeout time.Duration
	sealer  *seal.Sealer
}

// indexAdd: KEYS[1] the group's index; ARGV[1] the value's Redis key,
// ARGV[2] its TTL in ms. Drops expired members, adds the value scored by its
// expiry (on the Redis clock) and keeps the index alive as long as its
// longest-lived value.
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

// NewCache returns a Cache on rdb whose keys start with prefix and whose
// values are sealed under key (seal.KeyLen bytes: the plugin instance's
// secret). It fails only on a key of another length.
func NewCache(rdb redis.UniversalClient, prefix string, key []byte, opts Options) (*Cache, error) {
	s, err := seal.New(key, SealVersion)
	if err != nil {
		return nil, fmt.Errorf("redis cache: %w", err)
	}
	return &Cache{rdb: rdb, prefix: prefix, timeout: opts.timeout(), sealer: s}, nil
}

func (r *Cache) valueKey(key string) string {
	return r.prefix + "e:" + base64.RawURLEncoding.EncodeToString([]byte(key))
}

func (r *Cache) indexKey(group string) string {
	sum := sha256.Sum256([]byte(group))
	return r.prefix + "p:" + base64.RawURLEncoding.EncodeToString(sum[:])
}

// Get implements backend.Cache. A value that does not open (another key,
// moved, tampered with, another format) is a miss, and is deleted so that
// the next Set can take its place.
func (r *Cache) Get(ctx context.Context, key string) ([]byte, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	vk := r.valueKey(key)
	b, err := r.rdb.Get(ctx, vk).Bytes()
	switch {
	case errors.Is(err, redis.Nil):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("redis cache: get: %w", err)
	}
	plain, err := r.sealer.OpenInPlace(vk, b, []byte(vk))
	if err != nil {
		// Best effort: if the DEL fails, the value still expires with its
		// TTL and stays a miss until then.
		_ = r.rdb.Del(ctx, vk).Err()
		return nil, false, nil
	}
	return plain, true, nil
}

// Set implements backend.Cache. The TTL is sent in whole milliseconds
// (Redis has no finer unit); a ttl under a millisecond stores nothing.
func (r *Cache) Set(ctx context.Context, key string, value []byte, ttl time.Duration, group string) error {
	if ttl <= 0 {
		return fmt.Errorf("redis cache: %w, got %s", backend.ErrInvalidTTL, ttl)
	}
	if ttl < time.Millisecond {
		return nil
	}
	vk := r.valueKey(key)
	sealed := r.sealer.Seal(nil, vk, value, []byte(vk))
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	// Index first: a value must never be stored where DeleteGroup cannot
	// find it.
	if err := indexAdd.Run(ctx, r.rdb, []string{r.indexKey(group)}, vk, ttl.Milliseconds()).Err(); err != nil {
		return fmt.Errorf("redis cache: index: %w", err)
	}
	if err := r.rdb.Set(ctx, vk, sealed, ttl.Truncate(time.Millisecond)).Err(); err != nil {
		return fmt.Errorf("redis cache: set: %w", err)
	}
	return nil
}

// Delete implements backend.Cache. The group's index keeps the key until it
// expires or DeleteGroup runs; deleting an absent key is harmless.
func (r *Cache) Delete(ctx context.Context, key string) error {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	if err := r.rdb.Del(ctx, r.valueKey(key)).Err(); err != nil {
		return fmt.Errorf("redis cache: delete: %w", err)
	}
	return nil
}

// DeleteGroup implements backend.Cache. It removes from the index only the
// members it deleted, so a value stored meanwhile stays findable.
func (r *Cache) DeleteGroup(ctx context.Context, group string) error {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	idx := r.indexKey(group)
	keys, err := r.rdb.ZRange(ctx, idx, 0, -1).Result()
	if err != nil {
		return fmt.Errorf("redis cache: index: %w", err)
	}
	if len(keys) == 0 {
		return nil
	}
	// One DEL per key: on a cluster the values live in different slots.
	_, err = r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		members := make([]any, len(keys))
		for i, k := range keys {
			p.Del(ctx, k)
			members[i] = k
		}
		p.ZRem(ctx, idx, members...)
		return nil
	})
	if err != nil {
		return fmt.Errorf("redis cache: delete group: %w", err)
	}
	return nil
}
