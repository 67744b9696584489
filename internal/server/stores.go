package server

import (
	"context"
	"fmt"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/memory"
	redisstore "github.com/gatehouse-dev/gatehouse/internal/store/redis"
)

// maxAuthEntries bounds the memory auth store: single-use records of
// finished logins (each for at most the 10 minutes a login may take),
// back-channel logout jtis, parked logout URLs and refresh locks. None is
// written for an anonymous request (a started login lives in its cookie),
// so only logins the IdP accepted and IdP calls fill it; a store of its own
// can never evict real sessions.
const maxAuthEntries = 100_000

// openStores opens the session store and the store for short-lived auth state
// (single-use login records and ids, logout handles, locks) named by
// session.store.
//
// With Redis, a URL that cannot work fails, and so does a Redis that rejects
// the URL's credentials or database, or whose certificate does not verify
// (redisstore.Rejected): both are configuration errors. A Redis that cannot be reached (down, refusing
// connections, timing out, a name that does not resolve yet) does not stop
// the start: one warning is logged, /readyz reports the store failing,
// requests that need it answer 503, and the stores connect by themselves
// once Redis answers.
func openStores(cfg *config.Config) (sessions, auth store.Store, err error) {
	kind, err := store.KindOf(cfg.Session.Store)
	if err != nil {
		return nil, nil, fmt.Errorf("session.store: %w", err)
	}
	if kind == store.Memory {
		// Each session may also own a sid and a sub index record.
		sessions, err = memory.New(memory.Options{MaxEntries: 3 * cfg.Session.MaxSessions})
		if err != nil {
			return nil, nil, err
		}
		auth, err = memory.New(memory.Options{MaxEntries: maxAuthEntries})
		if err != nil {
			_ = sessions.Close()
			return nil, nil, err
		}
		return sessions, auth, nil
	}
	// One Redis for every replica; auth state under a prefix of its own.
	// Errors never carry the password (an invalid URL is shown redacted).
	rs, err := redisstore.Open(cfg.Session.Store, redisstore.Options{})
	if err != nil {
		return nil, nil, fmt.Errorf("session.store: %w", err)
	}
	ra, err := redisstore.Open(cfg.Session.Store, redisstore.Options{Prefix: redisstore.DefaultPrefix + "auth:"})
	if err != nil {
		_ = rs.Close()
		return nil, nil, fmt.Errorf("session.store: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), redisstore.DefaultOpTimeout)
	defer cancel()
	switch err := rs.Ping(ctx); {
	case redisstore.Rejected(err):
		_, _ = rs.Close(), ra.Close()
		return nil, nil, fmt.Errorf("session.store: redis rejected the configured connection: %w", err)
	case err != nil:
		redisstore.Logger().Warn("session.store: redis unreachable at start-up; gatehouse starts and keeps retrying "+
			"(/readyz reports store failing and requests that need it answer 503 until redis answers)", "error", err)
	}
	return rs, ra, nil
}
