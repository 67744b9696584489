package session

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Sessions are indexed by subject and by IdP sid, so back-channel logout
// (OpenID Connect Back-Channel Logout 1.0 §2.5) can end them all with plain
// store calls that work on every store.Store. An index record lives under
// "sidx:u:"+HMAC(sub) or "sidx:s:"+HMAC(sid) and is a list of entries, oldest
// first, each the session's 16-byte store digest followed by its absolute
// deadline as 8-byte big-endian Unix seconds. No session id or user
// identifier appears in clear.
//
// The index tolerates stale entries (a session deleted by logout or ended by
// its idle timeout stays listed until its absolute deadline): deleting an
// absent session is harmless. Entries past their deadline are dropped on every
// update; when a record is full (the index limit), entries whose session is
// gone are pruned, and if it is still full the oldest session is ended.
// Updates are compare-and-swap loops, so concurrent logins of one user never
// lose an entry.
const entryLen = digestLen + 8

type indexEntry struct {
	digest []byte
	exp    int64 // Unix seconds
}

func parseIndex(b []byte) []indexEntry {
	out := make([]indexEntry, 0, len(b)/entryLen+1)
	for ; len(b) >= entryLen; b = b[entryLen:] {
		out = append(out, indexEntry{
			digest: b[:digestLen],
			exp:    int64(binary.BigEndian.Uint64(b[digestLen:entryLen])),
		})
	}
	return out
}

func formatIndex(es []indexEntry) []byte {
	b := make([]byte, 0, len(es)*entryLen)
	for _, e := range es {
		b = append(b, e.digest...)
		b = binary.BigEndian.AppendUint64(b, uint64(e.exp))
	}
	return b
}

// index adds the session with this store digest and absolute deadline to the
// index record ikey.
func (m *Manager) index(ctx context.Context, ikey string, digest []byte, deadline, now time.Time) error {
	const attempts = 32
	for attempt := range attempts {
		cur, err := m.st.Get(ctx, ikey)
		found := err == nil
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("session: reading index: %w", err)
		}
		var live []indexEntry
		for _, e := range parseIndex(cur) {
			if e.exp > now.Unix() {
				live = append(live, e)
			}
		}
		if len(live) >= m.limit {
			if live, err = m.pruneGone(ctx, live); err != nil {
				return err
			}
		}
		var evict []indexEntry
		if n := len(live) - m.limit + 1; n > 0 {
			evict, live = live[:n], live[n:]
		}
		live = append(live, indexEntry{digest: digest, exp: deadline.Unix()})
		latest := deadline
		for _, e := range live {
			latest = maxTime(latest, time.Unix(e.exp, 0))
		}
		rec := formatIndex(live)
		ttl := latest.Sub(now) + time.Second // exp has second precision
		var ok bool
		if found {
			ok, err = m.st.CompareAndSwap(ctx, ikey, cur, rec, ttl)
		} else {
			ok, err = m.st.SetNX(ctx, ikey, rec, ttl)
		}
		if err != nil {
			return fmt.Errorf("session: writing index: %w", err)
		}
		if ok {
			for _, e := range evict {
				m.opened.remove(sessionKey(e.digest))
				if err := m.st.Delete(ctx, sessionKey(e.digest)); err != nil {
					return fmt.Errorf("session: ending oldest session over the limit: %w", err)
				}
			}
			return nil
		}
		// Another login of the same user won the race: back off a little
		// (jittered, growing) and read again.
		if err := sleep(ctx, time.Duration(rand.Int64N(int64(attempt+1)*int64(time.Millisecond)))); err != nil {
			return fmt.Errorf("session: writing index: %w", err)
		}
	}
	return fmt.Errorf("session: writing index: contended over %d attempts", attempts)
}

// pruneGone drops the entries whose session no longer exists.
func (m *Manager) pruneGone(ctx context.Context, es []indexEntry) ([]indexEntry, error) {
	kept := es[:0:0]
	for _, e := range es {
		_, err := m.st.Get(ctx, sessionKey(e.digest))
		switch {
		case err == nil:
			kept = append(kept, e)
		case !errors.Is(err, store.ErrNotFound):
			return nil, fmt.Errorf("session: pruning index: %w", err)
		}
	}
	return kept, nil
}

// deleteIndexed takes the index record ikey and ends every session it lists,
// returning how many were live. It keeps going past a failed delete so one
// store error does not leave the rest alive, and reports the first error.
func (m *Manager) deleteIndexed(ctx context.Context, ikey string) (int, error) {
	rec, err := m.st.Take(ctx, ikey)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("session: reading index: %w", err)
	}
	n := 0
	var first error
	for _, e := range parseIndex(rec) {
		m.opened.remove(sessionKey(e.digest))
		_, err := m.st.Take(ctx, sessionKey(e.digest))
		switch {
		case err == nil:
			n++
		case errors.Is(err, store.ErrNotFound):
		case first == nil:
			first = fmt.Errorf("session: ending indexed session: %w", err)
		}
	}
	return n, first
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
