package server

import (
	"context"
	"fmt"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/memory"
	redisstore "github.com/gatehouse-dev/gatehouse/internal/store/redis"
)

// maxLoginStates bounds the login attempts in flight (state, nonce, PKCE
// verifier) held in memory. They live in a store of their own so that a flood
// of /auth/login requests can never evict real sessions.
const maxLoginStates = 100_000

// openStores opens the session store and the store for short-lived auth state
// (login states, single-use ids) named by session.store.
func openStores(cfg *config.Config) (sessions, auth store.Store, err error) {
	switch {
	case cfg.Session.Store == "" || cfg.Session.Store == "memory":
		// Each session may also own a sid and a sub index record.
		sessions, err = memory.New(memory.Options{MaxEntries: 3 * cfg.Session.MaxSessions})
		if err != nil {
			return nil, nil, err
		}
		auth, err = memory.New(memory.Options{MaxEntries: maxLoginStates})
		if err != nil {
			_ = sessions.Close()
			return nil, nil, err
		}
		return sessions, auth, nil
	case strings.HasPrefix(cfg.Session.Store, "redis://"), strings.HasPrefix(cfg.Session.Store, "rediss://"):
		// One Redis for every replica; login states under a prefix of their
		// own. New pings: a wrong address or password fails at startup.
		ctx, cancel := context.WithTimeout(context.Background(), redisstore.DefaultOpTimeout)
		defer cancel()
		sessions, err = redisstore.New(ctx, cfg.Session.Store, redisstore.Options{})
		if err != nil {
			return nil, nil, fmt.Errorf("session.store: %w", err)
		}
		auth, err = redisstore.New(ctx, cfg.Session.Store, redisstore.Options{Prefix: redisstore.DefaultPrefix + "auth:"})
		if err != nil {
			_ = sessions.Close()
			return nil, nil, fmt.Errorf("session.store: %w", err)
		}
		return sessions, auth, nil
	}
	// Never echo the URL: it may hold a password.
	return nil, nil, fmt.Errorf("session.store: unsupported store (want memory, redis:// or rediss://)")
}
