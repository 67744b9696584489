package plugins

import (
	"encoding/hex"
	"testing"
)

// TestDeriveSecretIsStable: a plugin's key is what an older release derived
// from the same session.secret (values sealed under it, in Redis, must keep
// opening across an upgrade); the value was computed by the HKDF code
// DeriveSecret had before it used internal/seal's Derive.
func TestDeriveSecretIsStable(t *testing.T) {
	t.Parallel()
	got := hex.EncodeToString(DeriveSecret("0123456789abcdef0123456789abcdef-test-secret", "cache", "route"))
	if want := "3e5ef36bfada8513de6f08e454450779c1848fce006b762ea413abf92bb0df42"; got != want {
		t.Errorf("DeriveSecret = %s, want %s", got, want)
	}
	if a, b := DeriveSecret("s", "ab", "c"), DeriveSecret("s", "a", "bc"); a != nil && string(a) == string(b) {
		t.Error("plugin ab on route c and plugin a on route bc share a key")
	}
}
