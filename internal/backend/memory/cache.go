package memory

import (
	"bytes"
	"container/list"
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/backend"
)

// itemOverhead is what an item is counted for besides its key, value and
// group: the struct, the list element and the map entries.
const itemOverhead = 256

// Cache is an in-process backend.Cache bounded by a byte size, evicting the
// least recently used values first. Get returns the stored value itself,
// shared by every caller (the contract forbids modifying it), so a hit
// copies nothing.
type Cache struct {
	mu       sync.Mutex
	lru      *list.List // of *item, most recently used first
	items    map[string]*list.Element
	groups   map[string]map[string]struct{}
	size     int64
	maxBytes int64
	now      func() time.Time
}

type item struct {
	key, group string
	value      []byte
	expires    time.Time
	size       int64
}

// NewCache returns a Cache holding at most opts.MaxBytes. now is the clock
// (nil for time.Now).
func NewCache(opts backend.CacheOptions, now func() time.Time) *Cache {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = backend.DefaultMaxBytes
	}
	if now == nil {
		now = time.Now
	}
	return &Cache{
		lru:      list.New(),
		items:    make(map[string]*list.Element),
		groups:   make(map[string]map[string]struct{}),
		maxBytes: opts.MaxBytes,
		now:      now,
	}
}

// Get implements backend.Cache.
func (m *Cache) Get(_ context.Context, key string) ([]byte, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	el, ok := m.items[key]
	if !ok {
		return nil, false, nil
	}
	it := el.Value.(*item)
	if !m.now().Before(it.expires) {
		m.remove(el)
		return nil, false, nil
	}
	m.lru.MoveToFront(el)
	return it.value, true, nil
}

// Set implements backend.Cache. A value larger than the whole bound is not
// stored (and the key's old value is gone).
func (m *Cache) Set(_ context.Context, key string, value []byte, ttl time.Duration, group string) error {
	if ttl <= 0 {
		return fmt.Errorf("memory cache: %w, got %s", backend.ErrInvalidTTL, ttl)
	}
	// key and group may alias a request buffer: the maps keep copies.
	key, group = strings.Clone(key), strings.Clone(group)
	it := &item{key: key, group: group, expires: m.now().Add(ttl),
		size: int64(len(value)+2*len(key)+2*len(group)) + itemOverhead}
	if it.size <= m.maxBytes {
		it.value = bytes.Clone(value)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if el, ok := m.items[key]; ok {
		m.remove(el)
	}
	if it.size > m.maxBytes {
		return nil
	}
	for m.size+it.size > m.maxBytes {
		m.remove(m.lru.Back())
	}
	m.items[key] = m.lru.PushFront(it)
	m.size += it.size
	keys := m.groups[group]
	if keys == nil {
		keys = make(map[string]struct{})
		m.groups[group] = keys
	}
	keys[key] = struct{}{}
	return nil
}

// Delete implements backend.Cache.
func (m *Cache) Delete(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if el, ok := m.items[key]; ok {
		m.remove(el)
	}
	return nil
}

// DeleteGroup implements backend.Cache.
func (m *Cache) DeleteGroup(_ context.Context, group string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for key := range m.groups[group] {
		m.remove(m.items[key])
	}
	return nil
}

// remove drops one element and its group entry; m.mu is held.
func (m *Cache) remove(el *list.Element) {
	it := m.lru.Remove(el).(*item)
	delete(m.items, it.key)
	m.size -= it.size
	if keys := m.groups[it.group]; keys != nil {
		delete(keys, it.key)
		if len(keys) == 0 {
			delete(m.groups, it.group)
		}
	}
}

// Sweep deletes every expired value, so that memory is given back without
// waiting for a Get of each or for the bound.
func (m *Cache) Sweep() {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	for el := m.lru.Back(); el != nil; {
		prev := el.Prev()
		if !now.Before(el.Value.(*item).expires) {
			m.remove(el)
		}
		el = prev
	}
}

// Len returns the number of values and the bytes they are counted for.
func (m *Cache) Len() (values int, bytes int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.items), m.size
}
