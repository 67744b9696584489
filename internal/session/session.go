// Package session keeps the browser's server-side session: the record holding
// the user's tokens, the cookie that names it, and the idle and absolute
// timeouts, persisted through a store.Store.
//
// Security properties, each with a test:
//
//   - The cookie carries only the session id (256 random bits) and an
//     HMAC-SHA256 of it; a cookie is accepted only if its MAC verifies
//     (constant-time compare), so forged or tampered cookies never reach the
//     store.
//   - New always assigns a fresh id: an id the browser brought is never reused
//     (session fixation).
//   - Values are encrypted at rest with AES-256-GCM under a key derived per
//     session (see crypto.go), with the id as additional data, so a store dump
//     leaks no token and a value copied under another key does not decrypt.
//   - The store key is an HMAC of the id, not the id: a store dump does not
//     hand out live cookies.
//   - idle_timeout and absolute_timeout are enforced here on every Load, not
//     left to the store's TTL or the cookie's lifetime.
//
// Keys: every key is derived from session.secret with HKDF-SHA256 under its
// own label, so the cookie MAC, the store-key HMAC, the index HMAC and the
// encryption never share a key.
package session

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// ErrNoSession is returned by Load when the cookie is missing, malformed,
// forged, or names a session that is absent, expired (idle or absolute) or
// unreadable; and by Save when the session has ended meanwhile. Callers
// answer 401.
var ErrNoSession = errors.New("session: no session")

const (
	// DefaultIndexLimit bounds how many sessions one subject (and one IdP sid)
	// may hold at once; see WithIndexLimit.
	DefaultIndexLimit = 64
	// maxTouchInterval bounds how stale the stored LastSeenAt may be; see Load.
	maxTouchInterval = time.Minute
)

// Session is one logged-in browser. The value stored is everything but ID,
// encoded compactly and encrypted (codec.go); ID is the random id the cookie
// names.
type Session struct {
	// ID is the session id (43 base64url characters, 256 random bits). New
	// assigns it; it is never serialised into the stored value.
	ID string
	// Subject is the ID token's sub claim.
	Subject string
	// SID is the IdP's session id (the ID token's sid claim), empty when the
	// IdP sends none. Back-channel logout ends sessions by it.
	SID string
	// Claims are the ID token's claims (the profile behind /auth/me and the
	// {claim.x} header placeholders). After Load they are shared with other
	// requests of the session: read them, never modify them.
	Claims map[string]any
	// IDToken is the raw ID token (id_token_hint at logout).
	IDToken string
	// AccessToken is forwarded to upstreams as a Bearer token.
	AccessToken string
	// RefreshToken renews AccessToken; empty when the IdP issued none.
	RefreshToken string
	// AccessExpiresAt is when AccessToken expires (zero when unknown).
	AccessExpiresAt time.Time
	// CreatedAt is when the user logged in; the absolute timeout counts from it.
	// New sets it.
	CreatedAt time.Time
	// LastSeenAt is when the session was last used, to a precision of the
	// touch interval (see Manager.Load); the idle timeout counts from it.
	LastSeenAt time.Time

	// raw is the stored ciphertext this record was read from, so Load's touch
	// write can be made conditional on nobody having written since.
	raw []byte
}

// Manager creates, loads and ends sessions and makes their cookies. It is
// safe for concurrent use.
type Manager struct {
	st     store.Store
	keys   keys
	idle   time.Duration
	abs    time.Duration
	touch  time.Duration
	limit  int
	now    func() time.Time
	log    *slog.Logger
	cookie cookieAttrs
	claims *claimsCache
	opened openedCache
	// cookies maps cookie values verified before to their session id and
	// store key: a cookie value either verifies or not, forever, so the two
	// MACs need not be computed again.
	cookies twoGen[verified]
}

// Option adjusts a Manager built by NewManager.
type Option func(*Manager)

// WithClock replaces time.Now (tests drive the timeouts with a fake clock).
func WithClock(now func() time.Time) Option { return func(m *Manager) { m.now = now } }

// WithLogger sets the logger for conditions worth an operator's attention
// (store errors on a best-effort write, undecryptable values). Default
// slog.Default().
func WithLogger(l *slog.Logger) Option { return func(m *Manager) { m.log = l } }

// WithIndexLimit bounds how many live sessions one subject (and one IdP sid)
// may hold; when a new login would exceed it, the oldest of that subject's
// sessions is ended. This keeps the index records small and stops a single
// account from filling the store. Default DefaultIndexLimit.
func WithIndexLimit(n int) Option { return func(m *Manager) { m.limit = n } }

// NewManager returns a Manager persisting sessions in st. cfg is the
// session block as config.Load returns it, defaults applied and checked
// (secret length, timeouts, cookie name and prefix, domain, SameSite): it is
// not checked again here. publicURL is server.public_url as config gives it
// (an http or https origin): when it is https the cookie is Secure.
func NewManager(cfg config.Session, publicURL *url.URL, st store.Store, opts ...Option) (*Manager, error) {
	if st == nil {
		return nil, errors.New("session: nil store")
	}
	if publicURL == nil {
		return nil, errors.New("session: nil public url")
	}
	m := &Manager{
		claims: newClaimsCache(),
		st:     st,
		idle:   cfg.IdleTimeout.D(),
		abs:    cfg.AbsoluteTimeout.D(),
		limit:  DefaultIndexLimit,
		now:    time.Now,
		log:    slog.Default(),
	}
	m.keys.init([]byte(cfg.Secret))
	m.opened.init(openedCacheSize, claimsCacheAge)
	m.cookies.init(openedCacheSize, claimsCacheAge)
	for _, o := range opts {
		o(m)
	}
	if m.limit < 1 {
		return nil, fmt.Errorf("session: index limit must be >= 1, got %d", m.limit)
	}
	if m.now == nil || m.log == nil {
		return nil, errors.New("session: nil clock or logger option")
	}
	// LastSeenAt is re-saved at most once per touch interval; see Load.
	m.touch = min(maxTouchInterval, m.idle/4)
	m.cookie = newCookieAttrs(cfg, publicURL.Scheme == "https")
	return m, nil
}

// IdleTimeout returns the effective idle timeout.
func (m *Manager) IdleTimeout() time.Duration { return m.idle }

// AbsoluteTimeout returns the effective absolute timeout.
func (m *Manager) AbsoluteTimeout() time.Duration { return m.abs }

// ExpiresAt returns when s ends if it is not used again: the earlier of its
// idle and absolute deadlines (for /auth/me's sessionExpiresIn).
func (m *Manager) ExpiresAt(s *Session) time.Time {
	idle := s.LastSeenAt.Add(m.idle)
	abs := s.CreatedAt.Add(m.abs)
	if idle.Before(abs) {
		return idle
	}
	return abs
}

// ttl returns how long s may still live in the store, 0 when it has ended.
func (m *Manager) ttl(s *Session, now time.Time) time.Duration {
	return max(0, min(s.LastSeenAt.Add(m.idle).Sub(now), s.CreatedAt.Add(m.abs).Sub(now)))
}

// New starts a session for s: it always assigns a fresh random ID (any ID
// already in s is discarded, so an id chosen by a browser is never adopted),
// sets CreatedAt and LastSeenAt to now, indexes it by Subject and SID for
// back-channel logout, and saves it. Subject is required.
func (m *Manager) New(ctx context.Context, s *Session) error {
	if s.Subject == "" {
		return errors.New("session: new session without a subject")
	}
	var raw [idBytes]byte
	rand.Read(raw[:]) // never fails: crypto/rand crashes the program rather than return weak bytes
	now := m.now()
	s.ID = base64.RawURLEncoding.EncodeToString(raw[:])
	s.CreatedAt, s.LastSeenAt = now, now
	s.raw = nil

	digest := m.keys.storeDigest(s.ID)
	exp := now.Add(m.abs)
	// Index first: a failure here leaves at worst a stale index entry, never a
	// live session that back-channel logout cannot find.
	if err := m.index(ctx, m.keys.subjectIndexKey(s.Subject), digest, exp, now); err != nil {
		return err
	}
	if s.SID != "" {
		if err := m.index(ctx, m.keys.sidIndexKey(s.SID), digest, exp, now); err != nil {
			return err
		}
	}
	value, err := m.seal(s)
	if err != nil {
		return err
	}
	ok, err := m.st.SetNX(ctx, sessionKey(digest), value, m.ttl(s, now))
	if err != nil {
		return fmt.Errorf("session: saving new session: %w", err)
	}
	if !ok { // 2^-256: a broken random source, not bad luck
		return errors.New("session: new session id already in use")
	}
	if s.SID != "" {
		// A back-channel logout of this sid may have run while this login
		// was in flight (the ID token predates it). DeleteBySID writes its
		// tombstone before reading the index, and this check comes after
		// the index entry and the session are written, so either that
		// logout found this session or this check finds the tombstone.
		_, err := m.st.Get(ctx, m.keys.sidTombstoneKey(s.SID))
		if err == nil {
			if err := m.st.Delete(ctx, sessionKey(digest)); err != nil {
				return fmt.Errorf("session: removing a session of a logged-out sid: %w", err)
			}
			return fmt.Errorf("%w: the IdP session was logged out", ErrNoSession)
		}
		if !errors.Is(err, store.ErrNotFound) {
			_ = m.st.Delete(ctx, sessionKey(digest)) // fail closed; the error below says why
			return fmt.Errorf("session: checking sid logout: %w", err)
		}
	}
	s.raw = value
	return nil
}

// Load returns the session the cookie value names, or ErrNoSession when the
// cookie is malformed or forged, or the session is absent, unreadable, or past
// its idle or absolute timeout (an expired session is also deleted). Other
// errors mean the store failed (callers answer 503).
//
// Load records the use in LastSeenAt. To avoid a store write on every
// request it re-saves only when the stored LastSeenAt is older than the touch
// interval (min(1 minute, idle/4)); the idle timeout is therefore precise to
// that interval (a session may end up to one interval early). The re-save is
// a compare-and-swap against the value just read, so it never overwrites a
// concurrent Save (a token refresh) nor resurrects a deleted session; a lost
// race only skips the touch.
func (m *Manager) Load(ctx context.Context, cookieValue string) (*Session, error) {
	id, key, ok := m.verifyCookie(cookieValue)
	if !ok {
		return nil, ErrNoSession
	}
	s, err := m.current(ctx, key, id)
	if err != nil {
		return nil, err
	}
	now := m.now()
	ttl := m.ttl(s, now)
	if ttl <= 0 {
		if err := m.st.Delete(ctx, key); err != nil {
			m.log.WarnContext(ctx, "session: deleting expired session", "error", err)
		}
		return nil, ErrNoSession
	}
	if now.Sub(s.LastSeenAt) >= m.touch {
		s.LastSeenAt = now
		value, err := m.seal(s)
		if err != nil {
			return nil, err
		}
		swapped, err := m.st.CompareAndSwap(ctx, key, s.raw, value, m.ttl(s, now))
		switch {
		case err != nil:
			m.log.WarnContext(ctx, "session: touching session", "error", err)
		case swapped:
			s.raw = value
			m.remember(key, s)
		}
	}
	return s, nil
}

// Save writes s back after a change (a token refresh), setting LastSeenAt to
// now. It never recreates a session that has ended meanwhile (logout,
// back-channel logout, expiry): then it returns ErrNoSession. Concurrent Saves
// of one session are the caller's to serialise (the refresh lock); the last
// one wins.
func (m *Manager) Save(ctx context.Context, s *Session) error {
	if _, err := base64.RawURLEncoding.Strict().DecodeString(s.ID); err != nil || len(s.ID) != idLen {
		return errors.New("session: save of a session without a valid id")
	}
	key := sessionKey(m.keys.storeDigest(s.ID))
	const attempts = 8
	for range attempts {
		cur, err := m.st.Get(ctx, key)
		if errors.Is(err, store.ErrNotFound) {
			return ErrNoSession
		}
		if err != nil {
			return fmt.Errorf("session: saving: %w", err)
		}
		now := m.now()
		if m.ttl(s, now) <= 0 { // idled or aged out since it was loaded
			return ErrNoSession
		}
		s.LastSeenAt = now
		ttl := m.ttl(s, now)
		value, err := m.seal(s)
		if err != nil {
			return err
		}
		swapped, err := m.st.CompareAndSwap(ctx, key, cur, value, ttl)
		if err != nil {
			return fmt.Errorf("session: saving: %w", err)
		}
		if swapped {
			s.raw = value
			m.remember(key, s)
			return nil
		}
		// Someone wrote in between (a touch); read again.
	}
	return fmt.Errorf("session: saving: value kept changing over %d attempts", attempts)
}

// Delete ends the session with this id (logout). Deleting an absent session
// is not an error. The session's index entries go stale and are pruned later.
func (m *Manager) Delete(ctx context.Context, id string) error {
	key := sessionKey(m.keys.storeDigest(id))
	m.opened.remove(key)
	if err := m.st.Delete(ctx, key); err != nil {
		return fmt.Errorf("session: deleting: %w", err)
	}
	return nil
}

// DeleteBySID ends every session created under the IdP session sid
// (back-channel logout) and returns how many were live. It also leaves a
// tombstone for the sid, for the absolute timeout, so that a login of that
// sid still in flight cannot create a session afterwards (see New): an IdP
// never reuses a sid after logging it out.
func (m *Manager) DeleteBySID(ctx context.Context, sid string) (int, error) {
	if sid == "" {
		return 0, errors.New("session: delete by empty sid")
	}
	if err := m.st.Set(ctx, m.keys.sidTombstoneKey(sid), []byte{1}, m.abs); err != nil {
		return 0, fmt.Errorf("session: marking sid logged out: %w", err)
	}
	return m.deleteIndexed(ctx, m.keys.sidIndexKey(sid))
}

// DeleteBySubject ends every session of the subject sub (back-channel logout
// without a sid) and returns how many were live.
func (m *Manager) DeleteBySubject(ctx context.Context, sub string) (int, error) {
	if sub == "" {
		return 0, errors.New("session: delete by empty subject")
	}
	return m.deleteIndexed(ctx, m.keys.subjectIndexKey(sub))
}

// sessionKey is the store key of the session whose id has this store digest.
func sessionKey(digest []byte) string {
	return KeyPrefix + base64.RawURLEncoding.EncodeToString(digest)
}

// KeyPrefix begins the store key of every session record and of nothing
// else (index records and tombstones have their own): the keys a Redis
// session cache (internal/store/rediscache) serves, since Load reads them.
const KeyPrefix = "sess:"
