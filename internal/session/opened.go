package session

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// openedCacheSize bounds the decoded sessions of one generation of
// Manager.opened (see twoGen): the sessions in use at any one moment on a busy
// replica. An entry holds a stored value and its decoded record (about 4 KB
// with realistic tokens).
const openedCacheSize = 2048

// openedCache keeps the sessions Load decoded most recently, by store key.
// An entry is used only for the very stored value it was decoded from
// (compared byte for byte), so it can never be staler than the store: the
// store stays the one source of truth, and the cache only saves the
// decryption and decoding of a value already decoded (most of Load's cost).
type openedCache = twoGen[opened]

// opened is a stored value and its decoded record. The record is never
// handed out: callers get copies, which they may change.
type opened struct {
	raw []byte
	s   *Session
}

// openCached is open for the value raw stored under key, through m.opened.
func (m *Manager) openCached(key, id string, raw []byte) (*Session, error) {
	if e, ok := m.opened.lookup(key); ok && e.s.ID == id && bytes.Equal(e.raw, raw) {
		s := *e.s
		return &s, nil
	}
	s, err := m.open(id, raw)
	if err != nil {
		return nil, err
	}
	s.raw = raw
	m.remember(key, s)
	return s, nil
}

// remember caches s, as stored now (s.raw), under key. s.raw must not change
// afterwards (nothing writes into a stored value once read or sealed).
func (m *Manager) remember(key string, s *Session) {
	if s.raw == nil {
		return
	}
	c := *s
	m.opened.add(key, opened{raw: s.raw, s: &c})
}

// verified is what a valid cookie value names.
type verified struct{ id, key string }

// verifyCookie returns the session id a cookie value names (decodeCookie)
// and its store key, through m.cookies.
func (m *Manager) verifyCookie(v string) (id, key string, ok bool) {
	if e, ok := m.cookies.lookup(v); ok {
		return e.id, e.key, true
	}
	id, ok = m.decodeCookie(v)
	if !ok {
		return "", "", false
	}
	key = sessionKey(m.keys.storeDigest(id))
	m.cookies.add(v, verified{id: id, key: key})
	return id, key, true
}

// current returns the session id stored under key, decoded, or ErrNoSession
// when it is absent or unreadable; other errors mean the store failed. The
// record comes from m.opened when the store still holds the value it was
// decoded from: asked without a copy (store.Matcher) where the store can,
// else compared with what Get returns.
func (m *Manager) current(ctx context.Context, key, id string) (*Session, error) {
	if mt, ok := m.st.(store.Matcher); ok {
		if e, ok := m.opened.lookup(key); ok && e.s.ID == id {
			same, err := mt.Matches(ctx, key, e.raw)
			if err != nil {
				return nil, fmt.Errorf("session: loading: %w", err)
			}
			if same {
				s := *e.s
				return &s, nil
			}
		}
	}
	raw, err := m.st.Get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNoSession
	}
	if err != nil {
		return nil, fmt.Errorf("session: loading: %w", err)
	}
	s, err := m.openCached(key, id, raw)
	if err != nil {
		// Wrong secret (rotated) or a damaged value: not the user's fault,
		// but worth a line in the log.
		m.log.WarnContext(ctx, "session: unreadable stored session", "error", err)
		return nil, ErrNoSession
	}
	return s, nil
}
