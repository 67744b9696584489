package session

import (
	"fmt"
	"reflect"
	"testing"
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
	for i := range claimsCacheSize + 100 {
		_, _ = c.get(fmt.Sprintf(`{"n":%d}`, i), parse)
	}
	if n := len(c.entries); n > claimsCacheSize {
		t.Errorf("cache holds %d entries, bound is %d", n, claimsCacheSize)
	}
}
