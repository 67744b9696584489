package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/gatehouse-dev/gatehouse/backend"
	"github.com/gatehouse-dev/gatehouse/httperr"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/proxy"
	"github.com/gatehouse-dev/gatehouse/internal/route"
	"github.com/gatehouse-dev/gatehouse/internal/static"
	"github.com/gatehouse-dev/gatehouse/plugins"
	"github.com/gatehouse-dev/gatehouse/request"
)

// pathBufs recycles the buffers canonical paths are built in.
var pathBufs = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// dispatch applies the edge rules (edge), normalises the path, serves the
// built-in endpoints, and hands the request to the longest matching route.
func (s *Server) dispatch(c *fiber.Ctx) error {
	if err := s.edge(c); err != nil {
		return err
	}
	uri := c.Request().URI()
	if max := s.cfg.Server.MaxURILength; max > 0 && len(c.Request().Header.RequestURI()) > max {
		return httperr.New(fiber.StatusRequestURITooLong, "request uri too long")
	}
	bufp := pathBufs.Get().(*[]byte)
	defer pathBufs.Put(bufp)
	raw := uri.PathOriginal()
	canon, ok := route.Normalize((*bufp)[:0], raw)
	*bufp = canon[:0]
	if !ok {
		return httperr.New(fiber.StatusBadRequest, "invalid request path")
	}
	if !bytes.Equal(canon, raw) {
		// From here on the canonical path is the request's path: plugins (cache
		// keys) and the proxy see exactly what the route was matched on.
		uri.SetPathBytes(canon)
		canon = uri.PathOriginal()
	}

	rt := s.current.Load()
	var e *route.Entry
	if route.HasParams(canon) {
		var err error
		if e, err = matchWithParams(rt, canon); err != nil {
			return err
		}
	} else {
		if h := s.builtin(canon); h != nil {
			return h(c)
		}
		if e = rt.table.Match(canon); e == nil {
			return httperr.New(fiber.StatusNotFound, "not found")
		}
	}
	rh := &rt.routes[e.Index]
	request.From(c).Route = rh.route.Name
	return rh.handler(c)
}

// matchWithParams routes a canonical path holding ';' path parameters. It
// matches the path as a servlet container would route it (each segment cut
// at its ';' or %3B, see route.StripParams), so that "/app/admin;x/users"
// is judged by /app/admin's rules, never by a public parent route's. Such a
// path is refused (400 invalid request path) unless that route has
// allow_path_params and its prefix stands in the path as it was sent; it is
// then forwarded as sent. The gateway's own endpoints never take parameters.
func matchWithParams(rt *routing, canon []byte) (*route.Entry, error) {
	bufp := pathBufs.Get().(*[]byte)
	defer pathBufs.Put(bufp)
	stripped := route.StripParams((*bufp)[:0], canon)
	*bufp = stripped[:0]
	e := rt.table.Match(stripped)
	if e == nil || isBuiltin(stripped) {
		return nil, httperr.New(fiber.StatusBadRequest, "invalid request path")
	}
	if !rt.routes[e.Index].route.AllowPathParams || !route.HasPrefix(canon, e.Prefix) {
		return nil, httperr.New(fiber.StatusBadRequest, "invalid request path")
	}
	return e, nil
}

// builtin returns the handler of a gateway endpoint at path, or nil.
func (s *Server) builtin(path []byte) fiber.Handler {
	switch {
	case isAuthPath(path):
		return s.authEndpoints
	case string(path) == "/healthz":
		return s.healthz
	case string(path) == "/readyz":
		return s.readyz
	case string(path) == "/metrics":
		return s.serveMetrics
	}
	return nil
}

// isBuiltin reports a path of a gateway endpoint (see builtin).
func isBuiltin(path []byte) bool {
	switch string(path) {
	case "/healthz", "/readyz", "/metrics":
		return true
	}
	return isAuthPath(path)
}

// isAuthPath reports /auth and the paths under it.
func isAuthPath(path []byte) bool {
	return len(path) >= 5 && string(path[:5]) == "/auth" && (len(path) == 5 || path[5] == '/')
}

// authEndpointTimeout bounds a request to /auth/* (the store and the IdP
// calls it makes take its context).
const authEndpointTimeout = 30 * time.Second

// serveAuth runs the auth endpoints' own small app on this request; its error
// handler is the same JSON one.
func (s *Server) serveAuth(c *fiber.Ctx) error {
	s.authHandler(c.Context())
	return nil
}

// buildRouting compiles cfg's route table and every route's chain:
// methods → auth gate → plugins → proxy. On error nothing it built keeps
// running, and the error lists every problem as FILE:LINE:COL: message.
func (s *Server) buildRouting(cfg *config.Config) (*routing, error) {
	table, err := route.NewTable(cfg.Routes)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(s.ctx)
	rt := &routing{cfg: cfg, table: table, routes: make([]routeHandler, len(cfg.Routes)), cancel: cancel}
	var problems config.ErrorList
	for i := range cfg.Routes {
		r := &cfg.Routes[i]
		log := s.logger.With("route", r.Name)
		mws, err := buildPlugins(ctx, cfg, r, log, false, s.state.backends(r.Name))
		if err != nil {
			problems = problems.Append(cfg.File, err)
			continue
		}
		rh := routeHandler{route: r, methods: newMethodSet(r.Methods)}
		var terminal fiber.Handler
		switch {
		case len(r.Upstreams) > 0:
			px, err := proxy.New(r, proxy.Options{
				TrustedProxies: s.clientIP,
				PublicURL:      cfg.Server.PublicURL,
				MaxBody:        int64(cfg.Server.MaxBody),
				IdleTimeout:    cfg.Server.IdleTimeout.D(),
				Logger:         s.logger, // the proxy adds the route itself
				OnUpstreamError: func(target string, status int) {
					s.metrics.upstreamError(r.Name, target, statusLabel(status))
				},
			})
			if err != nil {
				problems = appendPrefixed(problems, cfg.File, fmt.Sprintf("route %q: ", r.Name), err)
				continue
			}
			rh.proxy = px
			terminal = forward(px, s.auth)
			if r.WebSocket {
				rh.ws = s.newWSRoute(cfg, r, px)
				terminal = rh.ws.terminal(terminal)
			}
		default:
			st, err := static.New(r, static.Options{})
			if err != nil {
				problems = appendPrefixed(problems, cfg.File, fmt.Sprintf("route %q: ", r.Name), err)
				continue
			}
			rh.static = st
			terminal = st.Serve
		}
		h := terminal
		for j := len(mws) - 1; j >= 0; j-- {
			h = mws[j](h)
		}
		h = s.auth.Gate(r)(h)
		if rh.ws != nil {
			h = rh.ws.admit(h) // the Origin check that replaces the CSRF header
		}
		// CORS outside the method guard: a preflight is an OPTIONS the
		// route's methods: need not list.
		rh.handler = withDeadline(r.Timeout.D(), routeCORS(cfg, r, rh.methods).Wrap(rh.methods.guard(h)))
		rt.routes[i] = rh
	}
	if err := problems.Err(); err != nil {
		rt.close() // the routes built so far
		return nil, err
	}
	return rt, nil
}

// withDeadline makes each request's context (request.State.Context, also
// c.UserContext()) end at the route's timeout from the moment it was
// dispatched: the session load, a token refresh, the rate
// limit and cache backends and every other I/O the request causes take it,
// so that a store or an IdP that hangs ends this one request at the route's
// deadline with a clean 503/504 instead of holding it (and its connection)
// for as long as the slowest backend timeout.
// The context ends when the request is over, too (observe ends it). It
// costs a timer only when something waits on Done: context.WithTimeout was
// 3% of a plain request's CPU.
func withDeadline(timeout time.Duration, next fiber.Handler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		request.From(c).SetDeadline(time.Now().Add(timeout))
		return next(c)
	}
}

// forward is the last step of every proxied route. The proxy sends the
// gateway's own Authorization from the auth gate's identity, after every
// plugin ran.
//
// When the upstream rejects a session's token with 401 although the gateway
// believed it valid (revoked, or the upstream's clock is ahead), the token is
// renewed once and the request retried once — only for idempotent requests
// without a body, which can be replayed safely (issue 4, item 2).
func forward(px *proxy.Proxy, reauth reauthorizer) fiber.Handler {
	return func(c *fiber.Ctx) error {
		id := request.From(c).Identity
		if id == nil || id.SessionID == "" || !replayable(c) {
			return px.Forward(c)
		}
		// Keep the response headers set so far (rate-limit fields) to
		// restore them if the first answer is thrown away.
		saved := headerPool.Get().(*fasthttp.ResponseHeader)
		defer headerPool.Put(saved)
		c.Response().Header.CopyTo(saved)
		if err := px.Forward(c); err != nil || c.Response().StatusCode() != fiber.StatusUnauthorized {
			return err
		}
		if err := reauth.Reauthorize(c); err != nil {
			if errors.Is(err, auth.ErrCannotReauthorize) {
				return nil // keep the upstream's 401
			}
			return err
		}
		c.Response().Reset() // closes the first response's body stream
		saved.CopyTo(&c.Response().Header)
		return px.Forward(c) // with the renewed token of the identity
	}
}

// reauthorizer renews a session's access token; *auth.Auth is one.
type reauthorizer interface {
	Reauthorize(c *fiber.Ctx) error
}

var headerPool = sync.Pool{New: func() any { return new(fasthttp.ResponseHeader) }}

// replayable reports a request that may be sent twice: an idempotent method
// (RFC 9110 §9.2.2) and no body at all.
func replayable(c *fiber.Ctx) bool {
	switch c.Method() {
	case fiber.MethodGet, fiber.MethodHead, fiber.MethodOptions, fiber.MethodPut, fiber.MethodDelete:
	default:
		return false
	}
	// fasthttp reports -2 for a request with neither Content-Length nor
	// Transfer-Encoding, which has no body (RFC 9112 §6.3); -1 is chunked.
	cl := c.Request().Header.ContentLength()
	return cl == 0 || cl == -2
}

// buildPlugins instantiates the route's plugins (its own block, else the
// defaults block's entry) and returns their middlewares in phase order.
// With check, each plugin's New only validates its block (plugins.Spec.Check)
// and the middlewares returned are not to be used.
//
// Each plugin gets its backends from backends (nil under check: a check
// opens none).
func buildPlugins(ctx context.Context, cfg *config.Config, r *config.Route, log *slog.Logger, check bool,
	backends func(plugin string) backend.Backends) ([]plugins.Middleware, error) {
	type named struct {
		p   plugins.Plugin
		cfg config.PluginConfig
	}
	var list []named
	var problems config.ErrorList
	add := func(name string, pc config.PluginConfig) {
		p, ok := plugins.Lookup(name)
		if !ok {
			msg := fmt.Sprintf("route %q: unknown plugin %q", r.Name, name)
			if s := config.Suggest(name, plugins.Names()); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			} else {
				msg += " (known: " + strings.Join(plugins.Names(), ", ") + ")"
			}
			problems = append(problems, config.Error{File: cfg.File, Line: pc.Pos.Line, Col: pc.Pos.Col, Msg: msg})
			return
		}
		list = append(list, named{p, pc})
	}
	// r.Plugins already holds the defaults block's entries (config merges them).
	for name, pc := range r.Plugins {
		if r.WebSocket && name == "cache" {
			// A cached answer would stand in for the upstream's 101.
			continue
		}
		add(name, pc)
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].p.Phase != list[j].p.Phase {
			return list[i].p.Phase < list[j].p.Phase
		}
		return list[i].p.Name < list[j].p.Name
	})
	var mws []plugins.Middleware
	for _, n := range list {
		var bk backend.Backends
		if backends != nil && !check {
			bk = backends(n.p.Name)
		}
		mw, err := n.p.New(plugins.Spec{
			Ctx: ctx, Route: r, Config: n.cfg, Backends: bk,
			Logger: log.With("plugin", n.p.Name), Check: check,
			Secret: plugins.DeriveSecret(cfg.Session.Secret, n.p.Name, r.Name),
		})
		if err != nil {
			// config.PluginConfig already places the route and plugin in its messages.
			problems = problems.Append(cfg.File, err)
			continue
		}
		mws = append(mws, mw)
	}
	problems.Sort()
	return mws, problems.Err()
}

// appendPrefixed adds err's problems to l, each message prefixed (for
// context such as the route and plugin name) and keeping its position.
func appendPrefixed(l config.ErrorList, file, prefix string, err error) config.ErrorList {
	for _, e := range (config.ErrorList{}).Append(file, err) {
		e.Msg = prefix + e.Msg
		l = append(l, e)
	}
	return l
}
