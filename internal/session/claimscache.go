package session

import (
	"hash/maphash"
	"strings"
	"sync"
	"time"
)

// claimsCacheSize bounds the decoded claim sets of one generation of the
// cache (so at most twice this many are kept per Manager): enough for the
// sessions active at any one moment on a busy replica; each entry holds one
// claim map and one copy of its source (about 1–2 KB).
const claimsCacheSize = 2048

// claimsCacheAge is how long a generation lasts: an entry unused for two
// generations is gone. The claims of an ID token replaced by a refresh, or of
// a session that ended, are used by no request after that, so they leave the
// cache within two minutes instead of staying until it is full.
const claimsCacheAge = time.Minute

// claimsCache keeps decoded claim sets by their source bytes (an ID token's
// payload or the stored claims JSON), so that a request does not pay for
// base64 and JSON decoding of claims it decoded a moment ago. The maps it
// returns are shared by every request of the session and must be treated as
// read-only (they always were: claims come from a token verified at login).
type claimsCache struct{ twoGen[map[string]any] }

func newClaimsCache() *claimsCache {
	c := new(claimsCache)
	c.init(claimsCacheSize, claimsCacheAge)
	return c
}

// get returns the claims decoded from src, decoding with parse on a miss.
func (c *claimsCache) get(src string, parse func(string) (map[string]any, error)) (map[string]any, error) {
	if claims, ok := c.lookup(src); ok {
		return claims, nil
	}
	claims, err := parse(src)
	if err != nil {
		return nil, err
	}
	c.add(src, claims)
	return claims, nil
}

// twoGen is a bounded map from string keys to values whose memory follows
// what is in use. It has two generations: entries are added to cur; when cur
// is full or older than age it becomes prev and a new cur starts; a hit in
// prev moves the entry back into cur. What nobody asked for during a whole
// generation is dropped with prev. A hit in cur takes only a read lock.
type twoGen[V any] struct {
	size      int
	age       time.Duration
	seed      maphash.Seed
	now       func() time.Time
	mu        sync.RWMutex
	cur, prev map[uint64]genEntry[V]
	started   time.Time // when cur began
}

type genEntry[V any] struct {
	key string // the exact key, compared on every hit: no hash collision can cross users
	v   V
}

// init readies c for at most size entries per generation, a generation
// lasting age.
func (c *twoGen[V]) init(size int, age time.Duration) {
	c.size, c.age, c.seed, c.now = size, age, maphash.MakeSeed(), time.Now
	c.cur, c.prev, c.started = make(map[uint64]genEntry[V]), map[uint64]genEntry[V]{}, c.now()
}

// lookup returns the value under key.
func (c *twoGen[V]) lookup(key string) (V, bool) {
	h := maphash.String(c.seed, key)
	c.mu.RLock()
	e, ok := c.cur[h]
	c.mu.RUnlock()
	if ok && e.key == key {
		return e.v, true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.prev[h]; ok && e.key == key {
		delete(c.prev, h)
		c.put(h, e)
		return e.v, true
	}
	var zero V
	return zero, false
}

// add puts v under key (a copy of key: an entry never pins the caller's
// bytes), replacing any older value.
func (c *twoGen[V]) add(key string, v V) {
	h := maphash.String(c.seed, key)
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.prev, h)
	c.put(h, genEntry[V]{key: strings.Clone(key), v: v})
}

// remove drops key's entry, if any.
func (c *twoGen[V]) remove(key string) {
	h := maphash.String(c.seed, key)
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.cur[h]; ok && e.key == key {
		delete(c.cur, h)
	}
	if e, ok := c.prev[h]; ok && e.key == key {
		delete(c.prev, h)
	}
}

// reset drops every entry.
func (c *twoGen[V]) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.cur)
	clear(c.prev)
}

// put adds e to cur, starting a new generation first when cur is full or
// old. The caller holds mu.
func (c *twoGen[V]) put(h uint64, e genEntry[V]) {
	if now := c.now(); len(c.cur) >= c.size || now.Sub(c.started) >= c.age {
		c.prev, c.cur, c.started = c.cur, make(map[uint64]genEntry[V], len(c.cur)), now
	}
	c.cur[h] = e
}

// len returns how many entries the cache holds.
func (c *twoGen[V]) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.cur) + len(c.prev)
}
