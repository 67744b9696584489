// Package cache is the cache plugin: GET and HEAD responses kept for a ttl,
// private per session by default, following RFC 9111 where the upstream
// speaks.
//
//	cache: {ttl: 30s}                  # per session (requests without one bypass it)
//	cache: {ttl: 5m, public: true}     # one entry for everyone
//
// The key is the method (HEAD shares GET's entries), the normalised path, the
// whole raw query string, the session (unless public) and the values of the
// request headers the response Varies on; it is hashed (SHA-256), so no
// credential carried by a Vary'd header is kept in a key. See docs/plugins.md
// for the storage rules.
package cache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"hash/maphash"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-dev/gatehouse/backend"
	"github.com/gatehouse-dev/gatehouse/conf"
	"github.com/gatehouse-dev/gatehouse/httperr"
	"github.com/gatehouse-dev/gatehouse/internal/hopbyhop"
	"github.com/gatehouse-dev/gatehouse/plugins"
	"github.com/gatehouse-dev/gatehouse/request"
)

// Name is the plugin's key under plugins: in routes.yaml.
const Name = "cache"

func init() {
	plugins.Register(plugins.Plugin{Name: Name, Phase: plugins.PhaseCache, New: New})
}

// Config is the plugin's YAML block.
type Config struct {
	// TTL is the longest an entry is served; the upstream's max-age (or
	// s-maxage when public) shortens it, never lengthens it. Required.
	TTL conf.Duration `yaml:"ttl"`
	// Public shares entries between all callers. Default false: one cache
	// per session, and requests without a session are not cached.
	Public bool `yaml:"public"`
	// MaxBytes bounds the memory of this route's cache; the least recently
	// used entries go first. Default 64MB.
	MaxBytes conf.ByteSize `yaml:"max_bytes"`
	// MaxEntryBytes is the largest body stored; larger responses pass
	// through (streamed) uncached. Default 1MB.
	MaxEntryBytes conf.ByteSize `yaml:"max_entry_bytes"`
}

// Header names and values, precomputed.
var (
	hdrXCache = []byte("X-Cache")
	hdrAge    = []byte("Age")
	valHit    = []byte("HIT")
	valMiss   = []byte("MISS")
)

// skipStored are response fields never stored besides the hop-by-hop ones
// (internal/hopbyhop): framing the server recomputes, the fields the cache
// writes, and X-Request-Id, which the gateway sets per request before the
// chain runs (a hit must carry its own, not the one of the request that
// filled the entry).
var skipStored = map[string]bool{
	"Content-Length": true, "Age": true, "X-Cache": true, "X-Request-Id": true,
}

// cacheMiddleware is the compiled plugin for one route.
type cacheMiddleware struct {
	ttl      time.Duration
	public   bool
	maxEntry int
	backend  Backend
	now      func() time.Time
	flights  flights
	log      *slog.Logger
	route    string
	// gens counts invalidations per path bucket: a fetch that started
	// before an unsafe request to its path finished must not store what it
	// read (it may predate the change).
	seed maphash.Seed
	gens [256]atomic.Uint64
}

// New validates the block and builds the middleware on the route's cache
// store (spec.Backends): memory per replica, or Redis, shared by every
// replica. With spec.Check it only validates the block.
func New(spec plugins.Spec) (plugins.Middleware, error) {
	cfg, err := parse(spec)
	if err != nil || spec.Check {
		return nil, err
	}
	c, err := spec.Backends.Cache(backend.CacheOptions{MaxBytes: int64(cfg.MaxBytes)})
	if err != nil {
		return nil, spec.Config.ErrorAt("", "%v", err)
	}
	return newCache(spec, cfg, newEntries(c, int64(cfg.MaxEntryBytes), nil), time.Now).middleware, nil
}

// parse decodes and validates the block, applying the defaults. Every
// problem is reported, not only the first.
func parse(spec plugins.Spec) (Config, error) {
	cfg := Config{MaxBytes: 64 << 20, MaxEntryBytes: 1 << 20}
	ps := spec.Config.DecodeAll(&cfg)
	if cfg.TTL.D() < time.Second {
		ps.At(&cfg.TTL, "ttl", "ttl must be >= 1s, got %s", cfg.TTL)
	}
	if cfg.MaxBytes < 1 {
		ps.At(&cfg.MaxBytes, "max_bytes", "max_bytes must be > 0, got %s", cfg.MaxBytes)
	}
	switch {
	case ps.Failed(&cfg.MaxBytes) || cfg.MaxBytes < 1:
		// The bound below is max_bytes, whose problem is reported already.
	case cfg.MaxEntryBytes < 1 || cfg.MaxEntryBytes > cfg.MaxBytes:
		ps.At(&cfg.MaxEntryBytes, "max_entry_bytes", "max_entry_bytes must be between 1B and max_bytes (%s), got %s", cfg.MaxBytes, cfg.MaxEntryBytes)
	case cfg.MaxEntryBytes > 1<<30:
		ps.At(&cfg.MaxEntryBytes, "max_entry_bytes", "max_entry_bytes must be <= 1GB, got %s", cfg.MaxEntryBytes)
	}
	if cfg.Public {
		// What the plugins behind the cache say of their responses
		// (plugins.Facts); the cache reads no other plugin's block.
		for _, in := range spec.Inner {
			if in.IdentityDependent {
				ps.At(&cfg.Public, "public", "public: true would serve one user's %s (plugin %s) to every user; drop public or those rules", in.What, in.Name)
			}
		}
	}
	if err := ps.Err(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

func newCache(spec plugins.Spec, cfg Config, b Backend, now func() time.Time) *cacheMiddleware {
	m := &cacheMiddleware{
		ttl:      cfg.TTL.D(),
		public:   cfg.Public,
		maxEntry: int(cfg.MaxEntryBytes),
		backend:  b,
		now:      now,
		log:      spec.Logger,
		seed:     maphash.MakeSeed(),
		flights:  flights{m: make(map[string]*flight)},
	}
	if m.log == nil {
		m.log = slog.Default()
	}
	if spec.Route != nil {
		m.route = spec.Route.Name
	}
	return m
}

func (m *cacheMiddleware) middleware(next fiber.Handler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		switch c.Method() {
		case fiber.MethodGet:
			return m.serve(c, next, false)
		case fiber.MethodHead:
			return m.serve(c, next, true)
		case fiber.MethodOptions, fiber.MethodTrace, fiber.MethodConnect:
			return next(c)
		}
		// An unsafe method invalidates the path's entries (RFC 9111 §4.4),
		// for every query string and session. Done whatever the outcome:
		// a failed or timed-out request may still have changed the resource,
		// and an extra invalidation only costs a miss.
		path := string(c.Request().URI().PathOriginal())
		m.gens[m.genIndex(path)].Add(1)
		err := next(c)
		m.gens[m.genIndex(path)].Add(1)
		// Not cut short by the request's end: the request may have timed
		// out or its client gone, and the backend bounds the call itself.
		if derr := m.backend.DeletePath(context.WithoutCancel(c.UserContext()), path); derr != nil {
			m.log.Error("cache: invalidation failed", "route", m.route, "request_id", request.From(c).ID, "error", derr)
		}
		return err
	}
}

func (m *cacheMiddleware) genIndex(path string) int {
	return int(maphash.String(m.seed, path) % uint64(len(m.gens)))
}

// serve handles a GET or HEAD.
func (m *cacheMiddleware) serve(c *fiber.Ctx, next fiber.Handler, head bool) error {
	req := &c.Request().Header
	reqCC := parseCacheControl(req.PeekAll(fiber.HeaderCacheControl)...)
	scope, ok := m.scope(c)
	if !ok || reqCC.noStore || len(req.Peek(fiber.HeaderRange)) > 0 {
		// No session on a private cache, a client asking not to store, or a
		// range request: straight through.
		return m.miss(c, next(c))
	}
	ctx := c.UserContext()
	primary := m.primaryKey(c, scope)
	// no-cache (or HTTP/1.0 Pragma: no-cache, or max-age=0) asks for a
	// response validated at the origin: fetch and replace (RFC 9111 §5.2.1.4).
	revalidate := reqCC.noCache || reqCC.maxAge == 0 ||
		(len(req.Peek(fiber.HeaderCacheControl)) == 0 && bytes.Contains(req.Peek(fiber.HeaderPragma), []byte("no-cache")))
	if !revalidate {
		e, err := m.lookup(ctx, c, primary)
		if err != nil {
			// The backend failed (logged): straight through, without a
			// store that would wait on it again.
			return m.miss(c, next(c))
		}
		if e != nil && (reqCC.maxAge < 0 || m.age(e) <= time.Duration(reqCC.maxAge)*time.Second) {
			m.writeHit(c, e)
			return nil
		}
	}
	if head {
		// A HEAD response has no body to fill GET's entry.
		return m.miss(c, next(c))
	}
	// Concurrent misses on one key make one upstream request; the others
	// get the leader's stored response.
	res, leader, waited := m.flights.do(ctx, primary, func() fetchResult { return m.fetch(c, next, primary) })
	if leader {
		return m.miss(c, res.err)
	}
	if !waited {
		return httperr.New(fiber.StatusGatewayTimeout, "upstream timed out")
	}
	if res.entry != nil && (len(res.entry.Vary) == 0 || variantKey(primary, c, res.entry.Vary) == res.key) {
		m.writeHit(c, res.entry)
		return nil
	}
	// The leader's response was not stored (or varies on a header this
	// request sends differently): go upstream ourselves.
	return m.miss(c, next(c))
}

// miss marks the response as not served from the cache and returns err.
func (m *cacheMiddleware) miss(c *fiber.Ctx, err error) error {
	c.Response().Header.SetBytesKV(hdrXCache, valMiss)
	return err
}

// fetchResult is what a leader shares with the requests that waited for it.
type fetchResult struct {
	entry *Entry // nil when not stored
	key   string // the key it was stored under
	err   error  // the leader's own outcome
}

// fetch calls the upstream for the leader and stores the response if allowed.
func (m *cacheMiddleware) fetch(c *fiber.Ctx, next fiber.Handler, primary string) fetchResult {
	path := string(c.Request().URI().PathOriginal())
	gen := m.gens[m.genIndex(path)].Load()
	stored := m.now()
	if err := next(c); err != nil {
		return fetchResult{err: err}
	}
	e, err := m.capture(c, path, stored)
	if err != nil || e == nil {
		return fetchResult{err: err}
	}
	if m.gens[m.genIndex(path)].Load() != gen {
		return fetchResult{} // the path changed while we were fetching
	}
	ctx := c.UserContext()
	key := primary
	if len(e.Vary) > 0 {
		key = variantKey(primary, c, e.Vary)
		marker := &Entry{Path: path, Vary: e.Vary, Stored: e.Stored, Expires: e.Expires}
		if err := m.backend.Set(ctx, primary, marker); err != nil {
			m.log.Error("cache: store failed", "route", m.route, "request_id", request.From(c).ID, "error", err)
			return fetchResult{}
		}
	}
	if err := m.backend.Set(ctx, key, e); err != nil {
		m.log.Error("cache: store failed", "route", m.route, "request_id", request.From(c).ID, "error", err)
		return fetchResult{}
	}
	return fetchResult{entry: e, key: key}
}

// lookup finds the entry for the request, following a Vary marker.
func (m *cacheMiddleware) lookup(ctx context.Context, c *fiber.Ctx, primary string) (*Entry, error) {
	e, ok, err := m.backend.Get(ctx, primary)
	if err != nil || !ok {
		if err != nil {
			m.log.Error("cache: lookup failed", "route", m.route, "request_id", request.From(c).ID, "error", err)
		}
		return nil, err
	}
	if e.Status != 0 {
		return e, nil
	}
	e, ok, err = m.backend.Get(ctx, variantKey(primary, c, e.Vary))
	if err != nil || !ok {
		return nil, err
	}
	return e, nil
}

// age is the entry's current age (RFC 9111 §4.2.3, without clock-skew
// correction: the upstream's Age plus the time spent here).
func (m *cacheMiddleware) age(e *Entry) time.Duration {
	return e.InitialAge + m.now().Sub(e.Stored)
}

// writeHit answers from the entry.
func (m *cacheMiddleware) writeHit(c *fiber.Ctx, e *Entry) {
	resp := c.Response()
	resp.SetStatusCode(e.Status)
	h := &resp.Header
	// Stored names are canonical (fasthttp normalised them on the way in):
	// SetCanonical skips normalising them again.
	for i, f := range e.Header {
		if i > 0 && bytes.Equal(e.Header[i-1].Name, f.Name) {
			h.AddBytesKV(f.Name, f.Value)
		} else {
			h.SetCanonical(f.Name, f.Value)
		}
	}
	resp.SetBodyRaw(e.Body) // shared, never written to
	var buf [20]byte
	h.SetCanonical(hdrAge, appendSeconds(buf[:0], m.age(e)))
	h.SetCanonical(hdrXCache, valHit)
}

func appendSeconds(dst []byte, d time.Duration) []byte {
	s := int64(d / time.Second)
	if s < 0 {
		s = 0
	}
	var tmp [20]byte
	i := len(tmp)
	for {
		i--
		tmp[i] = byte('0' + s%10)
		if s /= 10; s == 0 {
			break
		}
	}
	return append(dst, tmp[i:]...)
}

// scope is the part of the key that separates callers on a private cache:
// the session, or for a bearer token the token itself (hashed into the key
// with the rest) — two tokens of one subject may carry different scopes, and
// the upstream may answer them differently. Nothing on a public cache.
func (m *cacheMiddleware) scope(c *fiber.Ctx) (string, bool) {
	if m.public {
		return "public", true
	}
	id := request.From(c).Identity
	switch {
	case id == nil:
		return "", false
	case id.SessionID != "":
		return "s:" + id.SessionID, true
	case id.AccessToken != "":
		return "t:" + id.AccessToken, true
	case id.Subject != "":
		return "u:" + id.Subject, true
	}
	return "", false
}

// keyBufs holds the key builders' scratch buffers.
var keyBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// primaryKey hashes the method class, scope, path and raw query; each part
// is length-prefixed so that no two requests hash the same input.
func (m *cacheMiddleware) primaryKey(c *fiber.Ctx, scope string) string {
	bp := keyBufs.Get().(*[]byte)
	b := append((*bp)[:0], "gatehouse-cache-v1\x00GET"...)
	b = appendPart(b, scope)
	b = appendPart(b, c.Request().URI().PathOriginal())
	b = appendPart(b, c.Request().URI().QueryString())
	sum := sha256.Sum256(b)
	*bp = b
	keyBufs.Put(bp)
	return string(sum[:])
}

// variantKey extends the primary key with the request's values of the
// headers the response varies on (all occurrences, in order).
func variantKey(primary string, c *fiber.Ctx, vary []string) string {
	bp := keyBufs.Get().(*[]byte)
	b := append((*bp)[:0], primary...)
	for _, name := range vary {
		b = appendPart(b, name)
		vals := c.Request().Header.PeekAll(name)
		b = binary.AppendUvarint(b, uint64(len(vals)))
		for _, v := range vals {
			b = appendPart(b, v)
		}
	}
	sum := sha256.Sum256(b)
	*bp = b
	keyBufs.Put(bp)
	return string(sum[:])
}

func appendPart[T string | []byte](b []byte, p T) []byte {
	b = binary.AppendUvarint(b, uint64(len(p)))
	return append(b, p...)
}

// capture decides whether the leader's response may be stored (RFC 9111 §3)
// and, if so, returns it as an entry. It reads a streamed body only when it
// can be stored: up to MaxEntryBytes+1 bytes; a longer body is put back in
// front of the rest of the stream and passes through unbuffered.
func (m *cacheMiddleware) capture(c *fiber.Ctx, path string, stored time.Time) (*Entry, error) {
	resp := c.Response()
	status := resp.StatusCode()
	if !cacheableStatus[status] {
		return nil, nil
	}
	h := &resp.Header
	cc := parseCacheControl(h.PeekAll(fiber.HeaderCacheControl)...)
	switch {
	case cc.noStore, cc.noCache: // no-cache: must revalidate every use, which we do not do
		return nil, nil
	case cc.private && m.public:
		return nil, nil
	case m.public && m.authorized(c) && !cc.public && cc.sMaxAge < 0 && !cc.mustRevalidate:
		// §3.5: a shared cache stores a response to an authorized request
		// only when the origin says it may.
		return nil, nil
	}
	vary, ok := parseVary(h.PeekAll(fiber.HeaderVary))
	if !ok {
		return nil, nil // Vary: *
	}
	lifetime, ok := m.lifetime(cc, h, stored)
	if !ok {
		return nil, nil
	}
	initialAge := time.Duration(parseAge(h.Peek(fiber.HeaderAge))) * time.Second
	if lifetime <= initialAge {
		return nil, nil
	}
	e := &Entry{
		Status:     status,
		Stored:     stored,
		Expires:    stored.Add(lifetime - initialAge),
		InitialAge: initialAge,
		Path:       path,
		Vary:       vary,
	}
	for k, v := range h.All() {
		name := string(k)
		if name == fiber.HeaderSetCookie {
			return nil, nil // §3: a response setting cookies is never shared or replayed
		}
		if hopbyhop.Is(k) || skipStored[name] {
			continue
		}
		e.Header = append(e.Header, Field{Name: bytes.Clone(k), Value: bytes.Clone(v)})
	}
	// Group repeated names so that a hit Sets the first and Adds the rest.
	slices.SortStableFunc(e.Header, func(a, b Field) int { return bytes.Compare(a.Name, b.Name) })
	body, ok, err := m.readBody(c)
	if err != nil || !ok {
		return nil, err
	}
	e.Body = body
	return e, nil
}

// authorized reports whether the upstream request carried credentials: an
// inbound Authorization, or a session the proxy turns into one.
func (m *cacheMiddleware) authorized(c *fiber.Ctx) bool {
	return request.From(c).Identity != nil || len(c.Request().Header.Peek(fiber.HeaderAuthorization)) > 0
}

// lifetime is the freshness lifetime: the ttl, shortened by s-maxage (public
// cache) or max-age, or else by Expires - Date (RFC 9111 §4.2.1). ok is
// false for a zero or invalid lifetime.
func (m *cacheMiddleware) lifetime(cc cacheControl, h interface{ Peek(string) []byte }, now time.Time) (time.Duration, bool) {
	lifetime := m.ttl
	maxAge := cc.maxAge
	if m.public && cc.sMaxAge >= 0 {
		maxAge = cc.sMaxAge
	}
	switch {
	case maxAge >= 0:
		lifetime = min(lifetime, time.Duration(maxAge)*time.Second)
	case len(h.Peek(fiber.HeaderExpires)) > 0:
		exp, err := http.ParseTime(string(h.Peek(fiber.HeaderExpires)))
		if err != nil {
			return 0, false // §5.3: an invalid Expires means already expired
		}
		date := now
		if d, err := http.ParseTime(string(h.Peek(fiber.HeaderDate))); err == nil {
			date = d
		}
		lifetime = min(lifetime, exp.Sub(date))
	}
	return lifetime, lifetime > 0
}

// parseVary returns the sorted canonical header names of the Vary fields;
// ok is false for "*", which can never match (RFC 9111 §4.1).
func parseVary(values [][]byte) ([]string, bool) {
	var names []string
	for _, v := range values {
		for part := range bytes.SplitSeq(v, []byte(",")) {
			part = bytes.TrimSpace(part)
			if len(part) == 0 {
				continue
			}
			if bytes.Equal(part, []byte("*")) {
				return nil, false
			}
			names = append(names, http.CanonicalHeaderKey(string(part)))
		}
	}
	slices.Sort(names)
	return slices.Compact(names), true
}

// readBody returns the whole response body if it is at most MaxEntryBytes.
// ok is false when it is larger (the response is then left to stream on).
func (m *cacheMiddleware) readBody(c *fiber.Ctx) ([]byte, bool, error) {
	resp := c.Response()
	if !resp.IsBodyStream() {
		body := resp.Body()
		if len(body) > m.maxEntry {
			return nil, false, nil
		}
		// The response's buffer goes back to a pool: keep a copy, and send
		// the copy too so that both are the same bytes.
		body = bytes.Clone(body)
		resp.SetBodyRaw(body)
		return body, true, nil
	}
	cl := resp.Header.ContentLength()
	if cl > m.maxEntry {
		return nil, false, nil // too big: untouched, streams through
	}
	stream := resp.BodyStream()
	bs, resumable := stream.(*request.BodyStream)
	if cl >= 0 {
		// A known length that fits: read it all.
		body := make([]byte, cl)
		if _, err := io.ReadFull(stream, body); err != nil || !atEOF(stream) {
			// Cut short, or longer than announced: not a body to keep or send.
			return nil, false, httperr.New(fiber.StatusBadGateway, "bad gateway")
		}
		resp.SetBodyRaw(body)
		return body, true, nil
	}
	if !resumable {
		// Unknown length on a stream we could not put back together after
		// a partial read: leave it alone.
		return nil, false, nil
	}
	limit := m.maxEntry + 1
	body := make([]byte, 0, min(limit, 32<<10))
	for len(body) < limit {
		if len(body) == cap(body) {
			body = slices.Grow(body, min(cap(body), limit-len(body)))
		}
		n, err := bs.Read(body[len(body):min(cap(body), limit)])
		body = body[:len(body)+n]
		if err == io.EOF {
			resp.SetBodyRaw(body)
			return body, true, nil
		}
		if err != nil {
			return nil, false, httperr.New(fiber.StatusBadGateway, "bad gateway")
		}
	}
	// Longer than MaxEntryBytes: hand the prefix back in front of the rest.
	request.Restream(resp, bs, body, -1)
	return nil, false, nil
}

// flights coalesces concurrent misses on one key (single flight).
type flights struct {
	mu sync.Mutex
	m  map[string]*flight
	// joined, when set (tests), receives one value per request that starts
	// waiting for a leader.
	joined chan<- struct{}
}

type flight struct {
	done chan struct{}
	res  fetchResult
}

// do runs fn unless a call for key is already running, in which case it
// waits for that call's result (or for ctx to end: waited is then false).
func (f *flights) do(ctx context.Context, key string, fn func() fetchResult) (res fetchResult, leader, waited bool) {
	f.mu.Lock()
	if fl, ok := f.m[key]; ok {
		f.mu.Unlock()
		if f.joined != nil {
			f.joined <- struct{}{}
		}
		select {
		case <-fl.done:
			return fl.res, false, true
		case <-ctx.Done():
			return fetchResult{}, false, false
		}
	}
	fl := &flight{done: make(chan struct{})}
	f.m[key] = fl
	f.mu.Unlock()
	defer func() {
		// Also on panic: the waiters then find no entry and go upstream.
		f.mu.Lock()
		delete(f.m, key)
		f.mu.Unlock()
		close(fl.done)
	}()
	fl.res = fn()
	return fl.res, true, true
}

// atEOF reports whether r has nothing more to give (reading to the end lets
// the upstream connection be reused).
func atEOF(r io.Reader) bool {
	var probe [1]byte
	for range 100 { // a reader may return 0, nil a few times
		n, err := r.Read(probe[:])
		if n > 0 {
			return false
		}
		if err != nil {
			return err == io.EOF
		}
	}
	return false
}
