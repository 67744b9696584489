package static

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	brrr "github.com/molecule-man/go-brrr"

	"github.com/gatehouse-dev/gatehouse/httperr"
	"github.com/gatehouse-dev/gatehouse/internal/config"
)

// site copies testdata/site into a temporary directory and adds what git
// cannot or should not hold: dotfiles, a .git directory, symlinks, a FIFO,
// and precompressed siblings. It returns the served directory; "outside"
// next to it holds a secret no request may reach.
func site(t *testing.T) string {
	t.Helper()
	base := t.TempDir()
	dir := filepath.Join(base, "site")
	if err := os.CopyFS(dir, os.DirFS("testdata/site")); err != nil {
		t.Fatal(err)
	}
	write := func(name, content string) {
		t.Helper()
		p := filepath.Join(base, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("outside/secret.txt", "TOP SECRET")
	write("site/.env", "SESSION_SECRET=leaked")
	write("site/.git/config", "[core]")
	write("site/assets/.hidden.js", "hidden()")
	big := strings.Repeat("precompressed payload line\n", 200)
	write("site/assets/pre.js", big)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte("GZ-SIBLING:" + big))
	zw.Close()
	write("site/assets/pre.js.gz", gz.String())
	br, err := brrr.Compress([]byte("BR-SIBLING:"+big), 5)
	if err != nil {
		t.Fatal(err)
	}
	write("site/assets/pre.js.br", string(br))
	for link, target := range map[string]string{
		"site/escape.txt":      "../outside/secret.txt",
		"site/escape-dir":      "../outside",
		"site/abs.txt":         filepath.Join(base, "outside", "secret.txt"),
		"site/inside-link.css": "assets/style.css",
	} {
		if err := os.Symlink(target, filepath.Join(base, link)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// app mounts a Handler for prefix over dir behind the server's error
// handler (without its HTML pages); an error without client text fails the
// test.
func app(t *testing.T, prefix, dir string, opts Options) (*fiber.App, *Handler) {
	t.Helper()
	h, err := New(&config.Route{Name: "web", Prefix: prefix, Static: dir}, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { h.Close() })
	a := fiber.New(fiber.Config{
		DisableStartupMessage: true,
		ErrorHandler: httperr.Handler(nil, func(_ *fiber.Ctx, err error) {
			t.Errorf("handler returned an error without client text: %v", err)
		}),
	})
	a.Use(h.Serve)
	return a, h
}

type result struct {
	status int
	header http.Header
	body   string
}

// do sends a request with a raw (unnormalised) target and decodes nothing.
func do(t *testing.T, a *fiber.App, method, target string, hdr map[string]string) result {
	t.Helper()
	req := httptest.NewRequest(method, "/", nil)
	req.URL.Opaque = target // keep the path exactly as written, escapes and dots included
	req.RequestURI = target
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := a.Test(req, -1)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, target, err)
	}
	return result{resp.StatusCode, resp.Header, string(b)}
}

func fixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata/site", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestServeFilesAndFallback(t *testing.T) {
	a, _ := app(t, "/", site(t), Options{})
	index := fixture(t, "index.html")
	docs := fixture(t, "docs/index.html")
	css := fixture(t, "assets/style.css")
	tests := []struct {
		name   string
		method string
		target string
		accept string
		status int
		body   string // "" = not checked
		ctype  string
	}{
		{"root serves index", "GET", "/", "", 200, index, "text/html; charset=utf-8"},
		{"file", "GET", "/assets/style.css", "", 200, css, "text/css; charset=utf-8"},
		{"escaped unreserved char decoded", "GET", "/assets/styl%65.css", "", 200, css, "text/css; charset=utf-8"},
		{"png type", "GET", "/assets/logo.png", "", 200, "", "image/png"},
		{"manifest type", "GET", "/manifest.webmanifest", "", 200, "", "application/manifest+json"},
		{"directory with slash serves its index", "GET", "/docs/", "", 200, docs, "text/html; charset=utf-8"},
		{"directory without slash falls back to SPA", "GET", "/docs", "text/html", 200, index, "text/html; charset=utf-8"},
		{"client route falls back", "GET", "/orders/42", "text/html,application/xhtml+xml,*/*;q=0.8", 200, index, "text/html; charset=utf-8"},
		{"client route without Accept is 404", "GET", "/settings", "", 404, "", ""},
		{"client route for fetch's */* is 404", "GET", "/api/typo", "*/*", 404, "", ""},
		{"client route with a dot falls back", "GET", "/users/jane.doe", "text/html", 200, index, "text/html; charset=utf-8"},
		{"client route for json caller is 404", "GET", "/orders/42", "application/json", 404, "", ""},
		{"html refused by q=0 is 404", "GET", "/orders/42", "text/html;q=0", 404, "", ""},
		{"missing hashed asset is 404", "GET", "/assets/app.123abc45.js", "*/*", 404, "", ""},
		{"missing asset is 404 even for navigations", "GET", "/assets/app.123abc45.js", "text/html", 404, "", ""},
		{"missing image is 404", "GET", "/img/none.png", "text/html", 404, "", ""},
		{"symlink inside root is followed", "GET", "/inside-link.css", "", 200, css, "text/css; charset=utf-8"},
		{"HEAD has no body", "HEAD", "/assets/style.css", "", 200, "", "text/css; charset=utf-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := map[string]string{}
			if tt.accept != "" {
				h["Accept"] = tt.accept
			}
			r := do(t, a, tt.method, tt.target, h)
			if r.status != tt.status {
				t.Fatalf("%s %s status = %d, want %d (body %q)", tt.method, tt.target, r.status, tt.status, r.body)
			}
			if tt.body != "" && r.body != tt.body {
				t.Errorf("%s %s body = %q, want %q", tt.method, tt.target, r.body, tt.body)
			}
			if tt.ctype != "" && r.header.Get("Content-Type") != tt.ctype {
				t.Errorf("%s %s Content-Type = %q, want %q", tt.method, tt.target, r.header.Get("Content-Type"), tt.ctype)
			}
			if tt.status == 404 && strings.Contains(r.body, "static fixture index") {
				t.Errorf("%s %s served index.html on a 404", tt.method, tt.target)
			}
		})
	}
}

func TestHeadContentLength(t *testing.T) {
	a, _ := app(t, "/", site(t), Options{})
	r := do(t, a, "HEAD", "/assets/style.css", nil)
	if r.body != "" {
		t.Errorf("HEAD body = %q, want empty", r.body)
	}
	if got, want := r.header.Get("Content-Length"), "2142"; got != want {
		t.Errorf("HEAD Content-Length = %q, want %q", got, want)
	}
}

// TestRefusesEscapes sends raw paths as an attacker would, without the
// server's normaliser in front: the handler alone must refuse them.
func TestRefusesEscapes(t *testing.T) {
	a, _ := app(t, "/", site(t), Options{})
	for _, target := range []string{
		"/../outside/secret.txt",
		"/assets/../../outside/secret.txt",
		"/%2e%2e/outside/secret.txt",
		"/%2E%2E%2Foutside%2Fsecret.txt",
		"/assets%2f..%2f..%2foutside/secret.txt",
		"/..%5coutside%5csecret.txt",
		"/assets/..\\..\\outside/secret.txt",
		"/escape.txt",            // relative symlink out of the root
		"/abs.txt",               // absolute symlink out of the root
		"/escape-dir/secret.txt", // symlinked directory out of the root
		"/.env",
		"/%2eenv",
		"/.git/config",
		"/assets/.hidden.js",
		"/./assets/style.css",
		"//etc/passwd",
		"/assets//style.css",
		"/index.html%00.png",
		"/assets/style.css%00",
		"/%zz",
		"/assets/%",
	} {
		t.Run(target, func(t *testing.T) {
			r := do(t, a, "GET", target, map[string]string{"Accept": "text/html"})
			if r.status != 404 {
				t.Fatalf("GET %s status = %d, want 404", target, r.status)
			}
			for _, leak := range []string{"TOP SECRET", "leaked", "[core]", "hidden()", "static fixture index"} {
				if strings.Contains(r.body, leak) {
					t.Errorf("GET %s body = %q, leaks %q", target, r.body, leak)
				}
			}
		})
	}
}

func TestPrefix(t *testing.T) {
	a, _ := app(t, "/app/", site(t), Options{})
	tests := []struct {
		target string
		status int
		body   string
	}{
		{"/app", 200, fixture(t, "index.html")},
		{"/app/", 200, fixture(t, "index.html")},
		{"/app/assets/small.css", 200, fixture(t, "assets/small.css")},
		{"/app/deep/link", 200, fixture(t, "index.html")},
		{"/apps/assets/small.css", 404, ""}, // not on a segment boundary
		{"/assets/small.css", 404, ""},      // outside the prefix
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			r := do(t, a, "GET", tt.target, map[string]string{"Accept": "text/html"})
			if r.status != tt.status || (tt.body != "" && r.body != tt.body) {
				t.Errorf("GET %s = %d %q, want %d %q", tt.target, r.status, r.body, tt.status, tt.body)
			}
		})
	}
}

func TestMethods(t *testing.T) {
	a, _ := app(t, "/", site(t), Options{})
	for _, m := range []string{"POST", "PUT", "DELETE", "PATCH", "OPTIONS"} {
		t.Run(m, func(t *testing.T) {
			r := do(t, a, m, "/index.html", nil)
			if r.status != 405 {
				t.Fatalf("%s /index.html status = %d, want 405", m, r.status)
			}
			if got := r.header.Get("Allow"); got != "GET, HEAD" {
				t.Errorf("%s /index.html Allow = %q, want %q", m, got, "GET, HEAD")
			}
		})
	}
}

func TestHeaders(t *testing.T) {
	a, _ := app(t, "/", site(t), Options{})
	tests := []struct {
		name   string
		target string
		want   map[string]string // "" = must be absent
	}{
		{"index", "/", map[string]string{
			"Cache-Control":           "no-cache",
			"X-Content-Type-Options":  "nosniff",
			"Referrer-Policy":         "strict-origin-when-cross-origin",
			"Content-Security-Policy": DefaultCSP,
		}},
		{"fallback index", "/some/route?x=1", map[string]string{
			"Cache-Control":           "no-cache",
			"Content-Security-Policy": DefaultCSP,
		}},
		{"hashed asset", "/assets/app.3f9a1c2b.js", map[string]string{
			"Cache-Control":           "public, max-age=31536000, immutable",
			"X-Content-Type-Options":  "nosniff",
			"Content-Security-Policy": "",
			"Vary":                    "Accept-Encoding",
		}},
		{"unhashed asset", "/assets/style.css", map[string]string{
			"Cache-Control": "no-cache",
			"Vary":          "Accept-Encoding",
		}},
		{"image does not vary", "/assets/logo.png", map[string]string{
			"Cache-Control": "no-cache",
			"Vary":          "",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, a, "GET", tt.target, map[string]string{"Accept": "text/html"})
			if r.status != 200 {
				t.Fatalf("GET %s status = %d, want 200", tt.target, r.status)
			}
			for k, want := range tt.want {
				if got := r.header.Get(k); got != want {
					t.Errorf("GET %s %s = %q, want %q", tt.target, k, got, want)
				}
			}
			if r.header.Get("ETag") == "" || r.header.Get("Last-Modified") == "" {
				t.Errorf("GET %s ETag/Last-Modified = %q/%q, want both set", tt.target,
					r.header.Get("ETag"), r.header.Get("Last-Modified"))
			}
		})
	}
}

func TestCustomCSP(t *testing.T) {
	a, _ := app(t, "/", site(t), Options{ContentSecurityPolicy: "default-src 'none'"})
	if got := do(t, a, "GET", "/", nil).header.Get("Content-Security-Policy"); got != "default-src 'none'" {
		t.Errorf("CSP = %q, want %q", got, "default-src 'none'")
	}
}

func TestConditional(t *testing.T) {
	dir := site(t)
	a, _ := app(t, "/", dir, Options{})
	first := do(t, a, "GET", "/assets/style.css", nil)
	tag, lm := first.header.Get("ETag"), first.header.Get("Last-Modified")
	gzFirst := do(t, a, "GET", "/assets/style.css", map[string]string{"Accept-Encoding": "gzip"})
	gzTag := gzFirst.header.Get("ETag")
	if gzTag == tag {
		t.Fatalf("gzip ETag = identity ETag %q, want a different tag per coding", tag)
	}
	past := time.Unix(0, 0).UTC().Format(http.TimeFormat)
	tests := []struct {
		name   string
		hdr    map[string]string
		status int
	}{
		{"matching etag", map[string]string{"If-None-Match": tag}, 304},
		{"weak form of the etag", map[string]string{"If-None-Match": "W/" + tag}, 304},
		{"etag in a list", map[string]string{"If-None-Match": `"x", ` + tag}, 304},
		{"star", map[string]string{"If-None-Match": "*"}, 304},
		{"other etag", map[string]string{"If-None-Match": `"nope"`}, 200},
		{"gzip etag for identity", map[string]string{"If-None-Match": gzTag}, 200},
		{"gzip etag for gzip", map[string]string{"If-None-Match": gzTag, "Accept-Encoding": "gzip"}, 304},
		{"if-modified-since equal", map[string]string{"If-Modified-Since": lm}, 304},
		{"if-modified-since past", map[string]string{"If-Modified-Since": past}, 200},
		{"etag wins over date", map[string]string{"If-None-Match": `"nope"`, "If-Modified-Since": lm}, 200},
		{"garbage date", map[string]string{"If-Modified-Since": "yesterday"}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, a, "GET", "/assets/style.css", tt.hdr)
			if r.status != tt.status {
				t.Fatalf("GET with %v status = %d, want %d", tt.hdr, r.status, tt.status)
			}
			if tt.status == 304 {
				if r.body != "" {
					t.Errorf("304 body = %q, want empty", r.body)
				}
				if r.header.Get("ETag") == "" || r.header.Get("Cache-Control") == "" {
					t.Errorf("304 headers = %v, want ETag and Cache-Control", r.header)
				}
			}
		})
	}

	// A changed file gets a new validator.
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "assets/style.css"), later, later); err != nil {
		t.Fatal(err)
	}
	if r := do(t, a, "GET", "/assets/style.css", map[string]string{"If-None-Match": tag}); r.status != 200 {
		t.Errorf("GET after change with old ETag status = %d, want 200", r.status)
	}
}

func decode(t *testing.T, enc, body string) string {
	t.Helper()
	out, err := decodeBody(enc, body)
	if err != nil {
		t.Fatalf("decoding %s body: %v", enc, err)
	}
	return out
}

// decodeBody undoes a Content-Encoding; safe to call from any goroutine.
func decodeBody(enc, body string) (string, error) {
	switch enc {
	case "gzip":
		zr, err := gzip.NewReader(strings.NewReader(body))
		if err != nil {
			return "", err
		}
		b, err := io.ReadAll(zr)
		return string(b), err
	case "br":
		b, err := brrr.Decompress([]byte(body))
		return string(b), err
	}
	return body, nil
}

func TestCompression(t *testing.T) {
	dir := site(t)
	a, h := app(t, "/", dir, Options{})
	css := fixture(t, "assets/style.css")
	pre := strings.Repeat("precompressed payload line\n", 200)
	tests := []struct {
		name, target, accept, wantEnc, wantBody string
	}{
		{"brotli preferred", "/assets/style.css", "gzip, deflate, br", "br", css},
		{"gzip only", "/assets/style.css", "gzip", "gzip", css},
		{"q-values respected", "/assets/style.css", "br;q=0.5, gzip;q=0.9", "gzip", css},
		{"br refused", "/assets/style.css", "br;q=0, gzip", "gzip", css},
		{"star", "/assets/style.css", "*", "br", css},
		{"star refused for br", "/assets/style.css", "*, br;q=0", "gzip", css},
		{"none accepted", "/assets/style.css", "", "", css},
		{"identity only", "/assets/style.css", "identity", "", css},
		{"unknown coding", "/assets/style.css", "zstd", "", css},
		{"malformed q", "/assets/style.css", "br;q=abc", "", css},
		{"small file not compressed", "/assets/small.css", "br, gzip", "", fixture(t, "assets/small.css")},
		{"image not compressed", "/assets/logo.png", "br, gzip", "", fixture(t, "assets/logo.png")},
		{"br sibling", "/assets/pre.js", "br, gzip", "br", "BR-SIBLING:" + pre},
		{"gz sibling", "/assets/pre.js", "gzip", "gzip", "GZ-SIBLING:" + pre},
		{"no sibling accepted", "/assets/pre.js", "", "", pre},
		{"hashed script compressed", "/assets/app.3f9a1c2b.js", "gzip", "gzip", fixture(t, "assets/app.3f9a1c2b.js")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := map[string]string{}
			if tt.accept != "" {
				hdr["Accept-Encoding"] = tt.accept
			}
			r := do(t, a, "GET", tt.target, hdr)
			if r.status != 200 {
				t.Fatalf("GET %s status = %d, want 200", tt.target, r.status)
			}
			if got := r.header.Get("Content-Encoding"); got != tt.wantEnc {
				t.Fatalf("GET %s (Accept-Encoding %q) Content-Encoding = %q, want %q", tt.target, tt.accept, got, tt.wantEnc)
			}
			if got := decode(t, tt.wantEnc, r.body); got != tt.wantBody {
				t.Errorf("GET %s decoded body = %q, want %q", tt.target, got, tt.wantBody)
			}
		})
	}
	// Nothing was written next to the files (a read-only container must work).
	var extra []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if strings.Contains(p, "fasthttp") || (strings.HasSuffix(p, ".gz") && !strings.HasSuffix(p, "pre.js.gz")) ||
			(strings.HasSuffix(p, ".br") && !strings.HasSuffix(p, "pre.js.br")) {
			extra = append(extra, p)
		}
		return nil
	})
	if len(extra) > 0 {
		t.Errorf("files written into the served directory: %v", extra)
	}
	if h.cache.len() == 0 {
		t.Errorf("compressed cache is empty after on-the-fly compression")
	}
}

func TestNotRegularFiles(t *testing.T) {
	dir := site(t)
	if err := mkfifo(filepath.Join(dir, "pipe.js")); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	a, _ := app(t, "/", dir, Options{})
	// Would block forever if the handler opened the FIFO for reading.
	if r := do(t, a, "GET", "/pipe.js", nil); r.status != 404 {
		t.Errorf("GET /pipe.js (fifo) status = %d, want 404", r.status)
	}
}

func TestMissingIndex(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.txt"), []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	a, _ := app(t, "/", dir, Options{})
	for _, target := range []string{"/", "/route"} {
		if r := do(t, a, "GET", target, nil); r.status != 404 {
			t.Errorf("GET %s without index.html status = %d, want 404", target, r.status)
		}
	}
}

func TestNew(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name  string
		route *config.Route
		opts  Options
	}{
		{"nil route", nil, Options{}},
		{"no directory", &config.Route{Prefix: "/"}, Options{}},
		{"missing directory", &config.Route{Prefix: "/", Static: filepath.Join(dir, "nope")}, Options{}},
		{"index with a slash", &config.Route{Prefix: "/", Static: dir}, Options{Index: "a/index.html"}},
		{"dot index", &config.Route{Prefix: "/", Static: dir}, Options{Index: ".index.html"}},
		{"traversal index", &config.Route{Prefix: "/", Static: dir}, Options{Index: ".."}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if h, err := New(tt.route, tt.opts); err == nil {
				h.Close()
				t.Errorf("New(%s) error = nil, want an error", tt.name)
			}
		})
	}
}

// copySite copies testdata/site into dir.
func copySite(dir string) error { return os.CopyFS(dir, os.DirFS("testdata/site")) }

// appB is app for benchmarks.
func appB(b *testing.B, dir string) (*fiber.App, *Handler) {
	h, err := New(&config.Route{Name: "web", Prefix: "/", Static: dir}, Options{})
	if err != nil {
		b.Fatalf("New: %v", err)
	}
	b.Cleanup(func() { h.Close() })
	a := fiber.New(fiber.Config{DisableStartupMessage: true})
	a.Use(h.Serve)
	return a, h
}

func TestCompressionBounds(t *testing.T) {
	a, _ := app(t, "/", site(t), Options{CompressMinSize: 100, CompressMaxSize: 2000})
	tests := []struct{ target, wantEnc string }{
		{"/assets/small.css", ""},       // 15 bytes < 100
		{"/assets/style.css", ""},       // 2142 bytes > 2000
		{"/index.html", "gzip"},         // 214 bytes: within bounds
		{"/assets/app.3f9a1c2b.js", ""}, // 6782 bytes > 2000
		{"/assets/pre.js", "gzip"},      // a sibling is used whatever its size
	}
	for _, tt := range tests {
		r := do(t, a, "GET", tt.target, map[string]string{"Accept-Encoding": "gzip"})
		if got := r.header.Get("Content-Encoding"); got != tt.wantEnc {
			t.Errorf("GET %s Content-Encoding = %q, want %q", tt.target, got, tt.wantEnc)
		}
	}
}

// TestConcurrentCompression races many first requests for the same body:
// each must get the whole, correct file (run with -race).
func TestConcurrentCompression(t *testing.T) {
	a, h := app(t, "/", site(t), Options{})
	want := fixture(t, "assets/app.3f9a1c2b.js")
	const n = 16
	errs := make(chan string, n)
	for i := 0; i < n; i++ {
		go func() {
			enc := []string{"gzip", "br"}[i%2]
			req := httptest.NewRequest("GET", "/assets/app.3f9a1c2b.js", nil)
			req.Header.Set("Accept-Encoding", enc)
			resp, err := a.Test(req, -1)
			if err != nil {
				errs <- err.Error()
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if got := resp.Header.Get("Content-Encoding"); got != enc {
				errs <- "Content-Encoding = " + got + ", want " + enc
				return
			}
			if got, err := decodeBody(enc, string(b)); err != nil || got != want {
				errs <- enc + ": decoded body differs from the file"
				return
			}
			errs <- ""
		}()
	}
	for i := 0; i < n; i++ {
		if e := <-errs; e != "" {
			t.Error(e)
		}
	}
	if got := h.cache.len(); got != 2 {
		t.Errorf("cache entries after concurrent gzip and br requests = %d, want 2", got)
	}
}
