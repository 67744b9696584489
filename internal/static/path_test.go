package static

import (
	"path"
	"path/filepath"
	"strings"
	"testing"
)

func TestFileName(t *testing.T) {
	tests := []struct {
		name, in string
		want     string
		dir, ok  bool
	}{
		{"empty is the root", "", "", true, true},
		{"slash is the root", "/", "", true, true},
		{"file", "/index.html", "index.html", false, true},
		{"nested", "/assets/app.js", "assets/app.js", false, true},
		{"directory", "/docs/", "docs", true, true},
		{"escaped letter", "/assets/%61pp.js", "assets/app.js", false, true},
		{"escaped space", "/my%20file.txt", "my file.txt", false, true},
		{"utf-8", "/caf%C3%A9.txt", "café.txt", false, true},
		{"dot inside a name", "/a.b/c.d", "a.b/c.d", false, true},
		{"no leading slash", "index.html", "", false, false},
		{"dotdot", "/../etc/passwd", "", false, false},
		{"dotdot inside", "/a/../../b", "", false, false},
		{"encoded dotdot", "/%2e%2e/b", "", false, false},
		{"dot", "/./a", "", false, false},
		{"dotfile", "/.env", "", false, false},
		{"dot directory", "/.git/config", "", false, false},
		{"encoded dotfile", "/%2Eenv", "", false, false},
		{"encoded slash", "/a%2fb", "", false, false},
		{"encoded slash to climb", "/a/..%2F..%2Fb", "", false, false},
		{"backslash", "/a\\..\\b", "", false, false},
		{"encoded backslash", "/a%5cb", "", false, false},
		{"nul", "/a%00.html", "", false, false},
		{"control", "/a%0a", "", false, false},
		{"del", "/a%7f", "", false, false},
		{"empty segment", "//a", "", false, false},
		{"empty segment inside", "/a//b", "", false, false},
		{"bad escape", "/%zz", "", false, false},
		{"truncated escape", "/a%4", "", false, false},
		{"lone percent", "/a%", "", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, dir, ok := fileName(tt.in)
			if got != tt.want || dir != tt.dir || ok != tt.ok {
				t.Errorf("fileName(%q) = %q, %v, %v, want %q, %v, %v", tt.in, got, dir, ok, tt.want, tt.dir, tt.ok)
			}
		})
	}
}

// FuzzFileName checks the safety properties of the path → file mapping for
// any input: an accepted name stays inside the root and names no dotfile.
func FuzzFileName(f *testing.F) {
	for _, s := range []string{
		"/", "/index.html", "/assets/app.3f9a1c2b.js", "/../x", "/%2e%2e/x", "/a%2fb",
		"/.env", "/a/./b", "/a//b", "/a%00b", "/a\\b", "/%c3%a9", "/docs/", "/%", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		name, _, ok := fileName(in)
		if !ok {
			if name != "" {
				t.Fatalf("fileName(%q) = %q, false, want an empty name when refused", in, name)
			}
			return
		}
		if name == "" {
			return
		}
		if !filepath.IsLocal(name) {
			t.Fatalf("fileName(%q) = %q, not a local path", in, name)
		}
		if path.Clean(name) != name {
			t.Fatalf("fileName(%q) = %q, not clean (%q)", in, name, path.Clean(name))
		}
		if strings.ContainsAny(name, "\\\x00") {
			t.Fatalf("fileName(%q) = %q, holds a backslash or NUL", in, name)
		}
		for seg := range strings.SplitSeq(name, "/") {
			if seg == "" || seg[0] == '.' {
				t.Fatalf("fileName(%q) = %q, segment %q is empty or starts with a dot", in, name, seg)
			}
		}
	})
}

func TestIsHashed(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"app.3f9a1c2b.js", true},
		{"assets/index-BXk2p9aQ.js", true},
		{"main.3f9a1c2b.chunk.css", true},
		{"chunk-vendors.2a3b4c5d.js", true},
		{"font.a1b2c3d4e5f6a7b8c9d0.woff2", true},
		{"index-Ab_3xY9z.css", true},
		{"app.js", false},
		{"index.html", false},
		{"jquery-3.7.1.min.js", false},
		{"react-dom.production.min.js", false},
		{"report-20240101.pdf", false},
		{"polyfill-es2015.js", false},
		{"3f9a1c2b.js", false}, // the first part is the name, not a hash
		{"app.deadbeef.js", false},
		{"app.3f9a1c2.js", false}, // 7 characters: too short to be sure
		{"app." + strings.Repeat("a1", 33) + ".js", false},
	}
	for _, tt := range tests {
		if got := isHashed(tt.name); got != tt.want {
			t.Errorf("isHashed(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestContentType(t *testing.T) {
	tests := []struct{ name, want string }{
		{"index.html", "text/html; charset=utf-8"},
		{"APP.JS", "text/javascript; charset=utf-8"},
		{"a.mjs", "text/javascript; charset=utf-8"},
		{"s.css", "text/css; charset=utf-8"},
		{"d.json", "application/json"},
		{"i.svg", "image/svg+xml"},
		{"f.woff2", "font/woff2"},
		{"m.wasm", "application/wasm"},
		{"noext", "application/octet-stream"},
		{"x.unknownext", "application/octet-stream"},
	}
	for _, tt := range tests {
		if got := contentType(tt.name); got != tt.want {
			t.Errorf("contentType(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestAccepted(t *testing.T) {
	tests := []struct {
		in   string
		want []encoding
	}{
		{"", nil},
		{"gzip", []encoding{gzipEnc}},
		{"br", []encoding{brotliEnc}},
		{"gzip, deflate, br, zstd", []encoding{brotliEnc, gzipEnc}},
		{"br;q=0.1, gzip;q=0.9", []encoding{gzipEnc, brotliEnc}},
		{"BR, GZIP", []encoding{brotliEnc, gzipEnc}},
		{"x-gzip", []encoding{gzipEnc}},
		{"br;q=0", nil},
		{"gzip;q=0, br;q=0", nil},
		{"*", []encoding{brotliEnc, gzipEnc}},
		{"*;q=0", nil},
		{"*, gzip;q=0", []encoding{brotliEnc}},
		{"gzip;q=2", nil},
		{"gzip;q=-1", nil},
		{"gzip ; q = 0.5", []encoding{gzipEnc}},
		{"identity", nil},
	}
	for _, tt := range tests {
		got := accepted([]byte(tt.in))
		if len(got) != len(tt.want) {
			t.Errorf("accepted(%q) = %v, want %v", tt.in, got, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("accepted(%q) = %v, want %v", tt.in, got, tt.want)
			}
		}
	}
}

func TestAcceptsHTML(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"", false},
		{"text/html", true},
		{"TEXT/HTML", true},
		{"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", true},
		{"application/json, text/html;q=0.1", true},
		{"*/*", false},
		{"text/*", false},
		{"application/json", false},
		{"application/json, text/plain", false},
		{"text/html;q=0", false},
		{"image/avif,image/webp,*/*;q=0", false},
	}
	for _, tt := range tests {
		if got := acceptsHTML([]byte(tt.in)); got != tt.want {
			t.Errorf("acceptsHTML(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestCompCacheEvicts(t *testing.T) {
	c := newCompCache(10)
	k := func(n string) cacheKey { return cacheKey{name: n} }
	c.put(k("a"), make([]byte, 4))
	c.put(k("b"), make([]byte, 4))
	c.get(k("a")) // a is now the most recent
	c.put(k("c"), make([]byte, 4))
	if _, ok := c.get(k("b")); ok {
		t.Errorf("get(b) after overflow = found, want evicted (least recently used)")
	}
	for _, n := range []string{"a", "c"} {
		if _, ok := c.get(k(n)); !ok {
			t.Errorf("get(%s) = missing, want cached", n)
		}
	}
	c.put(k("huge"), make([]byte, 11))
	if _, ok := c.get(k("huge")); ok {
		t.Errorf("get(huge) = found, want a body larger than the cache never stored")
	}
	if c.used > c.max {
		t.Errorf("cache used = %d, want <= %d", c.used, c.max)
	}
}

// FuzzAccepted checks the Accept-Encoding parser on any header: no panic, no
// duplicate, only codings the handler can produce, and a coding the client
// refuses by name with q=0 is never chosen.
func FuzzAccepted(f *testing.F) {
	for _, s := range []string{"", "gzip", "br;q=0.5, gzip", "*;q=0", "gzip;q=0, *", "br;q=abc", ",,;;=", "BR ; Q = 1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		got := accepted([]byte(h))
		seen := map[encoding]bool{}
		for _, e := range got {
			if e != gzipEnc && e != brotliEnc {
				t.Fatalf("accepted(%q) = %v, holds %v", h, got, e)
			}
			if seen[e] {
				t.Fatalf("accepted(%q) = %v, holds %v twice", h, got, e)
			}
			seen[e] = true
		}
		if strings.EqualFold(strings.ReplaceAll(h, " ", ""), "br;q=0") && len(got) != 0 {
			t.Fatalf("accepted(%q) = %v, want nothing", h, got)
		}
		acceptsHTML([]byte(h)) // must not panic on any header either
	})
}
