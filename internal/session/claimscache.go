package session

import (
	"hash/maphash"
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
// base64 and JSON decoding of claims it decoded a moment ago: that decoding
// was most of the cost of Load. The maps it returns are shared by every
// request of the session and must be treated as read-only (they always were:
// claims come from a token verified at login).
//
// It has two generations: entries are added to cur; when cur is full or
// older than claimsCacheAge it becomes prev and a new cur starts; a hit in
// prev moves the entry back into cur. What nobody asked for during a whole
// generation is dropped with prev, so memory follows the sessions in use, not
// every token ever decoded.
type claimsCache struct {
	seed      maphash.Seed
	now       func() time.Time
	mu        sync.RWMutex
	cur, prev map[uint64]claimsEntry
	started   time.Time // when cur began
}

type claimsEntry struct {
	src    string // the exact source, compared on every hit: no collision can cross users
	claims map[string]any
}

func newClaimsCache() *claimsCache {
	c := &claimsCache{seed: maphash.MakeSeed(), now: time.Now}
	c.cur, c.prev, c.started = make(map[uint64]claimsEntry), map[uint64]claimsEntry{}, c.now()
	return c
}

// get returns the claims decoded from src, decoding with parse on a miss.
func (c *claimsCache) get(src string, parse func(string) (map[string]any, error)) (map[string]any, error) {
	h := maphash.String(c.seed, src)
	c.mu.RLock()
	e, ok := c.cur[h]
	c.mu.RUnlock()
	if ok && e.src == src {
		return e.claims, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.prev[h]; ok && e.src == src {
		c.put(h, e)
		return e.claims, nil
	}
	claims, err := parse(src)
	if err != nil {
		return nil, err
	}
	c.put(h, claimsEntry{src: clone(src), claims: claims})
	return claims, nil
}

// put adds e to cur, starting a new generation first when cur is full or
// old. The caller holds mu.
func (c *claimsCache) put(h uint64, e claimsEntry) {
	if now := c.now(); len(c.cur) >= claimsCacheSize || now.Sub(c.started) >= claimsCacheAge {
		c.prev, c.cur, c.started = c.cur, make(map[uint64]claimsEntry, len(c.cur)), now
	}
	c.cur[h] = e
}

// len returns how many claim sets the cache holds.
func (c *claimsCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.cur) + len(c.prev)
}

// clone copies s so that a cache entry does not pin the whole decoded record.
func clone(s string) string { return string([]byte(s)) }
