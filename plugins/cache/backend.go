package cache

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/backend"
)

// Field is one stored response header field.
type Field struct {
	Name, Value []byte
}

// Entry is one stored response. It is immutable once handed to a Backend:
// hits share its Body and Header without copying.
type Entry struct {
	// Status is the response status code.
	Status int
	// Header holds the end-to-end header fields in order, without
	// Content-Length, Age, X-Cache and the hop-by-hop fields.
	Header []Field
	// Body is the whole response body.
	Body []byte
	// Stored is when the response was received.
	Stored time.Time
	// Expires is when the entry stops being fresh (Stored + lifetime - initial age).
	Expires time.Time
	// InitialAge is the upstream's Age at Stored (RFC 9111 §4.2.3).
	InitialAge time.Duration
	// Path is the canonical request path; unsafe requests to it invalidate the entry.
	Path string
	// Vary lists the canonical request header names the response varies on.
	// An entry with Vary and no Status is a marker: the variants live under
	// keys that add the request's values of those headers.
	Vary []string
}

// Backend stores entries by key. The plugin's is entries, on the route's
// backend.Cache; tests may use another. Get reports a miss for an expired
// entry. Implementations must be safe for concurrent use.
type Backend interface {
	// Get returns the entry stored under key, if any and still fresh.
	Get(ctx context.Context, key string) (*Entry, bool, error)
	// Set stores e under key until e.Expires, replacing any previous entry.
	Set(ctx context.Context, key string, e *Entry) error
	// DeletePath deletes every entry whose Path is path, whatever its key
	// (all query strings, sessions and variants).
	DeletePath(ctx context.Context, path string) error
}

// headerAllowance is the room left beside a max_entry_bytes body for the
// headers and metadata of its encoded entry.
const headerAllowance = 64 << 10

// entries is the Backend on a backend.Cache (memory or Redis, see
// spec.Backends): each entry is one value, encoded (encodeEntry), stored
// for its remaining freshness in the group of its path, so DeletePath is
// one DeleteGroup. With the memory store a hit decodes the stored bytes in
// place: the entry's body and fields share them, nothing is copied.
type entries struct {
	c          backend.Cache
	maxEncoded int
	now        func() time.Time
}

// newEntries returns the Backend on c for entries of bodies up to
// maxEntryBytes. now is the clock (nil for time.Now).
func newEntries(c backend.Cache, maxEntryBytes int64, now func() time.Time) *entries {
	if now == nil {
		now = time.Now
	}
	return &entries{c: c, maxEncoded: int(maxEntryBytes) + headerAllowance, now: now}
}

// Get implements Backend. A value that does not decode (a bug, or another
// format) is deleted and reported.
func (s *entries) Get(ctx context.Context, key string) (*Entry, bool, error) {
	b, ok, err := s.c.Get(ctx, key)
	if err != nil || !ok {
		return nil, false, err
	}
	e, err := decodeEntry(b)
	if err != nil {
		_ = s.c.Delete(ctx, key)
		return nil, false, fmt.Errorf("cache: stored entry: %w", err)
	}
	if !s.now().Before(e.Expires) {
		return nil, false, nil
	}
	return e, true, nil
}

// Set implements Backend. An entry already stale, or larger than the bound
// once encoded, is not stored.
func (s *entries) Set(ctx context.Context, key string, e *Entry) error {
	ttl := e.Expires.Sub(s.now())
	if ttl < time.Millisecond {
		return nil
	}
	b := encodeEntry(e)
	if len(b) > s.maxEncoded {
		return nil
	}
	return s.c.Set(ctx, key, b, ttl, e.Path)
}

// DeletePath implements Backend.
func (s *entries) DeletePath(ctx context.Context, path string) error {
	return s.c.DeleteGroup(ctx, path)
}
