package cache

import (
	"container/list"
	"context"
	"sync"
	"time"
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

// size estimates the memory an entry holds, for the byte bound.
func (e *Entry) size(key string) int64 {
	n := int64(len(e.Body)+len(e.Path)+2*len(key)) + 256 // struct, list and map overhead
	for _, f := range e.Header {
		n += int64(len(f.Name)+len(f.Value)) + 48
	}
	for _, v := range e.Vary {
		n += int64(len(v)) + 16
	}
	return n
}

// Backend stores entries by key. Memory is the default; a shared backend
// (Redis) implements the same three calls. Get reports a miss for an expired
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

// Memory is an in-process Backend bounded by a byte size, evicting the least
// recently used entries first.
type Memory struct {
	mu       sync.Mutex
	lru      *list.List // of *memItem, most recently used first
	items    map[string]*list.Element
	byPath   map[string]map[string]struct{}
	size     int64
	maxBytes int64
	now      func() time.Time
}

type memItem struct {
	key  string
	e    *Entry
	size int64
}

// NewMemory returns a Memory backend holding at most maxBytes. now is the
// clock (nil for time.Now).
func NewMemory(maxBytes int64, now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{
		lru:      list.New(),
		items:    make(map[string]*list.Element),
		byPath:   make(map[string]map[string]struct{}),
		maxBytes: maxBytes,
		now:      now,
	}
}

// Get implements Backend.
func (m *Memory) Get(_ context.Context, key string) (*Entry, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	el, ok := m.items[key]
	if !ok {
		return nil, false, nil
	}
	it := el.Value.(*memItem)
	if !m.now().Before(it.e.Expires) {
		m.remove(el)
		return nil, false, nil
	}
	m.lru.MoveToFront(el)
	return it.e, true, nil
}

// Set implements Backend. An entry larger than the whole bound is not stored.
func (m *Memory) Set(_ context.Context, key string, e *Entry) error {
	sz := e.size(key)
	m.mu.Lock()
	defer m.mu.Unlock()
	if el, ok := m.items[key]; ok {
		m.remove(el)
	}
	if sz > m.maxBytes {
		return nil
	}
	for m.size+sz > m.maxBytes {
		m.remove(m.lru.Back())
	}
	m.items[key] = m.lru.PushFront(&memItem{key: key, e: e, size: sz})
	m.size += sz
	keys := m.byPath[e.Path]
	if keys == nil {
		keys = make(map[string]struct{})
		m.byPath[e.Path] = keys
	}
	keys[key] = struct{}{}
	return nil
}

// DeletePath implements Backend.
func (m *Memory) DeletePath(_ context.Context, path string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for key := range m.byPath[path] {
		m.remove(m.items[key])
	}
	return nil
}

// remove drops one element and its index entries; m.mu is held.
func (m *Memory) remove(el *list.Element) {
	it := m.lru.Remove(el).(*memItem)
	delete(m.items, it.key)
	m.size -= it.size
	if keys := m.byPath[it.e.Path]; keys != nil {
		delete(keys, it.key)
		if len(keys) == 0 {
			delete(m.byPath, it.e.Path)
		}
	}
}

// Len returns the number of entries and the bytes they are counted for.
func (m *Memory) Len() (entries int, bytes int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.items), m.size
}
