package auth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/session"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Refresh across replicas (issue 6 item 2). The in-process single flight
// (Auth.flight) makes one goroutine per process refresh a session; the store
// lock below makes one process among all replicas sharing the store do it.
// Timing:
//
//   - The lock lives refreshLockTTL, and the grant it guards is bounded by
//     refreshGrantTimeout, shorter: the rotated refresh token is saved while
//     the lock is still ours, so a replica that takes an expired lock never
//     spends the old refresh token.
//   - A replica that finds the lock taken polls with backoff (refreshPollMin
//     doubling to refreshPollMax), re-reading the session each time: once the
//     holder has saved the new token it uses it without a grant. It waits at
//     most refreshLockWait — a holder that crashed frees the lock after its
//     TTL, so the wait covers one TTL — and then gives up (errRefreshBusy:
//     the still-valid token is used, else 503).
const (
	refreshLockTTL      = 10 * time.Second
	refreshGrantTimeout = 8 * time.Second
	refreshLockWait     = refreshLockTTL + 2*time.Second
	refreshPollMin      = 5 * time.Millisecond
	refreshPollMax      = 200 * time.Millisecond
	// refreshUnlockTimeout bounds the release, which must happen even when
	// the flight's ctx has ended.
	refreshUnlockTimeout = 2 * time.Second
	// refreshTimeout bounds one whole flight as seen by the requests waiting
	// on it: the lock wait, then the grant and the save.
	refreshTimeout = refreshLockWait + refreshGrantTimeout + 5*time.Second
)

// errRefreshBusy: another replica held the session's refresh lock for longer
// than refreshLockWait. Not an IdP failure, so it starts no retry backoff.
var errRefreshBusy = errors.New("refresh lock held by another replica")

// refreshLockKey is the store key of the session's refresh lock. It is a
// digest of the session id, never the id itself: a store dump must not hand
// out live session ids (the cookie is the id plus its MAC).
func refreshLockKey(sessionID string) string {
	d := sha256.Sum256([]byte("gatehouse refresh lock\x00" + sessionID))
	return "lock:refresh:" + base64.RawURLEncoding.EncodeToString(d[:])
}

// renewed reports whether s no longer needs the refresh a flight was started
// for: with rejected set (an upstream refused that token), whether the stored
// token has changed; otherwise whether it is valid beyond the margin.
func (a *Auth) renewed(s *session.Session, rejected string) bool {
	if rejected != "" {
		return s.AccessToken != rejected
	}
	return !a.needsRefresh(s)
}

// lockRefresh takes the session's refresh lock in the shared store. When
// another replica holds it, it waits (see the timing above) and re-reads the
// session after each try: if that replica has renewed the token meanwhile,
// the renewed session is returned and no lock is taken (nil *store.Lock).
// Otherwise the lock is returned along with the session as read under it.
func (a *Auth) lockRefresh(ctx context.Context, cookie, sessionID, rejected string) (*store.Lock, *session.Session, error) {
	key := refreshLockKey(sessionID)
	wait := a.lockWait
	if wait <= 0 {
		wait = refreshLockWait
	}
	wctx, cancel := context.WithTimeout(ctx, wait) // bounds the waiting only
	defer cancel()
	delay := refreshPollMin
	for {
		l, err := store.TryLock(wctx, a.st, key, refreshLockTTL)
		switch {
		case err == nil:
			// Read under the lock: the previous holder may have saved a new
			// token between our last read and our lock.
			s, err := a.sessions.Load(ctx, cookie)
			if err != nil {
				a.unlock(ctx, l)
				return nil, nil, err
			}
			return l, s, nil
		case !errors.Is(err, store.ErrLocked):
			if wctx.Err() != nil {
				return nil, nil, errRefreshBusy
			}
			return nil, nil, fmt.Errorf("taking the refresh lock: %w", err)
		}
		if a.onLockBusy != nil {
			a.onLockBusy()
		}
		select {
		case <-wctx.Done():
			return nil, nil, errRefreshBusy
		case <-time.After(delay):
		}
		delay = min(delay*2, refreshPollMax)
		s, err := a.sessions.Load(wctx, cookie)
		switch {
		case err != nil && wctx.Err() != nil:
			return nil, nil, errRefreshBusy
		case err != nil:
			return nil, nil, err
		case a.renewed(s, rejected):
			return nil, s, nil
		}
	}
}

// unlock releases l, even after ctx has ended; a lost lock is logged (the
// grant outlived refreshLockTTL, which refreshGrantTimeout should prevent).
func (a *Auth) unlock(ctx context.Context, l *store.Lock) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), refreshUnlockTimeout)
	defer cancel()
	if err := l.Unlock(ctx); err != nil {
		a.log.WarnContext(ctx, "auth: releasing the refresh lock", "error", err)
	}
}
