// Package static serves a directory for a `static:` route: a single-page
// application from the same origin as the API, so that the session cookie is
// first-party (the BFF pattern's answer to third-party-cookie blocking).
//
// Rules, each covered by a test:
//   - only GET and HEAD (405 with Allow otherwise);
//   - files are opened through os.Root: no path, symlink or ".." can reach
//     outside the directory; dotfiles (.env, .git/...) are never served and
//     directories are never listed;
//   - a miss falls back to index.html for client-side routes: a request whose
//     last segment has no known file extension and whose Accept names
//     text/html, as browser navigations do (a missing /assets/app.3f9a1c2b.js
//     stays 404, and so does fetch("/api/typo") with its default "*/*");
//   - Content-Type by extension from the package's own table;
//   - Cache-Control "public, max-age=31536000, immutable" for file names with
//     a content hash (see isHashed), "no-cache" for everything else,
//     index.html included; ETag and Last-Modified with 304 answers;
//   - precompressed .br/.gz siblings when the client accepts them, else
//     brotli or gzip on the fly for compressible types of CompressMinSize
//     bytes or more, cached in memory (never written next to the files: the
//     directory may be read-only); Vary: Accept-Encoding;
//   - HTML documents carry Content-Security-Policy and Referrer-Policy; every
//     answer carries X-Content-Type-Options: nosniff.
//
// Range requests are not supported: the whole file is sent (RFC 9110 §14.2
// allows ignoring Range).
package static

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gofiber/fiber/v2"
	"golang.org/x/sync/singleflight"

	"github.com/gatehouse-dev/gatehouse/httperr"
	"github.com/gatehouse-dev/gatehouse/internal/config"
)

// DefaultCSP is the Content-Security-Policy sent with HTML documents when
// Options.ContentSecurityPolicy is empty: scripts, styles, fonts and API calls
// only from the page's own origin (no inline script or style attribute), no
// plugins, no framing (clickjacking), no <base> hijack. form-action is left
// out on purpose: browsers apply it to the redirects a form post follows, and
// a top-level POST /auth/logout redirects to the IdP.
const DefaultCSP = "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'self'; frame-ancestors 'none'"

// Cache-Control values.
const (
	cacheImmutable = "public, max-age=31536000, immutable"
	cacheRevalid   = "no-cache"
)

// Options tunes a Handler. The zero value is ready to use.
type Options struct {
	// ContentSecurityPolicy is sent with every HTML document. Default DefaultCSP.
	ContentSecurityPolicy string
	// ReferrerPolicy is sent with every HTML document. Default "strict-origin-when-cross-origin".
	ReferrerPolicy string
	// Index is the file served for the directory ("/" or "/dir/") and as the
	// client-side-route fallback; a plain file name. Default "index.html".
	Index string
	// CompressMinSize: smaller bodies are sent uncompressed (the headers would
	// eat the gain). Default 1024 bytes.
	CompressMinSize int64
	// CompressMaxSize: larger files are not compressed on the fly but streamed
	// from disk as they are (ship .br/.gz siblings for them). Default 8 MiB.
	CompressMaxSize int64
	// CacheBytes bounds the memory holding bodies compressed on the fly,
	// least recently used evicted first. Default 32 MiB.
	CacheBytes int64
	// Logger receives unexpected file-system errors. Default slog.Default().
	Logger *slog.Logger
}

// Handler serves one static route's directory. It is safe for concurrent use.
type Handler struct {
	root   *os.Root
	prefix string // route prefix without its trailing slash ("" for "/")
	opts   Options
	cache  *compCache
	// flight makes concurrent misses for the same body compress it once
	// (and hold one copy of the file in memory, not one per request).
	flight singleflight.Group
	log    *slog.Logger
}

// New opens route.Static (already made absolute by config loading) and
// returns the handler serving it under route.Prefix. The directory is opened
// once: a deployment that swaps the directory must reload the config.
func New(route *config.Route, opts Options) (*Handler, error) {
	if route == nil || route.Static == "" {
		return nil, errors.New("static: route has no static directory")
	}
	if opts.ContentSecurityPolicy == "" {
		opts.ContentSecurityPolicy = DefaultCSP
	}
	if opts.ReferrerPolicy == "" {
		opts.ReferrerPolicy = "strict-origin-when-cross-origin"
	}
	if opts.Index == "" {
		opts.Index = "index.html"
	}
	if name, _, ok := fileName("/" + opts.Index); !ok || strings.Contains(name, "/") {
		return nil, fmt.Errorf("static: index %q must be a plain file name", opts.Index)
	}
	if opts.CompressMinSize <= 0 {
		opts.CompressMinSize = 1024
	}
	if opts.CompressMaxSize <= 0 {
		opts.CompressMaxSize = 8 << 20
	}
	if opts.CacheBytes <= 0 {
		opts.CacheBytes = 32 << 20
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	root, err := os.OpenRoot(route.Static)
	if err != nil {
		return nil, fmt.Errorf("opening static directory %q: %w", route.Static, err)
	}
	return &Handler{
		root:   root,
		prefix: strings.TrimSuffix(route.Prefix, "/"),
		opts:   opts,
		cache:  newCompCache(opts.CacheBytes),
		log:    opts.Logger,
	}, nil
}

// Close releases the directory handle. Requests still being served keep
// working on files they have opened; new ones fail with 404.
func (h *Handler) Close() error { return h.root.Close() }

// errNotFound is what every miss becomes: the client learns nothing about why.
var errNotFound = httperr.New(fiber.StatusNotFound, "not found")

// Serve answers the request with a file, index.html for a client-side route,
// 304, 404 or 405. The request path must already be canonical (the server
// normalises it before routing) and lie under the route's prefix.
func (h *Handler) Serve(c *fiber.Ctx) error {
	req := &c.Request().Header
	if !req.IsGet() && !req.IsHead() {
		c.Set(fiber.HeaderAllow, "GET, HEAD")
		return httperr.New(fiber.StatusMethodNotAllowed, "method not allowed")
	}
	p := c.Request().URI().PathOriginal()
	if !bytes.HasPrefix(p, []byte(h.prefix)) {
		return errNotFound
	}
	rel := p[len(h.prefix):]
	if len(rel) > 0 && rel[0] != '/' {
		return errNotFound // "/appx" under prefix "/app": not a segment boundary
	}
	name, dir, ok := fileName(string(rel))
	if !ok {
		return errNotFound
	}
	if dir {
		name = path.Join(name, h.opts.Index)
	}
	f, fi, err := h.open(name)
	if err != nil {
		if name == h.opts.Index || hasKnownExtension(name) || !acceptsHTML(req.Peek(fiber.HeaderAccept)) {
			return errNotFound
		}
		// A client-side route: the SPA's router reads the URL.
		name = h.opts.Index
		if f, fi, err = h.open(name); err != nil {
			return errNotFound
		}
	}
	return h.send(c, f, fi, name)
}

// open opens name below the root if it is a regular file. Every failure is
// a miss; the unexpected ones (not "does not exist", not an escape attempt
// refused by os.Root) are logged.
func (h *Handler) open(name string) (*os.File, fs.FileInfo, error) {
	// Stat before Open: opening a FIFO or device for reading could block or
	// have side effects; only regular files are ever opened.
	fi, err := h.root.Stat(name)
	if err != nil {
		h.logUnexpected(name, err)
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, fs.ErrNotExist
	}
	f, err := h.root.Open(name)
	if err != nil {
		h.logUnexpected(name, err)
		return nil, nil, err
	}
	if fi, err = f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, fs.ErrNotExist
	}
	return f, fi, nil
}

func (h *Handler) logUnexpected(name string, err error) {
	// Misses and refused escapes are the normal traffic of a public server;
	// anything else (permissions, I/O) is a deployment problem worth a line.
	var pe *fs.PathError
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.ELOOP) ||
		errors.Is(err, syscall.ENAMETOOLONG) || (errors.As(err, &pe) && pe.Err.Error() == "path escapes from parent") {
		return
	}
	h.log.Warn("static: opening file", "name", name, "error", err)
}

// representation is the chosen body of a response.
type representation struct {
	enc   encoding
	etag  string
	size  int64
	file  *os.File // streamed when set
	bytes []byte   // sent when file is nil
}

// send writes f (or a compressed form of it) with its headers, or 304.
// It owns f and closes it unless the response streams it.
func (h *Handler) send(c *fiber.Ctx, f *os.File, fi fs.FileInfo, name string) error {
	resp := &c.Response().Header
	ctype := contentType(name)
	html := isHTML(ctype)
	resp.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	if html {
		resp.Set(fiber.HeaderContentSecurityPolicy, h.opts.ContentSecurityPolicy)
		resp.Set(fiber.HeaderReferrerPolicy, h.opts.ReferrerPolicy)
	}
	if !html && isHashed(name) {
		resp.Set(fiber.HeaderCacheControl, cacheImmutable)
	} else {
		resp.Set(fiber.HeaderCacheControl, cacheRevalid)
	}
	mtime := fi.ModTime().UTC().Truncate(time.Second)
	resp.Set(fiber.HeaderLastModified, mtime.Format(http.TimeFormat))

	rep := representation{enc: identity, etag: etag(fi, identity), size: fi.Size(), file: f}
	if compressible(ctype) {
		resp.Set(fiber.HeaderVary, fiber.HeaderAcceptEncoding)
		r, ok, err := h.encoded(name, f, fi, accepted(c.Request().Header.Peek(fiber.HeaderAcceptEncoding)))
		switch {
		case err != nil:
			f.Close()
			return err
		case ok:
			f.Close()
			rep = r
		}
	}
	resp.Set(fiber.HeaderETag, rep.etag)

	if notModified(&c.Request().Header, rep.etag, mtime) {
		if rep.file != nil {
			rep.file.Close()
		}
		c.Status(fiber.StatusNotModified)
		c.Response().SkipBody = true
		return nil
	}
	resp.Set(fiber.HeaderContentType, ctype)
	if rep.enc != identity {
		resp.Set(fiber.HeaderContentEncoding, rep.enc.token())
	}
	c.Status(fiber.StatusOK)
	switch {
	case c.Request().Header.IsHead():
		if rep.file != nil {
			rep.file.Close()
		}
		c.Response().SkipBody = true
		resp.SetContentLength(int(rep.size))
	case rep.file != nil:
		// fasthttp closes the stream (an io.Closer) once it is sent or abandoned.
		c.Response().SetBodyStream(rep.file, int(rep.size))
	default:
		c.Response().SetBodyRaw(rep.bytes) // cached bytes are never modified
	}
	return nil
}

// encoded picks the best compressed representation the client accepts: a
// precompressed sibling (name.br, name.gz) if there is one, else the file
// compressed on the fly when its size is within bounds. ok is false when the
// identity body should be sent; err is set only when f can no longer be sent.
func (h *Handler) encoded(name string, f *os.File, fi fs.FileInfo, encs []encoding) (representation, bool, error) {
	for _, e := range encs {
		if sf, sfi, err := h.open(name + e.suffix()); err == nil {
			return representation{enc: e, etag: etag(sfi, e), size: sfi.Size(), file: sf}, true, nil
		}
	}
	if len(encs) == 0 || fi.Size() < h.opts.CompressMinSize || fi.Size() > h.opts.CompressMaxSize {
		return representation{}, false, nil
	}
	e := encs[0]
	key := cacheKey{name: name, enc: e, size: fi.Size(), mtime: fi.ModTime()}
	data, ok := h.cache.get(key)
	if !ok {
		v, err, _ := h.flight.Do(flightKey(key), func() (any, error) {
			if data, ok := h.cache.get(key); ok {
				return data, nil
			}
			raw, err := io.ReadAll(io.LimitReader(f, fi.Size()+1))
			if err == nil && int64(len(raw)) != fi.Size() {
				err = errors.New("file changed while being read")
			}
			if err != nil {
				return nil, err
			}
			data, err := compress(e, raw)
			if err != nil {
				return nil, err
			}
			h.cache.put(key, data)
			return data, nil
		})
		if err != nil {
			h.log.Warn("static: compressing file", "name", name, "error", err)
			return h.rewind(f, name)
		}
		data = v.([]byte)
	}
	return representation{enc: e, etag: etag(fi, e), size: int64(len(data)), bytes: data}, true, nil
}

// rewind puts f back at its start after a failed compression, so that the
// identity answer can stream it whole.
func (h *Handler) rewind(f *os.File, name string) (representation, bool, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return representation{}, false, fmt.Errorf("rewinding %q: %w", name, err)
	}
	return representation{}, false, nil
}

// flightKey is k as a string, for singleflight.
func flightKey(k cacheKey) string {
	return k.enc.token() + "\x00" + strconv.FormatInt(k.size, 16) + "\x00" +
		strconv.FormatInt(k.mtime.UnixNano(), 16) + "\x00" + k.name
}

// etag is a strong validator of one representation of one file version:
// size and modification time, plus the coding (RFC 9110 §8.8.3: each
// content coding is a different representation and needs its own tag).
func etag(fi fs.FileInfo, e encoding) string {
	tag := `"` + strconv.FormatInt(fi.Size(), 16) + "-" + strconv.FormatInt(fi.ModTime().UnixNano(), 16)
	if e != identity {
		tag += "-" + e.token()
	}
	return tag + `"`
}

// notModified evaluates If-None-Match (weak comparison, RFC 9110 §13.1.2)
// and, only when it is absent, If-Modified-Since (§13.1.3).
func notModified(req interface{ Peek(string) []byte }, tag string, mtime time.Time) bool {
	if inm := req.Peek(fiber.HeaderIfNoneMatch); len(inm) > 0 {
		for t := range bytes.SplitSeq(inm, []byte{','}) {
			t = bytes.TrimSpace(t)
			if string(t) == "*" || string(bytes.TrimPrefix(t, []byte("W/"))) == tag {
				return true
			}
		}
		return false
	}
	if ims := req.Peek(fiber.HeaderIfModifiedSince); len(ims) > 0 {
		t, err := http.ParseTime(string(ims))
		return err == nil && !mtime.After(t)
	}
	return false
}
