package server

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-dev/gatehouse/backend"
	"github.com/gatehouse-dev/gatehouse/httperr"
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
	st := request.From(c)
	st.Route = rh.route.Name
	st.SetDeadline(c.Context().Time().Add(rh.route.Timeout.D())) // see withDeadline
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
		return s.authEndpoint(path)
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

// buildRouting compiles cfg's route table and every route's chain:
// methods → auth gate → plugins → proxy. On error nothing it built keeps
// running, and the error lists every problem as FILE:LINE:COL: message.
func (s *Server) buildRouting(cfg *config.Config) (*routing, error) {
	table := route.NewTable(cfg.Routes)
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
			// The proxy sends the gateway's own Authorization from the
			// gate's identity, after every plugin ran; an upstream that
			// refuses a session's token gets one retry with a renewed one.
			terminal = s.auth.RetryWithRenewedToken(px.Forward)
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
		// route's methods: need not list. No withDeadline: dispatch sets
		// the request's deadline from r.Timeout where it finds the route.
		rh.handler = routeCORS(cfg, r, rh.methods).Wrap(rh.methods.guard(h))
		rt.routes[i] = rh
	}
	if err := problems.Err(); err != nil {
		rt.close() // the routes built so far
		return nil, err
	}
	return rt, nil
}

// withDeadline (for the gateway's own endpoints; dispatch applies the same
// rule to routes inline) makes each request's context (request.State.Context, also
// c.UserContext()) end at the route's timeout from the request's start
// (c.Context().Time(), read by observe; not a second clock reading): the
// session load, a token refresh, the rate limit and cache backends and every
// other I/O the request causes take it, so that a store or an IdP that hangs
// ends this one request at the route's deadline with a clean 503/504 instead
// of holding it (and its connection) for as long as the slowest backend
// timeout.
// The context ends when the request is over, too (observe ends it). It
// costs a timer only when something waits on Done: context.WithTimeout was
// 3% of a plain request's CPU.
func withDeadline(timeout time.Duration, next fiber.Handler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		request.From(c).SetDeadline(c.Context().Time().Add(timeout))
		return next(c)
	}
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
	specs := make([]plugins.Spec, len(list))
	for i, n := range list {
		specs[i] = plugins.Spec{
			Ctx: ctx, Route: pluginRoute(r), Config: n.cfg,
			Logger: log.With("plugin", n.p.Name), Check: check,
			Secret: plugins.DeriveSecret(cfg.Session.Secret, n.p.Name, r.Name),
		}
	}
	// Each spec's Inner: the Facts told by the plugins after it in phase
	// order, which its middleware wraps.
	var inner []plugins.Inner
	for i := len(list) - 1; i >= 0; i-- {
		specs[i].Inner = inner
		if f := list[i].p.Facts; f != nil {
			if facts := f(specs[i]); facts != (plugins.Facts{}) {
				inner = append(slices.Clip(inner), plugins.Inner{Name: list[i].p.Name, Facts: facts})
			}
		}
	}
	var mws []plugins.Middleware
	for i, n := range list {
		if backends != nil && !check {
			specs[i].Backends = backends(n.p.Name)
		}
		mw, err := n.p.New(specs[i])
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
