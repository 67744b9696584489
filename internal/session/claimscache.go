package session

import (
	"hash/maphash"
	"sync"
)

// claimsCacheSize bounds the decoded claim sets kept per Manager: enough for
// the sessions active at any one moment on a busy replica; each entry holds
// one claim map and one copy of its source (about 1–2 KB).
const claimsCacheSize = 4096

// claimsCache keeps decoded claim sets by their source bytes (an ID token's
// payload or the stored claims JSON), so that a request does not pay for
// base64 and JSON decoding of claims it decoded a moment ago: that decoding
// was most of the cost of Load. The maps it returns are shared by every
// request of the session and must be treated as read-only (they always were:
// claims come from a token verified at login).
type claimsCache struct {
	seed    maphash.Seed
	mu      sync.RWMutex
	entries map[uint64]claimsEntry
}

type claimsEntry struct {
	src    string // the exact source, compared on every hit: no collision can cross users
	claims map[string]any
}

func newClaimsCache() *claimsCache {
	return &claimsCache{seed: maphash.MakeSeed(), entries: make(map[uint64]claimsEntry)}
}

// get returns the claims decoded from src, decoding with parse on a miss.
func (c *claimsCache) get(src string, parse func(string) (map[string]any, error)) (map[string]any, error) {
	h := maphash.String(c.seed, src)
	c.mu.RLock()
	e, ok := c.entries[h]
	c.mu.RUnlock()
	if ok && e.src == src {
		return e.claims, nil
	}
	claims, err := parse(src)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if len(c.entries) >= claimsCacheSize {
		// Drop an arbitrary entry (map order): cheap, and a miss only costs
		// one decode.
		for k := range c.entries {
			delete(c.entries, k)
			break
		}
	}
	c.entries[h] = claimsEntry{src: clone(src), claims: claims}
	c.mu.Unlock()
	return claims, nil
}

// clone copies s so that a cache entry does not pin the whole decoded record.
func clone(s string) string { return string([]byte(s)) }
