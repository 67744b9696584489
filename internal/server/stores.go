package server

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-dev/gatehouse/backend"
	membackend "github.com/gatehouse-dev/gatehouse/internal/backend/memory"
	redisbackend "github.com/gatehouse-dev/gatehouse/internal/backend/redis"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/session"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/memory"
	redisstore "github.com/gatehouse-dev/gatehouse/internal/store/redis"
	"github.com/gatehouse-dev/gatehouse/internal/store/rediscache"
	"github.com/gatehouse-dev/gatehouse/plugins"
)

// maxAuthEntries bounds the memory auth store: single-use records of
// finished logins (each for at most the 10 minutes a login may take),
// back-channel logout jtis, parked logout URLs and refresh locks. None is
// written for an anonymous request (a started login lives in its cookie),
// so only logins the IdP accepted and IdP calls fill it; a store of its own
// can never evict real sessions.
const maxAuthEntries = 100_000

// state is the process's state store, opened once from session.store: the
// session store, the store of short-lived auth state, and every plugin
// instance's backends, all in memory or all on one Redis client (one
// connection pool, whatever the number of routes, plugins and reloads).
// It lives as long as the Server: a reload swaps routings, never state.
type state struct {
	sessions, auth store.Store
	// rdb is the one Redis client (nil with memory); closed last.
	rdb redis.UniversalClient
	// mem holds the plugins' memory backends (nil with Redis).
	mem *membackend.Store
	// secret is session.secret, from which each plugin instance's sealing
	// key is derived.
	secret string
}

// openState opens the state store named by session.store. The memory
// backends' janitor runs until ctx (the server's) ends.
//
// With Redis, a URL that cannot work fails, and so does a Redis that rejects
// the URL's credentials or database, or whose certificate does not verify
// (redisstore.Rejected): both are configuration errors. A Redis that cannot
// be reached (down, refusing connections, timing out, a name that does not
// resolve yet) does not stop the start: one warning is logged, /readyz
// reports the store failing, requests that need it answer 503 (plugins
// decide for themselves: rate_limit's on_error, the cache bypasses itself),
// and everything connects by itself once Redis answers.
func openState(ctx context.Context, cfg *config.Config, log *slog.Logger) (*state, error) {
	kind, err := store.KindOf(cfg.Session.Store)
	if err != nil {
		return nil, fmt.Errorf("session.store: %w", err)
	}
	st := &state{secret: cfg.Session.Secret}
	if kind == store.Memory {
		// Each session may also own a sid and a sub index record.
		if st.sessions, err = memory.New(memory.Options{MaxEntries: 3 * cfg.Session.MaxSessions}); err != nil {
			return nil, err
		}
		if st.auth, err = memory.New(memory.Options{MaxEntries: maxAuthEntries}); err != nil {
			st.close()
			return nil, err
		}
		st.mem = membackend.NewStore(ctx, nil, log)
		return st, nil
	}
	// One Redis for every replica and one client for the process; auth
	// state under a prefix of its own. Errors never carry the password.
	if st.rdb, err = redisstore.NewClient(cfg.Session.Store, nil); err != nil {
		return nil, fmt.Errorf("session.store: %w", err)
	}
	sessions, _ := redisstore.OnClient(st.rdb, redisstore.Options{})
	st.sessions = sessions
	// Session records are read through a local cache that Redis keeps
	// exact (CLIENT TRACKING; see rediscache for why another replica's
	// logout is seen by the next request). Sentinel, Cluster and TLS run
	// without it.
	switch c, err := rediscache.New(sessions, rediscache.Options{Prefix: session.KeyPrefix}); {
	case err == nil:
		st.sessions = c
	default:
		log.Info("session.store: no local session cache; every session load reads redis", "reason", err)
	}
	st.auth, _ = redisstore.OnClient(st.rdb, redisstore.Options{Prefix: redisstore.DefaultPrefix + "auth:"})
	pctx, cancel := context.WithTimeout(ctx, redisstore.DefaultOpTimeout)
	defer cancel()
	switch err := st.sessions.Ping(pctx); {
	case redisstore.Rejected(err):
		st.close()
		return nil, fmt.Errorf("session.store: redis rejected the configured connection: %w", err)
	case err != nil:
		redisstore.Logger().Warn("session.store: redis unreachable at start-up; gatehouse starts and keeps retrying "+
			"(/readyz reports store failing and requests that need it answer 503 until redis answers)", "error", err)
	}
	return st, nil
}

// backends returns a function giving each plugin on route its backends:
// namespaced to the plugin and the route, on the process's store, its
// cache values sealed under the key plugins.DeriveSecret gives it.
func (st *state) backends(route string) func(plugin string) backend.Backends {
	return func(plugin string) backend.Backends {
		if st.mem != nil {
			return st.mem.For(plugin + "\x00" + route)
		}
		return redisbackend.Backends{Client: st.rdb, Prefix: redisbackend.Prefix(plugin, route),
			Key: plugins.DeriveSecret(st.secret, plugin, route)}
	}
}

// retire forgets the memory backends of plugin instances the routing just
// swapped in does not have (routes or plugins a reload removed); requests
// still running on them finish as usual.
func (st *state) retire() {
	if st.mem != nil {
		st.mem.Retire()
	}
}

// close closes the stores, then the Redis client they share with the
// plugins' backends. The memory janitor ends with the server's context.
func (st *state) close() {
	for _, s := range []store.Store{st.sessions, st.auth} {
		if s != nil {
			_ = s.Close()
		}
	}
	if st.rdb != nil {
		_ = st.rdb.Close()
	}
}
