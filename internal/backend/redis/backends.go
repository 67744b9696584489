package redisbackend

import (
	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-dev/gatehouse/backend"
)

// Backends is the backend.Backends of one plugin instance on a shared
// client: every backend it opens is on Client, under Prefix, its cache
// values sealed under Key. Opening one is cheap and connects to nothing.
type Backends struct {
	Client  redis.UniversalClient
	Prefix  string // see Prefix
	Key     []byte // the instance's sealing key (plugins.Spec.Secret)
	Options Options
}

// Limiter implements backend.Backends; the memory bound does not apply.
func (b Backends) Limiter(backend.LimiterOptions) (backend.Limiter, error) {
	return NewLimiter(b.Client, b.Prefix, b.Options), nil
}

// Cache implements backend.Backends; Redis's maxmemory bounds it.
func (b Backends) Cache(backend.CacheOptions) (backend.Cache, error) {
	return NewCache(b.Client, b.Prefix, b.Key, b.Options)
}
