package route

import (
	"bytes"
	"testing"
)

func TestHasParams(t *testing.T) {
	for _, tt := range []struct {
		path string
		want bool
	}{
		{"/app/admin/users", false},
		{"/app/admin;x/users", true},
		{"/app/admin%3Bx/users", true},
		{"/app/admin/users;jsessionid=1", true},
		{"/app/%3A/users", false},
		{"/", false},
	} {
		if got := HasParams([]byte(tt.path)); got != tt.want {
			t.Errorf("HasParams(%q) = %v, want %v", tt.path, got, tt.want)
		}
	}
}

func TestStripParams(t *testing.T) {
	for _, tt := range []struct{ path, want string }{
		{"/app/admin;x/users", "/app/admin/users"},
		{"/app/admin%3Bx/users", "/app/admin/users"},
		{"/app/admin;x=1;y=2/users;jsessionid=A/", "/app/admin/users/"},
		{"/app/;x/admin", "/app/admin"},
		{"/;x", "/"},
		{"/;x/", "/"},
		{"/a%3Bb;c/d", "/a/d"},
		{"/a;b%3Bc/d", "/a/d"},
		{"/plain/path", "/plain/path"},
		{"/", "/"},
	} {
		if got := StripParams(nil, []byte(tt.path)); string(got) != tt.want {
			t.Errorf("StripParams(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
}

// FuzzStripParams: for any canonical path, the stripped path is canonical
// (Normalize leaves it as it is), holds no parameter, and stripping again
// changes nothing.
func FuzzStripParams(f *testing.F) {
	for _, s := range []string{"/app/admin;x/users", "/a/;x/b/", "/%3B;/x", "/a;b%3Bc/d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		canon, ok := Normalize(nil, []byte(raw))
		if !ok {
			return
		}
		got := StripParams(nil, canon)
		if HasParams(got) {
			t.Fatalf("StripParams(%q) = %q still has parameters", canon, got)
		}
		if again, _ := Normalize(nil, got); !bytes.Equal(again, got) {
			t.Fatalf("StripParams(%q) = %q is not canonical (%q)", canon, got, again)
		}
		if twice := StripParams(nil, got); !bytes.Equal(twice, got) {
			t.Fatalf("StripParams is not idempotent on %q: %q then %q", canon, got, twice)
		}
	})
}
