package session

import (
	"context"
	"errors"
	"fmt"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Peek returns the live session with this id (Session.ID, not a cookie
// value), or ErrNoSession when it is absent, unreadable or past its idle or
// absolute timeout. Unlike Load it records no use: a process that watches a
// session on its own account (an open WebSocket checking that its session
// still stands) must not keep it from idling out. Other errors mean the
// store failed.
func (m *Manager) Peek(ctx context.Context, id string) (*Session, error) {
	raw, err := m.st.Get(ctx, sessionKey(m.keys.storeDigest(id)))
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNoSession
	}
	if err != nil {
		return nil, fmt.Errorf("session: peeking: %w", err)
	}
	s, err := m.open(id, raw)
	if err != nil || m.ttl(s, m.now()) <= 0 {
		return nil, ErrNoSession
	}
	return s, nil
}
