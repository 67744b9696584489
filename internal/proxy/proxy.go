// Package proxy forwards a request to a route's upstream over fasthttp.
//
// One Proxy serves one route. It keeps a keep-alive connection pool per
// upstream target (a fasthttp.HostClient each), spreads requests over the
// targets round-robin, and ejects a target that fails to connect for a short,
// growing period (passive health checking).
//
// The server calls Forward after it has normalised the path (see package
// route) and written the canonical path into the request with
// c.Request().URI().SetPathBytes(canonical) — Forward sends exactly
// PathOriginal(), under the upstream URL's base path (minus the route prefix
// with strip_prefix), with the client's query string byte for byte.
//
// # Headers
//
// The server calls StripClientRequest on the client's request at its edge,
// before the auth gate and the plugins write to it: it applies the client's
// Connection header (the fields it names are removed then, and never later,
// so a client cannot remove a field the gateway sets) and, unless the peer is
// a trusted proxy, drops every forwarding field (X-Forwarded-*, Forwarded,
// X-Real-Ip, X-Original-Url, …; see isForwarding). Forward then removes the
// fixed hop-by-hop fields (RFC 9110 §7.6.1) in both directions, the fields an
// upstream response's Connection names, Expect, and request fields whose
// names hold an underscore (see dropUnderscored). One pass over each message
// finds which of the fields the proxy edits are there (scanRequest), so that
// a message without them costs no lookups by name. X-Forwarded-For, -Proto
// and -Host are believed and extended only from Options.TrustedProxies; from
// other peers they are replaced. X-Request-Id carries
// the request's id (request.State.ID, or the client's header). With an
// identity from the auth gate (request.State.Identity), Authorization is "Bearer <access token>",
// set here after every plugin ran. Every replaced header has
// all its lines removed first: fasthttp's Set replaces only the first of
// repeated lines. Response headers the gateway set before Forward (a request
// id, a refreshed session cookie) replace the upstream's of the same name;
// cookies from both are kept. Redirects are passed to the client, not
// followed.
//
// # Bodies
//
// Request and response bodies are streamed, never buffered whole: the Fiber
// app must run with StreamRequestBody (fasthttp then reads at most 8 KiB of a
// body before the handler runs, whatever BodyLimit says; Options.MaxBody is
// enforced here: by Content-Length before the upstream is contacted, and
// while a chunked body streams), and the upstream response is handed to
// the client with SetBodyStream, so a 100 MB download costs a few buffers.
// A response body of known length up to maxBufferedBody (16 KiB) is read
// whole instead, before the client's response starts (bufferBody): the
// connection returns to its pool at once, and a failure while reading it is
// still a clean 502 or 504.
// Responses of unknown length (chunked, server-sent events) are flushed to the
// client chunk by chunk as they arrive. The upstream connection goes back to
// its pool only once the body has been copied to the client; when the client
// goes away, the upstream connection is closed.
//
// # Timeouts
//
// A route's timeout bounds how long the upstream may take to start answering
// (the first response byte) once it has been sent the request; after that,
// each read of the response body and each write of the request body may wait
// at most Options.IdleTimeout (default 60s). So a slow download or a long
// event stream lives as long as bytes keep flowing, and a silent upstream is
// cut off. fasthttp's own deadlines are absolute (they would cut every
// streamed response at the route timeout), so they are replaced by per-read
// deadlines on the upstream connection, moved lazily: a timeout may fire up
// to 1/16 of itself (50ms at most) early, never late (see deadlineConn).
//
// # Errors
//
// Forward returns fiber errors with short messages for the server's error
// handler: 502 "upstream unavailable" (refused, reset, DNS, no free
// connection), 504 "upstream timeout", 413 "request body too large", and 400
// "request body incomplete" when the client's body fails mid-way. The cause
// is logged with slog together with the route, the target and the request
// id; it never reaches the client. A failure after the response has started
// (the upstream resets or goes silent mid-body) truncates the client's
// response and is logged and counted the same way. A target that refuses a
// connection (or cannot be resolved) is skipped and the next one tried, for
// any method, since it never saw the request.
package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/gatehouse-dev/gatehouse/httperr"
	"github.com/gatehouse-dev/gatehouse/internal/clientip"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/route"
	"github.com/gatehouse-dev/gatehouse/request"
)

// Defaults used when the corresponding Options field is zero.
const (
	DefaultDialTimeout = 5 * time.Second
	DefaultEjectFor    = 10 * time.Second
	DefaultMaxEjectFor = 5 * time.Minute
	DefaultMaxConns    = 1024
	// DefaultMaxResponseHeaderBytes bounds the upstream's response headers.
	DefaultMaxResponseHeaderBytes = 16 << 10
	// MaxIdleConnDuration closes pooled upstream connections idle this long.
	// It is below the 5s keep-alive timeout of Node.js servers, so that the
	// gateway, not the upstream, closes an idle connection: a POST sent on a
	// connection the upstream has just closed cannot be retried safely.
	MaxIdleConnDuration = 4 * time.Second
)

// Options configures a Proxy. Zero fields take the stated defaults; the
// fields config has a key for come with config's value (and default).
type Options struct {
	// TrustedProxies decides which peers' X-Forwarded-For, -Proto and -Host
	// are believed and extended (server.trusted_proxies; the same resolver
	// gives logs and plugins the client address). From any other peer they
	// are replaced (the other forwarding fields such a peer sent were dropped
	// by StripClientRequest). Nil: none.
	TrustedProxies *clientip.Resolver
	// MaxBody is the request body limit in bytes; larger → 413. 0 means no
	// limit (the server always passes server.max_body).
	MaxBody int64
	// IdleTimeout bounds each read from and write to the upstream once its
	// response has started (and each write of the request): server.idle_timeout
	// as config gives it. Required.
	IdleTimeout time.Duration
	// DialTimeout bounds connecting to a target. Default 5s, or the route
	// timeout when that is shorter.
	DialTimeout time.Duration
	// EjectFor is how long a failing target is skipped the first time; it
	// doubles with each further consecutive failure up to MaxEjectFor.
	// Defaults 10s and 5m.
	EjectFor, MaxEjectFor time.Duration
	// MaxConnsPerTarget bounds the pool of each target; a request finding
	// them all busy waits up to the route timeout, then fails with 502.
	// Default 1024.
	MaxConnsPerTarget int
	// TLSConfig is used for https upstreams, e.g. to trust a private CA.
	// Default nil: the system roots, certificates verified, ServerName taken
	// from the upstream URL.
	TLSConfig *tls.Config
	// Logger receives upstream failures. Default slog.Default().
	Logger *slog.Logger
	// PublicURL is the origin browsers use (server.public_url). When set, a
	// request from an untrusted peer is forwarded with X-Forwarded-Host and
	// X-Forwarded-Proto of that origin, not with the Host header the client
	// chose: an upstream that builds links (password-reset mails, redirects)
	// from them cannot be pointed at another host. Default: the request's
	// Host and the connection's scheme. It is an http(s) origin, as config
	// gives server.public_url.
	PublicURL *url.URL
	// OnUpstreamError, when set, is called once for every failed upstream
	// attempt with the target's URL and the status the failure maps to
	// (for per-upstream error metrics). It must be safe for concurrent use.
	OnUpstreamError func(target string, status int)
}

// Proxy forwards the requests of one route. It is safe for concurrent use.
type Proxy struct {
	route   *config.Route
	prefix  string // the route's prefix, canonical as config gives it
	targets []*target
	next    atomic.Uint64
	timeout time.Duration
	opts    Options
	log     *slog.Logger
	now     func() time.Time // replaced in tests

	// publicProto and publicHost come from Options.PublicURL (empty: unset).
	publicProto string
	publicHost  []byte

	// Pools of per-request objects, per Proxy rather than per package so
	// that no package-level state exists.
	bufs      sync.Pool // *[]byte: upstream paths, Authorization values, small bodies (getBuf)
	reqBodies sync.Pool // *limitedBody
	respBods  sync.Pool // *responseBody
	// respHeaders holds *fasthttp.ResponseHeader: the gateway's own
	// response headers while the upstream's are copied.
	respHeaders sync.Pool
}

// New builds the Proxy of r with a connection pool per upstream target. It
// fails when r has no upstream; the upstreams are as config checked them.
func New(r *config.Route, opts Options) (*Proxy, error) {
	if len(r.Upstreams) == 0 {
		return nil, fmt.Errorf("route %q: no upstream", r.Name)
	}
	p := &Proxy{
		route:   r,
		prefix:  r.Prefix,
		timeout: r.Timeout.D(),
		opts:    opts,
		log:     opts.Logger,
		now:     time.Now,
	}
	if p.timeout <= 0 || opts.IdleTimeout <= 0 {
		// Both come from config, with its defaults (route timeout 30s,
		// server.idle_timeout 60s); a zero would make every deadline now.
		return nil, fmt.Errorf("route %q: the route timeout and the idle timeout must be set", r.Name)
	}
	o := &p.opts
	if u := o.PublicURL; u != nil {
		p.publicProto, p.publicHost = u.Scheme, []byte(u.Host)
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = min(DefaultDialTimeout, p.timeout)
	}
	if o.EjectFor <= 0 {
		o.EjectFor = DefaultEjectFor
	}
	if o.MaxEjectFor < o.EjectFor {
		o.MaxEjectFor = max(DefaultMaxEjectFor, o.EjectFor)
	}
	if o.MaxConnsPerTarget <= 0 {
		o.MaxConnsPerTarget = DefaultMaxConns
	}
	if p.log == nil {
		p.log = slog.Default()
	}
	p.log = p.log.With(slog.String("route", r.Name))
	for _, u := range r.Upstreams {
		p.targets = append(p.targets, p.newTarget(u))
	}
	return p, nil
}

// newTarget builds the connection pool of one upstream URL, as config
// gives it: absolute http(s), a host, no user info, query or fragment.
func (p *Proxy) newTarget(u *url.URL) *target {
	addr := u.Host
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "https" {
			port = "443"
		}
		addr = net.JoinHostPort(u.Hostname(), port)
	}
	t := &target{
		url:    u.Scheme + "://" + u.Host + u.EscapedPath(),
		scheme: u.Scheme,
		host:   u.Host,
		base:   strings.TrimSuffix(u.EscapedPath(), "/"),
	}
	dial := dialer{
		timeout:   p.opts.DialTimeout,
		firstByte: p.timeout,
		idle:      p.opts.IdleTimeout,
	}
	t.client = &fasthttp.HostClient{
		Addr:                     addr,
		IsTLS:                    u.Scheme == "https",
		TLSConfig:                p.opts.TLSConfig,
		Dial:                     dial.dial,
		MaxConns:                 p.opts.MaxConnsPerTarget,
		MaxConnWaitTimeout:       p.timeout,
		MaxIdleConnDuration:      MaxIdleConnDuration,
		ReadBufferSize:           DefaultMaxResponseHeaderBytes,
		NoDefaultUserAgentHeader: true,
		// The path is already canonical (package route): send it as is.
		DisablePathNormalizing: true,
		StreamResponseBody:     true,
		// A pooled connection the upstream closed while idle fails the
		// next request on it; retry that once, for requests without a
		// streamed body (fasthttp never retries those) and never after a
		// timeout.
		MaxIdemponentCallAttempts: 2,
		RetryIfErr: func(req *fasthttp.Request, _ int, err error) (bool, bool) {
			return false, isStaleConn(err) && isIdempotent(req)
		},
	}
	return t
}

// Forward sends c's request to one of the route's targets and streams the
// response back. c.Request().URI().PathOriginal() must hold the canonical
// path. See the package documentation for the errors it returns.
func (p *Proxy) Forward(c *fiber.Ctx) error {
	in := &c.Context().Request
	if p.opts.MaxBody > 0 && int64(in.Header.ContentLength()) > p.opts.MaxBody {
		return httperr.New(fiber.StatusRequestEntityTooLarge, msgBodyTooLarge)
	}
	st := request.From(c)
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	body := p.prepareRequest(c, st, req)

	var (
		t   *target
		err error
	)
	// A target that cannot be connected to never saw the request, so the
	// next one may be tried, whatever the method.
	for range len(p.targets) {
		t = p.pick()
		st.Upstream = t.url // for the access log
		p.setURI(req, in, t)
		err = t.client.Do(req, resp)
		if err == nil || !isDialError(err) {
			break
		}
		p.failed(c, t, req, err)
	}
	var clientErr error
	if body != nil {
		clientErr = body.err
		p.releaseLimitedBody(body)
	}
	if err != nil {
		if clientErr == nil && !isDialError(err) {
			p.failed(c, t, req, err)
		}
		fasthttp.ReleaseRequest(req)
		fasthttp.ReleaseResponse(resp)
		if clientErr != nil {
			// The client's body failed (too large, or the client went
			// away): not the upstream's fault.
			return clientError(clientErr)
		}
		return statusError(err)
	}
	t.succeeded()
	fasthttp.ReleaseRequest(req)
	return p.writeResponse(c, st, t, resp)
}

// prepareRequest copies the client's request into req: headers without
// hop-by-hop and spoofable ones, fresh X-Forwarded-*, the body as a stream.
// It returns the limiting body reader, if one was installed.
func (p *Proxy) prepareRequest(c *fiber.Ctx, st *request.State, req *fasthttp.Request) *limitedBody {
	in := &c.Context().Request
	p.prepareHeader(c, st, &req.Header)
	n := in.Header.ContentLength() // -1: chunked
	if n == 0 {
		// No body. Under StreamRequestBody fasthttp gives even these a
		// (empty) stream; sending none keeps the request retryable on a
		// stale pooled connection.
		return nil
	}
	if in.IsBodyStream() {
		lb := p.acquireLimitedBody(in.BodyStream(), p.opts.MaxBody)
		req.SetBodyStream(lb, n)
		return lb
	}
	req.SetBodyRaw(in.Body())
	return nil
}

// prepareHeader fills h, the upstream request's header, from c's: the
// client's fields less what must not reach the upstream (stripRequest), then
// the gateway's X-Forwarded-*, Authorization and X-Request-Id.
func (p *Proxy) prepareHeader(c *fiber.Ctx, st *request.State, h *fasthttp.RequestHeader) {
	c.Context().Request.Header.CopyTo(h)
	f := stripRequest(h)
	p.setForwarded(c, h, f)
	p.setAuthorization(st.Identity, h, f)
	if id := requestID(c, st); id != "" {
		var buf [128]byte // the server's ids fit; a longer one grows it
		replaceHeader(h, keyXRequestID, append(buf[:0], id...), f&hasXRequestID != 0)
	}
}

// setAuthorization sends the caller's access token (the auth gate's
// identity) as "Authorization: Bearer ...". It runs here, on the upstream
// request, after every plugin: no plugin can forge or drop it, and every line
// of a client-sent Authorization is replaced (f says whether there is one).
// Without an identity (auth: none) the client's Authorization passes as it
// came.
func (p *Proxy) setAuthorization(id *request.Identity, h *fasthttp.RequestHeader, f fields) {
	if id == nil || id.AccessToken == "" {
		return
	}
	bp := p.getBuf()
	v := append(append((*bp)[:0], "Bearer "...), id.AccessToken...)
	replaceHeader(h, keyAuthorization, v, f&hasAuthorization != 0)
	*bp = v // keep what it grew to
	p.putBuf(bp)
}

// setURI points req at t: scheme, host, base path + canonical path, and the
// client's raw query. fasthttp writes the request line from req's URI.
//
// The client's request-target, copied with its header, is emptied before
// req's URI is first read, so that the URI is built from nothing rather than
// parsed (and path-normalised) from the client's target only to be
// overwritten, and so that the userinfo of an absolute-form target
// ("GET http://user:pw@host/p") never reaches it: fasthttp would send that
// as "Authorization: Basic", past every rule about the field.
func (p *Proxy) setURI(req *fasthttp.Request, in *fasthttp.Request, t *target) {
	path := in.URI().PathOriginal()
	if p.route.StripPrefix && route.HasPrefix(path, p.prefix) {
		path = route.TrimPrefix(path, p.prefix)
	}
	req.Header.SetRequestURIBytes(nil)
	u := req.URI()
	u.DisablePathNormalizing = true
	u.SetScheme(t.scheme)
	u.SetHost(t.host)
	if t.base == "" {
		u.SetPathBytes(path)
	} else {
		bp := p.getBuf()
		*bp = append(append((*bp)[:0], t.base...), path...)
		u.SetPathBytes(*bp)
		p.putBuf(bp)
	}
	u.SetQueryStringBytes(in.URI().QueryString())
	req.Header.SetHost(t.host)
}

// maxBufferedBody is the largest response body (of known length) that is
// read whole before the client's response starts, rather than streamed: the
// upstream connection goes back to its pool at once, the client's response
// goes out in one write, and a failure while reading it is still a clean
// 502 or 504. Larger and unknown-length bodies are streamed.
const maxBufferedBody = 16 << 10

// writeResponse copies resp's status and end-to-end headers to c and hands
// its body over: read whole when small, else as a stream that releases resp
// when it is closed. It fails only when a small body cannot be read.
func (p *Proxy) writeResponse(c *fiber.Ctx, st *request.State, t *target, resp *fasthttp.Response) error {
	out := c.Response()
	p.copyResponseHeader(&out.Header, &resp.Header)
	stream := resp.BodyStream()
	n := resp.Header.ContentLength()
	if stream == nil {
		// No body to stream (HEAD, 204, 304, or an upstream error mid-way).
		out.SetBody(resp.Body())
		if n >= 0 {
			out.Header.SetContentLength(n)
		}
		fasthttp.ReleaseResponse(resp)
		return nil
	}
	if n >= 0 && n <= maxBufferedBody {
		return p.bufferBody(c, st, t, resp, n)
	}
	if n < 0 {
		// Chunked or read-until-close: an event stream may wait long for
		// its first chunk, so the client gets the headers now.
		out.ImmediateHeaderFlush = true
		n = -1
	}
	// request.BodyStream lets a plugin (the cache) read a prefix of the body
	// and hand the rest back without fasthttp closing the upstream under it.
	out.SetBodyStream(request.NewBodyStream(p.acquireResponseBody(resp, t, requestID(c, st))), n)
	return nil
}

// bufferBody reads resp's body of n bytes (at most maxBufferedBody) into c's
// response and releases resp, its connection back in the pool.
func (p *Proxy) bufferBody(c *fiber.Ctx, st *request.State, t *target, resp *fasthttp.Response, n int) error {
	bp := p.getBuf()
	body := slices.Grow((*bp)[:0], n+1)
	stream := resp.BodyStream()
	var err error
	for err == nil {
		// Read to EOF (one more read after n bytes), or fasthttp would not
		// know the body was consumed and would close the connection.
		if len(body) == cap(body) {
			body = slices.Grow(body, 512)
		}
		var m int
		m, err = stream.Read(body[len(body):cap(body)])
		body = body[:len(body)+m]
	}
	if err == io.EOF {
		err = nil
	}
	if s, ok := stream.(fasthttp.ReadCloserWithError); ok {
		_ = s.CloseWithError(err) // nil: the connection is reused
	}
	fasthttp.ReleaseResponse(resp)
	if err == nil {
		c.Response().SetBody(body)
	}
	*bp = body // keep what it grew to
	p.putBuf(bp)
	if err != nil {
		p.bodyFailed(st.Context(), t, requestID(c, st), err)
		return statusError(err)
	}
	return nil
}

// getBuf returns a pooled scratch buffer; putBuf gives it back.
func (p *Proxy) getBuf() *[]byte {
	if bp, ok := p.bufs.Get().(*[]byte); ok {
		return bp
	}
	return new([]byte)
}

// putBuf returns bp, emptied, to the pool.
func (p *Proxy) putBuf(bp *[]byte) {
	*bp = (*bp)[:0]
	p.bufs.Put(bp)
}

// bodyFailed reports an upstream failure while its response body was read:
// the target answered, so only a reset says it is down.
func (p *Proxy) bodyFailed(ctx context.Context, t *target, reqID string, err error) {
	p.report(ctx, t, reqID, "upstream response body failed", err, errors.Is(err, syscall.ECONNRESET))
}

// copyResponseHeader replaces out with the upstream's end-to-end headers and
// status. Headers the gateway had set before forwarding (a request id, a
// refreshed session cookie) are kept: the gateway's value replaces the
// upstream's, and cookies are added to the upstream's.
func (p *Proxy) copyResponseHeader(out, up *fasthttp.ResponseHeader) {
	if !setByGateway(out) {
		// The common case (no plugin set a response header): nothing to keep.
		up.CopyTo(out)
		stripResponse(out)
		out.ResetConnectionClose()
		return
	}
	saved, _ := p.respHeaders.Get().(*fasthttp.ResponseHeader)
	if saved == nil {
		saved = new(fasthttp.ResponseHeader)
	}
	out.CopyTo(saved)
	up.CopyTo(out)
	stripResponse(out)
	out.ResetConnectionClose()
	// Two passes: first remove every upstream line of a name the gateway
	// set, then add the gateway's lines (all of them, if it set several).
	for k := range saved.All() {
		if gatewayWins(k) {
			out.DelBytes(k)
		}
	}
	for k, v := range saved.All() {
		if gatewayWins(k) || string(k) == fiber.HeaderSetCookie {
			out.AddBytesKV(k, v)
		}
	}
	saved.Reset()
	p.respHeaders.Put(saved)
}

// setByGateway reports whether h holds a field the gateway set that must
// survive the upstream's header (see gatewayWins) or a cookie.
func setByGateway(h *fasthttp.ResponseHeader) bool {
	for k := range h.All() {
		if gatewayWins(k) || string(k) == fiber.HeaderSetCookie {
			return true
		}
	}
	return false
}

// gatewayWins reports whether a response header the gateway set before
// forwarding replaces the upstream's. Headers that describe the body or the
// connection are the upstream's; cookies from both are kept.
func gatewayWins(name []byte) bool {
	switch string(name) {
	case fiber.HeaderContentLength, fiber.HeaderContentType, fiber.HeaderContentEncoding,
		fiber.HeaderServer, fiber.HeaderDate, fiber.HeaderConnection, fiber.HeaderSetCookie:
		return false
	}
	return true
}

// Check reports whether at least one target accepts a TCP connection within
// ctx's deadline. It is the readiness probe of the route.
func (p *Proxy) Check(ctx context.Context) error {
	var errs []error
	for _, t := range p.targets {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", t.client.Addr)
		if err == nil {
			_ = conn.Close()
			return nil
		}
		errs = append(errs, fmt.Errorf("dialing %s: %w", t.url, err))
	}
	return fmt.Errorf("route %q: no upstream reachable: %w", p.route.Name, errors.Join(errs...))
}

// Close closes the idle pooled connections. In-flight requests finish; the
// Proxy must not be used afterwards.
func (p *Proxy) Close() {
	for _, t := range p.targets {
		t.client.CloseIdleConnections()
	}
}

// failed ejects t when the failure err of req says it is down, logs the
// cause and reports it to the metrics hook.
func (p *Proxy) failed(c *fiber.Ctx, t *target, req *fasthttp.Request, err error) {
	st := request.From(c)
	p.report(st.Context(), t, requestID(c, st), "upstream request failed", err, ejects(err, req))
}

// report ejects t if eject is set, logs err with msg and passes it to the
// metrics hook.
func (p *Proxy) report(ctx context.Context, t *target, reqID, msg string, err error, eject bool) {
	status := statusOf(err)
	if eject {
		t.eject(p.now(), p.opts.EjectFor, p.opts.MaxEjectFor)
	}
	p.log.LogAttrs(ctx, slog.LevelWarn, msg,
		slog.String("upstream", t.url),
		slog.String("request_id", reqID),
		slog.Int("status", status),
		slog.String("error", err.Error()),
	)
	if p.opts.OnUpstreamError != nil {
		p.opts.OnUpstreamError(t.url, status)
	}
}

// requestID is the request's id (st.ID, which the server always sets), or
// else the X-Request-Id request header (a Proxy used without the server).
func requestID(c *fiber.Ctx, st *request.State) string {
	if st.ID != "" {
		return st.ID
	}
	return string(c.Request().Header.Peek(fiber.HeaderXRequestID))
}

func isIdempotent(req *fasthttp.Request) bool {
	h := &req.Header
	return h.IsGet() || h.IsHead() || h.IsOptions() || h.IsPut() || h.IsDelete() || h.IsTrace()
}
