package conf

import "testing"

// TestSuggest: a "did you mean" only for a likely typo (an edit distance of
// at most 2, at most a third of the key's length) with one best candidate.
func TestSuggest(t *testing.T) {
	keys := []string{"upstream", "static", "strip_prefix", "prefix", "name", "ttl", "rate", "date"}
	for _, tc := range []struct{ in, want string }{
		{"upstrem", "upstream"},        // a deletion
		{"upstreams", "upstream"},      // an insertion
		{"upsteram", "upstream"},       // a transposition costs one
		{"stip_prefx", "strip_prefix"}, // two edits
		{"stirp_prfx", ""},             // three edits: too far
		{"nmae", "name"},               // a transposition on a short key
		{"tt", "ttl"},                  // one edit on a three-letter key
		{"t", ""},                      // two edits on a three-letter key: too far
		{"gate", ""},                   // rate and date are as close: ambiguous
		{"upstream_url", ""},           // four edits
		{"", ""},
	} {
		if got := Suggest(tc.in, keys); got != tc.want {
			t.Errorf("Suggest(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
