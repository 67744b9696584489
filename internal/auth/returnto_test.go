package auth

import (
	"strings"
	"testing"
)

func TestSafeReturnTo(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "/"},
		{"root", "/", "/"},
		{"path", "/app/orders", "/app/orders"},
		{"path with query and fragment", "/app?tab=2&x=%20y#top", "/app?tab=2&x=%20y#top"},
		{"encoded slash mid-path", "/files/a%2Fb", "/files/a%2Fb"},
		{"scheme-relative", "//evil.example", "/"},
		{"backslash", `/\evil.example`, "/"},
		{"backslash later", `/a\b`, "/"},
		{"absolute https", "https://evil.example", "/"},
		{"absolute http", "http://evil.example/x", "/"},
		{"encoded double slash", "/%2F%2Fevil.example", "/"},
		{"encoded slash then slash", "/%2F/evil.example", "/"},
		{"lower-case encoded", "/%2f%2fevil.example", "/"},
		{"encoded backslash", "/%5Cevil.example", "/"},
		{"double encoded", "/%252F%252Fevil.example", "/"},
		{"javascript", "javascript:alert(1)", "/"},
		{"javascript after slash-less", "JavaScript:alert(1)", "/"},
		{"relative without slash", "app/page", "/"},
		{"CR LF", "/a\r\nSet-Cookie: x=1", "/"},
		{"encoded CR LF", "/a%0d%0aSet-Cookie:x", "/"},
		{"tab trick", "/\t/evil.example", "/"},
		{"encoded tab", "/%09/evil.example", "/"},
		{"NUL", "/a\x00", "/"},
		{"space", "/a b", "/"},
		{"non-ASCII", "/caf\u00e9", "/"},
		{"bad escape", "/%zz", "/"},
		{"userinfo-like", "/@evil.example", "/@evil.example"},
		{"too long", "/" + strings.Repeat("a", maxReturnTo), "/"},
		{"dot segments stay on origin", "/../../x", "/../../x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SafeReturnTo(tt.in); got != tt.want {
				t.Errorf("SafeReturnTo(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// FuzzSafeReturnTo: whatever comes in, what goes out is "/" or a path that a
// browser resolves against our origin.
func FuzzSafeReturnTo(f *testing.F) {
	for _, s := range []string{"/", "/a?b#c", "//evil", `/\evil`, "/%2F%2Fevil", "/%5Cevil", "https://e", "javascript:x", "/\r\n", "/%252F"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got := SafeReturnTo(in)
		if got != "/" && got != in {
			t.Fatalf("SafeReturnTo(%q) = %q, want the input or /", in, got)
		}
		if got == "/" {
			return
		}
		if !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") || strings.ContainsAny(got, "\\\r\n\t\x00 ") {
			t.Fatalf("SafeReturnTo(%q) = %q, want a same-origin path", in, got)
		}
		lower := strings.ToLower(got)
		for _, bad := range []string{"%2f%2f", "%5c", "%0d", "%0a", "%09"} {
			if strings.HasPrefix(lower[1:], bad) || strings.HasPrefix(lower, "/"+bad) {
				t.Fatalf("SafeReturnTo(%q) = %q, starts with an encoded %s", in, got, bad)
			}
		}
	})
}

func BenchmarkSafeReturnTo(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = SafeReturnTo("/app/orders/42?tab=items")
	}
}

// TestSafeReturnToOrigins: an absolute returnTo is kept only when it lies
// exactly on an allowed origin with a path SafeReturnTo accepts; every
// open-redirect shape around that origin falls back to "/".
func TestSafeReturnToOrigins(t *testing.T) {
	t.Parallel()
	origins := []string{"https://app.example.com", "http://localhost:5173"}
	tests := []struct {
		name, in, want string
	}{
		{"path as before", "/orders", "/orders"},
		{"scheme-relative path as before", "//evil.example", "/"},
		{"the origin", "https://app.example.com", "https://app.example.com"},
		{"origin and root", "https://app.example.com/", "https://app.example.com/"},
		{"origin, path, query, fragment", "https://app.example.com/orders?tab=2#top", "https://app.example.com/orders?tab=2#top"},
		{"second origin with its port", "http://localhost:5173/x", "http://localhost:5173/x"},
		{"another host", "https://evil.example/", "/"},
		{"suffix host", "https://app.example.com.evil.com/", "/"},
		{"suffix host without path", "https://app.example.com.evil.com", "/"},
		{"userinfo", "https://app.example.com@evil.com/", "/"},
		{"userinfo with path", "https://app.example.com:x@evil.com/", "/"},
		{"other port", "https://app.example.com:8443/", "/"},
		{"default port spelled out", "https://app.example.com:443/", "/"},
		{"http instead of https", "http://app.example.com/", "/"},
		{"upper case", "HTTPS://APP.EXAMPLE.COM/", "/"},
		{"scheme-relative to the origin", "//app.example.com/", "/"},
		{"double slash after origin", "https://app.example.com//evil.com", "/"},
		{"backslash after origin", `https://app.example.com/\evil.com`, "/"},
		{"backslash as separator", `https://app.example.com\@evil.com`, "/"},
		{"encoded double slash after origin", "https://app.example.com/%2F%2Fevil.com", "/"},
		{"encoded backslash after origin", "https://app.example.com/%5Cevil.com", "/"},
		{"double-encoded slash after origin", "https://app.example.com/%252F%252Fevil.com", "/"},
		{"query right after origin", "https://app.example.com?x=1", "/"},
		{"fragment right after origin", "https://app.example.com#x", "/"},
		{"encoded origin", "https%3A%2F%2Fapp.example.com%2F", "/"},
		{"tab in host", "https://app.exa\tmple.com/", "/"},
		{"tab after origin", "https://app.example.com\t.evil.com/", "/"},
		{"CR LF after origin", "https://app.example.com/\r\nSet-Cookie: x=1", "/"},
		{"space after origin", "https://app.example.com/ x", "/"},
		{"javascript", "javascript:alert(1)//https://app.example.com/", "/"},
		{"too long", "https://app.example.com/" + strings.Repeat("a", maxReturnTo), "/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SafeReturnToOrigins(tt.in, origins); got != tt.want {
				t.Errorf("SafeReturnToOrigins(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if got := SafeReturnToOrigins(tt.in, nil); got != SafeReturnTo(tt.in) {
				t.Errorf("SafeReturnToOrigins(%q, nil) = %q, want SafeReturnTo's %q", tt.in, got, SafeReturnTo(tt.in))
			}
		})
	}
}
