package route

import (
	"bytes"
	"testing"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		name, in, want string
		ok             bool
	}{
		{"root", "/", "/", true},
		{"empty", "", "/", true},
		{"plain", "/api/users", "/api/users", true},
		{"trailing slash kept", "/api/users/", "/api/users/", true},
		{"dot-dot", "/api/public/../users", "/api/users", true},
		{"encoded dot-dot lower", "/api/public/%2e%2e/users", "/api/users", true},
		{"encoded dot-dot upper", "/api/public/%2E%2E/users", "/api/users", true},
		{"mixed encoded dot", "/api/public/.%2e/users", "/api/users", true},
		{"encoded slash", "/api/public/..%2fusers", "/api/users", true},
		{"encoded slash upper", "/api/public/%2E%2E%2Fusers", "/api/users", true},
		{"backslash", "/api/public/..\\users", "/api/users", true},
		{"encoded backslash", "/api/public/..%5cusers", "/api/users", true},
		{"leading backslash", "\\api\\users", "/api/users", true},
		{"duplicate slashes", "//api//users", "/api/users", true},
		{"many slashes", "///api///users///", "/api/users/", true},
		{"single dot", "/api/./users", "/api/users", true},
		{"encoded single dot", "/api/%2e/users", "/api/users", true},
		{"climb above root", "/../../etc/passwd", "/etc/passwd", true},
		{"climb above root encoded", "/%2e%2e/%2e%2e/etc", "/etc", true},
		{"dot-dot at end", "/a/b/..", "/a/", true},
		{"dot at end", "/a/b/.", "/a/b/", true},
		{"only dot-dot", "/..", "/", true},
		{"triple dot is a name", "/a/.../b", "/a/.../b", true},
		{"dot prefix name", "/a/.env", "/a/.env", true},
		// "%25" is decoded once to "%" and re-encoded; the "2e" after it is data
		// and keeps its case.
		{"double encoding not decoded twice", "/api/public/%252e%252e/users", "/api/public/%252e%252e/users", true},
		{"double encoded slash stays", "/a%252fb", "/a%252fb", true},
		{"space stays encoded", "/files/a%20b", "/files/a%20b", true},
		{"escape upper-cased", "/files/a%3fb", "/files/a%3Fb", true},
		{"unreserved decoded", "/api/%61dmin", "/api/admin", true},
		{"unreserved tilde decoded", "/%7euser", "/~user", true},
		{"sub-delims literal", "/a;b=c,d!$&'()*+:@", "/a;b=c,d!$&'()*+:@", true},
		{"encoded sub-delim stays encoded", "/a%3bb", "/a%3Bb", true},
		{"literal space encoded", "/a b", "/a%20b", true},
		{"literal hash encoded", "/a#b", "/a%23b", true},
		{"non-ascii encoded", "/caf\xc3\xa9", "/caf%C3%A9", true},
		{"encoded non-ascii kept", "/caf%c3%a9", "/caf%C3%A9", true},
		{"percent sign", "/100%25", "/100%25", true},

		{"no leading slash", "api/users", "", false},
		{"asterisk", "*", "", false},
		{"truncated escape", "/a%2", "", false},
		{"truncated escape end", "/a%", "", false},
		{"bad hex", "/a%zz", "", false},
		{"bad second hex", "/a%2g", "", false},
		{"encoded NUL", "/a%00b", "", false},
		{"literal NUL", "/a\x00b", "", false},
		{"encoded newline", "/a%0d%0aSet-Cookie:x", "", false},
		{"literal tab", "/a\tb", "", false},
		{"encoded DEL", "/a%7f", "", false},
		{"tomcat dot-dot param", "/api/public/..;/users", "", false},
		{"tomcat dot param", "/api/.;x/users", "", false},
		{"tomcat encoded param", "/api/public/..%3b/users", "", false},
		{"dot-dot param at end", "/api/..;", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Normalize(nil, []byte(tt.in))
			if ok != tt.ok || (ok && string(got) != tt.want) {
				t.Errorf("Normalize(%q) = %q, %v, want %q, %v", tt.in, got, ok, tt.want, tt.ok)
			}
			if !ok {
				return
			}
			again, ok2 := Normalize(nil, got)
			if !ok2 || !bytes.Equal(again, got) {
				t.Errorf("Normalize(%q) = %q, %v, want it unchanged (idempotent)", got, again, ok2)
			}
		})
	}
}

func TestNormalizeReusesBuffer(t *testing.T) {
	raw := []byte("/api/public/%2E%2E%2Fusers/%7e7?x")
	dst := make([]byte, 0, 3*len(raw)+1)
	allocs := testing.AllocsPerRun(100, func() {
		dst, _ = Normalize(dst, raw)
	})
	if allocs != 0 {
		t.Errorf("Normalize allocates %v times per call with a big enough buffer, want 0", allocs)
	}
}

// FuzzNormalize checks Normalize's promises on arbitrary input: no panic, a
// result that starts with '/', holds no empty, "." or ".." segment, no
// encoded '/', '.' or '\', and is a fixed point.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{
		"/", "/api/public/../users", "/api/public/%2e%2e/users", "/api/public/..%2fusers",
		"//api//users", "/api/public/..\\users", "/%252e%252e/", "/a%20b", "/a/b/..",
		"/..;/x", "/caf\xc3\xa9", "/a%zz", "/a%00",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, ok := Normalize(nil, []byte(in))
		if !ok {
			return
		}
		if len(got) == 0 || got[0] != '/' {
			t.Fatalf("Normalize(%q) = %q, want a leading '/'", in, got)
		}
		for _, bad := range []string{"//", "/./", "/../", "%2F", "%2E", "%5C", "%2f", "%2e", "%5c", "\\"} {
			if bytes.Contains(got, []byte(bad)) {
				t.Fatalf("Normalize(%q) = %q, contains %q", in, got, bad)
			}
		}
		if bytes.HasSuffix(got, []byte("/..")) || bytes.HasSuffix(got, []byte("/.")) {
			t.Fatalf("Normalize(%q) = %q, ends with a dot-segment", in, got)
		}
		for _, c := range got {
			if c < 0x21 || c >= 0x7f {
				t.Fatalf("Normalize(%q) = %q, holds byte %#x", in, got, c)
			}
		}
		again, ok := Normalize(nil, got)
		if !ok || !bytes.Equal(again, got) {
			t.Fatalf("Normalize(%q) = %q, %v, want %q, true (idempotent)", got, again, ok, got)
		}
	})
}

func BenchmarkNormalize(b *testing.B) {
	raw := []byte("/api/public/%2e%2e/users/42/profile%20pic//x")
	dst := make([]byte, 0, 256)
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		dst, _ = Normalize(dst, raw)
	}
}
