// Package memory is the in-process store.Store: the zero-setup default for a
// single gateway.
//
// It is bounded (Options.MaxEntries) and every key has a TTL. Entries live in a
// map and in a min-heap ordered by expiry, which serves two jobs at once:
//
//   - the janitor goroutine pops expired entries off the top of the heap, so a
//     sweep costs O(expired · log n), never a scan of every key;
//   - when the store is full, a write of a new key evicts the top of the heap:
//     an expired entry if there is one, otherwise the entry closest to expiry.
//     For sessions that is the one that has been idle longest (its TTL follows
//     the idle timeout), which is what an LRU would pick too, without the cost
//     of a write lock on every read.
//
// There are no per-key timers or goroutines: an entry costs its key, its value,
// one small struct and a heap slot. Reads take a shared lock and treat an
// expired entry as absent even before the janitor has removed it.
package memory

import (
	"bytes"
	"container/heap"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/safego"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Defaults for Options.
const (
	// DefaultMaxEntries bounds a store whose Options.MaxEntries is 0.
	DefaultMaxEntries = 100_000
	// DefaultSweepInterval is how often the janitor runs when
	// Options.SweepInterval is 0.
	DefaultSweepInterval = 30 * time.Second
	// sweepBatch bounds how many expired entries one lock hold removes, so a
	// mass expiry does not stall readers for long.
	sweepBatch = 1024
)

// Options configures a Store. The zero value is usable.
type Options struct {
	// MaxEntries bounds the number of keys held. Default DefaultMaxEntries;
	// negative is an error.
	MaxEntries int
	// SweepInterval is how often the janitor removes expired entries. Default
	// DefaultSweepInterval; negative is an error.
	SweepInterval time.Duration
	// Now is the clock. Default time.Now (whose monotonic reading makes
	// expiry immune to wall-clock jumps). Tests inject a fake clock.
	Now func() time.Time
}

// Store is a bounded in-memory store.Store. Create it with New; Close stops its
// janitor.
type Store struct {
	mu      sync.RWMutex
	entries map[string]*entry
	byExp   expiryHeap
	closed  bool

	max   int
	now   func() time.Time
	epoch time.Time // expiries are nanoseconds since epoch

	stop      context.CancelFunc // ends the janitor
	done      <-chan struct{}    // closed once the janitor has ended
	closeOnce sync.Once
}

var _ store.Store = (*Store)(nil)

type entry struct {
	key   string
	value []byte
	exp   int64 // nanoseconds since Store.epoch
	idx   int   // position in Store.byExp
}

// New returns a Store and starts its janitor, which runs until Close. A store
// meant to live as long as a context can be closed with
// context.AfterFunc(ctx, func() { s.Close() }).
func New(opts Options) (*Store, error) {
	if opts.MaxEntries < 0 {
		return nil, fmt.Errorf("memory store: max entries must be >= 0, got %d", opts.MaxEntries)
	}
	if opts.SweepInterval < 0 {
		return nil, fmt.Errorf("memory store: sweep interval must be >= 0, got %s", opts.SweepInterval)
	}
	if opts.MaxEntries == 0 {
		opts.MaxEntries = DefaultMaxEntries
	}
	if opts.SweepInterval == 0 {
		opts.SweepInterval = DefaultSweepInterval
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Store{
		entries: make(map[string]*entry),
		max:     opts.MaxEntries,
		now:     opts.Now,
		epoch:   opts.Now(),
	}
	ctx, stop := context.WithCancel(context.Background())
	s.stop = stop
	// A panic in a sweep is logged and the janitor restarts.
	s.done = safego.Every(ctx, nil, "memory store janitor", opts.SweepInterval, func() { s.Sweep() })
	return s, nil
}

// Sweep removes every expired entry now and returns how many it removed. The
// janitor calls it on its schedule.
func (s *Store) Sweep() int {
	removed := 0
	for {
		s.mu.Lock()
		now := s.clock()
		n := 0
		for n < sweepBatch && len(s.byExp) > 0 && s.byExp[0].exp <= now {
			s.remove(s.byExp[0])
			n++
		}
		more := n == sweepBatch
		s.mu.Unlock()
		removed += n
		if !more {
			return removed
		}
	}
}

// Len returns the number of entries held, expired ones not yet swept included.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.entries)
}

func (s *Store) clock() int64 { return int64(s.now().Sub(s.epoch)) }

// begin checks what every call checks first.
func begin(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory store: %w", err)
	}
	return nil
}

// beginWrite is begin for calls that set a TTL.
func beginWrite(ctx context.Context, ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("memory store: %w, got %s", store.ErrInvalidTTL, ttl)
	}
	return begin(ctx)
}

// locked runs fn under the write lock, with the current time, unless the
// store is closed.
func (s *Store) locked(fn func(now int64) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return store.ErrClosed
	}
	return fn(s.clock())
}

// live returns key's unexpired entry or nil. Callers hold s.mu.
func (s *Store) live(key string, now int64) *entry {
	e := s.entries[key]
	if e == nil || e.exp <= now {
		return nil
	}
	return e
}

// Get implements store.Store. It takes only the read lock: the hot path.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	if err := begin(ctx); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, store.ErrClosed
	}
	e := s.live(key, s.clock())
	if e == nil {
		return nil, store.ErrNotFound
	}
	return bytes.Clone(e.value), nil
}

var _ store.Matcher = (*Store)(nil)

// Matches implements store.Matcher under the read lock, without copying.
func (s *Store) Matches(ctx context.Context, key string, value []byte) (bool, error) {
	if err := begin(ctx); err != nil {
		return false, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return false, store.ErrClosed
	}
	e := s.live(key, s.clock())
	return e != nil && bytes.Equal(e.value, value), nil
}

// Set implements store.Store.
func (s *Store) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := beginWrite(ctx, ttl); err != nil {
		return err
	}
	return s.locked(func(now int64) error {
		s.put(key, value, now+int64(ttl))
		return nil
	})
}

// SetNX implements store.Store.
func (s *Store) SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	if err := beginWrite(ctx, ttl); err != nil {
		return false, err
	}
	stored := false
	err := s.locked(func(now int64) error {
		if s.live(key, now) == nil {
			s.put(key, value, now+int64(ttl))
			stored = true
		}
		return nil
	})
	return stored, err
}

// CompareAndSwap implements store.Store.
func (s *Store) CompareAndSwap(ctx context.Context, key string, old, value []byte, ttl time.Duration) (bool, error) {
	if err := beginWrite(ctx, ttl); err != nil {
		return false, err
	}
	swapped := false
	err := s.locked(func(now int64) error {
		if e := s.live(key, now); e != nil && bytes.Equal(e.value, old) {
			s.put(key, value, now+int64(ttl))
			swapped = true
		}
		return nil
	})
	return swapped, err
}

// Take implements store.Store.
func (s *Store) Take(ctx context.Context, key string) ([]byte, error) {
	if err := begin(ctx); err != nil {
		return nil, err
	}
	var value []byte
	err := s.locked(func(now int64) error {
		e := s.live(key, now)
		if e == nil {
			return store.ErrNotFound
		}
		s.remove(e)
		value = e.value // removed: nobody else holds it
		return nil
	})
	return value, err
}

// Touch implements store.Store.
func (s *Store) Touch(ctx context.Context, key string, ttl time.Duration) error {
	if err := beginWrite(ctx, ttl); err != nil {
		return err
	}
	return s.locked(func(now int64) error {
		e := s.live(key, now)
		if e == nil {
			return store.ErrNotFound
		}
		e.exp = now + int64(ttl)
		heap.Fix(&s.byExp, e.idx)
		return nil
	})
}

// Delete implements store.Store.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := begin(ctx); err != nil {
		return err
	}
	return s.locked(func(int64) error {
		if e := s.entries[key]; e != nil {
			s.remove(e)
		}
		return nil
	})
}

// Ping implements store.Store: it fails only after Close.
func (s *Store) Ping(ctx context.Context) error {
	if err := begin(ctx); err != nil {
		return err
	}
	return s.locked(func(int64) error { return nil })
}

// Close stops the janitor and drops every entry. Later calls fail with
// store.ErrClosed; closing twice is not an error.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.stop()
		<-s.done
		s.mu.Lock()
		s.closed = true
		s.entries = nil
		s.byExp = nil
		s.mu.Unlock()
	})
	return nil
}

// put stores a copy of value under key until exp. Callers hold s.mu for
// writing.
func (s *Store) put(key string, value []byte, exp int64) {
	if e := s.entries[key]; e != nil {
		e.value = bytes.Clone(value)
		e.exp = exp
		heap.Fix(&s.byExp, e.idx)
		return
	}
	for len(s.entries) >= s.max {
		// The heap's top is expired if anything is, else closest to expiry.
		s.remove(s.byExp[0])
	}
	e := &entry{key: key, value: bytes.Clone(value), exp: exp}
	s.entries[key] = e
	heap.Push(&s.byExp, e)
}

// remove drops e from the map and the heap. Callers hold s.mu for writing.
func (s *Store) remove(e *entry) {
	delete(s.entries, e.key)
	heap.Remove(&s.byExp, e.idx)
}

// expiryHeap is a min-heap of entries by expiry (container/heap.Interface).
type expiryHeap []*entry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].exp < h[j].exp }
func (h expiryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx = i
	h[j].idx = j
}

func (h *expiryHeap) Push(x any) {
	e := x.(*entry)
	e.idx = len(*h)
	*h = append(*h, e)
}

func (h *expiryHeap) Pop() any {
	old := *h
	n := len(old)
	e := old[n-1]
	old[n-1] = nil
	*h = old[:n-1]
	e.idx = -1
	return e
}
