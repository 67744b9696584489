package auth

import (
	"sync"
	"time"
)

// Refresh retry backoff per session, so that an IdP outage does not turn
// every request of every session into a refresh attempt (a retry storm).
const (
	minRefreshBackoff = time.Second
	maxRefreshBackoff = 30 * time.Second
	// maxBackoffEntries bounds the table; when it is full of live entries a
	// failing session simply retries without backoff (still single-flighted).
	maxBackoffEntries = 10000
)

type backoffEntry struct {
	next  time.Time
	delay time.Duration
}

// retryBackoff remembers, per session id, when a failed refresh may be retried.
type retryBackoff struct {
	mu sync.Mutex
	m  map[string]backoffEntry
}

// allowed reports whether session id may attempt a refresh at now.
func (b *retryBackoff) allowed(id string, now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.m[id]
	return !ok || !now.Before(e.next)
}

// failed records a failed attempt: the next one waits twice as long as the
// previous wait, between minRefreshBackoff and maxRefreshBackoff.
func (b *retryBackoff) failed(id string, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = make(map[string]backoffEntry)
	}
	e, ok := b.m[id]
	if !ok && len(b.m) >= maxBackoffEntries {
		for k, old := range b.m {
			if now.After(old.next.Add(maxRefreshBackoff)) {
				delete(b.m, k)
			}
		}
		if len(b.m) >= maxBackoffEntries {
			return
		}
	}
	e.delay = min(max(minRefreshBackoff, e.delay*2), maxRefreshBackoff)
	e.next = now.Add(e.delay)
	b.m[id] = e
}

// succeeded forgets id's failures.
func (b *retryBackoff) succeeded(id string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.m, id)
}
