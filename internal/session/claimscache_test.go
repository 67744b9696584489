package session

import (
	"fmt"
	"reflect"
	"testing"
	"time"
)

func TestClaimsCache(t *testing.T) {
	c := newClaimsCache()
	parses := 0
	parse := func(src string) (map[string]any, error) {
		parses++
		return jsonClaims(src)
	}
	alice, err := c.get(`{"sub":"alice"}`, parse)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := c.get(`{"sub":"alice"}`, parse)
	if parses != 1 || reflect.ValueOf(alice).Pointer() != reflect.ValueOf(again).Pointer() {
		t.Errorf("second get of the same claims parsed again (%d parses)", parses)
	}
	bob, _ := c.get(`{"sub":"bob"}`, parse)
	if bob["sub"] != "bob" || alice["sub"] != "alice" {
		t.Errorf("claims crossed between sources: alice %v, bob %v", alice, bob)
	}
	if _, err := c.get(`{not json`, parse); err == nil {
		t.Error("a malformed source was accepted")
	}
	for i := range 3*claimsCacheSize + 100 {
		_, _ = c.get(fmt.Sprintf(`{"n":%d}`, i), parse)
	}
	if n := c.len(); n > 2*claimsCacheSize {
		t.Errorf("cache holds %d entries, bound is %d", n, 2*claimsCacheSize)
	}
}

// TestClaimsCacheAgesOut: claims nobody asks for during a whole generation
// leave the cache (a refreshed session's old ID token, an ended session's),
// while claims in use stay however long they are used.
func TestClaimsCacheAgesOut(t *testing.T) {
	c := newClaimsCache()
	now := time.Unix(1_000_000, 0)
	c.now = func() time.Time { return now }
	c.started = now
	parses := 0
	parse := func(src string) (map[string]any, error) { parses++; return jsonClaims(src) }

	_, _ = c.get(`{"sub":"active"}`, parse)
	for i := range 100 { // tokens used once, then replaced
		_, _ = c.get(fmt.Sprintf(`{"sub":"gone","n":%d}`, i), parse)
	}
	for range 3 { // three generations pass; only "active" keeps being used
		now = now.Add(claimsCacheAge)
		_, _ = c.get(`{"sub":"active"}`, parse)
		_, _ = c.get(`{"sub":"tick"}`, parse) // a miss starts the next generation
	}
	if n := c.len(); n > 3 { // active and tick, tick once in each generation
		t.Errorf("cache holds %d entries after the unused ones aged out, want at most 3", n)
	}
	if parses != 1+100+1 {
		t.Errorf("%d parses: the active claims were decoded again", parses)
	}
}
