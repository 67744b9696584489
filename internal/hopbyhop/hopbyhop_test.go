package hopbyhop

import (
	"net/textproto"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// TestIsMatchesFields: Is holds exactly the names of Fields (its switch is
// the fast form of the same table).
func TestIsMatchesFields(t *testing.T) {
	for _, name := range Fields {
		if !Is([]byte(name)) {
			t.Errorf("Is(%q) = false, want true (it is in Fields)", name)
		}
	}
	for _, name := range []string{"", "Content-Length", "Host", "Cookie", "Authorization", "TE", "connection", "X-Upgrade", "Trailers"} {
		if Is([]byte(name)) {
			t.Errorf("Is(%q) = true, want false", name)
		}
	}
}

// TestFieldsAreCanonical: every name is in the form fasthttp stores, or a
// client's field would not compare equal to the table's.
func TestFieldsAreCanonical(t *testing.T) {
	for _, name := range Fields {
		if c := textproto.CanonicalMIMEHeaderKey(strings.ToLower(name)); c != name {
			t.Errorf("%q is not canonical: %q", name, c)
		}
		if name == "Transfer-Encoding" {
			continue // fasthttp frames the body itself and never lists it
		}
		var h fasthttp.RequestHeader
		h.Set(strings.ToUpper(name), "v")
		found := false
		for k := range h.All() {
			found = found || string(k) == name
		}
		if !found {
			t.Errorf("fasthttp does not store %q as %q", strings.ToUpper(name), name)
		}
	}
}

// TestFieldsCoverRFC9110: the table holds every field the issue and RFC 9110
// §7.6.1 name, so that no user drops fewer than the others.
func TestFieldsCoverRFC9110(t *testing.T) {
	want := []string{"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate",
		"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}
	if len(want) != len(Fields) {
		t.Errorf("Fields has %d names, want %d", len(Fields), len(want))
	}
	for _, name := range want {
		if !Is([]byte(name)) {
			t.Errorf("%s is not in the table", name)
		}
	}
}

func BenchmarkIs(b *testing.B) {
	names := [][]byte{[]byte("Content-Type"), []byte("Upgrade"), []byte("X-Request-Id")}
	for b.Loop() {
		for _, n := range names {
			Is(n)
		}
	}
}
